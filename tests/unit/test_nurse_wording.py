"""Issue 15: one term for a nurse — « infirmière(s) », as the profession labels read — everywhere.

The labels, the templates and the messages written in Python code all say « infirmière »; the
inclusive forms « infirmier·e », « un·e infirmier·e », « infirmier·es » must not come back.
"""

import re
from pathlib import Path

import pytest

import dalia_site
from dalia_site.domain import planning
from dalia_site.models import vocabulary
from dalia_site.models.vocabulary import AppointmentKind, Profession, Role, Vocabulary

PACKAGE = Path(dalia_site.__file__).parent
OLD_FORMS = re.compile(r"infirmier·|infirmier\.e|infirmier\(e\)|infirmier-e|un·e infirm", re.IGNORECASE)


def _vocabularies() -> list[type[Vocabulary]]:
    return [
        value
        for value in vars(vocabulary).values()
        if isinstance(value, type) and issubclass(value, Vocabulary) and value is not Vocabulary
    ]


def test_no_label_of_the_vocabulary_uses_the_old_forms():
    labels = [
        (member, text)
        for cls in _vocabularies()
        for member in cls
        for text in (member.label, member.short_label)
    ]
    assert len(labels) > 50
    assert [(member, text) for member, text in labels if OLD_FORMS.search(text)] == []


def test_the_nurse_labels_read_infirmiere():
    assert Profession.INFIRMIER.label == "Infirmière"
    assert Profession.INFIRMIER_AZALEE.label == "Infirmière Azalée"
    assert Profession.IPA.label == "Infirmière en pratique avancée (IPA)"
    assert AppointmentKind.NURSE.label == "Consultation infirmière"
    assert Role.CLINICIAN.label == "Soignant·e (médecin, IPA, infirmière)"


@pytest.mark.parametrize("suffix", [".html", ".txt", ".py", ".toml"])
def test_no_template_or_message_of_the_package_uses_the_old_forms(suffix):
    files = [p for p in PACKAGE.rglob(f"*{suffix}") if "migrations" not in p.parts]
    found = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if OLD_FORMS.search(line)
    ]
    assert found == []


def test_a_half_day_open_without_a_nurse_says_sans_infirmiere():
    alerts = planning.coverage_alerts([], open_to_patients=True)
    assert "Demi-journée sans infirmière" in alerts
    assert not any(OLD_FORMS.search(alert) for alert in alerts)
