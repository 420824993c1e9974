"""The delay from referral to first visit counts local dates — the centre's, wherever it is: the
figures read the moments as text and take their local dates from what each UTC day is in the zone
(activity._local_ordinals); these are the dates a plain conversion of each moment gives, at every
minute of the days the clock changes, in zones an hour, half an hour or 9 h 30 from UTC."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dalia_site.domain import activity
from dalia_site.models import Referral
from tests.unit.test_activity import (  # noqa: F401 (fixtures)
    accepted_patient,
    db_backend,
    held,
    session,
)

# Clock changes of an hour (Paris), of half an hour (Lord Howe), at -3 h 30 (St John's); no change
# but a half-hour or 9 h 30 offset (Kolkata, Marquesas).
ZONES = [
    ZoneInfo(key)
    for key in (
        "Europe/Paris",
        "Australia/Lord_Howe",
        "America/St_Johns",
        "Asia/Kolkata",
        "Pacific/Marquesas",
    )
]


def stored(moment: datetime) -> str:
    """A UTC moment as statement 2 reads it (SQLite's stored text, PostgreSQL's to_char)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def plain(moment: datetime, zone: ZoneInfo) -> int:
    return activity._local_day(moment.astimezone(UTC).replace(tzinfo=None), zone).toordinal()


def clock_changes(zone: ZoneInfo, year: int) -> list[date]:
    """The UTC days of `year` on which the zone's offset changes."""
    days = [date(year, 1, 1) + timedelta(days=n) for n in range(365)]
    return [
        day
        for day in days
        if datetime.combine(day, time(), UTC).astimezone(zone).utcoffset()
        != datetime.combine(day, time.max, UTC).astimezone(zone).utcoffset()
    ]


def around(day: date) -> list[datetime]:
    """Every minute of the UTC day before, of `day` and of the day after, at its first and its
    last microsecond."""
    first = datetime.combine(day - timedelta(days=1), time(), UTC)
    minutes = [first + timedelta(minutes=n) for n in range(3 * 24 * 60)]
    return [moment + delta for moment in minutes for delta in (timedelta(0), timedelta(seconds=59.999999))]


@pytest.mark.parametrize("zone", ZONES, ids=str)
def test_local_dates_from_the_moments_text_are_the_plain_conversions(zone):
    changes = clock_changes(zone, 2027)
    assert len(changes) == (0 if str(zone) in ("Asia/Kolkata", "Pacific/Marquesas") else 2)
    rng = random.Random(str(zone))  # noqa: S311 (reproducible moments, not a secret)
    moments = [m for day in [*changes, date(2027, 6, 15)] for m in around(day)]
    moments += [
        datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(100 * 366 * 86_400 * 10**6))
        for _ in range(20_000)
    ]
    fresh: dict[str, activity.UTCDay] = {}
    for utc_days in (fresh, fresh):  # worked out, then read again
        shown = activity._local_ordinals([stored(moment) for moment in moments], zone, utc_days)
        assert shown == [plain(moment, zone) for moment in moments]
    assert any(entry is None for entry in fresh.values()) == bool(changes)  # the fallback ran


# Moments around local midnights and clock changes of the zones above, in 2027 (UTC).
MOMENTS = [
    datetime(2027, month, day, hour, minute, second, tzinfo=UTC)
    for month, day in ((3, 27), (3, 28), (4, 3), (4, 4), (10, 2), (10, 3), (10, 30), (10, 31))
    for hour, minute, second in ((0, 59, 59), (1, 0, 0), (9, 29, 59), (13, 30, 0), (18, 30, 0), (22, 59, 59))
]


def test_days_to_first_visit_are_local_dates_in_any_zone(session):  # noqa: F811 (the fixture)
    """Patients referred and first seen around the local midnights and the clock changes of five
    zones: for a centre in each, the delays are those of the local dates (SQLite and PostgreSQL)."""
    rng = random.Random(5)  # noqa: S311 (reproducible moments, not a secret)
    visits = []
    for number in range(24):
        referred = rng.choice(MOMENTS)
        patient = accepted_patient(session, f"Horaire{number}", date(1950, 1, 1 + number), referred)
        seen = rng.choice([m for m in MOMENTS if m > referred] or [referred + timedelta(hours=1)])
        held(session, patient, "first", seen)
        visits.append(
            (session.scalar(select(Referral.received_at).where(Referral.patient_id == patient.id)), seen)
        )
    period = activity.Period(date(2027, 3, 1), date(2027, 11, 30))
    for zone in ZONES:
        start, end = period.bounds(zone)
        expected = [
            max((seen.astimezone(zone).date() - referred.astimezone(zone).date()).days, 0)
            for referred, seen in visits
            if start <= seen < end
        ]
        figures = activity.compute(session, period, zone)
        assert sorted(figures.days_to_first_visit) == sorted(expected), zone
        assert len(set(expected)) > 5


BANDS = {
    "Europe/Paris": ("00:00", "22:00"),  # +1 h and +2 h
    "Australia/Lord_Howe": ("00:00", "13:00"),  # +10 h 30 and +11 h
    "America/St_Johns": ("03:30", "24:00"),  # -3 h 30 and -2 h 30
    "Asia/Kolkata": ("00:00", "18:30"),
    "Pacific/Marquesas": ("09:30", "24:00"),
    "Africa/Casablanca": ("00:00", "23:00"),  # 0 and +1 h, summer time suspended for Ramadan
}


@pytest.mark.parametrize("key", BANDS)
def test_delays_are_read_as_numbers_only_at_hours_where_the_local_date_is_the_utc_date(key):
    """Statement 2 reads a new patient's delay as the kept number of UTC days only when both
    moments fall in these UTC hours; every moment of 2000-2099 in them has its UTC date as local
    date, and the zone's offsets read every twelve hours give the same hours as those read
    weekly."""
    zone = ZoneInfo(key)
    band = activity._band(zone)
    assert (band["band_from"], band["band_to"]) == BANDS[key]
    first = datetime(2000, 1, 1, tzinfo=UTC)
    offsets = {(first + timedelta(hours=12 * n)).astimezone(zone).utcoffset() for n in range(2 * 36_525)}
    west, east = min(offsets), max(offsets)
    start, end = _minutes(band["band_from"]), _minutes(band["band_to"])
    assert -min(west, timedelta(0)) // timedelta(minutes=1) == start
    assert 24 * 60 - max(east, timedelta(0)) // timedelta(minutes=1) == end
    rng = random.Random(key)  # noqa: S311 (reproducible moments, not a secret)
    for _ in range(5_000):
        day = first + timedelta(days=rng.randrange(36_525))
        for minute in (start, end - 1, rng.randrange(start, end)):
            for moment in (
                day + timedelta(minutes=minute),
                day + timedelta(minutes=minute, seconds=59.999999),
            ):
                assert moment.astimezone(zone).date() == moment.date(), moment


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def test_a_patient_referred_after_their_first_visit_counts_no_delay(session):  # noqa: F811 (the fixture)
    """A referral written after the patient's first visit (a walk-in's, sent afterwards) is no
    delay at all: 0 days, read as a number (Paris: both moments by day) or from the moments'
    text (Kolkata: the evening ones are near its midnight), on SQLite and PostgreSQL."""
    cases = [  # (referred, first seen), UTC
        (datetime(2027, 3, 10, 9, tzinfo=UTC), datetime(2027, 3, 5, 9, tzinfo=UTC)),
        (datetime(2027, 3, 12, 20, tzinfo=UTC), datetime(2027, 3, 8, 20, tzinfo=UTC)),
        (datetime(2027, 3, 1, 9, tzinfo=UTC), datetime(2027, 3, 4, 9, tzinfo=UTC)),
    ]
    for number, (referred, seen) in enumerate(cases):
        patient = accepted_patient(session, f"Tardif{number}", date(1960, 1, 1 + number), referred)
        held(session, patient, "first", seen)
    period = activity.Period(date(2027, 3, 1), date(2027, 3, 31))
    for key in ("Europe/Paris", "Asia/Kolkata"):
        figures = activity.compute(session, period, ZoneInfo(key))
        assert sorted(figures.days_to_first_visit) == [0, 0, 3], key
