"""When the centre is open, without HTTP: French public holidays from the `holidays` library for
each template's département (and Alsace-Moselle's two more days), closures over ranges and the
clock changes, opening per half-day, sessions refused on closed days unless « ouverture
exceptionnelle », and no slot, no alert and no staffed hour on a closed day."""

import dataclasses
import tomllib
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dalia_site.domain import booking, centre, opening, planning, roster
from dalia_site.domain.text import FieldError, FieldErrors
from dalia_site.extensions import db
from tests.unit.test_roster_rules import member

PARIS = ZoneInfo("Europe/Paris")
TEMPLATES = Path(__file__).resolve().parents[2] / "instance_templates"
WEEKDAYS_OPEN = opening.parse_half_days("", ["lundi", "mardi", "mercredi", "jeudi", "vendredi"])
TODAY = date(2026, 11, 30)  # a Monday
VISITS = {"first_minutes": 60, "doctor_minutes": 30, "nurse_minutes": 30}


def centre_opening(**kw) -> opening.Opening:
    return opening.Opening(WEEKDAYS_OPEN, "08:30-12:30", "13:30-17:30", **kw)


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


def template_departements() -> list[str]:
    found = []
    for path in sorted(TEMPLATES.glob("*/territory.toml")):
        found.append(tomllib.loads(path.read_text())["site"]["departement"])
    return found


def test_the_six_templates_are_the_occitanie_departements():
    assert sorted(template_departements()) == ["09", "11", "12", "48", "81", "82"]


@pytest.mark.parametrize("departement", template_departements())
def test_each_template_departement_has_the_eleven_french_public_holidays(departement):
    found = opening.public_holidays(departement, date(2026, 1, 1), date(2026, 12, 31))
    assert found == {
        date(2026, 1, 1): "Jour de l'an",
        date(2026, 4, 6): "Lundi de Pâques",
        date(2026, 5, 1): "Fête du Travail",
        date(2026, 5, 8): "Fête de la Victoire",
        date(2026, 5, 14): "Ascension",
        date(2026, 5, 25): "Lundi de Pentecôte",
        date(2026, 7, 14): "Fête nationale",
        date(2026, 8, 15): "Assomption",
        date(2026, 11, 1): "Toussaint",
        date(2026, 11, 11): "Armistice",
        date(2026, 12, 25): "Noël",
    }


@pytest.mark.parametrize("departement", ["57", "67", "68"])
def test_alsace_moselle_keeps_good_friday_and_saint_stephen(departement):
    found = opening.public_holidays(departement, date(2027, 1, 1), date(2027, 12, 31))
    assert len(found) == 13
    assert date(2027, 3, 26) in found  # Vendredi saint 2027
    assert date(2027, 12, 26) in found
    assert date(2027, 3, 26) not in opening.public_holidays("11", date(2027, 1, 1), date(2027, 12, 31))


def test_christmas_is_a_holiday_the_label_says_so_and_it_is_closed():
    aude = centre_opening(departement="11")
    assert aude.closed_reason(date(2026, 12, 25)) == "férié — Noël"
    assert not aude.is_open(date(2026, 12, 25), "matin")
    assert aude.is_open(date(2026, 12, 24), "apres-midi")


def test_a_closure_over_a_range_and_the_clock_change_closes_every_day_of_it():
    summer = opening.ClosedSpan(1, date(2027, 10, 25), date(2027, 11, 2), "fermeture d'automne")
    autumn = centre_opening(departement="11", closures=(summer,))
    closed = autumn.closed_days(date(2027, 10, 20), date(2027, 11, 5))
    # 25/10 → 02/11 every day (the clock goes back on Sunday 31/10), Toussaint said as a holiday.
    assert sorted(closed) == [date(2027, 10, 25) + timedelta(days=n) for n in range(9)]
    assert closed[date(2027, 10, 31)] == "fermé — fermeture d'automne"
    assert closed[date(2027, 11, 1)] == "férié — Toussaint"
    assert autumn.closed_reason(date(2027, 11, 3)) is None


def test_opening_per_half_day_refuses_a_session_outside_it_with_the_hours():
    monday_mornings = opening.parse_half_days("lundi-matin,mardi-matin,mardi-apres-midi", ())
    shop = opening.Opening(monday_mornings, "08:30-12:30", "13:30-17:30")
    monday = date(2026, 12, 7)
    assert shop.refusal(monday, time(8, 30), time(12, 30)) is None
    assert shop.refusal(monday, time(13, 30), time(17, 30)) == (
        "Hors des heures d'ouverture : le lundi, le centre est ouvert le matin (8h30–12h30). "
        "Cochez « ouverture exceptionnelle » pour ouvrir quand même."
    )
    tuesday = monday + timedelta(days=1)
    assert shop.refusal(tuesday, time(8, 30), time(17, 30)) is None  # the whole day, both halves open
    assert shop.refusal(tuesday, time(7, 0), time(9, 0)) is not None  # before opening
    assert "fermé toute la journée" in shop.refusal(monday + timedelta(days=2), time(9), time(10))


def test_a_session_on_christmas_is_refused_unless_exceptional_and_then_the_day_opens(session):
    aude = centre_opening(departement="11")
    doctor = member(session, "Dr Noëlle Garric")
    christmas = date(2026, 12, 25)
    with pytest.raises(FieldError, match=r"fermé le 25/12/2026 \(férié — Noël\)"):
        roster.add_shift(
            session, None, doctor, christmas, time(8, 30), time(12, 30), PARIS, today=TODAY, opening=aude
        )
    roster.add_shift(
        session,
        None,
        doctor,
        christmas,
        time(8, 30),
        time(12, 30),
        PARIS,
        today=TODAY,
        opening=aude,
        exceptional=True,
    )
    morning, afternoon = planning.half_days(session, christmas, christmas, aude, PARIS)
    assert morning.open and morning.exceptional and not morning.closed
    assert [a.code for a in morning.gap_alerts] == ["no_nurse", "no_assistant"]
    assert afternoon.closed == "férié — Noël" and not afternoon.open and afternoon.alerts == []


def test_no_slot_no_alert_and_no_session_on_a_holiday_or_a_closure(session):
    """A weekly pattern every weekday: nothing happens on Christmas nor during a closure, so
    booking offers no slot there and the planning raises no alert."""
    doctor = member(session, "Dr Jean Cabrol")
    nurse = member(session, "Iris Vidal", "ipa", team="stable")
    for someone in (doctor, nurse):
        for weekday in range(5):
            roster.add_pattern(
                session, None, someone, weekday, time(8, 30), time(12, 30), TODAY, None, PARIS, today=TODAY
            )
    closure = centre.add_closure(
        session, None, date(2026, 12, 28), date(2026, 12, 31), "congés de fin d'année", today=TODAY
    )
    aude = centre.load(session).opening
    assert aude.departement == "11"  # copied from site.toml at provisioning
    assert aude.closed_reason(date(2026, 12, 29)) == "fermé — congés de fin d'année"
    week = planning.half_days(session, date(2026, 12, 21), date(2027, 1, 3), aude, PARIS)
    christmas = [h for h in week if h.day == date(2026, 12, 25)]
    assert all(h.closed == "férié — Noël" and not h.members and not h.alerts for h in christmas)
    closed = [h for h in week if date(2026, 12, 28) <= h.day <= date(2026, 12, 31)]
    assert all(h.closed.startswith("fermé") and not h.alerts for h in closed)
    found = roster.occurrences(session, date(2026, 12, 21), date(2027, 1, 3), PARIS, opening=aude)
    days = {o.starts_at.astimezone(PARIS).date() for o in found}
    assert days == {date(2026, 12, 21), date(2026, 12, 22), date(2026, 12, 23), date(2026, 12, 24)}
    # Booking obeys the same rule: from the 24th at noon, the next slot is on 4 January.
    now = datetime(2026, 12, 24, 12, 5, tzinfo=PARIS)
    slots = booking.free_slots(session, "nurse", VISITS, PARIS, now, opening=aude, limit=1)
    assert slots[0].starts_at.astimezone(PARIS) == datetime(2027, 1, 4, 8, 30, tzinfo=PARIS)
    # Lifted, the closure's days have their sessions again.
    assert centre.remove_closure(session, None, closure.id)
    reopened = centre.load(session).opening
    assert reopened.closed_reason(date(2026, 12, 29)) is None


@pytest.mark.parametrize(
    ("first", "last", "label", "field", "message"),
    [
        (
            date(2026, 12, 10),
            date(2026, 12, 9),
            "formation",
            "last_day",
            "Le dernier jour doit suivre le premier.",
        ),
        (
            date(2026, 11, 1),
            None,
            "formation",
            "first_day",
            "Une fermeture se note pour aujourd'hui ou plus tard.",
        ),
        (None, None, "formation", "first_day", "Indiquez le premier jour (jj/mm/aaaa)."),
        (date(2026, 12, 10), None, "  ", "label", "Indiquez la raison (ex. fermeture estivale)."),
    ],
)
def test_a_bad_closure_is_refused_in_french(session, first, last, label, field, message):
    with pytest.raises((FieldError, FieldErrors)) as refused:
        centre.add_closure(session, None, first, last, label, today=TODAY)
    error = refused.value
    errors = error.errors if isinstance(error, FieldErrors) else {error.field: str(error)}
    assert errors[field] == message


def test_closures_may_not_cross(session):
    centre.add_closure(session, None, date(2027, 8, 2), date(2027, 8, 20), "fermeture estivale", today=TODAY)
    with pytest.raises(FieldError, match="croisent la fermeture « fermeture estivale »"):
        centre.add_closure(session, None, date(2027, 8, 20), date(2027, 8, 21), "formation", today=TODAY)


def test_the_report_counts_hours_by_status_half_days_taken_and_left_uncovered(session):
    """A fortnight of December: a stable nurse every weekday morning, a retired volunteer who
    took one open half-day from the board, an interne beside him; Christmas closed."""
    from dalia_site.domain import activity, board

    nurse = member(session, "Iris Vidal", "ipa", team="stable")
    volunteer = member(session, "Dr Jean Cabrol")
    interne = member(session, "Léa Interne", status="interne")
    first, last = date(2026, 12, 21), date(2027, 1, 1)
    aude = centre_opening(departement="11")
    for weekday in range(5):
        roster.add_pattern(
            session, None, nurse, weekday, time(8, 30), time(12, 30), first, None, PARIS, today=TODAY
        )
    monday_now = datetime(2026, 12, 1, 9, tzinfo=PARIS)
    board.take(
        session, None, volunteer, date(2026, 12, 22), "matin", aude, PARIS, today=TODAY, now=monday_now
    )
    board.take(session, None, interne, date(2026, 12, 22), "matin", aude, PARIS, today=TODAY, now=monday_now)
    figures = activity.compute(session, activity.Period(first, last), PARIS, aude)
    # Mornings of 21-24, 28-31 December (Christmas and New Year's Day are holidays): 8 × 4 h.
    assert figures.roster.hours_by_status == {"stable": 32.0, "volunteer": 4.0, "junior": 4.0}
    assert figures.roster.taken_from_board == 2
    # 8 open days × 2 halves, less the one morning with a doctor and a nurse.
    assert figures.roster.uncovered_half_days == 15
    data = activity.as_dict(figures)
    assert data["staffed_hours_by_status"] == {"stable": 32.0, "volunteer": 4.0, "junior": 4.0}
    assert (data["open_half_days_taken_by_volunteers"], data["half_days_uncovered"]) == (2, 15)
    assert ("Demi-journées ouvertes prises par des bénévoles", "2") in activity.summary(figures)


def test_the_convocation_says_which_half_day_is_closed(session):
    values = dataclasses.asdict(centre.load(session))
    halves = ["lundi-matin", "mardi-matin", "mardi-apres-midi", "jeudi-matin", "jeudi-apres-midi"]
    assert centre.update(session, None, values | {"open_half_days": halves})
    assert centre.load(session).opening_text == (
        "les lundi, mardi et jeudi, 8h30–12h30 et 13h30–17h30 (fermé le lundi après-midi)"
    )


def test_take_and_give_back_rules_of_the_board(session):
    """Without HTTP: a volunteer takes what the half-day lacks, never twice, never on a holiday
    nor in the past; an interne only beside a senior; the stable team does not take; giving back
    is the taker's own and before the site's delay."""
    from dalia_site.domain import board

    aude = centre_opening(departement="11", give_back_days=7)
    now = datetime(2026, 12, 1, 9, tzinfo=PARIS)
    volunteer = member(session, "Dr Jean Cabrol")
    other = member(session, "Dr Anne Sarda")
    interne = member(session, "Léa Interne", status="interne")
    stable_nurse = member(session, "Iris Vidal", "ipa", team="stable")
    tuesday = date(2026, 12, 15)

    def take(who, day=tuesday, half="matin"):
        return board.take(session, None, who, day, half, aude, PARIS, today=now.date(), now=now)

    found = board.open_half_days(session, aude, PARIS, today=now.date(), now=now)
    assert all(item.lacks == ("médecin", "infirmière") for item in found)
    assert date(2026, 12, 25) not in {item.half.day for item in found}
    with pytest.raises(FieldError, match="équipe flexible"):
        take(stable_nurse)
    with pytest.raises(FieldError, match="médecin senior"):
        take(interne)
    shift = take(volunteer)
    assert shift.from_board and not shift.exceptional
    with pytest.raises(FieldError, match="a déjà un médecin"):
        take(other)
    assert take(interne).member_id == interne.id  # beside the senior
    with pytest.raises(FieldError, match=r"n'ouvre pas ce jour-là \(férié — Noël\)"):
        take(other, date(2026, 12, 25))
    with pytest.raises(FieldError, match="passée"):
        take(other, date(2026, 11, 30))
    with pytest.raises(FieldError, match="Demi-journée inconnue"):
        take(other, tuesday, "soir")
    with pytest.raises(FieldError, match="Seules vos demi-journées"):
        board.give_back(session, None, other, shift, aude, PARIS, now=now)
    with pytest.raises(FieldError, match="Trop tard pour rendre cette demi-journée : jusqu'à 7 jours avant"):
        board.give_back(
            session, None, volunteer, shift, aude, PARIS, now=datetime(2026, 12, 10, 9, tzinfo=PARIS)
        )
    board.give_back(session, None, volunteer, shift, aude, PARIS, now=now)
    session.flush()
    assert tuesday in {
        i.half.day for i in board.open_half_days(session, aude, PARIS, today=now.date(), now=now)
    }
