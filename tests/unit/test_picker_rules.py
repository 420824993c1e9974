"""The slot picker's rules without HTTP: a week of free slots filtered by kind, named clinician
and half-day, across the change to summer time, with the pair for a first visit; the choices
as a form sends them; the slot picked, checked again before its confirmation."""

from datetime import date, time, timedelta

import pytest
from sqlalchemy import select

from dalia_site.domain import booking
from dalia_site.domain.text import FieldError
from dalia_site.models import TeamMember
from tests.unit.test_booking_rules import MONDAY, PARIS, VISITS, accepted_patient, at, member, on_duty
from tests.unit.test_booking_rules import session as session  # noqa: F401 (the fixture)

HOURS = {"open_days": ["lundi", "mardi"], "morning": "08:30-12:30", "afternoon": "13:30-17:30"}
NOW = at(MONDAY, 7)


def clinicians(session) -> dict[int, TeamMember]:
    return {m.id: m for m in session.scalars(select(TeamMember))}


def week(session, patient, kind=None, first_day=MONDAY, who=None, half_day="", now=NOW, moving=None):
    picker = booking.Picker(kind, first_day, who, half_day)
    return booking.week_slots(
        session, picker, patient.id, clinicians(session), VISITS, HOURS, PARIS, now, moving
    )


def local_times(slots) -> list[str]:
    return [f"{s.starts_at.astimezone(PARIS):%a %H:%M}" for s in slots]


def test_a_named_nurse_narrows_the_week_to_her_slots(session):
    nina, lea = member(session, "Nina", "ipa"), member(session, "Léa", "infirmier_azalee")
    on_duty(session, nina, MONDAY, time(9), time(10))
    on_duty(session, lea, MONDAY + timedelta(days=1), time(14), time(15))
    patient = accepted_patient(session)

    anyone = week(session, patient, "nurse")
    named = week(session, patient, "nurse", who=lea.id)

    assert local_times(anyone.slots) == [
        "Mon 09:00",
        "Mon 09:15",
        "Mon 09:30",
        "Tue 14:00",
        "Tue 14:15",
        "Tue 14:30",
    ]
    assert local_times(named.slots) == ["Tue 14:00", "Tue 14:15", "Tue 14:30"]
    assert {s.member_ids for s in named.slots} == {(lea.id,)}
    # Seven days, each with its slots, the empty ones too.
    assert [day for day, _ in named.days] == [MONDAY + timedelta(days=i) for i in range(7)]
    assert [len(slots) for _, slots in named.days] == [0, 3, 0, 0, 0, 0, 0]


def test_morning_or_afternoon_from_the_centres_opening_hours(session):
    doctor = member(session, "Dr Anne")
    on_duty(session, doctor, MONDAY, time(11, 30), time(14, 30))
    patient = accepted_patient(session)

    morning = week(session, patient, "doctor", half_day="matin")
    afternoon = week(session, patient, "doctor", half_day="apres-midi")

    # The morning ends at 12:30 (the centre's morning hours): a slot starting before is a morning one.
    assert local_times(morning.slots) == ["Mon 11:30", "Mon 11:45", "Mon 12:00", "Mon 12:15"]
    assert local_times(afternoon.slots) == [
        "Mon 12:30",
        "Mon 12:45",
        "Mon 13:00",
        "Mon 13:15",
        "Mon 13:30",
        "Mon 13:45",
        "Mon 14:00",
    ]


def test_a_first_visit_takes_the_pair_and_a_named_nurse_is_the_pairs(session):
    doctor = member(session, "Dr Anne")
    nina, lea = member(session, "Nina", "ipa"), member(session, "Léa", "infirmier_azalee")
    on_duty(session, doctor, MONDAY, time(9), time(12))
    on_duty(session, nina, MONDAY, time(9), time(10))
    on_duty(session, lea, MONDAY, time(10), time(12))
    patient = accepted_patient(session)

    pairs = week(session, patient)  # no kind chosen: the alternation's, a first visit

    assert pairs.kind == pairs.proposed == "first"
    assert [(f"{s.starts_at.astimezone(PARIS):%H:%M}", s.member_ids) for s in pairs.slots] == [
        ("09:00", (doctor.id, nina.id)),
        ("10:00", (doctor.id, lea.id)),
        ("10:15", (doctor.id, lea.id)),
        ("10:30", (doctor.id, lea.id)),
        ("10:45", (doctor.id, lea.id)),
        ("11:00", (doctor.id, lea.id)),
    ]
    with_lea = week(session, patient, "first", who=lea.id)
    assert {s.member_ids for s in with_lea.slots} == {(doctor.id, lea.id)}
    assert len(with_lea.slots) == 5


def test_a_week_across_the_change_to_summer_time_keeps_local_hours(session):
    """Sunday 28 March 2027, 02:00 becomes 03:00 in Paris: a week from Thursday 25 March."""
    thursday = date(2027, 3, 25)
    nurse = member(session, "Nina", "ipa")
    for day in (thursday, date(2027, 3, 29), date(2027, 3, 31)):
        on_duty(session, nurse, day, time(9), time(9, 30))
    patient = accepted_patient(session)

    found = week(session, patient, "nurse", first_day=thursday, now=at(thursday, 7))

    assert [day for day, _ in found.days][-1] == date(2027, 3, 31)
    assert [
        (day, [f"{s.starts_at.astimezone(PARIS):%H:%M}" for s in slots]) for day, slots in found.days if slots
    ] == [(thursday, ["09:00"]), (date(2027, 3, 29), ["09:00"]), (date(2027, 3, 31), ["09:00"])]
    offsets = [s.starts_at.astimezone(PARIS).utcoffset() for s in found.slots]
    assert offsets == [timedelta(hours=1), timedelta(hours=2), timedelta(hours=2)]


def test_the_week_keeps_out_the_past_the_booked_and_the_patients_own_time(session):
    doctor, nurse = member(session, "Dr Anne"), member(session, "Nina", "ipa")
    for someone in (doctor, nurse):
        on_duty(session, someone, MONDAY, time(9), time(12))
    patient, other = accepted_patient(session), accepted_patient(session, "Roques")
    booking.book(session, None, other, "first", at(MONDAY, 9), [doctor.id, nurse.id], VISITS, PARIS, now=NOW)
    first = booking.book(
        session, None, patient, "first", at(MONDAY, 10, 30), [doctor.id, nurse.id], VISITS, PARIS, now=NOW
    )

    # From 09:40, after the other patient's visit, and not while the patient is with the pair.
    found = week(session, patient, now=at(MONDAY, 9, 40))
    assert found.proposed == found.kind == "nurse"  # the history read with the busy times
    assert local_times(found.slots) == ["Mon 10:00", "Mon 11:30"]
    # Moving the patient's own visit: its time is free again, but its own start is no move.
    moving = week(session, patient, now=at(MONDAY, 9, 40), moving=first)
    assert moving.kind == "first"
    assert [f"{s.starts_at.astimezone(PARIS):%H:%M}" for s in moving.slots] == [
        "10:00",
        "10:15",
        "10:45",
        "11:00",
    ]


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"kind": "surprise"}, "kind", "Type de rendez-vous inconnu."),
        ({"du": "2027-13-01"}, "du", "Date invalide : choisissez un jour dans le calendrier."),
        ({"du": "2027-01-31"}, "du", "Choisissez une date entre le 01/02/2027 et le 01/02/2028."),
        ({"du": "2028-02-02"}, "du", "Choisissez une date entre le 01/02/2027 et le 01/02/2028."),
        ({"moment": "nuit"}, "moment", "Choisissez le matin, l'après-midi ou la journée."),
        ({"soignant": "999"}, "soignant", "Ce soignant n'est pas dans l'équipe active."),
        ({"soignant": "x"}, "soignant", "Ce soignant n'est pas dans l'équipe active."),
        (
            {"kind": "doctor", "soignant": "NURSE"},
            "soignant",
            "Choisissez un médecin pour une consultation médecin.",
        ),
        (
            {"kind": "nurse", "soignant": "DOCTOR"},
            "soignant",
            "Choisissez une infirmière pour une consultation infirmière.",
        ),
    ],
)
def test_bad_choices_are_refused_in_french(session, values, field, message):
    doctor, nurse = member(session, "Dr Anne"), member(session, "Nina", "ipa")
    ids = {"NURSE": str(nurse.id), "DOCTOR": str(doctor.id)}
    values = {k: ids.get(v, v) for k, v in values.items()}
    with pytest.raises(FieldError) as refused:
        booking.parse_picker(values, clinicians(session), MONDAY)
    assert (refused.value.field, str(refused.value)) == (field, message)


def test_the_choices_of_a_form(session):
    doctor = member(session, "Dr Anne")
    members = clinicians(session)
    assert booking.parse_picker({}, members, MONDAY) == booking.Picker(None, MONDAY)
    assert booking.parse_picker(
        {"kind": "first", "du": "2027-02-10", "soignant": str(doctor.id), "moment": "matin"}, members, MONDAY
    ) == booking.Picker("first", date(2027, 2, 10), doctor.id, "matin")
    patient = accepted_patient(session)
    # No kind chosen and a nurse named, when the alternation proposes a doctor: said in French.
    nurse = member(session, "Nina", "ipa")
    with pytest.raises(FieldError, match="Choisissez un médecin"):
        booking.week_slots(
            session,
            booking.Picker("doctor", MONDAY, nurse.id),
            patient.id,
            clinicians(session),
            VISITS,
            HOURS,
            PARIS,
            NOW,
        )


def test_the_slot_picked_is_checked_again_before_its_confirmation(session):
    doctor, nurse = member(session, "Dr Anne"), member(session, "Nina", "ipa")
    for someone in (doctor, nurse):
        on_duty(session, someone, MONDAY, time(9), time(12))
    patient, other = accepted_patient(session), accepted_patient(session, "Roques")
    members = clinicians(session)

    def check(start, ids, reason="", kind=None, now=NOW):
        return booking.check_choice(
            week(session, patient, kind, now=now), start, ids, members, reason, VISITS, PARIS, now
        )

    slot = check(at(MONDAY, 9), [nurse.id, doctor.id])
    assert (slot.starts_at, slot.ends_at, slot.member_ids) == (
        at(MONDAY, 9),
        at(MONDAY, 10),
        (doctor.id, nurse.id),
    )
    with pytest.raises(FieldError, match="Ce créneau est passé."):
        check(at(MONDAY, 9), [doctor.id, nurse.id], now=at(MONDAY, 9, 5))
    with pytest.raises(FieldError, match="ne correspond pas au type"):
        check(at(MONDAY, 9), [doctor.id])
    with pytest.raises(FieldError, match="n'est pas proposé par le planning"):
        check(at(MONDAY, 9, 5), [doctor.id, nurse.id])
    with pytest.raises(FieldError, match="L'alternance propose : première consultation"):
        check(at(MONDAY, 9), [doctor.id], kind="doctor")
    assert check(at(MONDAY, 9), [doctor.id], "Résultats à revoir", kind="doctor").member_ids == (doctor.id,)
    booking.book(session, None, other, "first", at(MONDAY, 9), [doctor.id, nurse.id], VISITS, PARIS, now=NOW)
    with pytest.raises(booking.SlotTaken):
        check(at(MONDAY, 9, 30), [doctor.id, nurse.id])
    with pytest.raises(booking.SlotTaken):  # past the end of their sessions
        check(at(MONDAY, 11, 15), [doctor.id, nurse.id])


@pytest.mark.parametrize("after", [timedelta(0), timedelta(seconds=1)])
def test_at_ten_oclock_the_ten_oclock_slot_is_neither_offered_nor_confirmed(session, after):
    """One rule (booking.bookable) for the picker, the proposals, the confirmation and the booking:
    with the clock at exactly 10:00:00 (or a second later) the 10:00 slot has begun."""
    doctor, nurse = member(session, "Dr Anne"), member(session, "Nina", "ipa")
    for someone in (doctor, nurse):
        on_duty(session, someone, MONDAY, time(9), time(11, 30))
    patient = accepted_patient(session)
    now = at(MONDAY, 10) + after
    pair = [doctor.id, nurse.id]

    found = week(session, patient, now=now)
    proposed = booking.free_slots(session, "first", VISITS, PARIS, now=now, patient=patient)

    assert local_times(found.slots) == ["Mon 10:15", "Mon 10:30"]
    assert local_times(proposed) == ["Mon 10:15", "Mon 10:30"]
    assert not booking.bookable(at(MONDAY, 10), now)
    with pytest.raises(FieldError, match="Ce créneau est passé."):
        booking.check_choice(found, at(MONDAY, 10), pair, clinicians(session), "", VISITS, PARIS, now)
    with pytest.raises(FieldError, match="Ce créneau est passé."):
        booking.book(session, None, patient, "first", at(MONDAY, 10), pair, VISITS, PARIS, now=now)
    # What the week offers, the confirmation accepts and the booking takes.
    first = found.slots[0]
    checked = booking.check_choice(
        found, first.starts_at, first.member_ids, clinicians(session), "", VISITS, PARIS, now
    )
    booked = booking.book(
        session, None, patient, "first", checked.starts_at, list(checked.member_ids), VISITS, PARIS, now=now
    )
    assert booked.starts_at == at(MONDAY, 10, 15)


def test_a_second_before_ten_the_ten_oclock_slot_is_offered_and_confirmed(session):
    doctor, nurse = member(session, "Dr Anne"), member(session, "Nina", "ipa")
    for someone in (doctor, nurse):
        on_duty(session, someone, MONDAY, time(9), time(11, 30))
    patient = accepted_patient(session)
    now = at(MONDAY, 10) - timedelta(seconds=1)

    found = week(session, patient, now=now)
    slot = booking.check_choice(
        found, at(MONDAY, 10), [doctor.id, nurse.id], clinicians(session), "", VISITS, PARIS, now
    )

    assert local_times(found.slots)[0] == "Mon 10:00"
    assert slot.starts_at == at(MONDAY, 10)


def test_the_last_week_stops_where_booking_does(session):
    """A week starting on the last day the picker allows offers nothing a booking would refuse."""
    nurse = member(session, "Nina", "ipa")
    last_day = MONDAY + timedelta(days=365)
    for day in (last_day, last_day + timedelta(days=1)):
        on_duty(session, nurse, day, time(9), time(9, 30))
    patient = accepted_patient(session)

    found = week(session, patient, "nurse", first_day=last_day)

    assert [s.starts_at for s in found.slots] == [at(last_day, 9)]  # the next day is past FURTHEST


# --- The slot as the picker's week sends it (issue 15: short, a busy week ≤ 10 KB) ---------------


def test_the_pickers_short_choice_reads_back_as_the_same_start():
    start = at(MONDAY, 9, 15)  # Paris, winter: 08h15 UTC
    slot = booking.Slot(start, start + timedelta(minutes=30), (12, 7))
    assert slot.picker_choice == f"{MONDAY:%y%m%d}0815Z_12,7"
    assert len(slot.picker_choice) < len(slot.choice)
    short, long = slot.picker_choice.partition("_")[0], slot.choice.partition("_")[0]
    assert booking.slot_start(short) == booking.slot_start(long) == start
    assert booking.slot_start(start.isoformat()) == start


@pytest.mark.parametrize(
    "text", ["", "2611300815", "261130081Z", "2613300815Z", "2026-11-30T08:15", "demain"]
)
def test_a_slot_start_unreadable_or_without_offset_is_refused(text):
    with pytest.raises(ValueError):
        booking.slot_start(text)
