"""`send-reminders SLUG`: the day before, an email to each patient with an email who has an
appointment, received by a real SMTP server (aiosmtpd) on loopback; never twice; retried after a
failure.

The appointments are stored directly: the reminder does not care how they were booked.
"""

from datetime import date, datetime, time, timedelta

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from sqlalchemy import select

from dalia_site import create_app
from dalia_site.clock import clock_at
from dalia_site.commands import cli
from dalia_site.domain import referrals
from dalia_site.extensions import db
from dalia_site.models import Appointment, AppointmentClinician, Patient, TeamMember
from tests.cli.mailtools import Inbox, outbox
from tests.web.test_roster import PARIS

SITE = "DALIA Bassin Carcassonnais"
DOCTOR, NURSE = "Dr Jeanne Audouy", "Sophie Bonnafous"


def site_today() -> date:
    return datetime.now(PARIS).date()


def appointment(
    site_dir,
    last_name: str,
    day: date,
    email: str = "",
    status: str = "booked",
    at: time = time(9),
    pair: bool = False,
) -> int:
    """A patient (with `email`, or none) and their appointment on `day` at `at` (Paris time)."""
    app = create_app(site_dir)
    with app.app_context():
        members = []
        for name, profession in ((DOCTOR, "medecin"), (NURSE, "infirmier_azalee")):
            member = db.session.scalar(select(TeamMember).where(TeamMember.name == name))
            if member is None:
                member = TeamMember(
                    name=name,
                    profession=profession,
                    team="stable",
                    doctor_status="retraite" if profession == "medecin" else None,
                )
                db.session.add(member)
                db.session.flush()
            members.append(member)
        patient = Patient(
            last_name=last_name,
            first_names="Odile",
            birth_name="",
            birth_date=date(1950, 3, 15),
            sex="F",
            phone="0468112233",
            email=email,
            address="",
            postcode="11000",
            commune="Carcassonne",
            ald="yes",
            ald_label="",
            gp_status="none",
            gp_name="",
            status="follow_up",
            reminder_channel="email" if email else "none",
        )
        patient.search_text = referrals.patient_search_text(patient)
        db.session.add(patient)
        db.session.flush()
        start = datetime.combine(day, at, tzinfo=PARIS)
        booked = Appointment(
            patient_id=patient.id,
            kind="first" if pair else "doctor",
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
            status=status,
            cancel_reason="Empêché" if status == "cancelled" else "",
        )
        booked.clinicians = [AppointmentClinician(member_id=m.id) for m in (members if pair else members[:1])]
        db.session.add(booked)
        db.session.commit()
        booked_id = booked.id
        db.engine.dispose()
    return booked_id


def morning() -> datetime:
    """10 h on the site's clock today: within the reminders' sending window (8 h–20 h)."""
    return datetime.combine(site_today(), time(10), tzinfo=PARIS)


def remind(site_dir, at: datetime | None = None):
    with clock_at(at or morning()):
        return CliRunner().invoke(
            cli, ["send-reminders", site_dir.name, "--instances-dir", str(site_dir.parent)]
        )


def test_tomorrows_appointment_is_reminded_once(mail_site, smtp_server):
    tomorrow = site_today() + timedelta(days=1)
    appointment(mail_site, "Rouquette", tomorrow, email="odile.rouquette@example.org", pair=True)

    first = remind(mail_site)
    second = remind(mail_site)

    assert first.exit_code == 0, first.output
    assert "test : 1 rappel(s) préparé(s), 1 e-mail(s) envoyé(s), 0 en échec" in first.output
    assert second.exit_code == 0, second.output
    assert "test : 0 rappel(s) préparé(s), 0 e-mail(s) envoyé(s)" in second.output
    [message] = smtp_server.messages  # never twice
    assert message["To"] == "odile.rouquette@example.org"
    assert message["Subject"] == f"{SITE} — rappel de votre rendez-vous demain"
    body = message.get_content()
    assert f"demain, le {tomorrow:%d/%m/%Y} à 09h00, avec {DOCTOR}, {NURSE}." in body
    assert "À apporter : Carte Vitale" in body


@pytest.mark.parametrize(
    ("day_offset", "email", "status"),
    [
        (2, "odile.rouquette@example.org", "booked"),
        (1, "odile.rouquette@example.org", "cancelled"),
        (1, "", "booked"),
        (0, "odile.rouquette@example.org", "booked"),
    ],
    ids=["day-after-tomorrow", "cancelled", "no-email", "today"],
)
def test_no_reminder_for_other_days_cancelled_visits_or_patients_without_email(
    mail_site, smtp_server, day_offset, email, status
):
    appointment(
        mail_site,
        "Rouquette",
        site_today() + timedelta(days=day_offset),
        email=email,
        status=status,
        at=time(23, 30),
    )

    result = remind(mail_site)

    assert result.exit_code == 0, result.output
    assert "test : 0 rappel(s) préparé(s), 0 e-mail(s) envoyé(s)" in result.output
    assert smtp_server.messages == []
    assert outbox(mail_site) == []


def test_late_evening_appointments_tomorrow_are_reminded(mail_site, smtp_server):
    """Tomorrow is the site's (Paris) tomorrow, from midnight to midnight: 00:15 there is still
    today in UTC."""
    tomorrow = site_today() + timedelta(days=1)
    appointment(mail_site, "Rouquette", tomorrow, email="odile.rouquette@example.org", at=time(0, 15))
    appointment(mail_site, "Cazals", tomorrow, email="anne.cazals@example.org", at=time(23, 30))

    result = remind(mail_site)

    assert result.exit_code == 0, result.output
    assert sorted(m["To"] for m in smtp_server.messages) == [
        "anne.cazals@example.org",
        "odile.rouquette@example.org",
    ]
    bodies = " ".join(m.get_content() for m in smtp_server.messages)
    assert "à 00h15" in bodies and "à 23h30" in bodies


def test_a_reminder_that_cannot_be_sent_waits_and_goes_next_run(mail_site, smtp_port):
    tomorrow = site_today() + timedelta(days=1)
    booked = appointment(mail_site, "Rouquette", tomorrow, email="odile.rouquette@example.org")

    failed = remind(mail_site)  # nothing listens on the SMTP port yet

    assert failed.exit_code == 1
    assert "1 rappel(s) préparé(s), 0 e-mail(s) envoyé(s), 1 en échec" in failed.output
    [email] = outbox(mail_site)  # waiting in the outbox; an unreachable server costs no attempt
    assert (email.to, email.sent_at, email.attempts) == ("odile.rouquette@example.org", None, 0)
    assert "connexion SMTP" in email.last_error
    app = create_app(mail_site)
    with app.app_context():
        queued_at = db.session.get(Appointment, booked).reminder_queued_at
        db.engine.dispose()
    assert queued_at == morning()

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        retried = remind(mail_site)
    finally:
        controller.stop()

    assert retried.exit_code == 0, retried.output
    assert "0 rappel(s) préparé(s), 1 e-mail(s) envoyé(s), 0 en échec" in retried.output
    [message] = inbox.messages
    assert f"le {tomorrow:%d/%m/%Y} à 09h00, avec {DOCTOR}." in message.get_content()
    [email] = outbox(mail_site)  # the same email, not a second one
    assert email.sent_at is not None and email.attempts == 1 and email.last_error == ""


def test_a_reminder_whose_appointment_was_cancelled_before_it_left_is_dropped(mail_site, smtp_port):
    """SMTP was down when the reminder was queued; the visit is cancelled; the retry sends
    nothing and gives the reminder up."""
    tomorrow = site_today() + timedelta(days=1)
    booked_id = appointment(mail_site, "Rouquette", tomorrow, email="odile.rouquette@example.org")
    assert remind(mail_site).exit_code == 1  # queued, not sent: nothing listens yet
    app = create_app(mail_site)
    with app.app_context():
        db.session.get(Appointment, booked_id).status = "cancelled"
        db.session.commit()
        db.engine.dispose()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:  # past the first retry's wait, within the sending window (whatever the hour the test runs)
        with clock_at(morning() + timedelta(minutes=10)):
            retried = CliRunner().invoke(
                cli, ["send-mail", mail_site.name, "--instances-dir", str(mail_site.parent)]
            )
    finally:
        controller.stop()
    assert retried.exit_code == 0, retried.output
    assert inbox.messages == []
    [email] = outbox(mail_site)
    assert email.sent_at is None and "rappel abandonné" in email.last_error
