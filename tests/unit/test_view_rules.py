"""Rules that used to live in views, now in domain/ so that the CLI and the demo obey them too."""

from datetime import time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from dalia_site import clock
from dalia_site.domain import booking, partners, referrals, roster
from dalia_site.domain.text import FieldError
from dalia_site.extensions import db
from dalia_site.models import PartnerOrganisation
from dalia_site.models.vocabulary import AppointmentStatus
from tests.unit.test_booking_rules import (
    MONDAY,
    PARIS,
    VISITS,
    accepted_patient,
    at,
    member,
    on_duty,
)  # noqa: F401


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


def partner(session, name="Pharmacie du Canal", active=True) -> PartnerOrganisation:
    organisation = PartnerOrganisation(
        name=name, category="pharmacie", active=active, search_text=name.lower()
    )
    session.add(organisation)
    session.flush()
    return organisation


# --- referrals ----------------------------------------------------------------------------------


def test_without_a_partner_a_referral_is_a_direct_access_whatever_way_it_was_heard_of(session):
    assert referrals.origin_channel("phone", None, None) == "direct"
    assert referrals.origin_channel("direct", None, None) == "direct"


def test_a_partner_referral_keeps_the_way_it_was_received(session):
    assert referrals.origin_channel("fax", partner(session), None) == "fax"


@pytest.mark.parametrize(
    ("channel", "active", "field", "message"),
    [
        ("direct", True, "channel", "Un accès direct n'a pas de partenaire"),
        ("link", True, "channel", "Choisissez comment l'adressage a été reçu."),
        ("pigeon", True, "channel", "Choisissez comment l'adressage a été reçu."),
        ("phone", False, "source_id", "Partenaire inconnu ou archivé."),
    ],
)
def test_a_contradictory_origin_is_refused(session, channel, active, field, message):
    with pytest.raises(FieldError, match=message) as refused:
        referrals.origin_channel(channel, partner(session, active=active), None)
    assert refused.value.field == field


def test_staff_may_not_name_an_unknown_or_archived_partner(session):
    archived = partner(session, active=False)
    assert referrals.referring_partner(session, None) is None
    for partner_id in (archived.id, 0, 999_999):
        with pytest.raises(FieldError, match="Partenaire inconnu ou archivé"):
            referrals.referring_partner(session, partner_id)


def test_an_archived_partners_link_no_longer_opens_the_form(session):
    organisation = partner(session)
    _, token = partners.create_referral_link(session, None, organisation, "accueil")
    assert partners.usable_referral_link(session, token, now=clock.now()) is not None
    partners.set_archived(session, None, organisation, True)
    assert partners.usable_referral_link(session, token, now=clock.now()) is None
    assert partners.usable_referral_link(session, "inconnu", now=clock.now()) is None


def test_a_referral_is_attached_only_to_one_of_its_suggested_duplicates(session):
    accepted_patient(session, "Fabre")
    other = accepted_patient(session, "Vidal")
    referral = referrals.receive(
        session,
        None,
        "direct",
        {
            "last_name": "Fabre",
            "first_names": "Martine",
            "birth_date": MONDAY.replace(year=1950, month=1, day=1),
            "sex": "F",
            "postcode": "11000",
            "ald": "yes",
            "gp_status": "none",
        },
        {},
        "",
        now=clock.now(),
        today=clock.today(ZoneInfo("Europe/Paris")),
    )
    with pytest.raises(referrals.NotADuplicate):
        referrals.resolve_identity(session, None, referral, other)
    assert referral.patient_id is None


# --- booking ------------------------------------------------------------------------------------


@pytest.fixture
def booked(session):
    doctor = member(session, "Dr Anne")
    on_duty(session, doctor, MONDAY, time(9, 0), time(12, 0))
    patient = accepted_patient(session)
    patient.status = "follow_up"
    appointment = booking.book(
        session, None, patient, "doctor", at(MONDAY, 9), [doctor.id], VISITS, PARIS, "test", now=at(MONDAY, 7)
    )
    return SimpleNamespace(doctor=doctor, patient=patient, appointment=appointment)


def test_only_a_booked_appointment_can_be_rescheduled(session, booked):
    booking.ensure_reschedulable(booked.appointment)
    booking.cancel(session, None, booked.appointment, "empêché")
    with pytest.raises(booking.NotReschedulable, match="ne peut pas être reporté"):
        booking.reschedule(
            session,
            None,
            booked.appointment,
            at(MONDAY, 10),
            [booked.doctor.id],
            VISITS,
            PARIS,
            now=at(MONDAY, 7),
        )


def test_a_walk_in_needs_a_clinician_still_in_the_team(session, booked):
    for absent in (None, booked.doctor):
        if absent is not None:
            roster.set_member_active(session, None, absent, False)
        with pytest.raises(FieldError, match="Choisissez le soignant"):
            booking.record_walk_in(
                session, None, booked.patient, "doctor", absent, VISITS, now=at(MONDAY, 11)
            )


def test_marks_are_offered_once_the_visit_has_started_and_never_for_a_walk_in(session, booked):
    visit = booked.appointment
    assert booking.marks_offered(visit, at(MONDAY, 8, 59)) == []
    assert booking.marks_offered(visit, at(MONDAY, 9)) == ["honoured", "no_show"]
    booking.mark(session, None, visit, "no_show", now=at(MONDAY, 10))
    assert booking.marks_offered(visit, at(MONDAY, 10)) == ["honoured"]
    walk_in = booking.record_walk_in(
        session, None, booked.patient, "doctor", booked.doctor, VISITS, now=at(MONDAY, 11)
    )
    assert booking.marks_offered(walk_in, at(MONDAY, 12)) == []
    booking.cancel(
        session,
        None,
        booking.book(
            session,
            None,
            booked.patient,
            "doctor",
            at(MONDAY, 11, 30),
            [booked.doctor.id],
            VISITS,
            PARIS,
            "test",
            now=at(MONDAY, 11, 10),
        ),
        "empêché",
    )
    cancelled = [
        a
        for a in booking.appointments_of(session, booked.patient.id)
        if a.status == AppointmentStatus.CANCELLED
    ]
    assert booking.marks_offered(cancelled[0], at(MONDAY, 12)) == []


def test_upcoming_visits_are_booked_and_not_over_soonest_first(session, booked):
    now = at(MONDAY, 9, 10)
    later = booking.book(
        session,
        None,
        booked.patient,
        "doctor",
        at(MONDAY, 11),
        [booked.doctor.id],
        VISITS,
        PARIS,
        "test",
        now=now,
    )
    visits = booking.appointments_of(session, booked.patient.id)
    upcoming, past = booking.split_upcoming(visits, now)
    assert [v.id for v in upcoming] == [booked.appointment.id, later.id]  # the one under way still to come
    upcoming, past = booking.split_upcoming(visits[::-1], at(MONDAY, 9, 30) + timedelta(minutes=1))
    assert [v.id for v in upcoming] == [later.id] and [v.id for v in past] == [booked.appointment.id]


# --- roster -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "own", "allowed"),
    [
        ("admin", False, True),
        ("assistant", False, True),
        ("clinician", True, True),
        ("clinician", False, False),
        ("reporting", False, False),
    ],
)
def test_a_clinician_manages_only_their_own_sessions(role, own, allowed):
    actor = SimpleNamespace(id=7, role=role)
    member_record = SimpleNamespace(staff_user_id=7 if own else 8)
    assert roster.may_manage_sessions(actor, member_record) is allowed
    assert roster.may_manage_sessions(actor, SimpleNamespace(staff_user_id=None)) is (
        role in ("admin", "assistant")
    )


# --- audit log ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "action", "shown"),
    [
        ("Alice Martin", "patient.view", "Alice Martin"),
        (None, "auth.login_failed", "Inconnu"),
        (None, "patient_link.confirm", "Le patient (lien privé)"),
        (None, "staff.create", "Ligne de commande"),
    ],
)
def test_the_audit_log_names_who_acted(actor, action, shown):
    from dalia_site.domain.audit import actor_name

    assert actor_name(actor, action) == shown
