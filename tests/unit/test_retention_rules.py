"""Retention and patients' rights without HTTP: what becomes due when, the month's warning, the
erasure (on schedule or on request) and what it leaves, and the one objection check."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from dalia_site.domain import audit, patients, retention, rights
from dalia_site.domain.text import FieldError
from dalia_site.extensions import db
from dalia_site.models import Appointment, AuditEvent, PatientRectification, Referral
from dalia_site.models.vocabulary import Purpose
from tests.unit.test_activity import decide, held, receive

DAY = datetime(2027, 3, 1, 10, tzinfo=UTC)


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


def due_ids(session, now, within_days=0):
    return [
        (item.kind, item.patient_id) for item in retention.upcoming(session, now=now, within_days=within_days)
    ]


def declined_at_day(session):
    """A patient whose referral was declined on DAY."""
    referral = receive(session, DAY - timedelta(hours=1), "Blanc", date(1955, 4, 4))
    return decide(session, DAY, referral, "declined", decline_reason="Hors territoire", orientation="sas")


def test_a_patient_is_due_three_years_after_their_last_visit_and_seen_coming_a_month_before(session):
    patient = decide(session, DAY, receive(session, DAY - timedelta(hours=1), "Fabre", date(1950, 1, 2)))
    held(session, patient, "first", DAY + timedelta(days=10))
    due_on = (DAY + timedelta(days=10)).date().replace(year=2030)

    just_before = datetime.combine(due_on, DAY.timetz()) - timedelta(days=31)
    assert due_ids(session, just_before) == []
    assert due_ids(session, just_before, within_days=30) == []
    assert due_ids(session, just_before + timedelta(days=1), within_days=30) == [("inactive", patient.id)]
    coming = retention.upcoming(session, now=just_before + timedelta(days=1), within_days=30)
    assert coming[0].due_on == due_on
    assert due_ids(session, datetime.combine(due_on, DAY.timetz()) + timedelta(days=1)) == [
        ("inactive", patient.id)
    ]

    # Seen again (a visit a year later): the three years start again from there.
    held(session, patient, "nurse", DAY + timedelta(days=400))
    assert due_ids(session, datetime.combine(due_on, DAY.timetz()) + timedelta(days=1)) == []


def test_the_page_lists_what_comes_in_the_next_month_from_that_months_activity_years_back(session):
    """retention.coming (« Données personnelles »): the same rule as the timer's, asked only of
    the rows active in the window N years back — what is due already is the timer's, not listed;
    how many, and the first ones."""
    seen = decide(session, DAY, receive(session, DAY - timedelta(hours=1), "Fabre", date(1950, 1, 2)))
    held(session, seen, "first", DAY + timedelta(days=10))  # due 11/03/2030
    declined = declined_at_day(session)  # due 01/03/2028: long overdue on 20/02/2030
    waiting = receive(session, DAY - timedelta(days=5), "Cros", date(1960, 7, 7))  # due 24/02/2030
    later = decide(session, DAY, receive(session, DAY - timedelta(hours=1), "Roques", date(1948, 6, 2)))
    held(session, later, "first", DAY + timedelta(days=100))  # due in June 2030
    now = datetime(2030, 2, 20, 10, tzinfo=UTC)

    coming = retention.coming(session, now=now)

    assert [(item.patient_id, item.referral_id, item.due_on) for item in coming.first] == [
        (None, waiting.id, date(2030, 2, 24)),
        (seen.id, None, date(2030, 3, 11)),
    ]
    assert coming.count == 2
    everything = retention.upcoming(session, now=now, within_days=retention.WARNING_DAYS)
    assert ("declined", declined.id) in [(item.kind, item.patient_id) for item in everything]
    assert coming.first == [item for item in everything if item.due_on > now.date()]
    assert retention.coming(session, now=now, limit=1) == retention.Coming(2, coming.first[:1])
    # On its day it is due (the timer's), no longer coming.
    assert retention.coming(session, now=datetime(2030, 3, 11, 10, tzinfo=UTC)).first == []


def test_a_declined_patient_goes_one_year_after_the_decision(session):
    patient = declined_at_day(session)
    assert due_ids(session, DAY + timedelta(days=364)) == []
    assert due_ids(session, DAY + timedelta(days=366)) == [("declined", patient.id)]
    (item,) = retention.upcoming(session, now=DAY + timedelta(days=366))
    assert item.reason == "adressage non retenu le 01/03/2027"


def test_the_timer_erases_identity_and_free_texts_but_keeps_what_the_figures_count(session):
    patient = decide(session, DAY, receive(session, DAY - timedelta(hours=1), "Roques", date(1948, 6, 2)))
    visit = held(session, patient, "first", DAY + timedelta(days=3))
    # An audit row that named the patient (an older version of the kit, a typed reason).
    audit.record(session, None, "patient.update", "patient", patient.id, "Dossier de ROQUES Martine vérifié")
    audit.record(session, None, "patient.answer", "patient", patient.id, "Venue confirmée", ip="203.0.113.9")
    patients.update_identity(
        session,
        None,
        patient,
        {
            "last_name": "Roques",
            "first_names": "Martine",
            "birth_date": date(1948, 6, 2),
            "sex": "F",
            "postcode": "11000",
            "commune": "Carcassonne",
            "phone": "0565367387",
            "ald": "yes",
            "gp_status": "none",
        },
        None,
        False,
        today=DAY.date(),
    )
    session.flush()
    assert session.scalars(select(PatientRectification)).all()

    erased = retention.apply(session, now=DAY + timedelta(days=4 * 365))
    session.flush()
    assert [(item.kind, item.patient_id) for item in erased] == [("inactive", patient.id)]
    assert (patient.last_name, patient.first_names, patient.phone, patient.commune) == ("EFFACÉ", "", "", "")
    assert patient.birth_date == date(1948, 1, 1) and patient.search_text == ""
    assert patient.status == "follow_up" and patient.sex == "F" and patient.ald == "yes"
    assert session.get(Appointment, visit.id).status == "honoured"
    assert session.scalars(select(PatientRectification)).all() == []
    summaries = session.scalars(
        select(AuditEvent.summary).where(AuditEvent.object_id == str(patient.id))
    ).all()
    assert not any("Roques" in s or "ROQUES" in s or "Martine" in s for s in summaries)
    assert "Dossier de [effacé] vérifié" in summaries
    addresses = session.scalars(select(AuditEvent.ip).where(AuditEvent.object_id == str(patient.id))).all()
    assert "203.0.113.9" not in addresses
    assert any(s.startswith("Identité effacée : durée de conservation dépassée") for s in summaries)
    assert not rights.may(patient, Purpose.REMINDERS)
    # Done once: the next run finds nothing.
    assert retention.upcoming(session, now=DAY + timedelta(days=4 * 365)) == []


def test_erasure_on_request_needs_a_reason_and_no_visit_still_booked(session):
    patient = decide(session, DAY, receive(session, DAY - timedelta(hours=1), "Vidal", date(1949, 5, 6)))
    visit = held(session, patient, "doctor", DAY + timedelta(days=20), status="booked")
    with pytest.raises(FieldError, match="motif"):
        retention.erase_on_request(session, None, patient, "  ", now=DAY)
    with pytest.raises(FieldError, match="rendez-vous à venir"):
        retention.erase_on_request(session, None, patient, "Demande écrite du 28/02", now=DAY)
    visit.status = "cancelled"
    retention.erase_on_request(session, None, patient, "Demande écrite du 28/02", now=DAY)
    session.flush()
    assert patient.erased_at == DAY and patient.last_name == "EFFACÉ"
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.erase")).one()
    assert event.summary == "Identité effacée : à sa demande — Demande écrite du 28/02"
    with pytest.raises(FieldError, match="déjà effacée"):
        retention.erase_on_request(session, None, patient, "encore", now=DAY)


def test_may_follows_each_objection_recorded_on_the_file(session):
    patient = decide(session, DAY, receive(session, DAY - timedelta(hours=1), "Petit", date(1951, 8, 8)))
    assert all(rights.may(patient, purpose) for purpose in Purpose)
    patient.objects_to_reminders = True
    assert not rights.may(patient, Purpose.REMINDERS)
    assert rights.may(patient, "dac") and rights.may(patient, Purpose.GP_SEARCH)
    assert rights.objections(patient) == [Purpose.REMINDERS]


def test_an_objection_to_reminders_stops_them_whatever_the_channel_chosen(session):
    from dalia_site.domain import reminders

    patient = decide(session, DAY, receive(session, DAY - timedelta(hours=1), "Garcia", date(1944, 7, 7)))
    patient.email, patient.reminder_channel = "garcia@example.org", "email"
    assert reminders.channel_for(patient, sms_ready=False) == "email"
    patient.objects_to_reminders = True
    assert reminders.channel_for(patient, sms_ready=False) == "none"


def test_the_admins_are_emailed_once_a_month_before_with_numbers_only(session):
    from dalia_site.models import OutboundEmail, StaffUser

    session.add(StaffUser(email="second.admin@example.org", name="Admin", role="admin", password_hash="x"))
    session.add(
        StaffUser(email="gone.admin@example.org", name="Parti", role="admin", password_hash="x", active=False)
    )
    admins = session.scalars(select(StaffUser.email).where(StaffUser.role == "admin", StaffUser.active)).all()
    patient = decide(session, DAY, receive(session, DAY - timedelta(hours=1), "Moreau", date(1953, 10, 10)))
    due_on = DAY.date().replace(year=2030)
    month_before = datetime.combine(due_on, DAY.timetz()) - timedelta(days=30)
    assert retention.warn_admins(session, "DALIA Test", now=month_before - timedelta(days=1)) == 0
    assert retention.warn_admins(session, "DALIA Test", now=month_before) == len(admins) == 2
    emails = session.scalars(select(OutboundEmail)).all()
    assert sorted(e.to for e in emails) == sorted(admins)  # the active admins only
    email = emails[0]
    assert email.subject == f"DALIA Test : effacements prévus le {due_on:%d/%m/%Y}"
    assert f"patient n° {patient.id} : aucun rendez-vous ni adressage depuis le 01/03/2027" in email.body
    assert "Moreau" not in email.body and "MOREAU" not in email.body
    assert retention.warn_admins(session, "DALIA Test", now=month_before + timedelta(days=1)) == 0


def test_a_change_of_reminder_channel_joins_the_rectification_history(session):
    from dalia_site.domain import reminders

    patient = decide(session, DAY, receive(session, DAY - timedelta(hours=1), "Roux", date(1952, 9, 9)))
    patient.email, patient.reminder_channel = "roux@example.org", "none"
    assert reminders.set_channel(session, None, patient, "email")
    session.flush()
    (change,) = rights.rectifications(session, patient.id)
    assert (change.field, change.before, change.after) == ("rappels", "Aucun rappel", "E-mail")


def test_a_declined_patient_left_without_their_referral_waits_for_the_inactivity_rule(session):
    """A declined patient whose referral went to a record of its own (no decision left on their
    file, no visit): the declined rule has no date to count from, so the inactivity rule's three
    years apply — the timer must not erase them at once."""
    patient = declined_at_day(session)
    (referral,) = session.scalars(select(Referral).where(Referral.patient_id == patient.id))
    referral.patient_id = None
    session.commit()
    a_month_later = DAY + timedelta(days=30)
    assert ("inactive", patient.id) not in due_ids(session, a_month_later)
    assert patient.id not in [item.patient_id for item in retention.apply(session, now=a_month_later)]
    assert ("inactive", patient.id) in due_ids(session, DAY.replace(year=2030) + timedelta(days=1))
