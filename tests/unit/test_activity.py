"""Activity figures without HTTP, on a real database: each figure checked against a small data set
worked out by hand, the local (Europe/Paris) period and month boundaries, the fixed number of
queries, the exports and the chart geometry.

The data set of `fortnight` (period: Monday 15 to Sunday 28 February 2027, winter time UTC+1):

  patient  earliest referral           first consultation ever   in the period
  Fabre    direct, 01/02               15/02 9h first            first 15/02, nurse 15/02 11h,
                                                                  doctor 24/02 no-show
  Roques   pharmacy, 10/02 (then a     15/02 10h first           first 15/02, doctor 17/02 15h
           direct one on 16/02)
  Vidal    direct, 20/01               08/02 9h first            nurse 15/02 11h30 no-show,
                                                                  walk-in doctor 17/02 14h10
  Martin   CPTS, 18/02                 none                      doctor 24/02 9h cancelled,
                                                                  doctor 24/02 9h30 still booked

  -> 3 patients received (Fabre, Roques, Vidal), 5 consultations (2 first, 2 doctor, 1 nurse),
     1 walk-in, 2 no-shows out of 6 booked appointments that were due (rate 1/3), 2 of 3 patients
     came directly (Roques's earliest referral is the pharmacy's), days to first visit 14
     (Fabre) and 5 (Roques) -> median 9.5 (Vidal was first seen before the period).

Roster in the period: Nina (nurse) Mondays 9h-12h but absent on 22/02; Dr Anne 15/02 8h-11h
and 24/02 9h-12h; Dr Bruno 15/02 10h-12h and 17/02 14h-17h; the medical assistant 15/02
12h-14h and 16/02 9h-12h (not counted). Union of the clinicians: 15/02 8h-12h (4 h),
17/02 14h-17h (3 h), 24/02 9h-12h (3 h) = 10 h -> 0.5 consultation per staffed hour.

Referrals received in the period: Roques's direct one (accepted), Martin's CPTS (accepted),
Blanc's pharmacy (declined), Garcia's DAC (waiting list), Petit's CPTS at 23h30 on the 28th
(new). Not in it: Moreau's CPTS at 23h30 on the 14th, Roux's CPTS at 0h30 on 1 March.

Médecin traitant found: Fabre on 26/02 (counted); Vidal on 20/02 but set back to follow-up on
22/02 (not counted); Roques at 0h30 on 1 March (after the period).
"""

from __future__ import annotations

import csv
import io
import json
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from dalia_site import clock, database
from dalia_site.activity import charts
from dalia_site.domain import activity, booking, partners, patients, referrals, roster
from dalia_site.extensions import db
from dalia_site.models import Appointment
from dalia_site.models.types import clock_at
from dalia_site.models.vocabulary import RefusalReason

PARIS = ZoneInfo("Europe/Paris")
VISITS = {"first_minutes": 60, "doctor_minutes": 30, "nurse_minutes": 30}
FORTNIGHT = activity.Period(date(2027, 2, 15), date(2027, 2, 28))
NO_KIND = {"first": 0, "doctor": 0, "nurse": 0}


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A local (Paris) moment."""
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS)


def feb(day: int) -> date:
    return date(2027, 2, day)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_backend(request) -> str:
    """The figures are SQL aggregates: checked on SQLite and on the real PostgreSQL server."""
    return request.param


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


# --- Building data through the domain ----------------------------------------------------------


def member(session, name, profession="medecin"):
    return roster.save_member(
        session,
        None,
        None,
        {
            "name": name,
            "profession": profession,
            "team": "flexible",
            "doctor_status": "retraite" if profession == "medecin" else None,
        },
        None,
    )


def on_duty(session, someone, day, start, end):
    return roster.add_shift(
        session, None, someone, day, time(start), time(end), PARIS, today=day - timedelta(days=7)
    )


def partner(session, name, category):
    return partners.create_organisation(session, None, {"name": name, "category": category})


def receive(session, moment, last_name, birth_date, source=None):
    """A referral received at `moment` (local time), direct unless a partner sent it."""
    identity = {
        "last_name": last_name,
        "first_names": "Martine",
        "birth_date": birth_date,
        "sex": "F",
        "phone": "06 12 34 56 78",  # accepting needs a way to reach the patient
        "postcode": "11000",
        "ald": "yes",
        "gp_status": "none",
    }
    with clock_at(moment):
        if source is None:
            referral = referrals.receive(
                session,
                None,
                "direct",
                identity,
                {},
                "",
                now=clock.now(),
                today=clock.today(ZoneInfo("Europe/Paris")),
            )
        else:
            referral = referrals.receive(
                session,
                None,
                "phone",
                identity,
                {"referrer_name": "Dr Martin", "referrer_phone": "05 65 36 73 87"},
                "suivi demandé",
                source=source,
                now=clock.now(),
                today=clock.today(ZoneInfo("Europe/Paris")),
            )
        session.flush()
    return referral


def decide(session, moment, referral, decision="accepted", patient=None, **details):
    """The triage decision at `moment`; `patient` attaches the referral to a known patient."""
    with clock_at(moment):
        if patient is not None:
            referrals.resolve_identity(session, None, referral, patient)
        result = referrals.decide(session, None, referral, decision, now=clock.now(), **details)
        session.flush()
    return result


def book(session, patient, kind, start, members, reason=""):
    """Booked three days ahead, as the assistant would."""
    now = start - timedelta(days=3)
    with clock_at(now):
        appointment = booking.book(
            session, None, patient, kind, start, [m.id for m in members], VISITS, PARIS, reason, now=now
        )
        session.flush()
    return appointment


def mark(session, appointment, status="honoured"):
    with clock_at(appointment.ends_at):
        booking.mark(session, None, appointment, status, now=appointment.ends_at)
        session.flush()
    return appointment


def walk_in(session, patient, kind, someone, moment):
    with clock_at(moment):
        appointment = booking.record_walk_in(session, None, patient, kind, someone, VISITS, now=moment)
        session.flush()
    return appointment


def set_status(session, moment, patient, status):
    with clock_at(moment):
        patients.set_status(session, None, patient, status, now=clock.now())
        session.flush()


def held(session, patient, kind, start, status="honoured", walk_in=False):
    """An appointment written as it stands after the fact (booking refuses past slots)."""
    with clock_at(start):
        appointment = Appointment(
            patient_id=patient.id,
            kind=kind,
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
            status=status,
            walk_in=walk_in,
        )
        session.add(appointment)
        session.flush()
    return appointment


def accepted_patient(session, last_name, birth_date, moment=None):
    moment = moment or at(date(2027, 1, 4), 10)
    return decide(session, moment + timedelta(hours=1), receive(session, moment, last_name, birth_date))


def _as_date(value) -> date:
    """A date as either database gives it back from a statement (SQLite: its text)."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def compute(session, period=FORTNIGHT):
    return activity.compute(session, period, PARIS)


def build_roster(session):
    """The team and its sessions (see the module docstring): 10 staffed hours in FORTNIGHT."""
    team = SimpleNamespace(
        anne=member(session, "Dr Anne"),
        bruno=member(session, "Dr Bruno"),
        nina=member(session, "Nina", "ipa"),
        aline=member(session, "Aline", "assistant_medical"),
    )
    mondays = roster.add_pattern(
        session, None, team.nina, 0, time(9), time(12), feb(1), None, PARIS, today=date(2027, 1, 25)
    )
    roster.add_exception(session, None, mondays, feb(22), "congés", today=feb(10))
    on_duty(session, team.anne, feb(8), 9, 12)  # before the period
    on_duty(session, team.anne, feb(15), 8, 11)
    on_duty(session, team.anne, feb(24), 9, 12)
    on_duty(session, team.bruno, feb(15), 10, 12)  # within Anne's and Nina's morning
    on_duty(session, team.bruno, feb(17), 14, 17)
    on_duty(session, team.bruno, date(2027, 3, 1), 9, 12)  # after the period
    on_duty(session, team.aline, feb(15), 12, 14)  # an assistant: not a staffed hour
    on_duty(session, team.aline, feb(16), 9, 12)
    session.flush()
    return team


@pytest.fixture
def fortnight(session):
    team = build_roster(session)
    pharmacy = partner(session, "Pharmacie du Pont Vieux", "pharmacie")
    cpts = partner(session, "CPTS de la Montagne Noire", "cpts")
    dac = partner(session, "DAC de l'Aude", "dac")

    vidal = decide(
        session,
        at(date(2027, 1, 21), 10),
        receive(session, at(date(2027, 1, 20), 10), "Vidal", date(1939, 12, 5)),
    )
    fabre = decide(session, at(feb(2), 10), receive(session, at(feb(1), 10), "Fabre", date(1950, 1, 1)))
    roques = decide(
        session, at(feb(11), 10), receive(session, at(feb(10), 10), "Roques", date(1948, 6, 2), pharmacy)
    )
    decide(
        session,
        at(feb(16), 11),
        receive(session, at(feb(16), 10), "Roques", date(1948, 6, 2)),
        patient=roques,
    )
    martin = decide(
        session, at(feb(18), 11), receive(session, at(feb(18), 10), "Martin", date(1960, 3, 3), cpts)
    )
    decide(
        session,
        at(feb(21), 10),
        receive(session, at(feb(20), 10), "Blanc", date(1955, 4, 4), pharmacy),
        "declined",
        decline_reason="Hors territoire",
        orientation="sas",
    )
    decide(
        session,
        at(feb(26), 10),
        receive(session, at(feb(25), 10), "Garcia", date(1944, 7, 7), dac),
        "waiting_list",
    )
    receive(session, at(feb(28), 23, 30), "Petit", date(1951, 8, 8), cpts)
    receive(session, at(date(2027, 3, 1), 0, 30), "Roux", date(1952, 9, 9), cpts)
    receive(session, at(feb(14), 23, 30), "Moreau", date(1953, 10, 10), cpts)

    anne, bruno, nina = team.anne, team.bruno, team.nina
    mark(session, book(session, vidal, "first", at(feb(8), 9), [anne, nina]))
    mark(session, book(session, fabre, "first", at(feb(15), 9), [anne, nina]))
    mark(session, book(session, roques, "first", at(feb(15), 10), [anne, nina]))
    mark(session, book(session, fabre, "nurse", at(feb(15), 11), [nina]))
    mark(session, book(session, vidal, "nurse", at(feb(15), 11, 30), [nina]), "no_show")
    roques_doctor = book(session, roques, "doctor", at(feb(17), 15), [bruno], "avis médical")
    walk_in(session, vidal, "doctor", bruno, at(feb(17), 14, 10))
    mark(session, roques_doctor)
    mark(session, book(session, fabre, "doctor", at(feb(24), 10), [anne]), "no_show")
    cancelled = book(session, martin, "doctor", at(feb(24), 9), [anne], "premier avis")
    with clock_at(at(feb(22), 9)):
        booking.cancel(session, None, cancelled, "empêchement")
        session.flush()
    book(session, martin, "doctor", at(feb(24), 9, 30), [anne], "premier avis")

    set_status(session, at(feb(20), 10), vidal, "gp_found")
    set_status(session, at(feb(22), 10), vidal, "follow_up")
    set_status(session, at(feb(26), 10), fabre, "gp_found")
    set_status(session, at(date(2027, 3, 1), 0, 30), roques, "gp_found")
    session.flush()
    return SimpleNamespace(
        team=team,
        fabre=fabre,
        roques=roques,
        vidal=vidal,
        martin=martin,
        cpts=cpts,
        pharmacy=pharmacy,
        dac=dac,
    )


# --- The figures of the fortnight ---------------------------------------------------------------


def test_patients_received_counts_each_patient_with_a_held_consultation_once(session, fortnight):
    """Fabre (seen twice), Roques and Vidal; not Martin, whose visits were cancelled or booked."""
    assert compute(session).patients_received == 3


def test_consultations_count_held_visits_by_kind_with_walk_ins(session, fortnight):
    figures = compute(session)
    assert figures.consultations == 5  # a pair's first visit (two clinicians) is one
    assert figures.by_kind == {"first": 2, "doctor": 2, "nurse": 1}
    assert figures.walk_ins == 1


def test_staffed_hours_are_the_union_of_doctors_and_nurses_sessions(session, fortnight):
    figures = compute(session)
    assert figures.staffed_hours == pytest.approx(10.0)
    assert figures.patients_per_hour == pytest.approx(5 / 10)


def test_direct_access_share_follows_each_patients_earliest_referral(session, fortnight):
    """Fabre and Vidal came directly first; Roques's later direct referral does not count."""
    figures = compute(session)
    assert figures.direct_patients == 2
    assert figures.direct_access_share == pytest.approx(2 / 3)


def test_referrals_of_the_period_by_source_and_decision(session, fortnight):
    figures = compute(session)
    assert figures.referrals == {
        "direct": {"new": 0, "accepted": 1, "waiting_list": 0, "declined": 0},
        "cpts": {"new": 1, "accepted": 1, "waiting_list": 0, "declined": 0},
        "pharmacie": {"new": 0, "accepted": 0, "waiting_list": 0, "declined": 1},
        "dac": {"new": 0, "accepted": 0, "waiting_list": 1, "declined": 0},
    }
    assert figures.referrals_by_status == {"new": 1, "accepted": 2, "waiting_list": 1, "declined": 1}
    assert figures.referrals_received == 5
    assert [(source, total) for source, _, _, total in figures.referral_rows] == [
        ("cpts", 2),
        ("direct", 1),
        ("dac", 1),
        ("pharmacie", 1),
    ]  # then by label


def test_median_days_from_earliest_referral_to_first_visit_ever(session, fortnight):
    """Fabre 1 -> 15 February (14 days), Roques 10 -> 15 February (5 days); Vidal was first
    seen on 8 February, before the period, so is left out."""
    figures = compute(session)
    assert sorted(figures.days_to_first_visit) == [5, 14]
    assert figures.median_days_to_first_visit == pytest.approx(9.5)


def test_no_show_rate_leaves_out_walk_ins_cancelled_and_still_booked(session, fortnight):
    figures = compute(session)
    assert (figures.no_shows, figures.booked_held) == (2, 4)
    assert figures.no_show_rate == pytest.approx(2 / 6)


def test_gp_found_counts_patients_still_marked_so_within_the_period(session, fortnight):
    assert compute(session).gp_found == 1  # Fabre; Vidal was set back, Roques is too late
    assert compute(session, activity.Period(date(2027, 3, 1), date(2027, 3, 31))).gp_found == 1


def test_a_one_month_period_has_one_monthly_bucket_with_the_kinds(session, fortnight):
    assert compute(session).monthly == [(feb(15), {"first": 2, "doctor": 2, "nurse": 1})]


# --- Focused rules --------------------------------------------------------------------------------


def test_appointments_count_by_local_midnight_at_both_ends_of_the_period(session):
    inside = accepted_patient(session, "Dedans", date(1950, 1, 1))
    outside = accepted_patient(session, "Dehors", date(1951, 1, 1))
    held(session, inside, "first", at(feb(15), 0, 15))  # 14 February 23h15 UTC
    held(session, inside, "nurse", at(feb(28), 23, 30))
    held(session, outside, "first", at(feb(14), 23, 30))
    held(session, outside, "nurse", at(date(2027, 3, 1), 0, 15))  # 28 February 23h15 UTC
    figures = compute(session)
    assert (figures.patients_received, figures.consultations) == (1, 2)
    assert figures.by_kind == {"first": 1, "doctor": 0, "nurse": 1}


def test_cancelled_no_show_and_booked_appointments_receive_nobody(session):
    someone = accepted_patient(session, "Absente", date(1950, 1, 1))
    for hour, status in ((9, "cancelled"), (10, "no_show"), (11, "booked")):
        held(session, someone, "doctor", at(feb(16), hour), status)
    figures = compute(session)
    assert (figures.patients_received, figures.consultations, figures.no_shows) == (0, 0, 1)
    assert figures.no_show_rate == 1.0
    assert figures.direct_access_share is None and figures.median_days_to_first_visit is None


def test_walk_ins_are_consultations_but_not_in_the_no_show_rate(session):
    someone = accepted_patient(session, "Passage", date(1950, 1, 1))
    held(session, someone, "doctor", at(feb(16), 9), walk_in=True)
    held(session, someone, "nurse", at(feb(17), 9), walk_in=True)
    held(session, someone, "nurse", at(feb(18), 9), "no_show")
    figures = compute(session)
    assert (figures.consultations, figures.walk_ins, figures.booked_held) == (2, 2, 0)
    assert figures.no_show_rate == 1.0


def test_staffed_hours_from_the_roster_alone(session):
    """Overlaps counted once, the assistant and Nina's day off left out (see build_roster)."""
    build_roster(session)
    figures = compute(session)
    assert figures.staffed_hours == pytest.approx(10.0)
    assert figures.patients_per_hour == 0.0
    assert compute(session, activity.Period(feb(22), feb(22))).staffed_hours == 0.0  # day off
    assert compute(session, activity.Period(feb(16), feb(16))).staffed_hours == 0.0  # assistant


def test_an_empty_period_gives_zeros_and_dashes_not_errors(session):
    figures = compute(session)
    assert (figures.patients_received, figures.consultations, figures.staffed_hours) == (0, 0, 0)
    assert figures.patients_per_hour is None and figures.no_show_rate is None
    assert figures.direct_access_share is None and figures.median_days_to_first_visit is None
    assert figures.referrals == {} and figures.gp_found == 0
    assert figures.monthly == [(feb(15), NO_KIND)]
    assert dict(activity.summary(figures))["Patients par heure de présence soignante"] == "—"


def test_only_a_patients_first_consultation_in_the_period_enters_the_median(session):
    """A patient first seen before the period and seen again in it adds no delay."""
    old = accepted_patient(session, "Ancienne", date(1950, 1, 1), at(date(2026, 12, 1), 10))
    held(session, old, "first", at(date(2027, 1, 10), 9))
    held(session, old, "nurse", at(feb(16), 9))
    new = accepted_patient(session, "Nouvelle", date(1951, 1, 1), at(feb(12), 18))
    held(session, new, "first", at(feb(19), 9))
    figures = compute(session)
    assert figures.days_to_first_visit == [7]


def test_days_to_first_visit_are_counted_in_local_dates(session):
    """0h30 on 14 February in Paris is still the 13th in UTC: to 9h on the 16th is 2 days."""
    someone = accepted_patient(session, "Matinale", date(1950, 1, 1), at(feb(14), 0, 30))
    held(session, someone, "first", at(feb(16), 9))
    assert compute(session).days_to_first_visit == [2]


def test_a_patient_is_direct_when_the_earliest_referral_was_direct_whatever_came_later(session):
    partner_first = partner(session, "Cabinet infirmier des Halles", "infirmiers_liberaux")
    direct_then_partner = accepted_patient(session, "Directe", date(1950, 1, 1), at(feb(1), 10))
    decide(
        session,
        at(feb(3), 11),
        receive(session, at(feb(3), 10), "Directe", date(1950, 1, 1), partner_first),
        patient=direct_then_partner,
    )
    held(session, direct_then_partner, "first", at(feb(16), 9))
    figures = compute(session)
    assert (figures.patients_received, figures.direct_patients) == (1, 1)

    partner_then_direct = decide(
        session, at(feb(2), 11), receive(session, at(feb(2), 10), "Adressée", date(1951, 1, 1), partner_first)
    )
    decide(
        session,
        at(feb(4), 11),
        receive(session, at(feb(4), 10), "Adressée", date(1951, 1, 1)),
        patient=partner_then_direct,
    )
    held(session, partner_then_direct, "first", at(feb(17), 9))
    figures = compute(session)
    assert (figures.patients_received, figures.direct_patients) == (2, 1)
    assert figures.direct_access_share == 0.5


def test_gp_found_goes_away_when_set_back_to_follow_up(session):
    someone = accepted_patient(session, "Trouvé", date(1950, 1, 1))
    set_status(session, at(feb(20), 10), someone, "gp_found")
    assert compute(session).gp_found == 1
    set_status(session, at(feb(21), 10), someone, "follow_up")
    assert compute(session).gp_found == 0


def test_monthly_buckets_follow_local_month_boundaries(session):
    """0h30 on 1 April in Paris (summer time) is 22h30 UTC on 31 March: it is April's."""
    someone = accepted_patient(session, "Mensuelle", date(1950, 1, 1))
    held(session, someone, "first", at(date(2027, 3, 1), 0, 30))  # 28 February 23h30 UTC
    held(session, someone, "doctor", at(date(2027, 3, 31), 23, 30))
    held(session, someone, "nurse", at(date(2027, 4, 1), 0, 30))
    held(session, someone, "doctor", at(date(2027, 4, 30), 23, 45))
    held(session, someone, "doctor", at(date(2027, 4, 10), 10), "cancelled")
    figures = compute(session, activity.Period(date(2027, 3, 1), date(2027, 4, 30)))
    assert figures.monthly == [
        (date(2027, 3, 1), {"first": 1, "doctor": 1, "nurse": 0}),
        (date(2027, 4, 1), {"first": 0, "doctor": 1, "nurse": 1}),
    ]
    assert figures.consultations == 4


def test_monthly_buckets_are_clipped_to_the_period(session):
    someone = accepted_patient(session, "Clip", date(1950, 1, 1))
    held(session, someone, "doctor", at(date(2027, 3, 14), 10))  # before the period
    held(session, someone, "nurse", at(date(2027, 3, 15), 10))
    held(session, someone, "doctor", at(date(2027, 4, 10), 10))
    held(session, someone, "doctor", at(date(2027, 4, 11), 0, 30))  # after it
    figures = compute(session, activity.Period(date(2027, 3, 15), date(2027, 4, 10)))
    assert figures.monthly == [
        (date(2027, 3, 15), {"first": 0, "doctor": 0, "nurse": 1}),
        (date(2027, 4, 1), {"first": 0, "doctor": 1, "nurse": 0}),
    ]


# --- The period ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "first, last, message",
    [
        (date(2027, 3, 2), date(2027, 3, 1), "La date de début doit précéder la date de fin."),
        (date(1999, 12, 31), date(2027, 3, 1), "Dates entre 01/01/2000 et 31/12/2099 seulement."),
        (date(2027, 3, 1), date(2100, 1, 1), "Dates entre 01/01/2000 et 31/12/2099 seulement."),
        (date(2000, 1, 1), date(2021, 1, 1), "Période trop longue : vingt ans au plus."),
        (date(2070, 1, 1), date(2099, 12, 31), "Période trop longue : vingt ans au plus."),
    ],
)
def test_an_impossible_period_is_refused_with_a_french_message(first, last, message):
    with pytest.raises(activity.PeriodError) as error:
        activity.Period(first, last)
    assert str(error.value) == message


@pytest.mark.parametrize(
    "first, last",
    [
        (date(2000, 1, 1), date(2019, 12, 31)),  # twenty years exactly
        (date(2027, 3, 1), date(2027, 3, 1)),  # one day
        (date(2080, 1, 1), date(2099, 12, 31)),
    ],
)
def test_possible_periods_are_accepted(first, last):
    assert activity.Period(first, last).first == first


@pytest.mark.parametrize(
    "last, first",
    [
        (date(2027, 5, 15), date(2026, 5, 16)),
        (date(2027, 2, 28), date(2026, 3, 1)),
        (date(2027, 12, 31), date(2027, 1, 1)),
        (date(2028, 2, 28), date(2027, 3, 1)),
    ],
)
def test_year_to_is_the_twelve_months_ending_that_day(last, first):
    assert activity.Period.year_to(last) == activity.Period(first, last)


def test_year_to_29_february_is_march_to_february():
    """The twelve months ending on 29 February 2028 are March 2027 to February 2028: the
    default period of the activity page on that day must not drop 1 March 2027."""
    period = activity.Period.year_to(date(2028, 2, 29))
    assert period.first == date(2027, 3, 1)
    assert len(period.months()) == 12 and period.months()[0] == (date(2027, 3, 1), date(2027, 3, 31))


def test_months_are_clipped_to_the_period_and_cross_the_new_year():
    assert activity.Period(date(2027, 11, 15), date(2028, 2, 10)).months() == [
        (date(2027, 11, 15), date(2027, 11, 30)),
        (date(2027, 12, 1), date(2027, 12, 31)),
        (date(2028, 1, 1), date(2028, 1, 31)),
        (date(2028, 2, 1), date(2028, 2, 10)),
    ]
    assert activity.Period(date(2028, 2, 3), date(2028, 2, 3)).months() == [
        (date(2028, 2, 3), date(2028, 2, 3))
    ]
    assert activity.Period(date(2028, 2, 1), date(2028, 3, 1)).months()[0][1] == date(2028, 2, 29)
    assert activity.Period(date(2027, 1, 31), date(2027, 3, 31)).months() == [
        (date(2027, 1, 31), date(2027, 1, 31)),
        (date(2027, 2, 1), date(2027, 2, 28)),
        (date(2027, 3, 1), date(2027, 3, 31)),
    ]


def test_period_bounds_are_local_midnights():
    start, end = FORTNIGHT.bounds(PARIS)
    assert (start, end) == (at(feb(15), 0), at(date(2027, 3, 1), 0))
    assert FORTNIGHT.label == "du 15/02/2027 au 28/02/2027"


# --- Query count --------------------------------------------------------------------------------


@contextmanager
def counting_statements(engine):
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def statements_of_compute(session) -> tuple[list[str], activity.Activity]:
    session.flush()  # nothing pending for compute's autoflush to write
    with counting_statements(db.engine) as statements:
        figures = compute(session)
    return list(statements), figures


def add_much_more(session, fortnight):
    """30 more patients with referrals from every kind of source, 120 appointments of every
    status and kind, 6 more clinicians with sessions and weekly patterns with absences."""
    sources = [None, fortnight.cpts, fortnight.pharmacy, fortnight.dac]
    statuses = ("honoured", "no_show", "cancelled", "booked")
    for n in range(30):
        arrived = at(feb(1) + timedelta(days=n % 28), 8 + n % 10)
        referral = receive(
            session, arrived, f"Patient{n}", date(1940, 1, 1) + timedelta(days=n), sources[n % 4]
        )
        someone = decide(
            session, arrived + timedelta(hours=2), referral, "accepted" if n % 5 else "waiting_list"
        )
        for k in range(4):
            held(
                session,
                someone,
                ("first", "doctor", "nurse")[(n + k) % 3],
                at(feb(10 + (n + k) % 18), 8 + k),
                statuses[(n + k) % 4],
                walk_in=(n + k) % 7 == 0,
            )
        if n % 3 == 0:
            set_status(session, at(feb(15 + n % 14), 12), someone, "gp_found")
    for n in range(6):
        someone = member(session, f"Renfort {n}", ("medecin", "infirmier")[n % 2])
        for day in range(15, 28, 3):
            on_duty(session, someone, feb(day), 13 + n % 3, 18)
        weekly = roster.add_pattern(
            session, None, someone, 1 + n % 4, time(8), time(12), feb(1), None, PARIS, today=date(2027, 1, 25)
        )
        roster.add_exception(session, None, weekly, feb(15), "formation", until=feb(28), today=feb(10))
    session.flush()


def test_the_number_of_queries_does_not_grow_with_the_data(session, fortnight):
    few, small = statements_of_compute(session)
    add_much_more(session, fortnight)
    many, large = statements_of_compute(session)
    assert large.patients_received >= small.patients_received + 10  # the data did grow
    assert large.referrals_received >= small.referrals_received + 10
    assert large.staffed_hours > small.staffed_hours
    assert len(many) == len(few), "\n\n".join(many)
    assert len(few) <= 12


# --- Exports ------------------------------------------------------------------------------------


def csv_rows(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def test_csv_export_is_for_french_excel(session, fortnight):
    text = activity.as_csv(compute(session), "DALIA Test")
    assert text.startswith("\ufeffIndicateur;Valeur\r\n")
    rows = csv_rows(text)
    values = {row[0]: row[1] for row in rows if len(row) == 2}
    assert values["Centre"] == "DALIA Test"
    assert values["Période"] == "du 15/02/2027 au 28/02/2027"
    assert values["Patients reçus"] == "3"
    assert values["Consultations"] == "5"
    assert values["dont sans rendez-vous"] == "1"
    assert values["Heures de présence soignante"] == "10 h"
    assert values["Patients par heure de présence soignante"] == "0,5"
    assert values["Patients venus directement (sans adressage)"] == "67 %"
    assert values["Taux de rendez-vous non honorés"] == "33 %"
    assert values["Patients ayant trouvé un médecin traitant"] == "1"
    assert ["févr. 2027", "2", "2", "1", "5"] in rows
    # One sheet, its tables one under the other, each after an empty row and with its own header:
    # a table ends at the next empty row.
    assert all(len(row) == 2 for row in section(rows, "Indicateur"))
    assert section(rows, "Adressages par origine") == [
        ["Adressages par origine", "Nouveau", "Accepté", "Liste d'attente", "Refusé", "Total"],
        ["CPTS", "1", "1", "0", "0", "2"],
        ["Accès direct", "0", "1", "0", "0", "1"],
        ["DAC", "0", "0", "1", "0", "1"],
        ["Pharmacie", "0", "0", "0", "1", "1"],
    ]
    refusals = section(rows, "Refus par motif")
    assert refusals[0] == ["Refus par motif", "Adressages"]
    assert [label for label, _ in refusals[1:]] == [reason.label for reason in RefusalReason]
    assert sum(int(n) for _, n in refusals[1:]) == 1  # the pharmacy's referral, declined
    assert rows[-1] != []  # no empty row at the end


def section(rows: list[list[str]], title: str) -> list[list[str]]:
    """The table of the CSV sheet whose header starts with `title`, up to the next empty row."""
    start = next(i for i, row in enumerate(rows) if row[:1] == [title])
    end = next((i for i in range(start, len(rows)) if not rows[i]), len(rows))
    assert start == 0 or rows[start - 1] == [], f"no empty row before « {title} »"
    return rows[start:end]


def test_json_export_has_the_headline_figures_as_plain_numbers(session, fortnight):
    figures = compute(session)
    data = json.loads(activity.as_json(figures, "DALIA Test"))
    assert data == activity.as_dict(figures, "DALIA Test")
    assert data["site"] == "DALIA Test"
    assert data["period"] == {"from": "2027-02-15", "to": "2027-02-28"}
    assert (data["patients_received"], data["consultations"]) == (3, 5)
    assert data["patients_per_hour"] == 0.5
    share = data["direct_access_share"]
    assert isinstance(share, float) and 0 <= share <= 1 and share == pytest.approx(2 / 3, abs=1e-4)
    assert data["consultations_by_kind"] == {"first": 2, "doctor": 2, "nurse": 1}
    assert data["staffed_hours"] == 10.0 and data["no_show_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert data["median_days_referral_to_first_visit"] == 9.5
    assert data["referrals_by_decision"] == {"new": 1, "accepted": 2, "waiting_list": 1, "declined": 1}
    assert data["referrals_by_source"]["direct"]["label"] == "Accès direct"
    assert data["consultations_by_month"] == [{"month": "2027-02", "first": 2, "doctor": 2, "nurse": 1}]
    assert data["patients_given_gp"] == 1


def test_text_report_and_one_line_summary_use_french_numbers(session, fortnight):
    figures = compute(session)
    assert activity.one_line(figures) == (
        "3 patients reçus, 5 consultations, 0,5 patients/heure, accès direct 67 %, non venus "
        "33 % (du 15/02/2027 au 28/02/2027)"
    )
    assert "CPTS : 2 (acceptés 1, refusés 0, liste d'attente 0, à trier 1)" in activity.as_text(
        figures, "DALIA Test"
    )


@pytest.mark.parametrize(
    "value, decimals, group, text",
    [
        (2.6, 1, True, "2,6"),
        (2260, 0, True, "2\u202f260"),
        (2260, 0, False, "2260"),
        (1234567.891, 2, True, "1\u202f234\u202f567,89"),
        (0.5, 1, True, "0,5"),
        (0, 0, True, "0"),
        (None, 1, True, "—"),
    ],
)
def test_number_fr(value, decimals, group, text):
    assert activity.number_fr(value, decimals, group) == text


@pytest.mark.parametrize(
    "value, text", [(0.4567, "46 %"), (2 / 3, "67 %"), (1.0, "100 %"), (0.0, "0 %"), (None, "—")]
)
def test_share_fr(value, text):
    assert activity.share_fr(value) == text


# --- Charts -------------------------------------------------------------------------------------

MONTHS = [
    (date(2027, 1, 1), {"first": 2, "doctor": 3, "nurse": 1}),
    (date(2027, 2, 1), {"first": 0, "doctor": 10, "nurse": 4}),
    (date(2027, 3, 1), {"first": 0, "doctor": 0, "nurse": 0}),
    (date(2027, 4, 1), {"first": 5, "doctor": 0, "nurse": 2}),
]


def test_monthly_chart_stacks_each_month_in_proportion_to_its_total():
    chart = charts.monthly(MONTHS)
    baseline, plot_height = chart.height - 28, chart.height - 28 - 10
    per_month: dict[float, list[charts.Bar]] = {}
    for bar in chart.bars:
        per_month.setdefault(bar.x, []).append(bar)
    assert len(per_month) == 3  # no bar for an empty month
    stacks = [per_month[x] for x in sorted(per_month)]
    totals = [6, 14, 7]
    heights = [sum(b.height for b in stack) for stack in stacks]
    for height, total in zip(heights, totals, strict=True):
        assert height / heights[1] == pytest.approx(total / 14, abs=0.01)
    for stack in stacks:  # first visits at the bottom, each kind on the one below
        assert stack[0].y + stack[0].height == pytest.approx(baseline, abs=0.15)
        for below, above in zip(stack, stack[1:], strict=False):
            assert above.y + above.height == pytest.approx(below.y, abs=0.15)
    assert max(heights) <= plot_height + 0.1
    assert min(bar.y for bar in chart.bars) >= 10 - 0.1  # the tallest stays within the plot
    assert [bar.css for bar in stacks[1]] == ["doctor", "nurse"]
    assert stacks[1][0].title == "févr. 2027 : 10 consultations médecin"
    assert [tick.label for tick in chart.ticks] == ["0", "5", "10", "15"]
    assert [tick.label for tick in chart.labels] == ["janv.", "févr.", "mars", "avr."]


def test_monthly_chart_of_a_single_big_month_fills_most_of_the_plot():
    chart = charts.monthly([(date(2027, 1, 1), {"first": 0, "doctor": 60, "nurse": 40})])
    top = min(bar.y for bar in chart.bars)
    assert 10 <= top  # scale rounded up to 100: exactly full height
    assert sum(bar.height for bar in chart.bars) == pytest.approx(chart.height - 38, abs=0.2)


def test_monthly_chart_without_consultations_has_no_bars():
    chart = charts.monthly([(date(2027, 1, 1), dict(NO_KIND))])
    assert chart.bars == []
    assert [tick.label for tick in chart.ticks] == ["0", "1"]


def test_sources_chart_keeps_the_order_given_and_scales_the_largest_to_full_width():
    rows = [("pharmacie", "Pharmacie", {}, 3), ("direct", "Accès direct", {}, 6), ("dac", "DAC", {}, 1)]
    chart = charts.sources(rows, width=720, row_height=26)
    full = 720 - 190 - 50
    assert [bar.title for bar in chart.bars] == ["Pharmacie : 3", "Accès direct : 6", "DAC : 1"]
    assert [bar.value for bar in chart.bars] == ["3", "6", "1"]
    assert [bar.width for bar in chart.bars] == [full / 2, full, round(full / 6, 1)]
    assert [bar.y for bar in chart.bars] == [4, 30, 56]
    assert [label.label for label in chart.labels] == ["Pharmacie", "Accès direct", "DAC"]
    assert chart.height == 3 * 26 + 8


def test_sources_chart_of_no_referrals_is_empty():
    chart = charts.sources([])
    assert chart.bars == [] and chart.labels == [] and chart.height == 34


@pytest.mark.parametrize(
    "maximum, step",
    [(0, 1), (3, 1), (4, 1), (8, 2), (14, 5), (20, 5), (40, 10), (45, 20), (100, 50), (2260, 1000)],
)
def test_nice_step(maximum, step):
    assert charts.nice_step(maximum) == step


def test_nice_step_is_always_round_and_gives_at_most_the_lines_asked():
    for maximum in range(0, 5001):
        step = charts.nice_step(maximum)
        leading = int(str(step)[0])
        assert leading in (1, 2, 5) and str(step)[1:].strip("0") == "", (maximum, step)
        assert step * 4 >= maximum, (maximum, step)


def test_the_visits_held_follow_every_change_of_visits_and_referrals(session):
    """Whatever writes them — a visit held, marked otherwise, moved, given to another patient or
    deleted, a referral received, re-dated, moved or deleted — the patients received, those who
    came directly and the delays to a first visit (read from the stored held visits and months)
    are what the visits and referrals themselves give, right after each change, for periods that
    cut them; and the stored months are what the held visits give."""
    import random

    from sqlalchemy import select

    from dalia_site.domain import held_visits
    from dalia_site.models import HeldVisit, Referral
    from dalia_site.models.activity import HeldMonth

    rng = random.Random(22)  # noqa: S311 (a reproducible sequence of changes, not a secret)
    people = [accepted_patient(session, f"Melange{n}", date(1960 + n, 1, 1)) for n in range(6)]
    cpts = partner(session, "CPTS du Mélange", "cpts")
    origin = at(date(2027, 1, 4), 9)

    def moment() -> datetime:
        return origin + timedelta(days=rng.randrange(0, 120), hours=rng.randrange(0, 10))

    def expected(period: activity.Period) -> tuple[int, int, list[int]]:
        start, end = period.bounds(PARIS)
        visits = [a for a in session.scalars(select(Appointment)) if a.status == "honoured"]
        firsts = {}
        for visit in sorted(visits, key=lambda a: (a.starts_at, a.id)):
            firsts.setdefault(visit.patient_id, visit.starts_at)
        received = {a.patient_id for a in visits if start <= a.starts_at < end}
        earliest = {}
        for referral in sorted(session.scalars(select(Referral)), key=lambda r: (r.received_at, r.id)):
            earliest.setdefault(referral.patient_id, referral)
        direct = sum(1 for pid in received if pid in earliest and earliest[pid].channel == "direct")
        days = sorted(
            max(
                (
                    firsts[pid].astimezone(PARIS).date() - earliest[pid].received_at.astimezone(PARIS).date()
                ).days,
                0,
            )
            for pid in received
            if start <= firsts[pid] and pid in earliest
        )
        return len(received), direct, days

    periods = [
        activity.Period(date(2027, 1, 1), date(2027, 6, 30)),
        activity.Period(date(2027, 2, 10), date(2027, 3, 20)),
        activity.Period(date(2027, 3, 1), date(2027, 3, 1)),
    ]
    seen = set()
    for step in range(70):
        visits = list(session.scalars(select(Appointment)))
        theirs = list(session.scalars(select(Referral).where(Referral.patient_id.is_not(None))))
        action = rng.randrange(8)
        if action == 0 or not visits:
            status = rng.choice(["honoured", "honoured", "no_show", "cancelled"])
            held(session, rng.choice(people), rng.choice(["first", "doctor", "nurse"]), moment(), status)
        elif action == 1:
            rng.choice(visits).status = rng.choice(["honoured", "no_show", "cancelled"])
        elif action == 2:
            moved = rng.choice(visits)
            moved.starts_at = moment()
            moved.ends_at = moved.starts_at + timedelta(minutes=30)
        elif action == 3:
            rng.choice(visits).patient_id = rng.choice(people).id
        elif action == 4:
            session.delete(rng.choice(visits))
        elif action == 5:
            patient, channel = rng.choice(people), rng.choice(["direct", "phone"])
            session.add(
                Referral(
                    channel=channel,
                    source_id=None if channel == "direct" else cpts.id,
                    last_name=patient.last_name,
                    first_names=patient.first_names,
                    birth_date=patient.birth_date,
                    sex=patient.sex,
                    patient_id=patient.id,
                    received_at=moment() - timedelta(days=30),
                )
            )
        elif action == 6:
            rng.choice(theirs).received_at = moment() - timedelta(days=rng.randrange(0, 60))
        else:
            referral = rng.choice(theirs)
            if rng.randrange(2):
                referral.patient_id = rng.choice(people).id
            else:
                session.delete(referral)
        session.flush()
        stored = {
            (v.appointment_id, v.patient_id, v.starts_at, v.previous_at)
            for v in session.scalars(select(HeldVisit))
        }
        honoured = sorted(
            (a for a in session.scalars(select(Appointment)) if a.status == "honoured"),
            key=lambda a: (a.patient_id, a.starts_at, a.id),
        )
        before: dict[int, datetime] = {}
        worked_out = set()
        for visit in honoured:
            worked_out.add((visit.id, visit.patient_id, visit.starts_at, before.get(visit.patient_id)))
            before[visit.patient_id] = visit.starts_at
        assert stored == worked_out, (step, action)
        # Each month's visits by the month of the one before, as the held visits give them.
        months = {tuple(row) for row in session.execute(select(*HeldMonth.__table__.columns))}
        afresh = {
            (_as_date(month), _as_date(before), visits, direct)
            for month, before, visits, direct in session.execute(held_visits._of_months(False))
        }
        assert {(_as_date(m), _as_date(b), v, d) for m, b, v, d in months} == afresh, (step, action)
        for period in periods:
            figures = compute(session, period)
            shown = (figures.patients_received, figures.direct_patients, sorted(figures.days_to_first_visit))
            assert shown == expected(period), (step, action, period)
            seen.add(shown[:2])
    assert len(seen) >= 6  # the changes moved the figures
    # Migration 0023 fills them by the same rule from the visits and referrals left.
    session.commit()
    kept = {
        (v.appointment_id, v.previous_at, v.referred_at, v.direct) for v in session.scalars(select(HeldVisit))
    }
    session.commit()  # (PostgreSQL: the migration waits for no reader of the table)
    database.downgrade(db.engine, "0022")
    database.upgrade(db.engine)
    filled = {
        (v.appointment_id, v.previous_at, v.referred_at, v.direct) for v in session.scalars(select(HeldVisit))
    }
    assert filled == kept
