"""Roster rules on a real database, without HTTP: RPPS, patterns, DST, overlaps, coverage, ICS."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from dalia_site import clock
from dalia_site.domain import planning, roster
from dalia_site.domain.text import FieldError, FieldErrors
from dalia_site.extensions import db

PARIS = ZoneInfo("Europe/Paris")
HOURS = {
    "open_days": ["lundi", "mardi", "mercredi", "jeudi", "vendredi"],
    "morning": "08:30-12:30",
    "afternoon": "13:30-17:30",
}
TODAY = date(2027, 1, 4)
MORNING = (time(8, 30), time(12, 30))


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


def member(session, name, profession="medecin", status="retraite", team="flexible"):
    return roster.save_member(
        session,
        None,
        None,
        {
            "name": name,
            "profession": profession,
            "team": team,
            "doctor_status": status if profession == "medecin" else None,
        },
        None,
    )


@pytest.mark.parametrize(
    "rpps, valid",
    [
        ("10000000009", True),
        ("10101010105", True),
        ("10000000008", False),
        ("1000000000", False),
        ("1000000000A", False),
        ("١٠٠٠٠٠٠٠٠٠٩", False),
    ],
)
def test_rpps_has_eleven_digits_and_a_luhn_key(rpps, valid):
    assert roster.rpps_is_valid(rpps) is valid


def test_member_fields_are_checked_together():
    with pytest.raises(FieldErrors) as error:
        roster.clean_member(
            {"name": "", "profession": "medecin", "team": "flexible", "rpps": "10000000008", "phone": "05 65"}
        )
    assert set(error.value.errors) == {"name", "doctor_status", "rpps", "phone"}
    with pytest.raises(FieldErrors) as error:
        roster.clean_member(
            {"name": "Aline", "profession": "assistant_medical", "team": "stable", "rpps": "10000000009"}
        )
    assert error.value.errors == {"rpps": "Seuls les médecins et les infirmières ont un numéro RPPS."}


def test_a_weekly_pattern_skips_its_exceptions_and_stops_at_its_end(session):
    nurse = member(session, "Nina", "ipa", team="stable")
    pattern = roster.add_pattern(
        session,
        None,
        nurse,
        1,
        *MORNING,
        date(2027, 1, 1),
        date(2027, 1, 31),
        PARIS,
        today=clock.today(ZoneInfo("Europe/Paris")),
    )
    roster.add_exception(session, None, pattern, date(2027, 1, 12), "formation", today=TODAY)
    days = [
        o.starts_at.date()
        for o in roster.occurrences(session, date(2027, 1, 1), date(2027, 2, 28), PARIS, [nurse.id])
    ]
    assert days == [date(2027, 1, 5), date(2027, 1, 19), date(2027, 1, 26)]
    with pytest.raises(FieldError, match="Aucun mardi de vacation à noter absent"):
        roster.add_exception(session, None, pattern, date(2027, 1, 13), today=TODAY)


@pytest.mark.parametrize("monday", [date(2027, 3, 22), date(2027, 10, 25)])
def test_a_pattern_stays_at_8h30_local_across_the_daylight_saving_change(session, monday):
    """The week of the March (28/03/2027) and October (31/10/2027) clock changes."""
    doctor = member(session, "Dr Paul")
    for weekday in range(7):
        roster.add_pattern(
            session,
            None,
            doctor,
            weekday,
            *MORNING,
            monday,
            None,
            PARIS,
            today=clock.today(ZoneInfo("Europe/Paris")),
        )
    found = roster.occurrences(session, monday, monday + timedelta(days=13), PARIS, [doctor.id])
    assert len(found) == 14
    assert {o.starts_at.astimezone(PARIS).time() for o in found} == {time(8, 30)}
    offsets = {o.starts_at.astimezone(PARIS).utcoffset() for o in found}
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}  # both sides of the change
    assert {o.ends_at - o.starts_at for o in found} == {timedelta(hours=4)}


def test_overlapping_sessions_are_refused_adjacent_ones_are_not(session):
    doctor = member(session, "Dr Anne")
    roster.add_shift(session, None, doctor, date(2027, 2, 2), *MORNING, PARIS, today=TODAY)
    with pytest.raises(FieldError, match="ne peuvent pas se chevaucher"):
        roster.add_shift(
            session, None, doctor, date(2027, 2, 2), time(12, 0), time(14, 0), PARIS, today=TODAY
        )
    roster.add_shift(
        session, None, doctor, date(2027, 2, 2), time(12, 30), time(17, 30), PARIS, today=TODAY
    )  # starts when the morning ends


def test_a_pattern_is_refused_over_an_existing_session_and_vice_versa(session):
    nurse = member(session, "Inès", "infirmier", team="stable")
    roster.add_shift(session, None, nurse, date(2027, 6, 15), *MORNING, PARIS, today=TODAY)
    with pytest.raises(FieldError, match="le 15/06/2027 de 08h30 à 12h30"):
        roster.add_pattern(
            session,
            None,
            nurse,
            1,
            time(9, 0),
            time(10, 0),
            date(2027, 1, 1),
            None,
            PARIS,
            today=clock.today(ZoneInfo("Europe/Paris")),
        )
    roster.add_pattern(
        session,
        None,
        nurse,
        2,
        *MORNING,
        date(2027, 1, 1),
        None,
        PARIS,
        today=clock.today(ZoneInfo("Europe/Paris")),
    )
    with pytest.raises(FieldError, match="ne peuvent pas se chevaucher"):
        roster.add_shift(
            session, None, nurse, date(2027, 6, 16), time(11, 0), time(13, 0), PARIS, today=TODAY
        )


def test_a_session_in_the_past_or_backwards_is_refused(session):
    doctor = member(session, "Dr Luc")
    with pytest.raises(FieldError, match="La date est passée."):
        roster.add_shift(session, None, doctor, TODAY - timedelta(days=1), *MORNING, PARIS, today=TODAY)
    with pytest.raises(FieldError, match="L'heure de fin doit suivre"):
        roster.add_shift(session, None, doctor, TODAY, time(12), time(9), PARIS, today=TODAY)


def test_coverage_alerts_name_what_is_missing(session):
    intern = member(session, "Léa (interne)", status="interne")
    nurse = member(session, "Nina", "ipa", team="stable")
    assistant = member(session, "Sandrine", "assistant_medical", team="stable")
    day = date(2027, 2, 3)  # a Wednesday
    for someone in (intern, nurse):
        roster.add_shift(session, None, someone, day, *MORNING, PARIS, today=TODAY)
    morning, afternoon = planning.half_days(session, day, day, HOURS, PARIS)
    assert not morning.gap  # a doctor and a nurse
    assert morning.alerts == [
        "Demi-journée sans assistant·e",
        "Léa (interne) : pas de médecin senior présent",
    ]
    assert afternoon.gap and "Demi-journée sans médecin" in afternoon.alerts
    senior = member(session, "Dr Bravo", status="remplacant")
    for someone in (senior, assistant):
        roster.add_shift(session, None, someone, day, *MORNING, PARIS, today=TODAY)
    morning, _ = planning.half_days(session, day, day, HOURS, PARIS)
    assert morning.alerts == []


def test_weekends_are_closed_and_never_gaps(session):
    saturday = date(2027, 2, 6)
    halves = planning.half_days(session, saturday, saturday + timedelta(days=1), HOURS, PARIS)
    assert [(h.open, h.gap, h.alerts) for h in halves] == [(False, False, [])] * 4


def test_the_calendar_feed_parses_with_local_times_in_winter_and_summer(session):
    doctor = member(session, "Dr Anne")
    roster.add_shift(session, None, doctor, date(2027, 1, 12), *MORNING, PARIS, today=TODAY)
    roster.add_shift(session, None, doctor, date(2027, 7, 13), *MORNING, PARIS, today=TODAY)
    feed = Calendar.from_ical(planning.calendar(session, doctor, "DALIA Test", PARIS, TODAY, now=clock.now()))
    events = sorted(feed.walk("VEVENT"), key=lambda e: e.decoded("dtstart"))
    assert [e.decoded("dtstart").strftime("%d/%m %H:%M %Z") for e in events] == [
        "12/01 08:30 CET",
        "13/07 08:30 CEST",
    ]
    assert {str(e.decoded("dtstart").tzinfo) for e in events} == {"Europe/Paris"}
    assert [tz["TZID"] for tz in feed.walk("VTIMEZONE")] == ["Europe/Paris"]
    assert len({str(e["uid"]) for e in events}) == 2


def test_a_calendar_token_is_stored_hashed_and_replaced(session):
    doctor = member(session, "Dr Anne")
    first = planning.new_calendar_token(session, None, doctor)
    assert planning.member_for_calendar(session, first) is doctor
    assert first not in (doctor.ics_token_hash or "")
    second = planning.new_calendar_token(session, None, doctor)
    assert planning.member_for_calendar(session, first) is None
    planning.revoke_calendar_token(session, None, doctor)
    assert planning.member_for_calendar(session, second) is None


def test_an_absence_over_a_period_takes_off_each_day_of_the_pattern_in_it(session):
    nurse = member(session, "Nina", "ipa", team="stable")
    pattern = roster.add_pattern(
        session, None, nurse, 1, *MORNING, date(2027, 1, 1), None, PARIS, today=TODAY
    )
    added = roster.add_exception(
        session, None, pattern, date(2027, 1, 4), "congés", until=date(2027, 1, 24), today=TODAY
    )
    assert [e.day for e in added] == [date(2027, 1, 5), date(2027, 1, 12), date(2027, 1, 19)]
    days = [
        o.starts_at.date()
        for o in roster.occurrences(session, date(2027, 1, 1), date(2027, 1, 31), PARIS, [nurse.id])
    ]
    assert days == [date(2027, 1, 26)]
    with pytest.raises(FieldError, match="aujourd'hui ou plus tard"):
        roster.add_exception(session, None, pattern, date(2026, 12, 29), today=TODAY)


def test_a_pattern_from_the_past_is_checked_against_sessions_years_ahead(session):
    """A one-off far ahead is found even when the pattern started long ago."""
    doctor = member(session, "Dr Anne")
    roster.add_shift(session, None, doctor, date(2028, 3, 7), *MORNING, PARIS, today=TODAY)
    with pytest.raises(FieldError, match="le 07/03/2028"):
        roster.add_pattern(session, None, doctor, 1, *MORNING, date(2025, 1, 7), None, PARIS, today=TODAY)
    roster.add_pattern(session, None, doctor, 2, *MORNING, date(2025, 1, 7), None, PARIS, today=TODAY)
    with pytest.raises(FieldError, match="chaque mercredi de 08h30 à 12h30"):
        roster.add_pattern(
            session, None, doctor, 2, time(12), time(13), date(2029, 1, 1), None, PARIS, today=TODAY
        )


def test_times_skipped_by_the_spring_clock_change_are_refused(session):
    doctor = member(session, "Dr Nuit")
    with pytest.raises(FieldError, match="n'existe pas ou est ambiguë le 28/03/2027"):
        roster.add_shift(session, None, doctor, date(2027, 3, 28), time(2, 30), time(4), PARIS, today=TODAY)
    with pytest.raises(FieldError, match="Entre 2h et 3h"):
        roster.add_pattern(
            session, None, doctor, 6, time(2, 30), time(4), date(2027, 1, 3), None, PARIS, today=TODAY
        )


def test_a_started_session_cannot_be_withdrawn(session):
    doctor = member(session, "Dr Anne")
    planned = roster.add_shift(session, None, doctor, date(2027, 2, 2), *MORNING, PARIS, today=TODAY)
    with pytest.raises(FieldError, match="reste dans l'historique"):
        roster.withdraw_shift(session, None, planned, PARIS, now=datetime(2027, 2, 2, 10, tzinfo=PARIS))
    roster.withdraw_shift(session, None, planned, PARIS, now=datetime(2027, 2, 1, 10, tzinfo=PARIS))
