"""`dalia demo` builds a year that reproduces seed 001, and `dalia report` reads it back.

The demo is built once per session (the `demo` fixture of tests/cli/conftest.py) and only read
here; the test of a rebuild builds a second one over a copy."""

import csv
import io
import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from dalia_site import create_app
from dalia_site.commands import cli
from dalia_site.domain.spreadsheet import BOM
from dalia_site.extensions import db
from dalia_site.models import (
    Appointment,
    AuditEvent,
    Patient,
    Referral,
    Shift,
    StaffUser,
    TeamMember,
    WeeklyPattern,
)
from tests.cli.test_new_site import can_log_in

# With `-n N --dist loadgroup` (make test), these tests share one worker, so one demo build.
pytestmark = pytest.mark.xdist_group("demo")

SEED_001 = {
    "patients_received": 921,
    "consultations": 2260,
    "patients_per_hour": 2.6,
    "direct_access_share": 0.11,
}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def demo_app(demo):
    app = create_app(demo[0] / "demo")
    yield app
    with app.app_context():
        db.engine.dispose()


def report_json(instances: Path, *extra) -> dict:
    result = run("report", "demo", "--format", "json", "--instances-dir", instances, *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_demo_year_reproduces_the_one_year_review_of_seed_001_within_2_percent(demo):
    figures = report_json(demo[0])
    for key, expected in SEED_001.items():
        assert abs(figures[key] - expected) <= 0.02 * expected, (key, figures[key])
    assert "921 patients reçus, 2260 consultations, 2,6 patients/heure, accès direct 11 %" in demo[1].stdout


def test_the_demo_year_reminds_patients_by_sms_and_they_miss_fewer_visits(demo):
    """Issue 17: patients have mobiles, reminders leave the day before by SMS, and reminded
    patients miss fewer visits than the others (while seed 001's figures hold, above)."""
    figures = report_json(demo[0])
    assert figures["reminders_sent_by_channel"]["sms"] > 1500, figures["reminders_sent_by_channel"]
    assert figures["reminders_sent"] == sum(figures["reminders_sent_by_channel"].values())
    with_reminder, without = figures["no_show_rate_with_reminder"], figures["no_show_rate_without_reminder"]
    assert with_reminder < without / 2, (with_reminder, without)


def test_the_demo_shows_a_progress_bar_and_how_to_log_in_with_each_role(demo):
    instances, result = demo
    assert "Une année d'activité fictive" in result.stderr
    lines = [line.split() for line in result.stdout.splitlines() if "@demo.dalia.invalid" in line]
    assert [role for role, _, _ in lines] == ["admin", "assistant", "clinician", "reporting"]
    for _, email, password in lines:
        assert can_log_in(instances / "demo", email, password)


def test_the_demo_team_is_the_one_of_seed_001(demo_app):
    with demo_app.app_context():
        members = db.session.scalars(select(TeamMember)).all()
        doctors = [m for m in members if m.profession == "medecin"]
        assert len(doctors) == 8 and {m.team for m in doctors} == {"flexible"}
        professions = {m.profession for m in members}
        assert {"infirmier_azalee", "ipa", "assistant_medical"} <= professions
        # Volunteers offer half-days; the stable team works weekly patterns.
        assert db.session.scalar(select(func.count()).select_from(Shift)) > 400
        assert db.session.scalar(select(func.count(func.distinct(WeeklyPattern.member_id)))) >= 4
        assert db.session.scalar(select(StaffUser.name).where(StaffUser.role == "clinician")) in {
            m.name for m in doctors
        }


def test_the_demo_year_follows_the_booking_rules(demo_app):
    """Pair first visits, then nurse and doctor in turn; no clinician booked twice at once."""
    with demo_app.app_context():
        appointments = db.session.scalars(
            select(Appointment).options(selectinload(Appointment.clinicians)).order_by(Appointment.starts_at)
        ).all()
        professions = dict(db.session.execute(select(TeamMember.id, TeamMember.profession)).all())
        held_kinds = defaultdict(list)
        busy = defaultdict(list)
        for a in appointments:
            kinds = sorted(professions[c.member_id] == "medecin" for c in a.clinicians)
            expected = {"first": [False, True], "doctor": [True], "nurse": [False]}[a.kind]
            assert kinds == expected, (a.id, a.kind)
            if a.status == "honoured":
                held_kinds[a.patient_id].append(a.kind)
            if a.status in ("booked", "honoured"):
                for c in a.clinicians:
                    busy[c.member_id].append((a.starts_at, a.ends_at))
        for kinds in held_kinds.values():
            assert kinds[0] == "first" and kinds.count("first") == 1
            for previous, following in zip(kinds, kinds[1:], strict=False):
                assert following == ("nurse" if previous in ("first", "doctor") else "doctor")
        for spans in busy.values():
            for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
                assert start >= end
        statuses = {a.status for a in appointments}
        assert {"honoured", "no_show", "booked"} <= statuses


def test_the_demo_was_written_through_the_app_and_dated_in_its_year(demo_app):
    with demo_app.app_context():
        appointments = db.session.scalar(select(func.count()).select_from(Appointment))
        booked = db.session.scalar(select(func.count()).where(AuditEvent.action == "appointment.book"))
        assert booked == appointments
        first_received = db.session.scalar(select(func.min(Referral.received_at)))
        first_audit = db.session.scalar(
            select(func.min(AuditEvent.at)).where(AuditEvent.action == "referral.receive")
        )
        assert first_audit == first_received  # events carry the moment they happened
        assert db.session.scalar(select(func.count()).where(Referral.reference.is_(None))) == 0
        statuses = set(db.session.scalars(select(Patient.status).distinct()))
        assert {"follow_up", "gp_found", "declined", "waiting_list"} <= statuses
        assert set(db.session.scalars(select(Referral.status).distinct())) == {
            "new",
            "accepted",
            "declined",
            "waiting_list",
        }


def test_the_demo_is_deterministic_and_rebuilt_on_every_run(demo, tmp_path):
    """A second build over a copy of the session's demo (the shared one stays untouched): the old
    folder is replaced, not added to, and the new year is the same as the first build's."""
    again = tmp_path / "instances"
    shutil.copytree(demo[0] / "demo", again / "demo")
    (again / "demo" / "marker").write_text("ancien")
    assert run("demo", "--no-serve", "--instances-dir", again).exit_code == 0
    assert not (again / "demo" / "marker").exists()
    assert report_json(again) == report_json(demo[0])


def test_the_demo_never_deletes_a_folder_that_is_not_a_demo(tmp_path):
    folder = tmp_path / "instances" / "demo"
    folder.mkdir(parents=True)
    (folder / "site.toml").write_text('[site]\nslug = "carcassonne"\n')
    result = run("demo", "--no-serve", "--instances-dir", tmp_path / "instances")
    assert result.exit_code == 1 and "rien n'a été supprimé" in result.stderr
    assert (folder / "site.toml").is_file()


def test_report_text_csv_and_json_of_a_period(demo):
    instances = demo[0]
    text = run("report", "demo", "--from", "01/01/2026", "--to", "31/03/2026", "--instances-dir", instances)
    assert text.exit_code == 0
    assert "activité du 01/01/2026 au 31/03/2026" in text.stdout
    quarter = report_json(instances, "--from", "2026-01-01", "--to", "2026-03-31")
    assert quarter["period"] == {"from": "2026-01-01", "to": "2026-03-31"}
    months = quarter["consultations_by_month"]
    assert [m["month"] for m in months] == ["2026-01", "2026-02", "2026-03"]
    assert sum(m["first"] + m["doctor"] + m["nurse"] for m in months) == quarter["consultations"]
    received = next(line for line in text.stdout.splitlines() if line.strip().startswith("Patients reçus"))
    assert received.split()[-1] == str(quarter["patients_received"])

    sheet = run("report", "demo", "--format", "csv", "--instances-dir", instances)
    assert sheet.stdout.startswith(BOM)
    rows = list(csv.reader(io.StringIO(sheet.stdout.removeprefix(BOM)), delimiter=";"))
    assert rows[0] == ["Indicateur", "Valeur"]
    values = dict(row for row in rows if len(row) == 2)
    assert values["Patients reçus"] == "921" and values["Consultations"] == "2260"
    assert values["Patients par heure de présence soignante"] == "2,6"


def test_report_all_gives_one_line_per_site(demo):
    instances = demo[0]
    text = run("report", "--all", "--instances-dir", instances)
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    assert [line.split(" : ")[0] for line in lines] == ["aveyron", "demo"]
    assert "0 patients reçus, 0 consultations" in lines[0]
    assert "921 patients reçus, 2260 consultations" in lines[1]
    table = run("report", "--all", "--format", "csv", "--instances-dir", instances).stdout
    rows = list(csv.reader(io.StringIO(table.removeprefix(BOM)), delimiter=";"))
    assert [row[0] for row in rows[1:]] == ["aveyron", "demo"]
    assert rows[2][rows[0].index("patients_per_hour")].startswith("2,6")
    listed = json.loads(run("report", "--all", "--format", "json", "--instances-dir", instances).stdout)
    assert [site["site"] for site in listed] == ["aveyron", "demo"]


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("demo", "--from", "2026-02-01", "--to", "2026-01-01"),
            "La date de début doit précéder la date de fin.",
        ),
        (("demo", "--from", "1990-01-01"), "Dates entre 01/01/2000 et 31/12/2099 seulement."),
        (("nulle-part",), "site inconnu : 'nulle-part'"),
        (("demo", "--all"), "indiquez un site ou --all (pas les deux)"),
    ],
)
def test_report_refuses_bad_input_in_one_line(demo, args, message):
    result = run("report", *args, "--instances-dir", demo[0])
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_report_refuses_a_date_it_cannot_read(demo):
    result = run("report", "demo", "--from", "31-12-2026", "--instances-dir", demo[0])
    assert result.exit_code == 2 and "31-12-2026" in result.stderr
