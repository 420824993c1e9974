"""Retention (RGPD art. 5-1-e): what is past its time, and the one path that erases it.

Erasing is a pseudonymisation: the identity, the contact details and the free texts go; the rows
the activity figures count stay (statuses, dates, channels, sources, kinds), so the report of a
past period adds up the same before and after. The daily timer (`dalia retention`) and the
erasure on a patient's request both go through `erase_patient`."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Date,
    Integer,
    bindparam,
    case,
    delete,
    func,
    null,
    or_,
    select,
    type_coerce,
    union,
    union_all,
    update,
)
from sqlalchemy.orm import QueryableAttribute

from dalia_site.database import DbSession, column_rows
from dalia_site.domain import audit, mail
from dalia_site.domain.text import FieldError
from dalia_site.models import (
    Appointment,
    AuditEvent,
    CentreSettings,
    OutboundEmail,
    Patient,
    PatientLink,
    PatientRectification,
    Referral,
    StaffUser,
)
from dalia_site.models.types import UTCDateTime
from dalia_site.models.vocabulary import AppointmentStatus, PatientStatus, ReferralStatus

# How far ahead the admin sees what is coming (« Données personnelles », the timer's warning).
WARNING_DAYS = 30
ERASED = "EFFACÉ"
# The identity and contact fields (patient and referral alike) and the value each is left with.
BLANKS: dict[str, object] = {
    "first_names": "",
    "birth_name": "",
    "phone": "",
    "email": "",
    "address": "",
    "postcode": "",
    "commune": "",
    "ald_label": "",
    "gp_name": "",
}
REFERRAL_FREE_TEXTS = ("reason", "decline_reason", "orientation_detail")
INACTIVE, DECLINED, REQUEST = "inactive", "declined", "request"


@dataclass(frozen=True)
class Due:
    """A patient (or a declined referral without a patient of its own) to erase on `due_on`."""

    kind: str  # INACTIVE or DECLINED
    patient_id: int | None
    referral_id: int | None
    due_on: date
    since: date  # the last activity (inactive) or the decision (declined)

    @property
    def reason(self) -> str:
        if self.kind == INACTIVE:
            return f"aucun rendez-vous ni adressage depuis le {self.since:%d/%m/%Y}"
        return f"adressage non retenu le {self.since:%d/%m/%Y}"


@dataclass(frozen=True)
class Periods:
    inactive_years: int
    declined_years: int

    @property
    def shortest_days(self) -> int:
        """The retention window of backups: a backup older than the shortest period may hold
        what should already be gone."""
        return 365 * min(self.inactive_years, self.declined_years)


def read_periods(session: DbSession) -> Periods:
    row = session.get(CentreSettings, 1)
    if row is None:
        return Periods(3, 1)
    return Periods(row.retention_inactive_years, row.retention_declined_years)


periods = read_periods


def years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _day_start(day: date, zone: tzinfo | None) -> datetime:
    return datetime.combine(day, time(), zone)


# Built once (below), the queries of what is due: their bounds are parameters.
_INACTIVE_CUTOFF = bindparam("inactive_cutoff", type_=UTCDateTime())
_DECLINED_CUTOFF = bindparam("declined_cutoff", type_=UTCDateTime())
# The window N years back that `coming` asks of (its start included, its end not).
_WINDOW = {
    name: bindparam(name, type_=UTCDateTime())
    for name in ("inactive_from", "inactive_to", "declined_from", "declined_to")
}


def _within(column: QueryableAttribute[Any], period: str) -> ColumnElement[bool]:
    return (column >= _WINDOW[f"{period}_from"]) & (column < _WINDOW[f"{period}_to"])


# Each patient's last activity, kept by domain/last_active.py: the latest of their record's
# creation, any visit's start and any referral's receipt.
_LAST = Patient.last_active_at
_DECLINED = Patient.status == PatientStatus.DECLINED
_ANY_VISIT = select(Appointment.id).where(Appointment.patient_id == Patient.id).correlate(Patient).exists()
# A referral that keeps a declined patient: not declined, or declined too recently.
_KEEPS = (
    select(Referral.id)
    .where(
        Referral.patient_id == Patient.id,
        (Referral.status != ReferralStatus.DECLINED)
        | (Referral.decided_at.is_(None))
        | (Referral.decided_at >= _DECLINED_CUTOFF),
    )
    .correlate(Patient)
    .exists()
)
# A decision on file to count from: at least one referral (with ~_KEEPS, all declined long enough).
_DECIDED = select(Referral.id).where(Referral.patient_id == Patient.id).correlate(Patient).exists()
# The latest decision on a patient's referrals; it may erase a declined patient never seen at a
# visit (read for them alone: none for the others).
_LAST_DECISION = (
    select(func.max(Referral.decided_at))
    .where(Referral.patient_id == Patient.id)
    .correlate(Patient)
    .scalar_subquery()
)
_DECISION = type_coerce(case((_DECLINED & ~_ANY_VISIT, _LAST_DECISION)), UTCDateTime())
# Due by the cutoffs: no activity since the inactive one, or declined, never seen at a visit, with
# a decision on file and no referral left to keep them (declined with no referral left — it went to
# a record of its own —, the inactivity rule alone applies: there is no date to count from).
_PATIENT_DUE = Patient.erased_at.is_(None) & (
    (_LAST < _INACTIVE_CUTOFF) | (_DECLINED & ~_ANY_VISIT & ~_KEEPS & _DECIDED)
)
# A referral with no patient of its own: declined (since its decision), or never decided and left
# inactive (since its receipt).
_REFERRAL_DECISION = type_coerce(
    case((Referral.status == ReferralStatus.DECLINED, Referral.decided_at)), UTCDateTime()
)
_REFERRAL_DUE = (
    Referral.patient_id.is_(None)
    & Referral.erased_at.is_(None)
    & (
        ((Referral.status == ReferralStatus.DECLINED) & (Referral.decided_at < _DECLINED_CUTOFF))
        | ((Referral.status != ReferralStatus.DECLINED) & (Referral.received_at < _INACTIVE_CUTOFF))
    )
)

# The timer: every row due (the patients through the index of their last activity, and the
# declined ones).
_ALL_PATIENTS = select(Patient.id, _LAST, _DECISION).where(_PATIENT_DUE)
_ALL_REFERRALS = select(Referral.id, Referral.received_at, _REFERRAL_DECISION).where(_REFERRAL_DUE)

# `coming`, in two statements. First the patients whose last activity fell in the window N years
# back, past the day whose anniversary is today (`later_from`), but the declined never seen at a
# visit: each is due N years after that day, so they are read in that order from the index (the
# day as a date: ties go by number; `leap_day`, a 29 February that falls on the 28th N years on),
# the first `limit` of them with how many there are.
_LATER_FROM = bindparam("later_from", type_=UTCDateTime())
_LEAP_DAY, _LEAP_TO = bindparam("leap_day", type_=Date()), bindparam("leap_to", type_=Date())
_DAY = func.date(_LAST)
_COMING_INACTIVE = (
    select(Patient.id, _LAST, func.count().over())
    .where(
        Patient.erased_at.is_(None),
        _LAST >= _LATER_FROM,
        _LAST < _INACTIVE_CUTOFF,
        ~(_DECLINED & ~_ANY_VISIT),
    )
    .order_by(case((_DAY == _LEAP_DAY, _LEAP_TO), else_=_DAY), Patient.id)
    .limit(bindparam("limit", type_=Integer()))
)
# Then the few whose day needs the whole rule: the declined never seen at a visit (active in the
# window, or decided in the declined one), and the referrals without a patient of their own
# received or decided in the window.
_COMING_OTHERS: CompoundSelect[*tuple[Any, ...]] = union_all(
    select(Patient.id, null(), _LAST, _LAST_DECISION).where(
        Patient.id.in_(
            union(
                select(Patient.id).where(Patient.erased_at.is_(None), _DECLINED, _within(_LAST, "inactive")),
                select(Referral.patient_id).where(
                    Referral.status == ReferralStatus.DECLINED, _within(Referral.decided_at, "declined")
                ),
            )
        ),
        # The rule (_PATIENT_DUE) for them, each subquery asked once.
        Patient.erased_at.is_(None),
        _DECLINED,
        ~_ANY_VISIT,
        (_LAST < _INACTIVE_CUTOFF) | (~_KEEPS & _DECIDED),
    ),
    select(null(), Referral.id, Referral.received_at, _REFERRAL_DECISION).where(
        _REFERRAL_DUE,
        _within(Referral.received_at, "inactive") | _within(Referral.decided_at, "declined"),
    ),
)


def _cutoffs(now: datetime, within_days: int, settings: Periods) -> dict[str, datetime]:
    # Due on a day: whatever's last activity fell on that day, N years before, goes (UTC days).
    horizon = _day_start((now + timedelta(days=within_days)).date() + timedelta(days=1), now.tzinfo)
    return {
        "inactive_cutoff": years_before(horizon, settings.inactive_years),
        "declined_cutoff": years_before(horizon, settings.declined_years),
    }


def _patient_due(settings: Periods, patient_id: int, last: datetime, decision: datetime | None) -> Due:
    """Due N years after their last activity — or after the decision that declined them, if that
    comes first (`decision`: only for the declined never seen at a visit)."""
    inactive_on = _years_after(last.date(), settings.inactive_years)
    if decision is not None:
        declined_on = _years_after(decision.date(), settings.declined_years)
        if declined_on < inactive_on:
            return Due(DECLINED, patient_id, None, declined_on, decision.date())
    return Due(INACTIVE, patient_id, None, inactive_on, last.date())


def _referral_due(settings: Periods, referral_id: int, received: datetime, decided: datetime | None) -> Due:
    """A referral with no patient of its own: declined (`decided`), or never decided and left
    inactive."""
    if decided is not None:
        since, kind, years = decided.date(), DECLINED, settings.declined_years
    else:
        since, kind, years = received.date(), INACTIVE, settings.inactive_years
    return Due(kind, None, referral_id, _years_after(since, years), since)


def _in_order(found: Iterable[Due]) -> list[Due]:
    return sorted(found, key=lambda due: (due.due_on, due.patient_id or 0, due.referral_id or 0))


def upcoming(
    session: DbSession, *, now: datetime, within_days: int = 0, periods: Periods | None = None
) -> list[Due]:
    """What is due by `now` + `within_days` (0: due now — the dry run and the timer), oldest
    first. Two queries, whatever the number of patients."""
    settings = periods or read_periods(session)
    params = _cutoffs(now, within_days, settings)
    found = [_patient_due(settings, *row) for row in column_rows(session, _ALL_PATIENTS, params)]
    found += [_referral_due(settings, *row) for row in column_rows(session, _ALL_REFERRALS, params)]
    return _in_order(found)


@dataclass(frozen=True)
class Coming:
    """What becomes due in the next days (« Données personnelles »): how many, the first ones."""

    count: int
    first: list[Due]


COMING_LISTED = 20


def _first_later(today: date, years: int) -> date:
    """The first day whose anniversary `years` on is after `today`."""
    day = _years_after(today, -years) - timedelta(days=2)
    while _years_after(day, years) <= today:
        day += timedelta(days=1)
    return day


def _leap_day(start: date, end: date, years: int) -> dict[str, date | None]:
    """A 29 February between `start` and `end` that falls on the 28th `years` on, with that 28th
    (due the same day, its patients go in order of number with the 28th's)."""
    for year in {start.year, end.year}:
        if calendar.isleap(year) and start <= date(year, 2, 29) <= end:
            if not calendar.isleap(year + years):
                return {"leap_day": date(year, 2, 29), "leap_to": date(year, 2, 28)}
    return {"leap_day": None, "leap_to": None}


def coming(
    session: DbSession,
    *,
    now: datetime,
    within_days: int = WARNING_DAYS,
    periods: Periods | None = None,
    limit: int = COMING_LISTED,
) -> Coming:
    """What becomes due after today and by `now` + `within_days`, oldest first — the same rule as
    `upcoming`, asked only of the rows whose last activity or decision fell in the window N years
    back (a range of the index of the patients' last activity, and of the decisions: the month's
    rows, not every patient's history). What is due already is not looked for: the daily timer
    erases it (`dalia retention --dry-run` lists it). Two queries, the listed rows only read."""
    settings = periods or read_periods(session)
    today = now.date()
    first_day = _day_start(today + timedelta(days=1), now.tzinfo)
    after_last = _day_start((now + timedelta(days=within_days)).date() + timedelta(days=1), now.tzinfo)
    inactive_from = years_before(first_day, settings.inactive_years)
    params: dict[str, Any] = _cutoffs(now, within_days, settings) | {
        "inactive_from": inactive_from,
        "inactive_to": years_before(after_last, settings.inactive_years),
        "declined_from": years_before(first_day, settings.declined_years),
        "declined_to": years_before(after_last, settings.declined_years),
        "later_from": max(
            inactive_from,
            datetime.combine(_first_later(today, settings.inactive_years), time(), UTC),
        ),
        "limit": limit,
    }
    params |= _leap_day(inactive_from.date(), params["inactive_to"].date(), settings.inactive_years)
    inactive = column_rows(session, _COMING_INACTIVE, params)
    found = [_patient_due(settings, patient_id, last, None) for patient_id, last, _ in inactive]
    for patient_id, referral_id, moment, decision in column_rows(session, _COMING_OTHERS, params):
        if patient_id is not None:
            due = _patient_due(settings, patient_id, moment, decision)
        else:
            due = _referral_due(settings, referral_id, moment, decision)
        if due.due_on > today:
            found.append(due)
    count = len(found) - len(inactive) + (inactive[0][2] if inactive else 0)
    return Coming(count, _in_order(found)[:limit])


def _erase_referral(referral: Referral, now: datetime) -> None:
    referral.last_name = ERASED
    for field, blank in BLANKS.items():
        setattr(referral, field, blank)
    for field in REFERRAL_FREE_TEXTS:
        setattr(referral, field, "")
    referral.birth_date = referral.birth_date.replace(month=1, day=1)
    referral.erased_at = now


def _scrub_audit(session: DbSession, names: Iterable[str], objects: Iterable[tuple[str, str]]) -> None:
    """The audit rows about the erased person keep no name: any of their names in a summary
    becomes « [effacé] », and the address their own answers came from goes (the trail of which
    staff member did what stays, with their address)."""
    words = sorted({name for name in names if len(name) > 1}, key=len, reverse=True) or [ERASED]
    conditions = [
        (AuditEvent.object_type == kind) & (AuditEvent.object_id == object_id) for kind, object_id in objects
    ]
    if not conditions:
        return
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE)
    for event in session.scalars(select(AuditEvent).where(or_(*conditions))):
        summary = pattern.sub("[effacé]", event.summary)
        if summary != event.summary:
            event.summary = summary
        if event.actor_id is None and event.ip is not None:  # the patient's own page, not staff
            event.ip = None


def _names(person: Patient | Referral) -> list[str]:
    return [person.last_name, person.birth_name, person.first_names, person.full_name]


def erase_patient(
    session: DbSession,
    actor: StaffUser | None,
    patient: Patient,
    reason: str,
    *,
    now: datetime,
    referrals: Iterable[Referral] = (),
) -> None:
    """Pseudonymise a patient and their referrals (`referrals`: those rows, loaded). Audited with
    the reason, under the patient's number only."""
    names = _names(patient) + [name for referral in referrals for name in _names(referral)]
    objects = [("patient", str(patient.id))] + [("referral", str(referral.id)) for referral in referrals]
    _scrub_audit(session, names, objects)
    patient.last_name = ERASED
    for field, blank in BLANKS.items():
        setattr(patient, field, blank)
    patient.birth_date = patient.birth_date.replace(month=1, day=1)
    patient.search_text = ""
    patient.erased_at = now
    for referral in referrals:
        _erase_referral(referral, now)
    session.execute(delete(PatientRectification).where(PatientRectification.patient_id == patient.id))
    appointments = select(Appointment.id).where(Appointment.patient_id == patient.id)
    session.execute(
        update(Appointment)
        .where(Appointment.patient_id == patient.id)
        .values(cancel_reason="", override_reason="")
    )
    session.execute(delete(PatientLink).where(PatientLink.appointment_id.in_(appointments)))
    # Messages to the patient: those not sent are dropped, the others keep their date only.
    session.execute(
        delete(OutboundEmail).where(
            OutboundEmail.appointment_id.in_(appointments), OutboundEmail.sent_at.is_(None)
        )
    )
    session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.appointment_id.in_(appointments))
        .values(to="", body="", subject="(message effacé)")
    )
    audit.record(session, actor, "patient.erase", "patient", patient.id, f"Identité effacée : {reason}")


def erase_on_request(
    session: DbSession, actor: StaffUser | None, patient: Patient, reason: str, *, now: datetime
) -> None:
    """Erasure asked by the patient (RGPD art. 17): refused while visits are still booked (the
    centre needs their identity to see them), or when already done. The reason is kept."""
    reason = " ".join(reason.split())
    if not reason:
        raise FieldError("reason", "Indiquez le motif de l'effacement (demande du patient, date, canal).")
    if len(reason) > 300:
        raise FieldError("reason", "300 caractères au plus.")
    if patient.erased_at is not None:
        raise FieldError("reason", "L'identité de ce patient est déjà effacée.")
    booked = session.scalar(
        select(func.count())
        .select_from(Appointment)
        .where(
            Appointment.patient_id == patient.id,
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.starts_at > now,
        )
    )
    if booked:
        raise FieldError(
            "reason",
            "Ce patient a encore des rendez-vous à venir : annulez-les avant d'effacer son identité.",
        )
    referrals = session.scalars(select(Referral).where(Referral.patient_id == patient.id)).all()
    erase_patient(session, actor, patient, f"à sa demande — {reason}", now=now, referrals=referrals)


def apply(session: DbSession, *, now: datetime) -> list[Due]:
    """Erase everything due now (the daily timer): what was erased."""
    due = upcoming(session, now=now)
    patient_ids = [item.patient_id for item in due if item.patient_id is not None]
    patients = {p.id: p for p in session.scalars(select(Patient).where(Patient.id.in_(patient_ids)))}
    referrals: dict[int | None, list[Referral]] = {}
    for referral in session.scalars(
        select(Referral).where(
            Referral.patient_id.in_(patient_ids)
            | Referral.id.in_([item.referral_id for item in due if item.referral_id is not None])
        )
    ):
        referrals.setdefault(
            referral.patient_id if referral.patient_id is not None else -referral.id, []
        ).append(referral)
    for item in due:
        if item.patient_id is not None:
            patient = patients[item.patient_id]
            erase_patient(
                session,
                None,
                patient,
                f"durée de conservation dépassée ({item.reason})",
                now=now,
                referrals=referrals.get(item.patient_id, []),
            )
        else:
            assert item.referral_id is not None
            referral = referrals[-item.referral_id][0]
            _scrub_audit(session, _names(referral), [("referral", str(referral.id))])
            _erase_referral(referral, now)
            audit.record(
                session,
                None,
                "referral.erase",
                "referral",
                referral.id,
                f"Identité effacée : durée de conservation dépassée ({item.reason})",
            )
    return due


def warn_admins(session: DbSession, site_name: str, *, now: datetime) -> int:
    """A month before: the admins get one email naming the files (by number only) that will be
    erased in WARNING_DAYS days — the timer sends it once, the day they enter that window."""
    day = (now + timedelta(days=WARNING_DAYS)).date()
    coming = [item for item in upcoming(session, now=now, within_days=WARNING_DAYS) if item.due_on == day]
    if not coming:
        return 0
    admins = session.scalars(
        select(StaffUser).where(StaffUser.role == "admin", StaffUser.active.is_(True)).order_by(StaffUser.id)
    ).all()
    body = mail.render("retention_warning.txt", site_name=site_name, day=day, coming=coming)
    queued = 0
    for admin in admins:
        if mail.queue(session, admin.email, f"{site_name} : effacements prévus le {day:%d/%m/%Y}", body):
            queued += 1
    return queued


MAX_YEARS = 20


def update_periods(
    session: DbSession, actor: StaffUser | None, inactive_years: object, declined_years: object
) -> bool:
    """The admin changes the retention periods (centre settings): audited with what changed."""
    cleaned: dict[str, int] = {}
    for field, value in (("inactive_years", inactive_years), ("declined_years", declined_years)):
        if not isinstance(value, int) or not 1 <= value <= MAX_YEARS:
            raise FieldError(field, f"Une durée en années, entre 1 et {MAX_YEARS}.")
        cleaned[f"retention_{field}"] = value
    row = session.get(CentreSettings, 1)
    if row is None:
        row = CentreSettings(id=1)
        session.add(row)
    labels = {
        "retention_inactive_years": "conservation sans activité (ans)",
        "retention_declined_years": "conservation après refus (ans)",
    }
    before = {labels[f]: getattr(row, f) for f in cleaned}
    after: dict[str, object] = {labels[f]: v for f, v in cleaned.items()}
    changes = audit.describe_changes(before, after)
    if not changes:
        return False
    for field, value in cleaned.items():
        setattr(row, field, value)
    audit.record(session, actor, "centre.update", "centre", 1, f"Réglages du centre : {changes}")
    return True
