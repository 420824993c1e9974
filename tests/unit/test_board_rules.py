"""The open half-days board's list, without HTTP: a half-day already begun leaves it, whatever
zone the moment is given in; the list kept for the roster's version follows each change."""

import dataclasses
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from dalia_site.domain import board, opening, roster
from dalia_site.extensions import db
from tests.unit.test_roster_rules import member

PARIS = ZoneInfo("Europe/Paris")
AUDE = opening.Opening(
    opening.parse_half_days("", ["lundi", "mardi", "mercredi", "jeudi", "vendredi"]),
    "08:30-12:30",
    "13:30-17:30",
    departement="11",
)
TUESDAY, WEDNESDAY = date(2026, 12, 1), date(2026, 12, 2)


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


@pytest.mark.parametrize("zone", [PARIS, UTC])
@pytest.mark.parametrize(
    ("day", "at", "first"),
    [
        (TUESDAY, time(8, 29), (TUESDAY, "matin")),
        (TUESDAY, time(8, 30), (TUESDAY, "apres-midi")),  # the morning has begun
        (TUESDAY, time(13, 31), (WEDNESDAY, "matin")),
        (TUESDAY, time(23, 59), (WEDNESDAY, "matin")),
        (WEDNESDAY, time(0, 30), (WEDNESDAY, "matin")),  # still Tuesday in UTC
    ],
)
def test_the_board_lists_the_half_days_not_begun(session, zone, day, at, first):
    now = datetime.combine(day, at, PARIS).astimezone(zone)
    found = board.open_half_days(session, AUDE, PARIS, today=day, now=now)
    assert (found[0].half.day, found[0].half.code) == first
    assert all(item.half.starts_at > now for item in found)
    assert found[0].lacks == ("médecin", "infirmière")


def test_the_board_follows_the_roster_and_the_opening_it_was_worked_out_for(session):
    """The board is kept by each process for the roster's version: a session added draws a new
    version, and the board shows it; another opening (a closure) is worked out for itself."""
    now = datetime(2026, 12, 1, 9, tzinfo=PARIS)

    def lacking(opening=AUDE):
        version = board.reading(session, 0)[1]  # no account 0: the version alone
        found = board.open_half_days(session, opening, PARIS, today=now.date(), now=now, version=version)
        return {(item.half.day, item.half.code): item.lacks for item in found}

    assert lacking()[WEDNESDAY, "matin"] == ("médecin", "infirmière")
    nurse = member(session, "Iris Vidal", "infirmier")
    roster.add_shift(session, None, nurse, WEDNESDAY, time(8, 30), time(12, 30), PARIS, today=now.date())
    session.flush()
    assert lacking()[WEDNESDAY, "matin"] == ("médecin",)
    closed = dataclasses.replace(AUDE, closures=(opening.ClosedSpan(1, WEDNESDAY, WEDNESDAY, "inventaire"),))
    assert (WEDNESDAY, "matin") not in lacking(closed)
    assert lacking()[WEDNESDAY, "matin"] == ("médecin",)
