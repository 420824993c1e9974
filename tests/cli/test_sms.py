"""SMS reminders through the outbox, against a local server answering as Brevo's documented API
(tests/cli/fake_brevo.py): a patient with only a mobile is reminded, opens the link and cancels;
each documented error (bad key, no credits, 5xx, timeout) leaves the SMS waiting, visible, never
sent twice; a site without SMS settings keeps to email; `check` and `send-mail` say when messages
cannot leave."""

from __future__ import annotations

import os
import re
from datetime import date, datetime, time, timedelta

import pytest
from click.testing import CliRunner

from dalia_site import create_app
from dalia_site.clock import clock_at
from dalia_site.commands import cli
from dalia_site.domain import referrals
from dalia_site.extensions import db
from dalia_site.models import Appointment, AppointmentClinician, Patient, TeamMember
from tests.cli.fake_brevo import KEY, FakeBrevo
from tests.cli.mailtools import outbox
from tests.conftest import csrf_from
from tests.web.test_roster import PARIS

MOBILE = "+33612345678"


@pytest.fixture
def brevo():
    with FakeBrevo() as fake:
        yield fake


def with_sms(site_dir, url: str, key: str = KEY, timeout: int = 10):
    toml = site_dir / "site.toml"
    toml.write_text(
        toml.read_text()
        + f'\n[sms]\nprovider = "brevo"\nsender = "DALIA"\napi_url = "{url}"\ntimeout_seconds = {timeout}\n'
    )
    key_file = site_dir / "sms_api_key"
    key_file.write_text(key)
    os.chmod(key_file, 0o600)
    return site_dir


def today() -> date:
    return datetime.now(PARIS).date()


def at(hour: int, day: date | None = None) -> datetime:
    return datetime.combine(day or today(), time(hour), tzinfo=PARIS)


def booked(site_dir, day: date, phone: str = MOBILE, email: str = "", channel: str = "sms") -> int:
    """A patient with only a mobile (by default) and their appointment at 9 h on `day`."""
    app = create_app(site_dir)
    with app.app_context():
        member = TeamMember(
            name="Dr Jeanne Audouy", profession="medecin", team="stable", doctor_status="retraite"
        )
        patient = Patient(
            last_name="Rouquette",
            first_names="Odile",
            birth_date=date(1950, 3, 15),
            sex="F",
            phone=phone,
            email=email,
            postcode="11000",
            status="follow_up",
            reminder_channel=channel,
        )
        patient.search_text = referrals.patient_search_text(patient)
        db.session.add_all([member, patient])
        db.session.flush()
        start = datetime.combine(day, time(9), tzinfo=PARIS)
        appointment = Appointment(
            patient_id=patient.id, kind="doctor", starts_at=start, ends_at=start + timedelta(minutes=30)
        )
        appointment.clinicians = [AppointmentClinician(member_id=member.id)]
        db.session.add(appointment)
        db.session.commit()
        appointment_id = appointment.id
        db.engine.dispose()
    return appointment_id


def run(site_dir, command: str, moment: datetime):
    with clock_at(moment):
        return CliRunner().invoke(cli, [command, site_dir.name, "--instances-dir", str(site_dir.parent)])


def test_a_patient_with_only_a_mobile_is_reminded_by_sms_and_cancels_from_the_link(site_dir, brevo):
    """Issue 17's « done when »: the reminder reaches a patient with only a mobile, the patient
    cancels from it, and the centre sees the answer."""
    with_sms(site_dir, brevo.url)
    toml = site_dir / "site.toml"
    toml.write_text(toml.read_text().replace('domain = ""', 'domain = "dalia.example.org"'))
    appointment_id = booked(site_dir, today() + timedelta(days=1))

    result = run(site_dir, "send-reminders", at(10))

    assert result.exit_code == 0, result.output
    assert "1 rappel(s) préparé(s)" in result.output and "1 SMS envoyé(s), 0 en échec" in result.output
    [sms] = brevo.sent
    assert sms["api-key"] == KEY and sms["sender"] == "DALIA" and sms["type"] == "transactional"
    assert sms["recipient"] == "33612345678"  # international, without « + »
    tomorrow = today() + timedelta(days=1)
    assert f"rappel de votre rendez-vous demain le {tomorrow:%d/%m/%Y} à 09h00" in sms["content"]
    assert "Rouquette" not in sms["content"] and "Dr" not in sms["content"]  # nothing but the visit
    token = re.search(r"https?://dalia\.example\.org/rdv/(\S+)", sms["content"]).group(1)

    assert run(site_dir, "send-reminders", at(11)).output.count("0 rappel(s) préparé(s)") == 1  # never twice
    assert len(brevo.sent) == 1

    app = create_app(site_dir)
    client = app.test_client()
    page = client.get(f"/rdv/{token}")
    assert page.status_code == 200 and "au nom de <strong>R.</strong>" in page.get_data(as_text=True)
    answered = client.post(
        f"/rdv/{token}", data={"csrf_token": csrf_from(page.get_data(as_text=True)), "answer": "annuler"}
    )
    assert answered.status_code == 303
    with app.app_context():
        appointment = db.session.get(Appointment, appointment_id)
        assert appointment.status == "cancelled" and appointment.cancelled_by_patient_at is not None
        db.engine.dispose()


@pytest.mark.parametrize(
    ("mode", "stops", "message"),
    [
        ("bad_key", True, "clé d'API refusée (unauthorized Key not found)"),
        ("no_credits", True, "plus de crédits SMS (not_enough_credits Not enough credits)"),
        ("server_error", False, "erreur du serveur 500"),
        ("slow", False, "pas de réponse (délai dépassé)"),
    ],
)
def test_each_documented_error_leaves_the_sms_waiting_then_it_goes_once(
    site_dir, brevo, mode, stops, message
):
    with_sms(site_dir, brevo.url, timeout=1)
    booked(site_dir, today() + timedelta(days=1))
    brevo.mode = mode

    failed = run(site_dir, "send-reminders", at(10))

    assert failed.exit_code == 1, failed.output
    assert "1 rappel(s) préparé(s)" in failed.output and "0 SMS envoyé(s), 1 en échec" in failed.output
    [waiting] = outbox(site_dir)
    assert waiting.sent_at is None and message in waiting.last_error
    # A refused key or no credits costs no attempt (nothing could leave); a 5xx or a timeout does,
    # and the SMS waits before its next try (backoff).
    assert waiting.attempts == (0 if stops else 1)
    assert (waiting.next_attempt_at is None) == stops
    if stops:
        assert "envoi des SMS arrêté : fournisseur SMS" in failed.output

    brevo.mode = "ok"
    retried = run(site_dir, "send-mail", at(11))  # past the backoff (5 min)

    assert retried.exit_code == 0, retried.output
    assert "1 SMS envoyé(s), 0 en échec" in retried.output
    [sent] = outbox(site_dir)
    assert sent.sent_at is not None and sent.last_error == ""
    assert run(site_dir, "send-mail", at(12)).exit_code == 0
    assert len(brevo.accepted) == 1  # reached the phone once, whatever the failures before


def test_a_failed_sms_is_not_retried_before_its_backoff(site_dir, brevo):
    with_sms(site_dir, brevo.url)
    booked(site_dir, today() + timedelta(days=1))
    brevo.mode = "server_error"
    assert run(site_dir, "send-reminders", at(10)).exit_code == 1
    brevo.mode = "ok"
    too_soon = run(site_dir, "send-mail", at(10) + timedelta(minutes=2))
    assert "0 SMS envoyé(s)" in too_soon.output
    assert run(site_dir, "send-mail", at(10) + timedelta(minutes=6)).output.count("1 SMS envoyé(s)") == 1


def test_reminders_leave_only_between_8_and_20_site_time(site_dir, brevo):
    with_sms(site_dir, brevo.url)
    booked(site_dir, today() + timedelta(days=1))
    assert "0 rappel(s) préparé(s)" in run(site_dir, "send-reminders", at(7)).output
    assert "0 rappel(s) préparé(s)" in run(site_dir, "send-reminders", at(20)).output
    assert brevo.sent == []
    assert "1 rappel(s) préparé(s)" in run(site_dir, "send-reminders", at(19)).output


def test_a_site_without_sms_settings_reminds_by_email_only(site_dir):
    booked(site_dir, today() + timedelta(days=1), email="odile@example.org")
    result = run(site_dir, "send-reminders", at(10))
    [email] = outbox(site_dir)
    assert email.channel == "email" and email.to == "odile@example.org"
    # No SMTP server either: the reminder waits, and the timer says so with a failure.
    assert result.exit_code == 1
    assert "1 e-mail(s) en attente mais pas de serveur SMTP" in result.output


def test_sms_waiting_without_a_provider_fail_send_mail(site_dir, brevo):
    with_sms(site_dir, brevo.url)
    booked(site_dir, today() + timedelta(days=1))
    brevo.mode = "server_error"
    run(site_dir, "send-reminders", at(10))
    toml = site_dir / "site.toml"
    toml.write_text(toml.read_text().replace('provider = "brevo"', 'provider = ""'))
    result = run(site_dir, "send-mail", at(11))
    assert result.exit_code == 1
    assert "1 SMS en attente mais pas de fournisseur SMS" in result.output


def test_the_api_key_file_must_be_0600(site_dir, brevo):
    with_sms(site_dir, brevo.url)
    os.chmod(site_dir / "sms_api_key", 0o644)
    result = run(site_dir, "send-mail", at(10))
    assert result.exit_code == 1 and "sms_api_key : permissions trop larges" in result.output


def test_j2_and_j1_reminders_each_leave_once(site_dir, brevo):
    """With both days ticked in the centre's settings: two days before, then the day before —
    once each, whatever the number of timer runs."""
    from dalia_site import database
    from dalia_site.domain import centre

    with_sms(site_dir, brevo.url)
    with database.open_site(site_dir) as site:
        values = {f: getattr(centre.load(site.session), f) for f in centre.TEXT_LENGTHS}
        current = centre.load(site.session)
        values |= {
            "phone": "04 68 11 22 33",
            "open_days": list(current.open_days),
            "morning": current.morning,
            "afternoon": current.afternoon,
            "first_minutes": current.first_minutes,
            "doctor_minutes": current.doctor_minutes,
            "nurse_minutes": current.nurse_minutes,
            "remind_two_days_before": True,
            "remind_day_before": True,
        }
        assert centre.update(site.session, None, values)
        site.session.commit()
    visit_day = today() + timedelta(days=2)
    booked(site_dir, visit_day)

    two_days_before = [run(site_dir, "send-reminders", at(hour)) for hour in (9, 15)]
    day_before = [run(site_dir, "send-reminders", at(hour, today() + timedelta(days=1))) for hour in (9, 15)]

    assert [r.exit_code for r in two_days_before + day_before] == [0, 0, 0, 0]
    assert [r.output.split(" rappel")[0] for r in two_days_before + day_before] == [
        "test : 1", "test : 0", "test : 1", "test : 0"
    ]  # fmt: skip
    first, second = (sms["content"] for sms in brevo.accepted)
    assert f"rendez-vous le {visit_day:%d/%m/%Y} à 09h00" in first  # « demain » only the day before
    assert f"rendez-vous demain le {visit_day:%d/%m/%Y} à 09h00" in second
