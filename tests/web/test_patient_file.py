"""The patient file: its status control shows the current status, its « Parcours » reads in plain
French from the rows (referral, decision, visits, no-shows, status, DAC handover), and the words
agree with the patient's sex."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from dalia_site import clock
from dalia_site.extensions import db
from dalia_site.models import Appointment, AuditEvent, Referral
from tests.web.test_centre_settings import booked_visit, text_of
from tests.web.test_patients import admit, make_patient, snapshot, timeline


def status_options(response) -> list[tuple[str, bool]]:
    """(label, selected) of each option of the status control."""
    select_html = re.search(r'<select id="status" name="status"[^>]*>(.*?)</select>', text_of(response), re.S)
    return [
        (label, "selected" in attrs)
        for attrs, label in re.findall(r"<option([^>]*)>(.*?)</option>", select_html.group(1))
    ]


@pytest.mark.parametrize(
    ("status", "options"),
    [
        ("follow_up", [("En suivi", True), ("Médecin traitant trouvé", False), ("Sorti", False)]),
        ("gp_found", [("En suivi", False), ("Médecin traitant trouvé", True), ("Sorti", False)]),
        (
            "waiting_list",
            [
                ("Liste d'attente", True),
                ("En suivi", False),
                ("Médecin traitant trouvé", False),
                ("Sorti", False),
            ],
        ),
    ],
)
def test_the_status_control_shows_the_current_status(app, client, as_role, status, options):
    patient_id = make_patient(app, status=status)
    as_role("assistant")
    assert status_options(client.get(f"/patients/{patient_id}")) == options


def test_sending_the_status_unchanged_changes_nothing(app, client, auth, as_role):
    patient_id = make_patient(app, status="waiting_list")
    as_role("clinician")
    before = snapshot(app, patient_id)
    response = auth.post(f"/patients/{patient_id}/statut", {"status": "waiting_list"})
    assert response.status_code == 303
    assert snapshot(app, patient_id) == before
    with app.app_context():
        assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.status")).all() == []
    # A status that follows from triage is still not chosen by hand.
    refused = auth.post(f"/patients/{patient_id}/statut", {"status": "declined"})
    assert refused.status_code == 422 and snapshot(app, patient_id) == before


def test_the_parcours_tells_the_path_from_the_rows(app, client, auth, make_user, as_role):
    triage = make_user("assistant", name="Sandrine Duval")
    patient_id = admit(app, triage)
    visit_id = booked_visit(app)
    with app.app_context():
        # The visit (of another stored patient) becomes this patient's, last week, missed.
        visit = db.session.get(Appointment, visit_id)
        visit.patient_id = patient_id
        visit.starts_at = clock.now() - timedelta(days=7)
        visit.ends_at = visit.starts_at + timedelta(minutes=30)
        visit.status = "no_show"
        referral = db.session.scalar(select(Referral).where(Referral.patient_id == patient_id))
        referral.received_at = clock.now() - timedelta(days=20)
        referral.decided_at = clock.now() - timedelta(days=19)
        db.session.commit()
    user = as_role("assistant")
    assert auth.post(f"/patients/{patient_id}/statut", {"status": "gp_found"}).status_code == 303

    lines = timeline(client.get(f"/patients/{patient_id}"))
    assert lines == [
        "Adressage reçu de DAC de l'Aude (téléphone), par Inès Barthe",
        "Adressage accepté par Sandrine Duval : patient en suivi",
        "Non venu : consultation infirmière avec Laure Carrière (infirmière en pratique avancée (IPA))",
        "Médecin traitant trouvé",
    ]
    assert user.name not in " ".join(lines)  # a reading of the file is not part of the path


def test_a_man_is_born_ne_on_his_convocation(app, client, as_role):
    visit_id = booked_visit(app, sex="M")
    as_role("clinician")
    page = text_of(client.get(f"/rendez-vous/{visit_id}/convocation"))
    assert "<strong>ROUQUETTE Odile Marie</strong>, né le 15/03/1950" in page
