"""Retention (RGPD art. 5-1-e): what is past its time, and the one path that erases it.

Erasing is a pseudonymisation: the identity, the contact details and the free texts go; the rows
the activity figures count stay (statuses, dates, channels, sources, kinds), so the report of a
past period adds up the same before and after. The daily timer (`dalia retention`) and the
erasure on a patient's request both go through `erase_patient`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, delete, func, or_, select, true, union, update
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


# Built once (below), the two queries of what is due: their bounds are parameters.
_INACTIVE_CUTOFF = bindparam("inactive_cutoff", type_=UTCDateTime())
_DECLINED_CUTOFF = bindparam("declined_cutoff", type_=UTCDateTime())
# The window N years back that `coming` asks of (its start included, its end not).
_WINDOW = {
    name: bindparam(name, type_=UTCDateTime())
    for name in ("inactive_from", "inactive_to", "declined_from", "declined_to")
}


def _within(column: QueryableAttribute[Any], period: str) -> ColumnElement[bool]:
    return (column >= _WINDOW[f"{period}_from"]) & (column < _WINDOW[f"{period}_to"])


def _due_queries(
    patients_among: ColumnElement[bool], referrals_among: ColumnElement[bool]
) -> tuple[Select[*tuple[Any, ...]], Select[*tuple[Any, ...]]]:
    """The patients, then the referrals without a patient of their own, whose time is up by the
    cutoffs (`patients_among`/`referrals_among` narrow them to some rows)."""
    last_visit = (
        select(func.max(Appointment.starts_at))
        .where(Appointment.patient_id == Patient.id)
        .correlate(Patient)
        .scalar_subquery()
    )
    last_referral = (
        select(func.max(Referral.received_at))
        .where(Referral.patient_id == Patient.id)
        .correlate(Patient)
        .scalar_subquery()
    )
    # A referral that keeps a declined patient: not declined, or declined too recently.
    keeps = (
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
    last_decision = (
        select(func.max(Referral.decided_at))
        .where(Referral.patient_id == Patient.id)
        .correlate(Patient)
        .scalar_subquery()
    )
    # « No visit (referral) since the cutoff » as NOT EXISTS: one index probe, where the last
    # visit compared twice was two aggregates per patient.
    visit_since = (
        select(Appointment.id)
        .where(Appointment.patient_id == Patient.id, Appointment.starts_at >= _INACTIVE_CUTOFF)
        .correlate(Patient)
        .exists()
    )
    referral_since = (
        select(Referral.id)
        .where(Referral.patient_id == Patient.id, Referral.received_at >= _INACTIVE_CUTOFF)
        .correlate(Patient)
        .exists()
    )
    any_visit = select(Appointment.id).where(Appointment.patient_id == Patient.id).correlate(Patient).exists()
    patients = select(
        Patient.id, Patient.status, Patient.created_at, last_visit, last_referral, last_decision
    ).where(
        Patient.erased_at.is_(None),
        patients_among,
        ((Patient.created_at < _INACTIVE_CUTOFF) & ~visit_since & ~referral_since)
        | ((Patient.status == PatientStatus.DECLINED) & ~any_visit & ~keeps),
    )
    referrals = select(Referral.id, Referral.status, Referral.received_at, Referral.decided_at).where(
        Referral.patient_id.is_(None),
        Referral.erased_at.is_(None),
        referrals_among,
        ((Referral.status == ReferralStatus.DECLINED) & (Referral.decided_at < _DECLINED_CUTOFF))
        | ((Referral.status != ReferralStatus.DECLINED) & (Referral.received_at < _INACTIVE_CUTOFF)),
    )
    return patients, referrals


# Every row (the timer); the rows active in the window N years back (`coming`: found through the
# date indexes, a month of activity, not every patient).
_ALL_DUE = _due_queries(true(), true())
_DUE_IN_WINDOW = _due_queries(
    Patient.id.in_(
        union(
            select(Appointment.patient_id).where(_within(Appointment.starts_at, "inactive")),
            select(Referral.patient_id).where(
                Referral.patient_id.is_not(None),
                _within(Referral.received_at, "inactive") | _within(Referral.decided_at, "declined"),
            ),
            select(Patient.id).where(_within(Patient.created_at, "inactive")),
        )
    ),
    _within(Referral.received_at, "inactive") | _within(Referral.decided_at, "declined"),
)


def upcoming(
    session: DbSession, *, now: datetime, within_days: int = 0, periods: Periods | None = None
) -> list[Due]:
    """What is due by `now` + `within_days` (0: due now — the dry run and the timer), oldest
    first. Two queries, whatever the number of patients."""
    return _due(session, _ALL_DUE, now, within_days, periods or read_periods(session), {})


def _due(
    session: DbSession,
    queries: tuple[Select[*tuple[Any, ...]], Select[*tuple[Any, ...]]],
    now: datetime,
    within_days: int,
    settings: Periods,
    window: dict[str, datetime],
) -> list[Due]:
    # Due on a day: whatever's last activity fell on that day, N years before, goes (UTC days).
    horizon = _day_start((now + timedelta(days=within_days)).date() + timedelta(days=1), now.tzinfo)
    params = window | {
        "inactive_cutoff": years_before(horizon, settings.inactive_years),
        "declined_cutoff": years_before(horizon, settings.declined_years),
    }
    patients, referrals = queries
    found: list[Due] = []
    for patient_id, status, created, visit, referral, decision in column_rows(session, patients, params):
        last = max(moment for moment in (created, visit, referral) if moment is not None)
        inactive_on = _years_after(last.date(), settings.inactive_years)
        if status == PatientStatus.DECLINED and visit is None and decision is not None:
            declined_on = _years_after(decision.date(), settings.declined_years)
            if declined_on < inactive_on:
                found.append(Due(DECLINED, patient_id, None, declined_on, decision.date()))
                continue
        found.append(Due(INACTIVE, patient_id, None, inactive_on, last.date()))
    # Referrals with no patient of their own: declined, or never decided and left inactive.
    for referral_id, referral_status, received, decided in column_rows(session, referrals, params):
        if referral_status == ReferralStatus.DECLINED and decided is not None:
            since, kind, years = decided.date(), DECLINED, settings.declined_years
        else:
            since, kind, years = received.date(), INACTIVE, settings.inactive_years
        found.append(Due(kind, None, referral_id, _years_after(since, years), since))
    return sorted(found, key=lambda due: (due.due_on, due.patient_id or 0, due.referral_id or 0))


@dataclass(frozen=True)
class Coming:
    """What becomes due in the next days (« Données personnelles »): how many, the first ones."""

    count: int
    first: list[Due]


COMING_LISTED = 20


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
    back (found through the date indexes: a month of activity, not every patient). What is due
    already is not looked for: the daily timer erases it (`dalia retention --dry-run` lists it)."""
    settings = periods or read_periods(session)
    first_day = _day_start(now.date() + timedelta(days=1), now.tzinfo)
    after_last = _day_start((now + timedelta(days=within_days)).date() + timedelta(days=1), now.tzinfo)
    window = {
        "inactive_from": years_before(first_day, settings.inactive_years),
        "inactive_to": years_before(after_last, settings.inactive_years),
        "declined_from": years_before(first_day, settings.declined_years),
        "declined_to": years_before(after_last, settings.declined_years),
    }
    due = _due(session, _DUE_IN_WINDOW, now, within_days, settings, window)
    later = [item for item in due if item.due_on > now.date()]
    return Coming(len(later), later[:limit])


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
