"""Ten years of a busy centre, for the benchmark: about 10,000 patients, 25,000 appointments,
15,000 referrals, 300 partners, 40 team members, and the audit trail such a decade leaves.

Rows are inserted in bulk (this is load-test data, not the demo: the demo's year goes through
the domain functions). Deterministic: a seeded random generator. Appointments run up to a few
weeks ahead, so that today's agenda and this week's look like a working day.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from dalia_site.domain import (
    held_visits,
    last_active,
    overdue_spans,
    recall,
    referral_months,
    roster_version,
    visit_days,
)
from dalia_site.domain.partners import search_text as partner_search_text
from dalia_site.domain.referrals import patient_search_text
from dalia_site.extensions import db
from dalia_site.models import (
    Appointment,
    AppointmentClinician,
    AuditEvent,
    PartnerContact,
    PartnerOrganisation,
    Patient,
    PatternException,
    Referral,
    Shift,
    StaffUser,
    TeamMember,
    WeeklyPattern,
)
from dalia_site.models.vocabulary import PartnerCategory
from dalia_site.provisioning.demo import MEN, SURNAMES, WOMEN, closures

PATIENTS = 10_000
REFERRALS = 15_000
APPOINTMENTS = 25_000
PARTNERS = 300
YEARS = 10
AHEAD = timedelta(days=21)
HALVES = ((time(8, 30), time(12, 30)), (time(13, 30), time(17, 30)))
CHUNK = 5000
WORKLIST_ROWS = 3  # patients on each worklist whatever the scale (see the patients below)


def _chunks(rows: list[dict]):
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def _insert(model, rows: list[dict]) -> None:
    for chunk in _chunks(rows):
        db.session.execute(insert(model), chunk)


def _ids(model) -> list[int]:
    return list(db.session.scalars(select(model.id).order_by(model.id)))


def seed(
    zone: ZoneInfo,
    today: date,
    seed_value: int = 10,
    scale: float = 1.0,
    years: int = YEARS,
    now: datetime | None = None,
) -> dict[str, int]:
    """Fill a provisioned site (`scale` < 1 for a smaller centre, as the query-count test does;
    it may be called again to grow the data); returns the row counts added.

    `scale` multiplies the patients, referrals, appointments, partners and audit trail, spread
    over `years` (3 times the data over 30 years is the density of 1 over 10). The present — last
    week and the weeks ahead, what the day and week pages and the slot picker show — is seeded at
    the density of ten years at scale 1 whatever the scale: a bigger past, the same working day.
    Appointments after `now` (default: the clock) are booked, those before it held or missed."""
    rng = random.Random(seed_value)  # noqa: S311 -- load-test data
    first_day = today - timedelta(days=round(365.25 * years))
    patients_wanted = max(10, round(PATIENTS * scale))
    referrals_wanted = max(15, round(REFERRALS * scale))
    appointments_wanted = max(25, round(APPOINTMENTS * scale))
    audit_views = round(100_000 * scale)
    admin = db.session.scalar(select(StaffUser.id).where(StaffUser.role == "admin"))
    holidays = set().union(*(closures(y) for y in range(first_day.year, today.year + 2)))

    # --- Team: 40 members, the stable team on weekly patterns, volunteers on sessions ---------
    team = (
        [
            ("medecin", "flexible", rng.choice(("retraite", "remplacant", "saspas", "installe")))
            for _ in range(16)
        ]
        + [("ipa", "stable", None)] * 2
        + [("infirmier_azalee", "stable", None)] * 2
        + [("infirmier", "stable", None)] * 6
        + [("assistant_medical", "stable", None)] * 10
        + [("secretariat", "stable", None)] * 2
        + [("coordination", "stable", None)] * 2
    )
    known_members, known_patterns = set(_ids(TeamMember)), set(_ids(WeeklyPattern))
    _insert(
        TeamMember,
        [
            {
                "name": f"{rng.choice(WOMEN + MEN)} {rng.choice(SURNAMES)}",
                "profession": p,
                "team": t,
                "doctor_status": s,
                "active": True,
                "created_at": datetime.now(UTC),
            }
            for p, t, s in team
        ],
    )
    members = [
        (i, p)
        for i, p in db.session.execute(select(TeamMember.id, TeamMember.profession))
        if i not in known_members
    ]
    doctors = [i for i, p in members if p == "medecin"]
    nurses = [i for i, p in members if p in ("ipa", "infirmier_azalee", "infirmier")]
    stable = [i for i, p in members if p != "medecin"]
    patterns = []
    for member in stable:
        for weekday in rng.sample(range(5), 3):
            start, end = HALVES[rng.randrange(2)]
            patterns.append(
                {
                    "member_id": member,
                    "weekday": weekday,
                    "start_time": start,
                    "end_time": end,
                    "valid_from": first_day,
                    "valid_until": None,
                }
            )
    _insert(WeeklyPattern, patterns)
    pattern_rows = [
        (i, w)
        for i, w in db.session.execute(select(WeeklyPattern.id, WeeklyPattern.weekday))
        if i not in known_patterns
    ]
    _insert(
        PatternException,
        [
            {"pattern_id": pid, "day": day, "reason": "Congés"}
            for pid, weekday in pattern_rows
            for day in sorted(holidays)
            if day.weekday() == weekday and first_day <= day
        ],
    )

    def local(day: date, at: time) -> datetime:
        return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)

    days, day = [], first_day
    while day <= today + AHEAD:
        if day.weekday() < 5 and day not in holidays:
            days.append(day)
        day += timedelta(days=1)
    sessions = []
    for day in days:
        for start, end in HALVES:
            for doctor in rng.sample(doctors, 2):
                sessions.append(
                    {
                        "member_id": doctor,
                        "starts_at": local(day, start),
                        "ends_at": local(day, end),
                        "note": "",
                        "created_by_id": admin,
                    }
                )
    _insert(Shift, sessions)

    # --- Partners ---------------------------------------------------------------------------
    categories = list(PartnerCategory)
    existing = len(_ids(PartnerOrganisation))
    organisations = []
    for number in range(max(0, round(PARTNERS * scale) - existing)):
        category = rng.choice(categories)
        org = PartnerOrganisation(
            name=f"{category.label} {rng.choice(SURNAMES)} n° {number + 1}",
            category=category,
            commune=rng.choice(("Carcassonne", "Trèbes", "Limoux", "Bram")),
            postcode="11000",
            phone="",
            email="",
            address="",
            website="",
            opening_hours="",
            notes="",
            active=True,
        )
        organisations.append(
            {
                "name": org.name,
                "category": category,
                "commune": org.commune,
                "postcode": org.postcode,
                "active": True,
                "search_text": partner_search_text(org, []),
            }
        )
    _insert(PartnerOrganisation, organisations)
    partner_ids = _ids(PartnerOrganisation)
    _insert(
        PartnerContact,
        [
            {
                "organisation_id": pid,
                "name": f"{rng.choice(WOMEN)} {rng.choice(SURNAMES)}",
                "role": "Coordination",
                "phone": "",
                "email": "",
            }
            for pid in partner_ids[::2]
        ],
    )

    # --- Patients and their referrals -------------------------------------------------------
    span = (today - first_day).days
    people = []
    for _ in range(patients_wanted):
        sex = rng.choice("FM")
        patient = Patient(
            last_name=rng.choice(SURNAMES),
            first_names=rng.choice(WOMEN if sex == "F" else MEN),
            birth_name="",
            birth_date=date(1930, 1, 1) + timedelta(days=rng.randrange(60 * 365)),
        )
        people.append(
            {
                "last_name": patient.last_name,
                "first_names": patient.first_names,
                "birth_name": "",
                "birth_date": patient.birth_date,
                "sex": sex,
                "postcode": "11000",
                "commune": "Carcassonne",
                "ald": "yes",
                "gp_status": "none",
                "status": rng.choices(
                    ("follow_up", "gp_found", "discharged", "declined", "waiting_list"), (70, 12, 8, 7, 3)
                )[0],
                "search_text": patient_search_text(patient),
                "phone": f"0639 98{rng.randrange(10_000):04d}".replace(" ", ""),
                "created_at": local(first_day + timedelta(days=rng.randrange(span)), time(10)),
            }
        )
    # Whatever the scale, every worklist has rows: three patients on the waiting list and three
    # in follow-up never given a visit (due for a call), all referred two months ago.
    for index, person in enumerate(people[: WORKLIST_ROWS * 2]):
        person["status"] = "waiting_list" if index < WORKLIST_ROWS else "follow_up"
        person["created_at"] = local(today - timedelta(days=60), time(10))
    before = set(_ids(Patient))
    _insert(Patient, people)
    patient_ids = [i for i in _ids(Patient) if i not in before]
    never_seen = set(patient_ids[WORKLIST_ROWS : WORKLIST_ROWS * 2])
    by_id = dict(zip(patient_ids, people, strict=True))
    referrals = []
    for number in range(referrals_wanted):
        pid = patient_ids[number] if number < len(patient_ids) else rng.choice(patient_ids)
        person = by_id[pid]
        received = person["created_at"] - timedelta(days=rng.randrange(1, 30))
        if number >= referrals_wanted - 5:  # whatever the scale, a few waiting to be triaged
            received = local(today - timedelta(days=number % 5), time(9))
        direct = rng.random() < 0.11
        status = {
            "follow_up": "accepted",
            "gp_found": "accepted",
            "discharged": "accepted",
            "declined": "declined",
            "waiting_list": "waiting_list",
        }[person["status"]]
        recent = received.date() > today - timedelta(days=10)
        referrals.append(
            {
                "reference": f"DAL-{received:%Y}-{seed_value}-{number:06d}",
                "received_at": received,
                "channel": "direct" if direct else rng.choice(("phone", "mail", "fax", "link")),
                "source_id": None if direct else rng.choice(partner_ids),
                "referrer_name": "" if direct else "Dr Adresseur",
                "reason": "Suivi programmé",
                "status": "new" if recent else status,
                "patient_id": None if recent else pid,
                "decided_at": None if recent else received + timedelta(days=1),
                **{
                    k: person[k]
                    for k in (
                        "last_name",
                        "first_names",
                        "birth_name",
                        "birth_date",
                        "sex",
                        "postcode",
                        "commune",
                        "ald",
                        "gp_status",
                    )
                },
            }
        )
    _insert(Referral, referrals)

    # --- Appointments: about ten a working day, a few weeks ahead ---------------------------
    slots = [(day, half) for day in days for half in range(2)]
    per_slot = appointments_wanted / len(slots)
    appointments, pairs = [], []
    now = now or datetime.now(UTC)
    present_per_slot = APPOINTMENTS * years / YEARS / len(slots)  # scale 1, ten years' density
    followed = [pid for pid in patient_ids if by_id[pid]["status"] != "declined" and pid not in never_seen]
    sessions_by_slot = {}
    for row in sessions:
        sessions_by_slot.setdefault(row["starts_at"], []).append(row["member_id"])
    for day, half in slots:
        start, _ = HALVES[half]
        slot_start = local(day, start)
        on_duty = sessions_by_slot.get(slot_start, []) + rng.sample(nurses, 2)
        count = int(per_slot) + (rng.random() < per_slot % 1)
        if day >= today - timedelta(days=7):  # the present: the same whatever the scale, and full
            count = max(int(present_per_slot) + (rng.random() < present_per_slot % 1), len(on_duty))
        for index in range(count):
            lead = on_duty[index % len(on_duty)]
            at = slot_start + timedelta(minutes=30 * (index // len(on_duty)))
            kind = "first" if index % 5 == 0 else ("doctor" if lead in doctors else "nurse")
            if kind == "first" and lead not in doctors:
                kind = "nurse"
            length = timedelta(minutes=60 if kind == "first" else 30)
            status = (
                "booked" if at > now else rng.choices(("honoured", "no_show", "cancelled"), (88, 7, 5))[0]
            )
            appointments.append(
                {
                    "patient_id": rng.choice(followed),
                    "kind": kind,
                    "starts_at": at,
                    "ends_at": at + length,
                    "status": status,
                    "walk_in": False,
                    "created_by_id": admin,
                    "created_at": at - timedelta(days=20),
                }
            )
            pairs.append([lead] + ([rng.choice(nurses)] if kind == "first" else []))
    before = set(_ids(Appointment))
    _insert(Appointment, appointments)
    appointment_ids = [i for i in _ids(Appointment) if i not in before]
    _insert(
        AppointmentClinician,
        [
            {"appointment_id": aid, "member_id": member}
            for aid, members_of in zip(appointment_ids, pairs, strict=True)
            for member in dict.fromkeys(members_of)
        ],
    )

    # --- The audit trail of a decade: every booking, decision and many patient views --------
    events = [
        {
            "at": a["created_at"],
            "actor_id": admin,
            "action": "appointment.book",
            "object_type": "patient",
            "object_id": str(a["patient_id"]),
            "summary": "Rendez-vous pris",
        }
        for a in appointments
    ]
    events += [
        {
            "at": r["received_at"],
            "actor_id": admin,
            "action": "referral.receive",
            "object_type": "referral",
            "object_id": str(number + 1),
            "summary": f"Adressage {r['reference']} reçu",
        }
        for number, r in enumerate(referrals)
    ]
    events += [
        {
            "at": local(first_day + timedelta(days=rng.randrange(span)), time(11)),
            "actor_id": admin,
            "action": "patient.view",
            "object_type": "patient",
            "object_id": str(rng.choice(patient_ids)),
            "summary": "Consultation de la fiche",
        }
        for _ in range(audit_views)
    ]
    _insert(AuditEvent, events)
    # The bulk inserts went past the ORM's flush: what the hooks keep is written from the rows.
    recall.refresh(db.session.connection())
    held_visits.refresh(db.session.connection())
    last_active.refresh(db.session.connection())
    overdue_spans.refresh(db.session.connection())
    referral_months.refresh(db.session.connection())
    roster_version.bump(db.session.connection())
    visit_days.refresh(db.session.connection())
    db.session.commit()
    return {
        "team_member": len(team),
        "partner_organisation": len(organisations),
        "patient": len(patient_ids),
        "referral": len(referrals),
        "appointment": len(appointment_ids),
        "roster_session": len(sessions),
        "audit_event": len(events),
    }
