"""Booking rules on a real database, without HTTP: pair slots, alternation, DST, visit lengths."""

from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from dalia_site import clock
from dalia_site.domain import booking, referrals, roster
from dalia_site.domain.text import FieldError
from dalia_site.extensions import db

PARIS = ZoneInfo("Europe/Paris")
VISITS = {"first_minutes": 60, "doctor_minutes": 30, "nurse_minutes": 30}
MONDAY = date(2027, 2, 1)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS)


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


def member(session, name, profession="medecin", status="retraite"):
    return roster.save_member(
        session,
        None,
        None,
        {
            "name": name,
            "profession": profession,
            "team": "flexible",
            "doctor_status": status if profession == "medecin" else None,
        },
        None,
    )


def on_duty(session, someone, day, start, end):
    roster.add_shift(session, None, someone, day, start, end, PARIS, today=day - timedelta(days=7))


def accepted_patient(session, last_name="Fabre"):
    referral = referrals.receive(
        session,
        None,
        "direct",
        {
            "last_name": last_name,
            "first_names": "Martine",
            "birth_date": date(1950, 1, 1),
            "sex": "F",
            "phone": "06 12 34 56 78",  # accepting needs a way to reach the patient
            "postcode": "11000",
            "ald": "yes",
            "gp_status": "none",
        },
        {},
        "",
        now=clock.now(),
        today=clock.today(ZoneInfo("Europe/Paris")),
    )
    return referrals.decide(session, None, referral, "accepted", now=clock.now())


def slots(session, kind, now=None, patient=None, limit=50):
    return booking.free_slots(
        session, kind, VISITS, PARIS, now=now or at(MONDAY, 7), patient=patient, limit=limit
    )


def test_a_first_visit_needs_the_doctor_and_the_nurse_free_together(session):
    doctor, nurse = member(session, "Dr Anne"), member(session, "Nina", "ipa")
    on_duty(session, doctor, MONDAY, time(8, 30), time(12, 30))
    on_duty(session, nurse, MONDAY, time(10, 0), time(12, 30))
    found = slots(session, "first")
    assert found[0].starts_at == at(MONDAY, 10) and found[0].member_ids == (doctor.id, nurse.id)
    assert found[-1].ends_at == at(MONDAY, 12, 30)  # the last hour that fits both
    assert all(s.ends_at - s.starts_at == timedelta(minutes=60) for s in found)
    assert slots(session, "doctor")[0].starts_at == at(MONDAY, 8, 30)


def test_no_first_visit_without_a_nurse(session):
    on_duty(session, member(session, "Dr Anne"), MONDAY, time(8, 30), time(12, 30))
    assert slots(session, "first") == []
    assert slots(session, "nurse") == []


def test_a_session_ending_mid_slot_offers_only_slots_that_fit(session):
    nurse = member(session, "Nina", "ipa")
    on_duty(session, nurse, MONDAY, time(9, 0), time(10, 10))
    found = slots(session, "nurse")
    assert [s.starts_at.astimezone(PARIS).time() for s in found] == [
        time(9, 0),
        time(9, 15),
        time(9, 30),
    ]  # 9h45 would end at 10h15, past 10h10


def test_visit_lengths_come_from_the_site_settings(session):
    nurse = member(session, "Nina", "ipa")
    on_duty(session, nurse, MONDAY, time(9, 0), time(10, 0))
    found = booking.free_slots(session, "nurse", VISITS | {"nurse_minutes": 45}, PARIS, now=at(MONDAY, 7))
    assert [(s.starts_at.astimezone(PARIS).time(), s.ends_at - s.starts_at) for s in found] == [
        (time(9, 0), timedelta(minutes=45)),
        (time(9, 15), timedelta(minutes=45)),
    ]


def test_a_booking_takes_its_time_from_every_clinician_and_the_patient(session):
    doctor, nurse = member(session, "Dr Anne"), member(session, "Nina", "ipa")
    for someone in (doctor, nurse):
        on_duty(session, someone, MONDAY, time(9, 0), time(11, 0))
    patient = accepted_patient(session)
    booking.book(
        session,
        None,
        patient,
        "first",
        at(MONDAY, 9),
        [doctor.id, nurse.id],
        VISITS,
        PARIS,
        now=at(MONDAY, 7),
    )
    assert [s.starts_at for s in slots(session, "first")] == [at(MONDAY, 10)]
    assert [s.starts_at for s in slots(session, "doctor", patient=patient)][:1] == [at(MONDAY, 10)]
    other = accepted_patient(session, "Roques")
    with pytest.raises(booking.SlotTaken):
        booking.book(
            session,
            None,
            other,
            "first",
            at(MONDAY, 9, 30),
            [doctor.id, nurse.id],
            VISITS,
            PARIS,
            now=at(MONDAY, 7),
        )


def test_a_slot_outside_the_clinicians_sessions_is_refused(session):
    doctor, nurse = member(session, "Dr Anne"), member(session, "Nina", "ipa")
    for someone in (doctor, nurse):
        on_duty(session, someone, MONDAY, time(9, 0), time(10, 0))
    patient = accepted_patient(session)
    with pytest.raises(booking.SlotTaken):  # would end at 10h30
        booking.book(
            session,
            None,
            patient,
            "first",
            at(MONDAY, 9, 30),
            [doctor.id, nurse.id],
            VISITS,
            PARIS,
            now=at(MONDAY, 7),
        )
    with pytest.raises(FieldError, match="ne correspond pas au type"):
        booking.book(
            session, None, patient, "first", at(MONDAY, 9), [doctor.id], VISITS, PARIS, now=at(MONDAY, 7)
        )


def visit(kind, status="honoured", days=0):
    return SimpleNamespace(
        kind=kind, status=status, starts_at=datetime(2027, 1, 1, tzinfo=UTC) + timedelta(days=days)
    )


@pytest.mark.parametrize(
    "history, expected",
    [
        ([], "first"),
        ([visit("first")], "nurse"),
        ([visit("first"), visit("nurse", days=30)], "doctor"),
        ([visit("first"), visit("nurse", days=30), visit("doctor", days=60)], "nurse"),
        ([visit("first"), visit("nurse", "cancelled", days=30)], "nurse"),
        ([visit("first"), visit("nurse", "no_show", days=30)], "nurse"),
        ([visit("first", "cancelled")], "first"),
        ([visit("first"), visit("nurse", "booked", days=30)], "doctor"),
        ([visit("doctor")], "first"),  # a walk-in does not replace the pair's first visit
    ],
)
def test_follow_ups_alternate_and_the_first_visit_counts_as_a_doctor_visit(history, expected):
    assert booking.next_kind(history) == expected


def test_leaving_the_alternation_needs_a_reason_which_is_kept(session):
    doctor, nurse = member(session, "Dr Anne"), member(session, "Nina", "ipa")
    for someone in (doctor, nurse):
        on_duty(session, someone, MONDAY, time(9, 0), time(12, 0))
    patient = accepted_patient(session)
    booking.book(
        session,
        None,
        patient,
        "first",
        at(MONDAY, 9),
        [doctor.id, nurse.id],
        VISITS,
        PARIS,
        now=at(MONDAY, 7),
    )
    with pytest.raises(FieldError, match="L'alternance propose : consultation infirmière"):
        booking.book(
            session, None, patient, "doctor", at(MONDAY, 10), [doctor.id], VISITS, PARIS, now=at(MONDAY, 7)
        )
    kept = booking.book(
        session,
        None,
        patient,
        "doctor",
        at(MONDAY, 10),
        [doctor.id],
        VISITS,
        PARIS,
        "résultats à revoir avec le médecin",
        now=at(MONDAY, 7),
    )
    assert kept.override_reason == "résultats à revoir avec le médecin"


@pytest.mark.parametrize("day", [date(2027, 3, 28), date(2027, 10, 31)])
def test_slots_on_a_daylight_saving_day_keep_local_times(session, day):
    """Sundays of the clock changes: 9h00 local is 8h00 UTC in March… then 7h00 in winter."""
    nurse = member(session, "Nina", "ipa")
    on_duty(session, nurse, day, time(9, 0), time(10, 0))
    found = slots(session, "nurse", now=at(day, 0, 30))
    assert [s.starts_at.astimezone(PARIS).time() for s in found] == [time(9, 0), time(9, 15), time(9, 30)]
    assert all(s.ends_at - s.starts_at == timedelta(minutes=30) for s in found)


def test_only_accepted_patients_can_be_booked(session):
    nurse = member(session, "Nina", "ipa")
    on_duty(session, nurse, MONDAY, time(9, 0), time(10, 0))
    referral = referrals.receive(
        session,
        None,
        "direct",
        {
            "last_name": "Vidal",
            "first_names": "Odette",
            "birth_date": date(1939, 12, 5),
            "sex": "F",
            "phone": "06 12 34 56 78",  # accepting needs a way to reach the patient
            "postcode": "11000",
            "ald": "yes",
            "gp_status": "none",
        },
        {},
        "",
        now=clock.now(),
        today=clock.today(ZoneInfo("Europe/Paris")),
    )
    waiting = referrals.decide(session, None, referral, "waiting_list", now=clock.now())
    with pytest.raises(FieldError, match="Seuls les patients acceptés"):
        booking.book(
            session, None, waiting, "first", at(MONDAY, 9), [nurse.id], VISITS, PARIS, now=at(MONDAY, 7)
        )


def test_an_honoured_visit_or_a_walk_in_holds_its_time_against_new_bookings(session):
    doctor = member(session, "Dr Anne")
    on_duty(session, doctor, MONDAY, time(9, 0), time(12, 0))
    first = accepted_patient(session)
    seen = booking.record_walk_in(session, None, first, "doctor", doctor, VISITS, now=at(MONDAY, 9, 7))
    assert (seen.starts_at, seen.ends_at) == (at(MONDAY, 9, 7), at(MONDAY, 9, 37))
    other = accepted_patient(session, "Roques")
    with pytest.raises(booking.SlotTaken):
        booking.book(
            session,
            None,
            other,
            "doctor",
            at(MONDAY, 9, 15),
            [doctor.id],
            VISITS,
            PARIS,
            "avis médical d'abord",
            now=at(MONDAY, 9, 10),
        )
    # Proposals stay on the quarter hours of the clock after an off-grid walk-in
    starts = [s.starts_at for s in slots(session, "doctor", now=at(MONDAY, 9, 10))]
    assert starts[0] == at(MONDAY, 9, 45)
    assert all(s.astimezone(PARIS).minute % 15 == 0 and s.second == 0 for s in starts)


def test_a_booking_off_the_quarter_hours_or_too_far_ahead_is_refused(session):
    doctor, nurse = member(session, "Dr Anne"), member(session, "Nina", "ipa")
    for someone in (doctor, nurse):
        on_duty(session, someone, MONDAY, time(9, 0), time(12, 0))
    patient = accepted_patient(session)
    for start in (
        at(MONDAY, 9, 7),
        at(MONDAY, 9, 0) + timedelta(seconds=13),
        at(MONDAY, 9) + timedelta(days=400),
    ):
        with pytest.raises(FieldError, match="n'est pas proposé par le planning"):
            booking.book(
                session,
                None,
                patient,
                "first",
                start,
                [doctor.id, nurse.id],
                VISITS,
                PARIS,
                now=at(MONDAY, 7),
            )


def test_a_walk_in_ends_at_the_clinicians_next_appointment_and_not_during_one(session):
    doctor, nurse = member(session, "Dr Anne"), member(session, "Nina", "ipa")
    for someone in (doctor, nurse):
        on_duty(session, someone, MONDAY, time(9, 0), time(12, 0))
    booked = accepted_patient(session)
    booking.book(
        session,
        None,
        booked,
        "first",
        at(MONDAY, 10),
        [doctor.id, nurse.id],
        VISITS,
        PARIS,
        now=at(MONDAY, 7),
    )
    walker = accepted_patient(session, "Roques")
    seen = booking.record_walk_in(session, None, walker, "doctor", doctor, VISITS, now=at(MONDAY, 9, 50))
    assert seen.ends_at == at(MONDAY, 10)
    with pytest.raises(FieldError, match="en rendez-vous en ce moment"):
        booking.record_walk_in(session, None, walker, "doctor", doctor, VISITS, now=at(MONDAY, 10, 20))


def test_rescheduling_can_move_a_visit_within_its_own_time(session):
    nurse = member(session, "Nina", "ipa")
    on_duty(session, nurse, MONDAY, time(9, 0), time(10, 0))
    patient = accepted_patient(session)
    held = booking.book(
        session,
        None,
        patient,
        "nurse",
        at(MONDAY, 9),
        [nurse.id],
        VISITS,
        PARIS,
        "suivi infirmier d'abord",
        now=at(MONDAY, 7),
    )
    proposed = [
        s.starts_at
        for s in booking.free_slots(
            session, "nurse", VISITS, PARIS, now=at(MONDAY, 7), patient=patient, moving=held.id
        )
    ]
    assert at(MONDAY, 9, 15) in proposed  # overlaps the visit being moved: offered anyway
    moved = booking.reschedule(
        session, None, held, at(MONDAY, 9, 15), [nurse.id], VISITS, PARIS, now=at(MONDAY, 7)
    )
    assert (held.status, moved.starts_at) == ("cancelled", at(MONDAY, 9, 15))


def test_a_clinicians_calendar_feed_shows_their_appointments_without_the_patient(session):
    from icalendar import Calendar

    from dalia_site.domain import planning

    doctor, nurse = member(session, "Dr Anne"), member(session, "Nina", "ipa")
    for someone in (doctor, nurse):
        on_duty(session, someone, MONDAY, time(9, 0), time(12, 0))
    patient = accepted_patient(session, "Rouquette")
    booking.book(
        session,
        None,
        patient,
        "first",
        at(MONDAY, 10),
        [doctor.id, nurse.id],
        VISITS,
        PARIS,
        now=at(MONDAY, 7),
    )
    feed = planning.calendar(session, nurse, "DALIA Test", PARIS, MONDAY - timedelta(days=1), now=clock.now())
    events = {str(e["summary"]): e for e in Calendar.from_ical(feed).walk("VEVENT")}
    visit = events["Rendez-vous : première consultation (médecin et infirmière)"]
    assert visit.decoded("dtstart") == at(MONDAY, 10)
    assert "Vacation DALIA Test" in events
    assert b"Rouquette" not in feed and b"Martine" not in feed


def test_free_slots_look_past_the_first_week_only_when_it_is_short(session):
    """The first week ahead is searched first; slots three weeks ahead are still found when the
    week has too few, and they come after the week's, earliest first."""
    doctor, nurse = member(session, "Dr Anne"), member(session, "Nina", "ipa")
    on_duty(session, doctor, MONDAY, time(8, 30), time(9, 30))  # two doctor slots this week
    later = MONDAY + timedelta(weeks=3)
    on_duty(session, doctor, later, time(14, 0), time(15, 0))
    on_duty(session, nurse, later, time(14, 0), time(15, 0))
    two = slots(session, "doctor", limit=2)
    assert [s.starts_at for s in two] == [at(MONDAY, 8, 30), at(MONDAY, 8, 45)]
    five = slots(session, "doctor", limit=5)
    assert [s.starts_at for s in five] == [
        at(MONDAY, 8, 30),
        at(MONDAY, 8, 45),
        at(MONDAY, 9),
        at(later, 14),
        at(later, 14, 15),
    ]
    assert [s.starts_at for s in slots(session, "first", limit=1)] == [at(later, 14)]
    assert slots(session, "nurse", limit=3)[0].starts_at == at(later, 14)
