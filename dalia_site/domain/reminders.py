"""Appointment reminders and the patient's answers (issue 17).

Reminders leave two days and/or one day before the visit (the centre's setting), by SMS to a
mobile or by email, as the patient chose (« aucun rappel » is their opt-out), and only between
8 h and 20 h site time. They hold no health information: the centre, the date and time, the
address, the phone, and a private link to the page « Votre rendez-vous » where the patient
confirms or cancels. The link's token is stored as its SHA-256 only, for one appointment, and
works until the visit starts.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, bindparam, case, func, or_, select, update
from sqlalchemy.orm import joinedload, selectinload

from dalia_site.database import DbSession, claim
from dalia_site.domain import audit, booking, mail, phones, rights, tokens
from dalia_site.domain.centre import Centre
from dalia_site.domain.partners import clean_email
from dalia_site.domain.text import Collector, FieldError, choice, format_phone
from dalia_site.models import (
    Appointment,
    AppointmentClinician,
    OutboundEmail,
    Patient,
    PatientLink,
    Referral,
    StaffUser,
)
from dalia_site.models.types import UTCDateTime
from dalia_site.models.vocabulary import AppointmentStatus, MessageChannel, Purpose, ReminderChannel

LINK_PATH = "/rdv/"  # the public blueprint's URL (patient_answers): the CLI has no url_for
REASON_LENGTH = 200


def days_before(centre: Centre) -> list[int]:
    """The days before a visit its reminders leave: [2, 1], [2], [1] or []."""
    return [days for days, on in ((2, centre.remind_two_days_before), (1, centre.remind_day_before)) if on]


def channel_for(patient: Patient, sms_ready: bool) -> ReminderChannel:
    """How this patient's reminder leaves: their choice if it can reach them (an SMS needs a
    mobile and a site with an SMS provider; an email an address), else email when they have one
    and chose SMS on a site without SMS; else none."""
    if not rights.may(patient, Purpose.REMINDERS):  # their objection (or erasure) wins
        return ReminderChannel.NONE
    chosen = patient.reminder_channel
    if chosen == ReminderChannel.SMS and sms_ready and phones.is_mobile(patient.phone):
        return ReminderChannel.SMS
    if chosen in (ReminderChannel.SMS, ReminderChannel.EMAIL) and patient.email:
        return ReminderChannel.EMAIL
    return ReminderChannel.NONE


def default_channel(phone: str, email: str) -> ReminderChannel:
    """What intake proposes: SMS to a mobile, else email, else none."""
    if phones.is_mobile(phone):
        return ReminderChannel.SMS
    return ReminderChannel.EMAIL if email else ReminderChannel.NONE


def proposed_channel(chosen: ReminderChannel | None, phone: str, email: str) -> ReminderChannel:
    """The channel a patient starts with: the one chosen at intake (the assistant's entry form)
    when it can reach them, else the automatic proposal (default_channel)."""
    if chosen is not None and channel_problem(chosen, phone, email) is None:
        return chosen
    return default_channel(phone, email)


def channel_problem(
    channel: ReminderChannel, phone: str, email: str, where: str = "sur la fiche"
) -> str | None:
    """Why `channel` cannot reach these contact details (French), or None."""
    if channel == ReminderChannel.SMS and not phones.is_mobile(phone):
        return f"Un SMS demande un numéro de portable (06, 07) {where}."
    if channel == ReminderChannel.EMAIL and not email:
        return f"Un rappel par e-mail demande une adresse e-mail {where}."
    return None


def issue_link(session: DbSession, appointment: Appointment) -> str:
    """A new private token for `appointment` (shown once: only its hash is kept)."""
    token, digest = tokens.new_token()
    session.add(PatientLink(appointment_id=appointment.id, token_hash=digest))
    return token


def link_url(base_url: str, token: str) -> str:
    """The link a reminder or the convocation carries; '' when the site has no public address."""
    return f"{base_url.rstrip('/')}{LINK_PATH}{token}" if base_url else ""


def _due(session: DbSession, days: int, zone: ZoneInfo, now: datetime) -> Iterable[Appointment]:
    today = now.astimezone(zone).date()
    start = datetime.combine(today + timedelta(days=days), time(), tzinfo=zone)
    end = datetime.combine(today + timedelta(days=days + 1), time(), tzinfo=zone)
    midnight = datetime.combine(today, time(), tzinfo=zone)
    return session.scalars(
        select(Appointment)
        .where(
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.starts_at >= max(start, now),
            Appointment.starts_at < end,
            # One reminder per day before the visit: none queued yet today.
            or_(Appointment.reminder_queued_at.is_(None), Appointment.reminder_queued_at < midnight),
        )
        .options(
            selectinload(Appointment.patient),
            selectinload(Appointment.clinicians).selectinload(AppointmentClinician.member),
        )
        .order_by(Appointment.starts_at, Appointment.id)
    )


def queue_reminders(
    session: DbSession,
    centre: Centre,
    zone: ZoneInfo,
    *,
    now: datetime,
    sms_ready: bool,
    base_url: str = "",
) -> dict[ReminderChannel, int]:
    """Queue the reminders due now, each appointment once a day (marked in the same transaction
    as its message enters the outbox); outside 8 h–20 h site time, none. Counts by channel."""
    counts = {ReminderChannel.SMS: 0, ReminderChannel.EMAIL: 0}
    if not mail.in_sending_window(now, zone):
        return counts
    midnight = datetime.combine(now.astimezone(zone).date(), time(), tzinfo=zone)
    for days in days_before(centre):
        for appointment in _due(session, days, zone, now):
            channel = channel_for(appointment.patient, sms_ready)
            if channel == ReminderChannel.NONE:
                continue
            # Claimed first: a second run at the same moment finds it taken and queues nothing.
            if not claim(
                session,
                update(Appointment)
                .where(
                    Appointment.id == appointment.id,
                    or_(Appointment.reminder_queued_at.is_(None), Appointment.reminder_queued_at < midnight),
                )
                .values(reminder_queued_at=now),
            ):
                continue
            link = link_url(base_url, issue_link(session, appointment))
            _queue_one(session, appointment, channel, centre, zone, link, tomorrow=days == 1)
            counts[channel] += 1
    return counts


def _queue_one(
    session: DbSession,
    appointment: Appointment,
    channel: ReminderChannel,
    centre: Centre,
    zone: ZoneInfo,
    link: str,
    *,
    tomorrow: bool,
) -> None:
    values = {
        "tomorrow": tomorrow,
        "site_name": centre.display_name,
        "starts_at": appointment.starts_at.astimezone(zone),
        "address": centre.address,
        "phone": format_phone(centre.phone),
        "link": link,
    }
    patient = appointment.patient
    if channel == ReminderChannel.SMS:
        mail.queue_sms(
            session,
            patient.phone,
            mail.render("appointment_reminder_sms.txt", **values).strip(),
            appointment.id,
        )
    else:
        mail.queue(
            session,
            patient.email,
            f"{centre.display_name} — rappel de votre rendez-vous "
            + ("demain" if tomorrow else f"du {values['starts_at']:%d/%m/%Y}"),
            mail.render(
                "appointment_reminder.txt",
                clinicians=", ".join(c.member.name for c in appointment.clinicians),
                what_to_bring=centre.what_to_bring,
                **values,
            ),
            appointment_id=appointment.id,
        )


# --- A way to reach every accepted patient -----------------------------------------------------------

UNREACHABLE = (
    "Pour accepter, indiquez au moins un moyen de joindre le patient (téléphone, e-mail ou "
    "adresse), ou cochez « joignable par le référent » sur la décision de l'adressage."
)
NO_REFERRER_CONTACT = (
    "Le référent n'a laissé ni téléphone ni e-mail : indiquez un moyen de joindre le patient."
)


def ensure_reachable(patient: Patient, referral: Referral, reach: Mapping[str, object]) -> None:
    """At the acceptance of `referral`: the phone or email the assistant typed join the file, and
    the patient must then be reachable — a phone, an email or an address of their own, or
    (explicitly) through the referrer, who left a phone or an email. The reminder channel chosen
    at intake is carried to the patient; without one, it follows what was given (SMS to a mobile,
    else email)."""
    with Collector() as check:
        phone = check("phone", phones.normalise, str(reach.get("phone") or ""))
        email = check("email", clean_email, "email", str(reach.get("email") or ""))
    if phone:
        patient.phone = phone
    if email:
        patient.email = email
    via_referrer = bool(reach.get("via_referrer"))
    if not (patient.phone or patient.email or patient.address):
        if not via_referrer:
            raise FieldError("reach", UNREACHABLE)
        if not (referral.referrer_phone or referral.referrer_email):
            raise FieldError("reach", NO_REFERRER_CONTACT)
        patient.reachable_via_referrer = True
    elif patient.phone or patient.email:
        patient.reachable_via_referrer = False
    if referral.reminder_channel is not None:  # chosen at intake: carried to the patient
        patient.reminder_channel = proposed_channel(referral.reminder_channel, patient.phone, patient.email)
    elif (phone or email) and patient.reminder_channel == ReminderChannel.NONE:
        patient.reminder_channel = default_channel(patient.phone, patient.email)


STOP_RECORDED = "oui — STOP du patient"
OBJECTED = (
    "Le patient s'est opposé aux rappels : levez d'abord son opposition (« Modifier » sur la fiche) "
    "s'il les accepte de nouveau."
)


def set_channel(session: DbSession, actor: StaffUser | None, patient: Patient, value: str) -> bool:
    """The reminder channel chosen on the file (audited); FieldError when it cannot reach them, or
    when the patient objected to reminders (lifted on the file's « Modifier », with its history)."""
    channel = choice("reminder_channel", value, ReminderChannel, "Choisissez SMS, e-mail ou aucun rappel.")
    if channel != ReminderChannel.NONE and not rights.may(patient, Purpose.REMINDERS):
        raise FieldError("reminder_channel", OBJECTED)
    problem = channel_problem(channel, patient.phone, patient.email)
    if problem:
        raise FieldError("reminder_channel", problem)
    if channel == patient.reminder_channel:
        return False
    audit.record(
        session,
        actor,
        "patient.update",
        "patient",
        patient.id,
        f"Rappels : {patient.reminder_channel.label} → {channel.label}",
    )
    rights.record_rectifications(
        session, actor, patient, {"rappels": (patient.reminder_channel.label, channel.label)}
    )
    patient.reminder_channel = channel
    return True


# --- The patient's page « Votre rendez-vous » ------------------------------------------------------


def find_link(session: DbSession, token: str) -> PatientLink | None:
    """The link of `token` with its appointment and patient (one query), or None."""
    return session.scalars(
        select(PatientLink)
        .where(PatientLink.token_hash == tokens.token_hash(token))
        .options(joinedload(PatientLink.appointment).joinedload(Appointment.patient))
    ).first()


def state(appointment: Appointment, now: datetime) -> str:
    """What the page can offer: "open" (confirm or cancel), "cancelled", or "past" (the visit
    has started or was marked)."""
    if appointment.status == AppointmentStatus.CANCELLED:
        return "cancelled"
    if appointment.status != AppointmentStatus.BOOKED or appointment.starts_at <= now:
        return "past"
    return "open"


class Closed(FieldError):
    """The appointment can no longer be answered from the link (past, or already cancelled)."""


def _check_open(appointment: Appointment, now: datetime) -> None:
    current = state(appointment, now)
    if current == "cancelled":
        raise Closed("answer", "Ce rendez-vous est déjà annulé. Pour en reprendre un, appelez le centre.")
    if current == "past":
        raise Closed("answer", "Ce rendez-vous est passé : ce lien ne sert plus.")


def record_view(session: DbSession, appointment: Appointment, ip: str | None) -> None:
    audit.record(
        session,
        None,
        "patient_link.view",
        "patient",
        appointment.patient_id,
        f"Page « Votre rendez-vous » ouverte (rendez-vous n° {appointment.id})",
        ip=ip,
    )


def confirm(session: DbSession, appointment: Appointment, ip: str | None, *, now: datetime) -> None:
    booking.lock_appointment(session, appointment)
    _check_open(appointment, now)
    appointment.confirmed_by_patient_at = now
    audit.record(
        session,
        None,
        "patient_link.confirm",
        "patient",
        appointment.patient_id,
        f"Rendez-vous n° {appointment.id} confirmé par le patient",
        ip=ip,
    )


def cancel(
    session: DbSession, appointment: Appointment, reason: str, ip: str | None, *, now: datetime
) -> None:
    """The patient cannot come: the appointment is cancelled by the desk's own function (so what
    a cancellation frees or tells applies), marked as the patient's answer."""
    reason = " ".join(reason.split())
    if len(reason) > REASON_LENGTH:
        raise FieldError("reason", f"{REASON_LENGTH} caractères au plus.")
    booking.lock_appointment(session, appointment)
    _check_open(appointment, now)
    booking.cancel(
        session,
        None,
        appointment,
        "Annulé par le patient (lien du rappel)" + (f" : {reason}" if reason else ""),
    )
    appointment.cancelled_by_patient_at = now
    audit.record(
        session,
        None,
        "patient_link.cancel",
        "patient",
        appointment.patient_id,
        f"Rendez-vous n° {appointment.id} annulé par le patient",
        ip=ip,
    )


def stop_reminders(session: DbSession, patient: Patient, ip: str | None) -> bool:
    """The patient's STOP is their objection to reminders (rights.may, which the reminder selection
    asks): recorded on the file with its history and the audit trail, the channel set to « Aucun
    rappel ». False if they had already objected."""
    field = rights.OBJECTION_FIELDS[Purpose.REMINDERS]
    if getattr(patient, field):
        return False
    setattr(patient, field, True)
    changes: dict[str, tuple[object, object]] = {rights.OBJECTION_LABELS[field]: (False, STOP_RECORDED)}
    if patient.reminder_channel != ReminderChannel.NONE:
        changes["rappels"] = (patient.reminder_channel.label, ReminderChannel.NONE.label)
        patient.reminder_channel = ReminderChannel.NONE
    rights.record_rectifications(session, None, patient, changes)
    audit.record(
        session,
        None,
        "patient_link.stop",
        "patient",
        patient.id,
        "Opposition aux rappels enregistrée : STOP du patient sur « Votre rendez-vous »",
        ip=ip,
    )
    return True


# --- The activity figures (issue 17) ------------------------------------------------------------


@dataclass
class ReminderFigures:
    """Reminders sent in the period by channel, the patients' answers, and the no-show rate of
    booked visits with and without a reminder that left."""

    sent: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MessageChannel, 0))
    confirmed_by_patient: int = 0
    cancelled_by_patient: int = 0
    # (no-shows, visits held) of booked visits, with a reminder sent / without.
    with_reminder: tuple[int, int] = (0, 0)
    without_reminder: tuple[int, int] = (0, 0)

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())

    @staticmethod
    def _rate(pair: tuple[int, int]) -> float | None:
        missed, held = pair
        return missed / (missed + held) if missed + held else None

    @property
    def no_show_rate_with_reminder(self) -> float | None:
        return self._rate(self.with_reminder)

    @property
    def no_show_rate_without_reminder(self) -> float | None:
        return self._rate(self.without_reminder)


@functools.cache
def figures_row() -> Select[*tuple[Any, ...]]:
    """The period's reminder figures as one row, built once (the period's bounds bound as :start
    and :end): the reminders that left in [start, end) by channel, and the booked visits of the
    period — missed or held, reminded or not — with the patients' answers. (The activity figures
    read its first columns, sent_columns, and the visits' from their days: domain/visit_days.py.)"""
    start, end = bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())

    # A reminder left for the visit: looked up by the index on the messages' appointment (0022),
    # once per visit missed or held, for the period's visits only — not every message ever sent,
    # grouped, on each report. Those without one are the others (figures_from).
    reminded = (
        select(OutboundEmail.id)
        .where(OutboundEmail.appointment_id == Appointment.id, OutboundEmail.sent_at.is_not(None))
        .exists()
    )

    def visits(status: AppointmentStatus, *reminded_too: Any) -> Any:
        return func.coalesce(
            func.sum(case((and_(Appointment.status == status, *reminded_too), 1), else_=0)), 0
        )

    return (
        select(
            *sent_columns(),
            func.count(Appointment.confirmed_by_patient_at).label("confirmed_by_patient"),
            func.count(Appointment.cancelled_by_patient_at).label("cancelled_by_patient"),
            visits(AppointmentStatus.NO_SHOW, reminded).label("missed_reminded"),
            visits(AppointmentStatus.HONOURED, reminded).label("held_reminded"),
            visits(AppointmentStatus.NO_SHOW).label("missed"),
            visits(AppointmentStatus.HONOURED).label("held"),
        )
        .select_from(Appointment)
        .where(Appointment.starts_at >= start, Appointment.starts_at < end, Appointment.walk_in.is_(False))
    )


def sent_columns() -> list[Any]:
    """The reminders that left in [:start, :end) by channel (SMS, e-mail): two scalar subqueries,
    figures_row's first columns (the activity figures read them within another statement)."""
    start, end = bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())

    def sent(channel: MessageChannel) -> Any:
        return (
            select(func.count())
            .where(
                OutboundEmail.appointment_id.is_not(None),
                OutboundEmail.channel == channel,
                OutboundEmail.sent_at >= start,
                OutboundEmail.sent_at < end,
            )
            .scalar_subquery()
        )

    return [
        sent(MessageChannel.SMS).label("reminders_sms"),
        sent(MessageChannel.EMAIL).label("reminders_email"),
    ]


def figures_from(row: Iterable[Any]) -> ReminderFigures:
    """ReminderFigures from figures_row's values."""
    sms, email, confirmed, cancelled, missed_reminded, held_reminded, missed, held = (
        int(n or 0) for n in row
    )
    return ReminderFigures(
        sent={MessageChannel.EMAIL: email, MessageChannel.SMS: sms},
        confirmed_by_patient=confirmed,
        cancelled_by_patient=cancelled,
        with_reminder=(missed_reminded, held_reminded),
        without_reminder=(missed - missed_reminded, held - held_reminded),
    )


def figures(session: DbSession, start: datetime, end: datetime) -> ReminderFigures:
    """The period's reminder figures in one query (figures_row)."""
    return figures_from(session.execute(figures_row(), {"start": start, "end": end}).one())
