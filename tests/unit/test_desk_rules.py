"""Today's desk rules on a real database, without HTTP: arrival and its undo on the visit's own
day in the site's timezone (across midnight and both DST changes), marks and back to « prévu »,
the next open day, the grid, and today's free slots (the same as booking.free_slots finds)."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from dalia_site.domain import agenda, booking, desk, roster
from dalia_site.domain.text import FieldError
from dalia_site.extensions import db
from dalia_site.models import Appointment, AppointmentClinician, AuditEvent
from tests.unit.test_booking_rules import PARIS, VISITS, accepted_patient, at, member, on_duty

WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi")
SPRING = date(2027, 3, 28)  # clocks go forward: 02:00 -> 03:00 (UTC+1 -> UTC+2)
AUTUMN = date(2027, 10, 31)  # clocks go back: 03:00 -> 02:00 (UTC+2 -> UTC+1)
MONDAY = date(2027, 2, 1)
NAMES = iter(f"Patient{letter}{n}" for n in range(100) for letter in "BCDFGHJKLMNPRSTVZ")


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


def visit(
    session, start: datetime, minutes: int = 30, kind: str = "doctor", members=(), **fields
) -> Appointment:
    """An appointment stored as it is (the desk's rules, not booking's, are under test)."""
    patient = accepted_patient(session, next(NAMES))
    appointment = Appointment(
        patient_id=patient.id,
        kind=kind,
        starts_at=start,
        ends_at=start + timedelta(minutes=minutes),
        status=fields.pop("status", "booked"),
        **fields,
    )
    appointment.clinicians = [AppointmentClinician(member_id=m.id) for m in members]
    session.add(appointment)
    session.flush()
    return appointment


def actions_logged(session, action: str) -> int:
    return len(session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all())


# --- Arrival and undo ---------------------------------------------------------------------------


def test_arrival_is_recorded_on_the_day_and_undone_until_midnight(session):
    appointment = visit(session, at(MONDAY, 9))
    desk.arrive(session, None, appointment, at(MONDAY, 8, 50), PARIS)  # early is fine
    assert appointment.arrived_at == at(MONDAY, 8, 50)
    with pytest.raises(FieldError, match="Arrivée déjà enregistrée à 08h50"):
        desk.arrive(session, None, appointment, at(MONDAY, 9), PARIS)
    with pytest.raises(FieldError, match=r"seulement le jour du rendez-vous \(le 01/02/2027\)"):
        desk.undo_arrival(session, None, appointment, at(MONDAY + timedelta(days=1), 0, 1), PARIS)
    desk.undo_arrival(session, None, appointment, at(MONDAY, 23, 59), PARIS)
    assert appointment.arrived_at is None
    with pytest.raises(FieldError, match="Aucune arrivée"):
        desk.undo_arrival(session, None, appointment, at(MONDAY, 23, 59), PARIS)
    assert actions_logged(session, "appointment.arrive") == 1
    assert actions_logged(session, "appointment.undo_arrival") == 1


def test_arrival_is_refused_the_day_before_and_for_a_cancelled_or_missed_visit(session):
    appointment = visit(session, at(MONDAY, 9))
    with pytest.raises(FieldError, match="seulement le jour du rendez-vous"):
        desk.arrive(session, None, appointment, at(MONDAY - timedelta(days=1), 23, 59), PARIS)
    for status in ("cancelled", "no_show"):
        other = visit(session, at(MONDAY, 10), status=status)
        with pytest.raises(FieldError, match="Ce rendez-vous est"):
            desk.arrive(session, None, other, at(MONDAY, 10), PARIS)
        assert other.arrived_at is None


@pytest.mark.parametrize(
    ("day", "last_minute_utc", "offset"),
    [
        (SPRING, datetime(2027, 3, 28, 21, 59, tzinfo=UTC), "+0200"),
        (AUTUMN, datetime(2027, 10, 31, 22, 59, tzinfo=UTC), "+0100"),
    ],
)
def test_the_day_is_the_sites_across_daylight_saving_changes(session, day, last_minute_utc, offset):
    """At 23:59 local time (UTC+2 after the spring change, UTC+1 after the autumn one) the undo is
    still allowed; a minute later it is the next day in Paris, although still the same UTC date."""
    appointment = visit(session, at(day, 9))
    assert last_minute_utc.astimezone(PARIS).strftime("%H:%M %z") == f"23:59 {offset}"
    desk.arrive(session, None, appointment, at(day, 8, 55), PARIS)
    next_minute = last_minute_utc + timedelta(minutes=1)
    assert next_minute.date() == day  # the same day in UTC…
    with pytest.raises(FieldError, match="seulement le jour du rendez-vous"):
        desk.undo_arrival(session, None, appointment, next_minute, PARIS)  # …not in Paris
    desk.undo_arrival(session, None, appointment, last_minute_utc, PARIS)
    assert appointment.arrived_at is None


def test_seen_and_no_show_once_started_and_back_to_booked_the_same_day(session):
    appointment = visit(session, at(MONDAY, 9))
    with pytest.raises(FieldError, match="pas encore eu lieu"):
        desk.mark(session, None, appointment, "honoured", at(MONDAY, 8, 59), PARIS)
    desk.mark(session, None, appointment, "no_show", at(MONDAY, 9, 20), PARIS)
    assert appointment.status == "no_show"
    assert desk.actions(appointment, at(MONDAY, 9, 20), PARIS) == ["reopen"]
    desk.reopen(session, None, appointment, at(MONDAY, 9, 21), PARIS)
    assert appointment.status == "booked"
    with pytest.raises(FieldError, match="Ce rendez-vous est « Prévu »"):
        desk.reopen(session, None, appointment, at(MONDAY, 9, 22), PARIS)
    desk.arrive(session, None, appointment, at(MONDAY, 9, 25), PARIS)
    with pytest.raises(FieldError, match="Le patient est arrivé"):
        desk.mark(session, None, appointment, "no_show", at(MONDAY, 9, 26), PARIS)
    desk.mark(session, None, appointment, "honoured", at(MONDAY, 9, 40), PARIS)
    with pytest.raises(FieldError, match="seulement le jour du rendez-vous"):
        desk.reopen(session, None, appointment, at(MONDAY + timedelta(days=1), 8), PARIS)
    assert appointment.status == "honoured"
    assert actions_logged(session, "appointment.reopen") == 1


def test_the_buttons_offered_follow_the_rules(session):
    appointment = visit(session, at(MONDAY, 9))
    assert desk.actions(appointment, at(MONDAY, 8), PARIS) == ["arrive", "cancel"]
    assert desk.actions(appointment, at(MONDAY, 9), PARIS) == ["arrive", "honoured", "no_show"]
    assert desk.actions(appointment, at(MONDAY - timedelta(days=1), 9), PARIS) == []
    appointment.arrived_at = at(MONDAY, 8, 55)
    assert desk.actions(appointment, at(MONDAY, 9), PARIS) == ["undo_arrival", "honoured"]


def test_the_grid_s_rows_are_offered_the_buttons_of_their_appointments(session):
    """The page reads the day's visits as plain rows, an action answers with the appointment
    itself: the same buttons for both, whatever the visit's state."""
    anne = member(session, "Dr Anne")
    visit(session, at(MONDAY, 9), members=(anne,))
    visit(session, at(MONDAY, 9, 30), members=(anne,), arrived_at=at(MONDAY, 9, 20))
    visit(session, at(MONDAY, 10), members=(anne,), status="no_show")
    visit(session, at(MONDAY, 10, 30), members=(anne,), status="honoured", walk_in=True)
    visit(session, at(MONDAY, 11), members=(anne,), status="honoured", arrived_at=at(MONDAY, 10, 50))
    visit(session, at(MONDAY, 14), members=(anne,), status="cancelled", cancelled_by_patient_at=at(MONDAY, 8))
    rows = agenda.visits_between(session, MONDAY, MONDAY, PARIS, with_cancelled=True)
    assert len(rows) == 6 and len(agenda.visits_between(session, MONDAY, MONDAY, PARIS)) == 5
    for now in (at(MONDAY, 8), at(MONDAY, 10, 40), at(MONDAY, 12), at(MONDAY + timedelta(days=1), 9)):
        for row in rows:
            appointment = session.get(Appointment, row.id)
            assert desk.actions(row, now, PARIS) == desk.actions(appointment, now, PARIS)
    assert desk.counts(rows) == desk.Counts(
        expected=5, arrived=2, seen=2, no_show=1, cancelled=1, cancelled_by_patient=1
    )


# --- The day shown ------------------------------------------------------------------------------


def test_a_closed_day_gives_the_next_open_day():
    saturday = date(2027, 2, 6)
    assert desk.open_day_from(saturday, WEEKDAYS) == date(2027, 2, 8)
    assert desk.open_day_from(MONDAY, WEEKDAYS) == MONDAY
    assert desk.neighbours(date(2027, 2, 5), WEEKDAYS) == (date(2027, 2, 4), date(2027, 2, 8))
    assert desk.neighbours(MONDAY, WEEKDAYS) == (date(2027, 1, 29), date(2027, 2, 2))
    assert desk.open_day_from(saturday, ()) == saturday  # no opening hours set: the day itself


# --- The grid -----------------------------------------------------------------------------------


def test_columns_put_the_viewer_first_then_doctors_then_nurses_by_name(session):
    zoe, anne, nina = member(session, "Dr Zoé"), member(session, "Dr Anne"), member(session, "Nina", "ipa")
    for someone in (zoe, anne, nina):
        on_duty(session, someone, MONDAY, time(8, 30), time(12, 30))
    duty = roster.occurrences(session, MONDAY, MONDAY, PARIS)
    names = [c.member.name for c in desk.columns([nina, zoe, anne], duty)]
    assert names == ["Dr Anne", "Dr Zoé", "Nina"]
    mine = desk.columns([nina, zoe, anne], duty, own_member_id=nina.id)
    assert [c.member.name for c in mine] == ["Nina", "Dr Anne", "Dr Zoé"] and mine[0].own


def test_the_pair_visit_spans_both_columns_and_overlaps_share_a_cell(session):
    anne, nina = member(session, "Dr Anne"), member(session, "Nina", "ipa")
    for someone in (anne, nina):
        on_duty(session, someone, MONDAY, time(8, 30), time(12, 30))
    cols = desk.columns([anne, nina], roster.occurrences(session, MONDAY, MONDAY, PARIS))
    first = visit(session, at(MONDAY, 9), 60, "first", (anne, nina))
    walk_in = visit(session, at(MONDAY, 10, 7), 20, "doctor", (anne,), walk_in=True, status="honoured")
    follow_up = visit(session, at(MONDAY, 10), 30, "doctor", (anne,))
    grid = desk.grid(cols, agenda.visits_between(session, MONDAY, MONDAY, PARIS), PARIS)
    assert grid.times[0] == at(MONDAY, 8, 30) and grid.times[-1] == at(MONDAY, 12, 15)  # quarter hours
    pair = grid.starts[(2, 0)]
    assert (pair.rows, pair.columns, [v.id for v in pair.appointments]) == (4, 2, [first.id])
    shared = grid.starts[(6, 0)]
    assert [v.id for v in shared.appointments] == [follow_up.id, walk_in.id]
    assert (7, 0) in grid.covered and (6, 1) not in grid.covered


# --- Today's free slots -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["doctor", "nurse"])
def test_todays_free_slots_are_booking_free_slots_for_today(session, kind):
    anne, paul = member(session, "Dr Anne"), member(session, "Dr Paul")
    nina, lea = member(session, "Nina", "ipa"), member(session, "Léa", "infirmier")
    for someone in (anne, paul, nina, lea):
        on_duty(session, someone, MONDAY, time(8, 30), time(12, 30))
        on_duty(session, someone, MONDAY, time(13, 30), time(17, 30))
        on_duty(session, someone, MONDAY + timedelta(days=1), time(8, 30), time(12, 30))
    visit(session, at(MONDAY, 10, 30), 30, "doctor", (anne,))
    visit(session, at(MONDAY, 10, 30), 30, "doctor", (paul,))
    visit(session, at(MONDAY, 10, 45), 30, "nurse", (nina,))
    visit(session, at(MONDAY, 11), 60, "first", (anne, lea))
    visit(session, at(MONDAY, 11), 30, "nurse", (nina,), status="cancelled")
    now = at(MONDAY, 10, 7)
    appointments = agenda.visits_between(
        session, MONDAY, MONDAY + timedelta(days=1), PARIS, with_cancelled=True
    )
    members = {m.id: m for m in (anne, paul, nina, lea)}
    duty = roster.occurrences(session, MONDAY, MONDAY, PARIS)
    mine = desk.free_today(members, duty, appointments, kind, VISITS, PARIS, now, limit=100)
    theirs = booking.free_slots(session, kind, VISITS, PARIS, now=now, limit=100, horizon=timedelta(0))
    assert [(s.starts_at, s.member_ids) for s in mine] == [(s.starts_at, s.member_ids) for s in theirs]
    assert mine[0].starts_at > now and len(mine) > 10
    assert all(s.starts_at.astimezone(PARIS).date() == MONDAY for s in mine)


def test_a_session_past_midnight_offers_only_today_s_slots(session):
    """Late in the evening, a session running past midnight: the desk offers the slots that end
    by midnight, never tomorrow's (whose visits it has not read: a booked one would show free)."""
    anne = member(session, "Dr Anne")
    from dalia_site.models import Shift

    session.add(Shift(member_id=anne.id, starts_at=at(MONDAY, 23), ends_at=at(MONDAY + timedelta(days=1), 1)))
    session.flush()
    visit(session, at(MONDAY + timedelta(days=1), 0), 30, "doctor", (anne,))
    now = at(MONDAY, 23, 2)
    appointments = agenda.visits_between(
        session, MONDAY, MONDAY + timedelta(days=1), PARIS, with_cancelled=True
    )
    duty = roster.occurrences(session, MONDAY, MONDAY, PARIS)
    found = desk.free_today({anne.id: anne}, duty, appointments, "doctor", VISITS, PARIS, now, limit=100)
    starts = [s.starts_at.astimezone(PARIS).strftime("%H:%M") for s in found]
    assert (
        starts
        and starts[-1] == "23:30"
        and all(s.ends_at <= at(MONDAY + timedelta(days=1), 0) for s in found)
    )


# --- A free slot given to a patient ---------------------------------------------------------------


def test_a_free_slot_is_a_walk_in_now_or_a_booking_later_today(session):
    now = at(MONDAY, 10, 2)
    assert desk.slot_use(at(MONDAY, 10), now, PARIS) == desk.WALK_IN  # began within the quarter
    assert desk.slot_use(at(MONDAY, 10, 15), now, PARIS) == desk.WALK_IN  # begins within the quarter
    assert desk.slot_use(at(MONDAY, 10, 30), now, PARIS) == desk.BOOK
    assert desk.slot_use(at(MONDAY, 23, 45), now, PARIS) == desk.BOOK
    with pytest.raises(FieldError, match="Ce créneau est passé."):
        desk.slot_use(at(MONDAY, 9, 45), now, PARIS)
    with pytest.raises(FieldError, match="n'est pas aujourd'hui"):
        desk.slot_use(at(MONDAY + timedelta(days=1), 9), now, PARIS)
    # The site's day: 00:30 in Paris is still the day before in UTC.
    with pytest.raises(FieldError, match="n'est pas aujourd'hui"):
        desk.slot_use(at(MONDAY, 0, 30), at(MONDAY - timedelta(days=1), 23, 50), PARIS)


def test_the_slot_kind_follows_its_clinicians_profession(session):
    doctor, nurse = member(session, "Dr Slot"), member(session, "Inès Slot", "infirmier_azalee")
    assert desk.slot_kind(doctor) == "doctor" and desk.slot_kind(nurse) == "nurse"
    doctor.active = False
    for nobody in (None, doctor):
        with pytest.raises(FieldError, match="n'est pas celui d'un soignant"):
            desk.slot_kind(nobody)


def test_a_walk_in_in_a_slot_taken_meanwhile_is_refused(session):
    doctor = member(session, "Dr Prise")
    patient = accepted_patient(session, "Prise")
    visit(session, at(MONDAY, 10, 15), members=[doctor])  # booked meanwhile, in the slot
    with pytest.raises(booking.SlotTaken):
        desk.walk_in_in_slot(
            session, None, patient, doctor, at(MONDAY, 10, 15), VISITS, PARIS, now=at(MONDAY, 10, 2)
        )
    with pytest.raises(FieldError, match="pas encore commencé"):
        desk.walk_in_in_slot(
            session, None, patient, doctor, at(MONDAY, 11), VISITS, PARIS, now=at(MONDAY, 10, 2)
        )
    session.rollback()  # as the view's unit of work does on a refusal
    free, patient = member(session, "Dr Libre"), accepted_patient(session, "Libre")
    held = desk.walk_in_in_slot(
        session, None, patient, free, at(MONDAY, 10), VISITS, PARIS, now=at(MONDAY, 10, 2)
    )
    assert held.walk_in and held.starts_at == at(MONDAY, 10, 2) and held.kind == "doctor"


def test_a_walk_in_in_a_slot_beginning_within_the_quarter_is_held_from_its_start(session):
    # The desk offers 10h15 at 10h07 as « now » while the doctor's visit runs until 10h15: the
    # patient is seen at 10h15 — not refused because the doctor is in a visit at 10h07.
    doctor, patient = member(session, "Dr Quart"), accepted_patient(session, "Quart")
    visit(session, at(MONDAY, 10), 15, members=[doctor])
    held = desk.walk_in_in_slot(
        session, None, patient, doctor, at(MONDAY, 10, 15), VISITS, PARIS, now=at(MONDAY, 10, 7)
    )
    assert held.walk_in and held.status == "honoured"
    assert (held.starts_at, held.ends_at) == (
        at(MONDAY, 10, 15),
        at(MONDAY, 10, 15) + timedelta(minutes=VISITS["doctor_minutes"]),
    )
