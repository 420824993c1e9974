"""A synthetic year for the demo site: the one-year review of seed 001, rebuilt through the app.

Every person here is invented. The year is made in two steps:

1. `plan_year` simulates the centre in memory, deterministically (a seeded random generator):
   referrals arrive from partners or directly, are triaged, accepted patients get a first visit
   with a doctor and a nurse, then follow-ups alternating nurse and doctor, some no-shows (booked
   again), on a roster of eight volunteer doctors and a stable team. The plan is then trimmed to
   the figures of seed 001: exactly 921 patients received, 2,260 consultations, 11 % direct
   access, and the staffed half-days that give 2.6 patients per hour.
2. `replay` writes that plan through the same domain functions as the app (`referrals.receive`,
   `decide`, `booking.book`, `mark`, `roster.add_shift`…), each at its moment of the year
   (`clock_at`), so the data, the audit trail and the rules are those of a real year.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import heapq
import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dalia_site import clock
from dalia_site.clock import clock_at
from dalia_site.domain import (
    board,
    booking,
    centre,
    follow_up,
    opening,
    partners,
    patients,
    referrals,
    reminders,
    roster,
    visit_days,
    worklists,
)
from dalia_site.domain.activity import Period
from dalia_site.domain.opening import hours_range
from dalia_site.domain.text import FieldError, fold
from dalia_site.models import (
    Appointment,
    OutboundEmail,
    PartnerOrganisation,
    PartnerReferralLink,
    Patient,
    Referral,
    StaffUser,
    TeamMember,
)
from dalia_site.models.roster import WEEKDAYS
from dalia_site.models.vocabulary import Role

SEED = 2023
# The one-year review of seed 001.
TARGET_PATIENTS = 921
TARGET_CONSULTATIONS = 2260
TARGET_PER_HOUR = 2.6
TARGET_DIRECT_SHARE = 0.11

ARRIVALS = 1180  # referrals over the year; triage and the last weeks leave 921+ patients seen
WEEKLY_SLOTS = ((0, "afternoon"), (1, "morning"), (1, "afternoon"), (3, "morning"), (4, "morning"))
NO_SHOW = 0.07
# Issue 17: patients with a mobile get an SMS the day before and miss fewer visits; the year's
# rate stays about NO_SHOW (nine patients in ten have a mobile).
NO_SHOW_REMINDED, NO_SHOW_NOT_REMINDED = 0.055, 0.205
REMINDERS_AT = time(10)  # when the hourly timer's reminders of tomorrow's visits leave
CALL_AHEAD = timedelta(days=14)  # when the assistants call a patient to book the next visit
ROSTER_AHEAD = timedelta(days=90)  # volunteers sign up for their half-days three months ahead
HORIZON = timedelta(days=200)  # the simulated roster runs this far past today

DOCTORS = (  # (name, status): eight volunteer doctors (seed 001)
    ("Dr Paul Séverac", "retraite"),
    ("Dr Hélène Rouquette", "retraite"),
    ("Dr Bernard Aussel", "retraite"),
    ("Dr Claire Vidal", "remplacant"),
    ("Dr Mathieu Cabanel", "remplacant"),
    ("Dr Inès Bories", "saspas"),
    ("Dr Julien Fontvieille", "interne"),
    ("Dr Sophie Maury", "installe"),
)
# (name, profession, the weekly slots they work): the Azalée nurse and the IPA of seed 001, and a
# nurse of the stable team three half-days a week (the first visits need a nurse every time).
NURSES = (
    ("Martine Escande", "infirmier_azalee", (0, 1, 2, 3, 4)),
    ("Laure Carrière", "ipa", (0, 1, 2, 3, 4)),
    ("Thomas Pujol", "infirmier", (1, 3, 4)),
)
ASSISTANTS = ("Nadia Benali", "Coralie Roux")
INVENTED_PARTNERS = (  # the template's partners are public bodies; these local ones are invented
    ("Cabinet infirmier des Remparts (fictif)", "infirmiers_liberaux", "Carcassonne"),
    ("Cabinet infirmier de la Bastide (fictif)", "infirmiers_liberaux", "Carcassonne"),
    ("Pharmacie du Pont-Vieux (fictive)", "pharmacie", "Carcassonne"),
    ("Pharmacie de la Cité (fictive)", "pharmacie", "Carcassonne"),
    ("Maison de santé du Minervois (fictive)", "msp_esp", "Trèbes"),
    ("EHPAD Les Tilleuls (fictif)", "ehpad", "Carcassonne"),
    ("Service social de secteur (fictif)", "autre", "Carcassonne"),
)
# Who refers, by partner category (weights), and how.
SOURCES = {
    "infirmiers_liberaux": 26,
    "samu_urgences": 10,
    "hopital_clinique": 14,
    "sas": 9,
    "dac": 6,
    "pharmacie": 13,
    "msp_esp": 9,
    "cpts": 6,
    "ehpad": 3,
    "autre": 4,
}
CHANNELS = {"phone": 55, "mail": 25, "link": 15, "fax": 5}
REFERRERS = {
    "infirmiers_liberaux": "IDE libérale",
    "samu_urgences": "Régulation SAMU",
    "hopital_clinique": "Service des urgences",
    "sas": "Opérateur SAS",
    "dac": "Coordinatrice DAC",
    "pharmacie": "Pharmacien·ne",
    "msp_esp": "Médecin de la MSP",
    "cpts": "Coordination CPTS",
    "ehpad": "IDEC de l'EHPAD",
    "autre": "Assistante sociale",
}
SURNAMES = (
    "Martin",
    "Bernard",
    "Fabre",
    "Roux",
    "Vidal",
    "Mas",
    "Garcia",
    "Martinez",
    "Lopez",
    "Sanchez",
    "Blanc",
    "Rouquette",
    "Cros",
    "Bonnet",
    "Marty",
    "Combes",
    "Pujol",
    "Bousquet",
    "Cazals",
    "Gleizes",
    "Alary",
    "Azéma",
    "Barthe",
    "Bonnafous",
    "Calvet",
    "Cathala",
    "Durand",
    "Escudier",
    "Faure",
    "Fournier",
    "Gaubert",
    "Guiraud",
    "Laffont",
    "Lacombe",
    "Mailhac",
    "Maury",
    "Miquel",
    "Molinier",
    "Nègre",
    "Olive",
    "Pagès",
    "Peyre",
    "Pons",
    "Raynaud",
    "Rivière",
    "Rouanet",
    "Salvat",
    "Sabatier",
    "Séguier",
    "Teisseire",
    "Tournier",
    "Vergnes",
    "Viguier",
    "Baylac",
    "Cabrol",
    "Delpech",
    "Estève",
    "Ferrié",
    "Joulia",
    "Lautier",
    "Mounié",
    "Py",
    "Sarda",
    "Triquet",
    "Ournac",
    "Saint-Martin",
)
WOMEN = (
    "Marie",
    "Jeanne",
    "Monique",
    "Martine",
    "Françoise",
    "Christiane",
    "Josette",
    "Danielle",
    "Nicole",
    "Sylvie",
    "Brigitte",
    "Chantal",
    "Odette",
    "Huguette",
    "Yvette",
    "Catherine",
    "Isabelle",
    "Nathalie",
    "Sandrine",
    "Véronique",
    "Mireille",
    "Colette",
    "Paulette",
    "Simone",
    "Ginette",
    "Éliane",
    "Annie",
    "Michèle",
    "Céline",
    "Fatima",
)
MEN = (
    "Jean",
    "Pierre",
    "Michel",
    "André",
    "Jacques",
    "Bernard",
    "Alain",
    "Gérard",
    "Christian",
    "Daniel",
    "Roger",
    "Marcel",
    "René",
    "Henri",
    "Louis",
    "Claude",
    "Serge",
    "Patrick",
    "Jean-Pierre",
    "Jean-Claude",
    "Philippe",
    "Guy",
    "Robert",
    "Francis",
    "Joël",
    "Thierry",
    "Éric",
    "Mohamed",
    "Antoine",
    "Paul",
)
COMMUNES = (
    ("11000", "Carcassonne", 50),
    ("11800", "Trèbes", 8),
    ("11620", "Villemoustaussou", 5),
    ("11090", "Carcassonne", 4),
    ("11570", "Cazilhac", 4),
    ("11610", "Pennautier", 5),
    ("11600", "Conques-sur-Orbiel", 4),
    ("11170", "Pézens", 3),
    ("11250", "Leuc", 2),
    ("11150", "Bram", 4),
    ("11290", "Arzens", 2),
    ("11700", "Capendu", 4),
    ("11160", "Villegly", 2),
    ("11880", "Palaja", 3),
)
ALD_LABELS = (
    "Diabète de type 2",
    "Insuffisance cardiaque",
    "Hypertension artérielle sévère",
    "Insuffisance respiratoire chronique",
    "Affection psychiatrique de longue durée",
    "Maladie coronaire",
    "Insuffisance rénale chronique",
    "Polyarthrite rhumatoïde",
    "",
)
Decline = tuple[int, dict[str, str], str, str]  # (weight, identity changes, reason, orientation)
DECLINES: tuple[Decline, ...] = (  # (weight, what differs in the identity, reason, orientation)
    (5, {"postcode": "34500", "commune": "Béziers"}, "Hors du territoire du centre", "sas"),
    (
        3,
        {"gp_status": "has", "gp_name": "Dr Traitant (fictif)"},
        "A un médecin traitant : à orienter vers lui",
        "other",
    ),
    (2, {"ald": "no"}, "Pas d'affection de longue durée", "other"),
    (2, {}, "Situation complexe relevant de la coordination du DAC", "dac"),
)
# Each refusal's reason in the closed list (issue 16).
DECLINE_CODES = {
    "Hors du territoire du centre": "out_of_area",
    "A un médecin traitant : à orienter vers lui": "has_gp",
    "Pas d'affection de longue durée": "no_ald",
    "Situation complexe relevant de la coordination du DAC": "dac",
}
# Médecins généralistes of the directory (invented), asked to take the centre's patients: their
# answer about new patients, as last checked.
INVENTED_GPS = (
    ("Dr Anne Salvaing (fictive)", "Carcassonne", "yes"),
    ("Dr Louis Marty (fictif)", "Trèbes", "yes"),
    ("Dr Rose Canet (fictive)", "Pennautier", "no"),
    ("Dr Yves Bousquet (fictif)", "Carcassonne", "to_check"),
)
# The nurse a plan names, by the nurse of the first visit (NURSES' order), and the Azalée
# protocol that goes with an ALD label.
PLAN_NURSES = ("azalee", "ipa", "other")
PROTOCOLS = {
    "Diabète de type 2": "diabetes",
    "Maladie coronaire": "cardiovascular",
    "Hypertension artérielle sévère": "cardiovascular",
    "Insuffisance respiratoire chronique": "copd",
}


# --- The plan -----------------------------------------------------------------------------------


@dataclass
class HalfDay:
    day: date
    starts_at: datetime
    ends_at: datetime
    doctors: list[int]  # indexes into DOCTORS
    nurses: list[int]  # indexes into NURSES
    slots: int  # quarter hours
    busy: dict[str, list[bool]] = field(default_factory=dict)  # member key -> quarter hours

    def members(self) -> list[str]:
        return [f"d{d}" for d in self.doctors] + [f"n{n}" for n in self.nurses]


@dataclass
class PlannedVisit:
    patient: PlannedPatient
    kind: str
    starts_at: datetime
    ends_at: datetime
    members: tuple[str, ...]  # "d3", "n0": doctor or nurse keys, doctor first
    booked_at: datetime
    status: str = "booked"  # honoured / no_show once it has happened


@dataclass
class PlannedPatient:
    number: int
    identity: dict
    arrived_at: datetime
    decided_at: datetime
    decision: str  # accepted / declined / waiting_list / new (not triaged yet)
    decline: Decline | None = None
    channel: str = "phone"
    source: str | None = None  # partner category, None for direct access
    reason: str = ""
    visits: list[PlannedVisit] = field(default_factory=list)
    exit_status: str | None = None  # gp_found / discharged
    exit_at: datetime | None = None
    removed: bool = False
    served_at: datetime | None = None  # taken off the waiting list into a first visit

    def past_honoured(self, kind: set[str], now: datetime) -> list[PlannedVisit]:
        return [v for v in self.visits if v.kind in kind and v.status == "honoured" and v.starts_at < now]


@dataclass
class Plan:
    period: Period
    now: datetime
    half_days: list[HalfDay]
    patients: list[PlannedPatient]
    closed: list[tuple[date, str]]  # weekly-slot days the centre is closed: (day, half)

    @property
    def staffed_hours(self) -> float:
        return (
            sum(
                (h.ends_at - h.starts_at).total_seconds()
                for h in self.half_days
                if self.period.first <= h.day <= self.period.last
            )
            / 3600
        )


# The demo is the Carcassonne template: the Aude's public holidays (the holidays library).
DEPARTEMENT = "11"


def closure_spans(year: int) -> list[tuple[date, date, str]]:
    """What the demo's admin enters on « Réglages du centre »: two weeks in August and the week
    of Christmas."""
    return [
        (date(year, 8, 8), date(year, 8, 22), "fermeture estivale"),
        (date(year, 12, 24), date(year, 12, 31), "fermeture de fin d'année"),
    ]


def closures(year: int) -> set[date]:
    """The days the centre is closed in `year`: public holidays and the closures."""
    days = set(opening.public_holidays(DEPARTEMENT, date(year, 1, 1), date(year, 12, 31)))
    for first, last, _ in closure_spans(year):
        days |= {first + timedelta(days=n) for n in range((last - first).days + 1)}
    return days


def _weighted(rng: random.Random, weights: Mapping[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _half_days(
    period: Period, now: datetime, zone: ZoneInfo, hours: Mapping[str, str], rng: random.Random
) -> tuple[list[HalfDay], list[tuple[date, str]]]:
    """The centre's staffed half-days: the weekly slots less the closures, then a few more closed
    days (trainings, absences) until the year's staffed hours give seed 001's 2.6 per hour."""
    candidates: list[tuple[date, str]] = []
    closed: list[tuple[date, str]] = []
    last = (now + HORIZON).astimezone(zone).date()
    holidays = set().union(*(closures(y) for y in range(period.first.year, last.year + 1)))
    day = period.first
    while day <= last:
        for weekday, half in WEEKLY_SLOTS:
            if day.weekday() == weekday:
                (closed if day in holidays else candidates).append((day, half))
        day += timedelta(days=1)

    def span(day, half):
        start, end = hours_range(hours[half])
        return (datetime.combine(day, start, tzinfo=zone), datetime.combine(day, end, tzinfo=zone))

    past = [c for c in candidates if period.first <= c[0] <= period.last]
    target = TARGET_CONSULTATIONS / TARGET_PER_HOUR * 3600
    total = sum((span(*c)[1] - span(*c)[0]).total_seconds() for c in past)
    rng.shuffle(past)
    extra_closed = set()
    for candidate in past:
        length = (span(*candidate)[1] - span(*candidate)[0]).total_seconds()
        if total - length / 2 < target:
            break
        extra_closed.add(candidate)
        total -= length
    closed += sorted(extra_closed)
    half_days = []
    seniors = [i for i, (_, status) in enumerate(DOCTORS) if status not in ("interne", "saspas")]
    for day, half in candidates:
        if (day, half) in extra_closed:
            continue
        start, end = span(day, half)
        slot = WEEKLY_SLOTS.index((day.weekday(), half))
        nurses = [n for n, (*_, slots) in enumerate(NURSES) if slot in slots]
        senior = rng.choice(seniors)  # an intern or a SASPAS never works without one
        doctors = [
            senior,
            *rng.sample([i for i in range(len(DOCTORS)) if i != senior], len(nurses) - 1),
        ]  # as many pairs as nurses
        half_days.append(HalfDay(day, start, end, doctors, nurses, int((end - start).total_seconds() // 900)))
    for h in half_days:
        h.busy = {key: [False] * h.slots for key in h.members()}
    return half_days, closed


class Scheduler:
    """The first free slot at or after a moment, on the plan's half-days (quarter-hour grid)."""

    def __init__(self, half_days: list[HalfDay], visits: Mapping[str, int]):
        self.half_days = half_days
        self.starts = [h.starts_at for h in half_days]
        self.visits = visits

    def find(self, kind: str, earliest: datetime) -> tuple[datetime, tuple[str, ...]] | None:
        need = self.visits[f"{kind}_minutes"] // 15
        for h in self.half_days[bisect.bisect_left(self.starts, earliest) :]:
            doctors = [f"d{d}" for d in h.doctors]
            nurses = [f"n{n}" for n in h.nurses]
            # As the centre's assistants do: the first five eighths of each half-day are kept for first
            # visits (follow-ups are booked months ahead and would leave the pairs no room);
            # follow-ups fill the rest from its end.
            quarters: Iterable[int]
            if kind == "first":
                quarters = range(h.slots - need + 1)
            else:
                quarters = reversed(range(h.slots * 5 // 8, h.slots - need + 1))
            for q in quarters:
                free = [key for key in h.busy if not any(h.busy[key][q : q + need])]
                chosen: tuple[str, ...] | None
                if kind == "first":
                    doctor = next((d for d in doctors if d in free), None)
                    nurse = next((n for n in nurses if n in free), None)
                    chosen = (doctor, nurse) if doctor is not None and nurse is not None else None
                else:
                    lead = next((m for m in (doctors if kind == "doctor" else nurses) if m in free), None)
                    chosen = (lead,) if lead else None
                if chosen:
                    for key in chosen:
                        h.busy[key][q : q + need] = [True] * need
                    return h.starts_at + timedelta(minutes=15 * q), chosen
        return None

    def release(self, visit: PlannedVisit) -> None:
        h = self.half_days[bisect.bisect_right(self.starts, visit.starts_at) - 1]
        q = int((visit.starts_at - h.starts_at).total_seconds() // 900)
        need = int((visit.ends_at - visit.starts_at).total_seconds() // 900)
        for key in visit.members:
            h.busy[key][q : q + need] = [False] * need


def _identity(rng: random.Random, taken: set) -> dict:
    while True:
        sex = rng.choice("FM")
        first = rng.choice(WOMEN if sex == "F" else MEN)
        last = rng.choice(SURNAMES)
        born = date(1936, 1, 1) + timedelta(days=int(rng.triangular(0, 54 * 365, 32 * 365)))
        key = (referrals.name_key(last), fold(first).split()[0], born)  # as duplicates compare
        if key not in taken:
            taken.add(key)
            break
    postcode, commune = rng.choices([(p, c) for p, c, _ in COMMUNES], weights=[w for *_, w in COMMUNES])[0]
    ald = "yes" if rng.random() < 0.85 else "unknown"
    return {
        "last_name": last,
        "first_names": first,
        "birth_date": born,
        "sex": sex,
        "postcode": postcode,
        "commune": commune,
        "ald": ald,
        "ald_label": rng.choice(ALD_LABELS) if ald == "yes" else "",
        "gp_status": "none",
        "phone": f"0639 98{rng.randrange(10_000):04d}" if rng.random() < 0.9 else "",
        "birth_name": "",
    }


def _office_time(moment: datetime, zone: ZoneInfo, rng: random.Random) -> datetime:
    """The next weekday working moment (9h–17h local) at or after `moment`."""
    local = moment.astimezone(zone)
    while local.weekday() >= 5 or local.hour >= 17:
        local = datetime.combine(local.date() + timedelta(days=1), time(9), tzinfo=zone)
    if local.hour < 9:
        local = local.replace(hour=9, minute=0)
    return local.replace(minute=rng.randrange(0, 60), second=0, microsecond=0).astimezone(UTC)


def plan_year(
    today: date, zone: ZoneInfo, hours: Mapping[str, str], visits: Mapping[str, int], seed: int = SEED
) -> Plan:
    """The year that ends today, simulated and then trimmed to seed 001's figures. What has
    happened is what happened before today: the same day gives the same year."""
    rng = random.Random(seed)  # noqa: S311 -- synthetic data, not secrets
    period = Period.year_to(today)
    now = datetime.combine(today, time(), tzinfo=zone)
    half_days, closed = _half_days(period, now, zone, hours, rng)
    scheduler = Scheduler(half_days, visits)
    opening = datetime.combine(period.first, time(9), tzinfo=zone)
    taken: set = set()
    events: list = []
    counter = itertools.count()

    def at(moment, action, *args):
        heapq.heappush(events, (moment, next(counter), action, args))

    def book(patient, kind, earliest, booked_at):
        found = scheduler.find(kind, earliest)
        if found is None:
            return
        start, members = found
        visit = PlannedVisit(
            patient, kind, start, start + timedelta(minutes=visits[f"{kind}_minutes"]), members, booked_at
        )
        patient.visits.append(visit)
        at(visit.ends_at, held, visit)

    def held(visit):
        if visit.ends_at > now:
            return  # still to come: stays booked
        patient = visit.patient
        rate = NO_SHOW_REMINDED if patient.identity.get("phone") else NO_SHOW_NOT_REMINDED
        visit.status = "no_show" if rng.random() < rate else "honoured"
        if visit.status == "no_show":
            book(patient, visit.kind, visit.ends_at + timedelta(days=rng.randint(7, 15)), visit.ends_at)
        else:  # the assistants call the patient two weeks before the next visit is due
            following = "nurse" if visit.kind in ("first", "doctor") else "doctor"
            due = visit.starts_at + timedelta(weeks=rng.uniform(8, 14))
            call = _office_time(max(visit.ends_at, due - CALL_AHEAD), zone, rng)
            if call < now:
                at(call, book, patient, following, due, call)

    def decided(patient):
        if patient.decision == "accepted":
            book(
                patient, "first", patient.decided_at + timedelta(days=rng.randint(2, 21)), patient.decided_at
            )
        elif patient.decision == "waiting_list" and patient.number % 4:
            # Three in four are served from the waiting list weeks later (a slot of the pair).
            served = patient.decided_at + timedelta(days=14 + patient.number % 40)
            weekday = served.astimezone(zone).weekday()
            if weekday >= 5:  # a weekend: the Monday
                served += timedelta(days=7 - weekday)
            if served < now:
                patient.served_at = served
                at(served, book, patient, "first", served + timedelta(days=2 + patient.number % 12), served)

    # Referrals arrive from the opening, a little more often in the first months (the backlog
    # of patients without a médecin traitant: 3,000 on the territory, seed 001).
    patients_planned = []
    span = (now - opening).total_seconds()
    for number in range(ARRIVALS):
        arrived = opening + timedelta(seconds=span * (1 - (1 - rng.random()) ** 0.8))
        arrived = _office_time(arrived, zone, rng)
        if arrived >= now:
            continue
        decided_at = _office_time(arrived + timedelta(hours=rng.uniform(2, 70)), zone, rng)
        draw = rng.random()
        decision = "accepted" if draw < 0.84 else "declined" if draw < 0.96 else "waiting_list"
        if decided_at >= now:
            decision = "new"
        patient = PlannedPatient(number, _identity(rng, taken), arrived, decided_at, decision)
        if decision == "declined":
            weights = [w for w, *_ in DECLINES]
            patient.decline = rng.choices(DECLINES, weights=weights)[0]
            patient.identity.update(patient.decline[1])
        patients_planned.append(patient)
        if decision not in ("new",):
            at(decided_at, decided, patient)
    while events:
        _, _, action, args = heapq.heappop(events)
        action(*args)

    _trim_to_targets(patients_planned, scheduler, now, rng, zone)
    _assign_sources(patients_planned, now, rng)
    return Plan(period, now, half_days, [p for p in patients_planned if not p.removed], closed)


def _seen(patient: PlannedPatient, now: datetime) -> bool:
    return bool(patient.past_honoured({"first"}, now))


def _trim_to_targets(
    planned: list[PlannedPatient], scheduler: Scheduler, now: datetime, rng: random.Random, zone: ZoneInfo
) -> None:
    """Seed 001's counts exactly: patients seen beyond 921 never existed; follow-ups beyond
    the 2,260 consultations end with the patient leaving (a médecin traitant found, mostly)."""
    seen = [p for p in planned if _seen(p, now)]
    if len(seen) < TARGET_PATIENTS:
        raise RuntimeError(f"demo plan: {len(seen)} patients seen, fewer than {TARGET_PATIENTS}")
    for patient in rng.sample(seen, len(seen) - TARGET_PATIENTS):
        patient.removed = True
        for visit in patient.visits:
            scheduler.release(visit)
    seen = [p for p in seen if not p.removed]
    follow_ups = TARGET_CONSULTATIONS - TARGET_PATIENTS
    held = sum(len(p.past_honoured({"doctor", "nurse"}, now)) for p in seen)
    if held < follow_ups:
        raise RuntimeError(f"demo plan: {held} follow-ups held, fewer than {follow_ups}")
    while held > follow_ups:
        patient = rng.choice([p for p in seen if p.past_honoured({"doctor", "nurse"}, now)])
        last = patient.past_honoured({"doctor", "nurse"}, now)[-1]
        cut = patient.visits.index(last)
        for visit in patient.visits[cut:]:
            scheduler.release(visit)
        patient.visits = patient.visits[:cut]
        held -= 1
        last_seen = patient.visits[-1].ends_at  # the first visit at least is kept
        patient.exit_status = "gp_found" if rng.random() < 0.7 else "discharged"
        patient.exit_at = _office_time(last_seen + timedelta(days=rng.uniform(1, 20)), zone, rng)
        if patient.exit_at >= now:
            patient.exit_at = last_seen + (now - last_seen) / 2


def _assign_sources(planned: list[PlannedPatient], now: datetime, rng: random.Random) -> None:
    """Who referred each patient; exactly 11 % of the patients seen came in directly."""
    kept = [p for p in planned if not p.removed]
    seen = [p for p in kept if _seen(p, now)]
    direct = set(id(p) for p in rng.sample(seen, round(TARGET_DIRECT_SHARE * len(seen))))
    others = [p for p in kept if not _seen(p, now)]
    direct |= set(id(p) for p in rng.sample(others, round(TARGET_DIRECT_SHARE * len(others))))
    for patient in kept:
        if id(patient) in direct:
            patient.channel, patient.source = "direct", None
            patient.reason = "Venu·e de lui-même au centre, sans médecin traitant."
        else:
            patient.source = _weighted(rng, SOURCES)
            patient.channel = _weighted(rng, CHANNELS)
            label = patient.identity.get("ald_label") or "maladie chronique"
            patient.reason = f"{label}, sans médecin traitant : suivi programmé demandé."


# --- The replay through the domain --------------------------------------------------------------


@dataclass
class Context:
    session: Session
    site_name: str
    zone: ZoneInfo
    visits: Mapping[str, int]
    assistant: StaffUser
    clinician: StaffUser
    admin: StaffUser
    doctors: list[TeamMember] = field(default_factory=list)
    nurses: list[TeamMember] = field(default_factory=list)
    sources: dict[str, list[PartnerOrganisation]] = field(default_factory=dict)
    links: dict[int, PartnerReferralLink] = field(default_factory=dict)
    referral_of: dict[int, Referral] = field(default_factory=dict)
    appointment_of: dict[int, Appointment] = field(default_factory=dict)  # by id() of the PlannedVisit
    patient_of: dict[int, Patient] = field(default_factory=dict)
    centre_opening: opening.Opening | None = None  # set by _setup, once the closures are entered
    gps: list[PartnerOrganisation] = field(default_factory=list)  # the directory's médecins généralistes

    def members(self, keys: tuple[str, ...]) -> list[int]:
        return [(self.doctors if k[0] == "d" else self.nurses)[int(k[1:])].id for k in keys]


def _setup(ctx: Context, plan: Plan, hours: Mapping[str, str]) -> None:
    """The team, the stable team's weekly patterns and closures, the invented local partners and
    a few referral links — as the admin would have entered them before the opening."""
    session, zone = ctx.session, ctx.zone
    today = plan.period.first - timedelta(days=7)
    for name, status in DOCTORS:
        ctx.doctors.append(
            roster.save_member(
                session,
                ctx.admin,
                None,
                {"name": name, "profession": "medecin", "team": "flexible", "doctor_status": status},
                ctx.clinician.id if not ctx.doctors else None,
            )
        )
    for name, profession, _ in NURSES:
        ctx.nurses.append(
            roster.save_member(
                session, ctx.admin, None, {"name": name, "profession": profession, "team": "stable"}, None
            )
        )
    assistants = [
        roster.save_member(
            session,
            ctx.admin,
            None,
            {"name": name, "profession": "assistant_medical", "team": "stable"},
            ctx.assistant.id if not index else None,
        )
        for index, name in enumerate(ASSISTANTS)
    ]
    # The centre opens the half-days of its weekly slots; holidays and the closures the admin
    # enters close the rest (roster.occurrences skips them); the other closed days (training,
    # absences) are noted on the weekly patterns.
    years = range(plan.period.first.year, plan.half_days[-1].day.year + 1) if plan.half_days else ()
    for year in years:
        for first, last, label in closure_spans(year):
            if first >= today:
                centre.add_closure(session, ctx.admin, first, last, label, today=today)
    halves = [f"{WEEKDAYS[d]}-{'matin' if half == 'morning' else 'apres-midi'}" for d, half in WEEKLY_SLOTS]
    centre.update(session, ctx.admin, dataclasses.asdict(centre.load(session)) | {"open_half_days": halves})
    ctx.centre_opening = centre.load(session).opening
    calendar = set().union(*(closures(year) for year in years))
    closed: dict[tuple[int, str], list[date]] = {}
    for day, half in plan.closed:
        if day not in calendar:
            closed.setdefault((day.weekday(), half), []).append(day)
    for slot_index, (weekday, half) in enumerate(WEEKLY_SLOTS):
        start, end = hours_range(hours[half])
        members = [
            nurse for nurse, (*_, slots) in zip(ctx.nurses, NURSES, strict=True) if slot_index in slots
        ] + [assistants[slot_index % len(assistants)]]
        for member in members:
            pattern = roster.add_pattern(
                session, ctx.admin, member, weekday, start, end, plan.period.first, None, zone, today=today
            )
            for day in closed.get((weekday, half), []):
                roster.add_exception(session, ctx.admin, pattern, day, "Formation ou congés", today=today)
    for name, category, commune in INVENTED_PARTNERS:
        partners.create_organisation(
            session,
            ctx.admin,
            {
                "name": name,
                "category": category,
                "commune": commune,
                "notes": "Partenaire fictif du site de démonstration.",
            },
        )
    session.flush()
    invented = {name for name, _, _ in INVENTED_PARTNERS}
    for organisation in session.scalars(
        select(PartnerOrganisation)
        .where(PartnerOrganisation.active.is_(True))
        .order_by(PartnerOrganisation.id)
    ):
        if organisation.category != "autre" or organisation.name in invented:  # not URPS itself
            ctx.sources.setdefault(organisation.category, []).append(organisation)
    for name, commune, accepts in INVENTED_GPS:
        gp = partners.create_organisation(
            session,
            ctx.admin,
            {
                "name": name,
                "category": "medecin_generaliste",
                "commune": commune,
                "notes": "Médecin fictif du site de démonstration.",
            },
        )
        partners.set_accepts_new_patients(session, ctx.admin, gp, accepts, today, today=today)
        ctx.gps.append(gp)
    for category in ("infirmiers_liberaux", "pharmacie", "msp_esp"):
        for organisation in ctx.sources.get(category, []):
            link, _token = partners.create_referral_link(
                session, ctx.admin, organisation, "Formulaire d'adressage"
            )
            ctx.links[organisation.id] = link


@dataclass(frozen=True)
class Event:
    """One write of the replay: `apply(ctx)` at `moment`, by `order` among writes at that moment."""

    moment: datetime
    order: int
    apply: Callable[[Context], None]


def _events(plan: Plan, zone: ZoneInfo) -> list[Event]:
    """Every write of the year, in time order (moment, then order at that moment)."""
    events: list[Event] = []
    before_opening = datetime.combine(plan.period.first - timedelta(days=7), time(9), tzinfo=zone)
    for h in plan.half_days:
        signed_up = max(h.starts_at - ROSTER_AHEAD, before_opening)
        if signed_up < plan.now:
            for doctor in h.doctors:
                events.append(Event(signed_up, 0, functools.partial(_add_session, h=h, doctor=doctor)))
    for patient in plan.patients:
        events.append(Event(patient.arrived_at, 1, functools.partial(_receive, patient=patient)))
        if patient.decision != "new":
            events.append(Event(patient.decided_at, 2, functools.partial(_decide, patient=patient)))
        if patient.served_at is not None:
            events.append(Event(patient.served_at, 2, functools.partial(_serve, patient=patient)))
        for visit in patient.visits:
            events.append(Event(visit.booked_at, 4, functools.partial(_book, visit=visit)))
            if visit.status != "booked":
                events.append(Event(visit.ends_at, 3, functools.partial(_mark, visit=visit)))
        if patient.exit_status:
            assert patient.exit_at is not None  # set with exit_status (_trim_to_targets)
            events.append(Event(patient.exit_at, 5, functools.partial(_exit, patient=patient)))
    day = plan.period.first
    while day <= plan.period.last:  # the reminders of tomorrow's visits, each morning
        moment = datetime.combine(day, REMINDERS_AT, tzinfo=zone)
        if moment < plan.now:
            events.append(Event(moment, 6, _remind))
        day += timedelta(days=1)
    return sorted(events, key=lambda e: (e.moment, e.order))


def _remind(ctx: Context) -> None:
    """The reminders due now, through the site's own queueing (channel, window, once a day), then
    sent as the SMS provider accepts them (the demo has no provider: they are marked sent)."""
    now = clock.now()
    queued = reminders.queue_reminders(
        ctx.session, centre.load(ctx.session), ctx.zone, now=now, sms_ready=True
    )
    if sum(queued.values()):
        waiting = (OutboundEmail.sent_at.is_(None), OutboundEmail.appointment_id.is_not(None))
        visits = ctx.session.scalars(select(OutboundEmail.appointment_id).where(*waiting)).all()
        ctx.session.execute(update(OutboundEmail).where(*waiting).values(sent_at=now, attempts=1))
        # Past the ORM: the visits' days the activity figures keep are written again here.
        visit_days.refresh(ctx.session.connection(), (), [v for v in visits if v is not None])


def _add_session(ctx: Context, h: HalfDay, doctor: int) -> None:
    local_start, local_end = h.starts_at.astimezone(ctx.zone), h.ends_at.astimezone(ctx.zone)
    signed_up = h.starts_at - ROSTER_AHEAD
    if ctx.centre_opening is not None and doctor == h.doctors[0] and h.day.toordinal() % 3 == 0:
        # A third of the half-days' first doctors take them from the open half-days board.
        try:
            board.take(
                ctx.session,
                ctx.admin,
                ctx.doctors[doctor],
                h.day,
                "matin" if local_start.hour < 12 else "apres-midi",
                ctx.centre_opening,
                ctx.zone,
                today=signed_up.astimezone(ctx.zone).date(),
                now=signed_up,
            )
            return
        except FieldError:
            pass  # before the board's three months (the first weeks): the desk enters it
    roster.add_shift(
        ctx.session,
        ctx.admin,
        ctx.doctors[doctor],
        h.day,
        local_start.time(),
        local_end.time(),
        ctx.zone,
        today=h.day - ROSTER_AHEAD,
    )


def _receive(ctx: Context, patient: PlannedPatient) -> None:
    source = None
    link = None
    channel = patient.channel
    if patient.source:
        choices = ctx.sources[patient.source]
        source = choices[patient.number % len(choices)]
        link = ctx.links.get(source.id) if channel == "link" else None
        if channel == "link" and link is None:
            channel = "phone"
    referrer = {}
    if source is not None:
        referrer = {
            "referrer_name": f"{REFERRERS[source.category]} ({source.name})"[:120],
            "referrer_phone": f"0536 49{patient.number % 10_000:04d}",
        }
    referral = referrals.receive(
        ctx.session,
        None if link else ctx.assistant,
        channel,
        patient.identity,
        referrer,
        patient.reason,
        source=source,
        link=link,
        site_name=ctx.site_name,
        now=clock.now(),
        today=clock.today(ctx.zone),
    )
    ctx.referral_of[patient.number] = referral


def _decide(ctx: Context, patient: PlannedPatient) -> None:
    referral = ctx.referral_of[patient.number]
    actor = ctx.clinician if patient.number % 3 == 0 else ctx.assistant
    if patient.decision == "declined":
        assert patient.decline is not None  # drawn with the "declined" decision (plan_year)
        _, _, reason, orientation = patient.decline
        result = referrals.decide(
            ctx.session,
            actor,
            referral,
            "declined",
            reason,
            orientation,
            decline_code=DECLINE_CODES[reason],
            orientation_detail="Orientation proposée au patient par téléphone."
            if orientation == "other"
            else "",
            site_name=ctx.site_name,
            now=clock.now(),
        )
    else:
        result = referrals.decide(
            ctx.session,
            actor,
            referral,
            patient.decision,
            site_name=ctx.site_name,
            now=clock.now(),
            reach=_reach(referral, patient.number),
        )
    ctx.patient_of[patient.number] = result


def _reach(referral: Referral, number: int) -> dict[str, object]:
    """How the assistant says the patient can be reached when the referral gave no contact (issue
    17): through the referrer who left one, else a mobile asked on the phone (ARCEP's range for
    fiction; drawn from the patient's number, not the year's random draws)."""
    if referral.phone or referral.email or referral.address:
        return {}
    if referral.referrer_phone or referral.referrer_email:
        return {"via_referrer": True}
    return {"phone": f"0639 98{(number * 7919) % 10_000:04d}"}


def _book(ctx: Context, visit: PlannedVisit) -> None:
    patient = ctx.patient_of[visit.patient.number]
    ctx.appointment_of[id(visit)] = booking.book(
        ctx.session,
        ctx.assistant,
        patient,
        visit.kind,
        visit.starts_at.astimezone(UTC),
        ctx.members(visit.members),
        ctx.visits,
        ctx.zone,
        now=visit.booked_at,
    )


def _mark(ctx: Context, visit: PlannedVisit) -> None:
    booking.mark(ctx.session, ctx.clinician, ctx.appointment_of[id(visit)], visit.status, now=visit.ends_at)
    patient = ctx.patient_of[visit.patient.number]
    if visit.kind == "first" and visit.status == "honoured":
        _plan(ctx, visit, patient)
    elif (
        visit.status == "no_show"
        and visit.patient.visits[-1] is not visit
        and patient.status in follow_up.FOLLOWED
    ):
        # Called back the same day (the next visit is booked then); the list keeps the others.
        follow_up.record_contact(ctx.session, ctx.assistant, patient, "reached", now=clock.now())


def _plan(ctx: Context, visit: PlannedVisit, patient: Patient) -> None:
    """The plan the pair makes at the first visit (organisational only): drawn from the
    patient's number, not from the year's random draws."""
    number = visit.patient.number
    nurse = PLAN_NURSES[int(visit.members[-1][1:])]
    protocol = PROTOCOLS.get(patient.ald_label, "smoking" if number % 5 == 0 else "")
    follow_up.save_plan(
        ctx.session,
        ctx.clinician,
        patient,
        {
            "cadence_weeks": str(8 + number % 7),
            "preferred_nurse": nurse,
            "azalee_protocols": [protocol] if protocol and nurse == "azalee" else [],
            "etp": number % 3 == 0,
            "gp_search_started": number % 2 == 0 or visit.patient.exit_status == "gp_found",
        },
    )


def _serve(ctx: Context, patient: PlannedPatient) -> None:
    """A slot of the pair for a patient of the waiting list: their referral is accepted."""
    worklists.accept_from_waiting_list(
        ctx.session,
        ctx.assistant,
        ctx.patient_of[patient.number],
        ctx.site_name,
        now=clock.now(),
        reach=_reach(ctx.referral_of[patient.number], patient.number),
    )


def _exit(ctx: Context, patient: PlannedPatient) -> None:
    assert patient.exit_status is not None  # only exits are scheduled (_events)
    found = ctx.patient_of[patient.number]
    if patient.exit_status != "gp_found":
        patients.set_status(ctx.session, ctx.clinician, found, patient.exit_status, now=clock.now())
        return
    # The médecin traitant found through the pathway: one in three GPs asked first says no.
    today = clock.today(ctx.zone)
    welcoming = [gp for gp in ctx.gps if gp.accepts_new_patients == "yes"]
    if patient.number % 3 == 0:
        declining = next(gp for gp in ctx.gps if gp.accepts_new_patients == "no")
        follow_up.record_gp_step(
            ctx.session,
            ctx.assistant,
            found,
            str(declining.id),
            today - timedelta(days=12),
            "declines",
            today=today,
            now=clock.now(),
        )
    gp = welcoming[patient.number % len(welcoming)]
    follow_up.record_gp_step(
        ctx.session, ctx.assistant, found, str(gp.id), today, "accepts", today=today, now=clock.now()
    )


class Replay:
    """Writes the plan through the domain functions, one step per iteration (for a progress
    bar: `len()` is the number of steps). The caller commits."""

    def __init__(self, session: Session, plan: Plan, site: Mapping, settings: Mapping):
        self.zone = ZoneInfo(site["timezone"])
        self.plan, self.hours = plan, settings["hours"]
        users = {u.role: u for u in session.scalars(select(StaffUser).order_by(StaffUser.id))}
        self.ctx = Context(
            session,
            site["name"],
            self.zone,
            settings["visits"],
            users[Role("assistant")],
            users[Role("clinician")],
            users[Role("admin")],
        )
        self.events = _events(plan, self.zone)

    def __len__(self) -> int:
        return 1 + len(self.events)

    def __iter__(self) -> Iterator[None]:
        before_opening = datetime.combine(
            self.plan.period.first - timedelta(days=7), time(9), tzinfo=self.zone
        )
        # Flushed inside the clock: column defaults (an audit event's time) are set at flush.
        with clock_at(before_opening):
            _setup(self.ctx, self.plan, self.hours)
            self.ctx.session.flush()
        yield
        for event in self.events:
            with clock_at(event.moment):
                event.apply(self.ctx)
                self.ctx.session.flush()
            yield
