"""Emails: queued in the outbox in the caller's transaction, sent after commit, retried later.

Their bodies are templates (templates/email/*.txt), rendered here without a Flask app: the CLI
sends reminders with none. Referrers are told only a reference and a decision — never a
patient's identity or health data.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from sqlalchemy import func, or_, select, update

from dalia_site.database import DbSession, claim
from dalia_site.domain.sms import SmsError, SmsSender
from dalia_site.domain.text import InvalidValue, normalise_email
from dalia_site.models import OutboundEmail
from dalia_site.models.vocabulary import MessageChannel

MAX_ATTEMPTS = 10

# Plain text, not HTML: nothing to escape. Dates are formatted as the caller gives them (local).
_templates = jinja2.Environment(  # nosec B701
    loader=jinja2.FileSystemLoader(Path(__file__).parents[1] / "templates" / "email"),
    autoescape=False,  # noqa: S701
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)
_templates.filters["date"] = lambda value: f"{value:%d/%m/%Y}"
_templates.filters["time"] = lambda value: f"{value:%Hh%M}"


def render(template: str, **values: Any) -> str:
    """The body of an email from templates/email/`template`."""
    return _templates.get_template(template).render(**values)


def queue(
    session: DbSession, to: str, subject: str, body: str, appointment_id: int | None = None
) -> OutboundEmail | None:
    """The email, or None when `to` is not one valid address (a row stored before addresses were
    checked with email-validator): never two recipients in one string."""
    try:
        to = normalise_email(to)
    except InvalidValue:
        return None
    if not to:
        return None
    email = OutboundEmail(to=to, subject=subject[:200], body=body, appointment_id=appointment_id)
    session.add(email)
    return email


CLAIM_TIMEOUT = timedelta(minutes=10)  # a sender that died releases its emails after this


def _claim(session: DbSession, email_id: int, now: datetime) -> bool:
    claimed = claim(
        session,
        update(OutboundEmail)
        .where(
            OutboundEmail.id == email_id,
            OutboundEmail.sent_at.is_(None),
            or_(OutboundEmail.claimed_at.is_(None), OutboundEmail.claimed_at < now - CLAIM_TIMEOUT),
        )
        .values(claimed_at=now),
    )
    session.commit()
    return claimed


# Reminders reach people between 8 h and 20 h, site time (issue 17), whatever the timer's hour.
WINDOW_OPENS, WINDOW_CLOSES = 8, 20
FIRST_RETRY = timedelta(minutes=5)
LONGEST_WAIT = timedelta(hours=6)


def in_sending_window(moment: datetime, zone: ZoneInfo) -> bool:
    """`moment` is between 8 h and 20 h on the site's clock (DST included: local wall time)."""
    return WINDOW_OPENS <= moment.astimezone(zone).hour < WINDOW_CLOSES


def backoff(attempts: int) -> timedelta:
    """How long a message that failed `attempts` times waits: 5 min, 10, 20… at most 6 h."""
    wait: timedelta = FIRST_RETRY * (2 ** max(attempts - 1, 0))
    return min(wait, LONGEST_WAIT)


def _due(
    session: DbSession, channel: MessageChannel, now: datetime, zone: ZoneInfo | None, limit: int
) -> list[int]:
    """The messages of `channel` to send now, oldest first: not sent, attempts left, past their
    backoff, and — for reminders — within the sending window."""
    query = select(OutboundEmail.id).where(
        OutboundEmail.sent_at.is_(None),
        OutboundEmail.attempts < MAX_ATTEMPTS,
        OutboundEmail.channel == channel,
        or_(OutboundEmail.next_attempt_at.is_(None), OutboundEmail.next_attempt_at <= now),
    )
    if zone is not None and not in_sending_window(now, zone):
        query = query.where(OutboundEmail.appointment_id.is_(None))
    return list(session.scalars(query.order_by(OutboundEmail.id).limit(limit)).all())


def waiting(session: DbSession, channel: MessageChannel | None = None) -> tuple[int, datetime | None]:
    """(messages still to send, when the oldest of them was written): `send-mail`, `check` and
    the admins' banner say so when nothing can send them."""
    query = select(func.count(), func.min(OutboundEmail.created_at)).where(
        OutboundEmail.sent_at.is_(None), OutboundEmail.attempts < MAX_ATTEMPTS
    )
    if channel is not None:
        query = query.where(OutboundEmail.channel == channel)
    count, oldest = session.execute(query).one()
    if oldest is not None and oldest.tzinfo is None:  # an aggregate is not typed as the column
        oldest = oldest.replace(tzinfo=UTC)
    return int(count), oldest


def _connect(settings: Mapping[str, Any]) -> smtplib.SMTP:
    """The SMTP connection: implicit TLS (port 465) when `tls`, else plain (STARTTLS after)."""
    if settings.get("tls"):
        return smtplib.SMTP_SSL(
            settings["host"], settings["port"], timeout=10, context=ssl.create_default_context()
        )
    return smtplib.SMTP(settings["host"], settings["port"], timeout=10)


def _dropped(session: DbSession, message: OutboundEmail, now: datetime) -> bool:
    """A reminder of an appointment cancelled, moved or past is dropped, never sent."""
    if message.appointment_id is None or _still_due(session, message.appointment_id, now):
        return False
    message.attempts = MAX_ATTEMPTS
    message.last_error = "rendez-vous annulé, déplacé ou passé : rappel abandonné"
    message.claimed_at = None
    session.commit()
    return True


def _still_due(session: DbSession, appointment_id: int, now: datetime) -> bool:
    from dalia_site.models import Appointment
    from dalia_site.models.vocabulary import AppointmentStatus

    appointment = session.get(Appointment, appointment_id)
    return (
        appointment is not None
        and appointment.status == AppointmentStatus.BOOKED
        and appointment.starts_at > now
    )


def send_pending(
    session: DbSession,
    settings: Mapping[str, Any],
    site_name: str,
    now: Callable[[], datetime],
    limit: int = 100,
    zone: ZoneInfo | None = None,
) -> tuple[int, int]:
    """Send the emails waiting in the outbox; returns (sent, failed). Each email is claimed, then sent,
    then committed on its own: one that is sent is never sent again, by this run or another; one
    that fails stays in the outbox for the next run. An unreachable server costs no attempt.

    `now` is the caller's clock (dalia_site.clock.now), read at each claim and each sending: a run
    lasts as long as the SMTP server makes it, longer than a claim is held (CLAIM_TIMEOUT).
    A failed email waits before its next attempt (`backoff`); a reminder leaves only within the
    sending window of the site's `zone` (8 h–20 h)."""
    if not settings.get("host") or not settings.get("from_address"):
        return 0, 0
    pending = _due(session, MessageChannel.EMAIL, now(), zone, limit)
    if not pending:
        return 0, 0
    try:
        smtp = _connect(settings)
        if settings.get("starttls") and not settings.get("tls"):
            smtp.starttls(context=ssl.create_default_context())
        if settings.get("username"):
            smtp.login(settings["username"], settings.get("password", ""))
    except (OSError, smtplib.SMTPException) as error:
        session.execute(
            update(OutboundEmail)
            .where(OutboundEmail.id.in_(pending))
            .values(last_error=f"connexion SMTP : {error}"[:500])
            .execution_options(synchronize_session=False)
        )
        session.commit()
        return 0, len(pending)
    sent = failed = 0
    with smtp:
        for email_id in pending:
            if not _claim(session, email_id, now()):
                continue  # another sender has it
            email = session.get(OutboundEmail, email_id)
            if email is None:
                continue  # claimed rows are never deleted; nothing to send if it were
            if _dropped(session, email, now()):
                continue
            message = EmailMessage()
            message["From"] = formataddr((site_name, settings["from_address"]))
            message["To"] = email.to
            message["Subject"] = email.subject
            message["Message-ID"] = make_msgid(domain=settings["from_address"].split("@")[-1])
            message.set_content(email.body)
            email.attempts += 1
            try:
                # The envelope names the one stored address, never what a To header parses to.
                smtp.send_message(message, to_addrs=[email.to])
            except smtplib.SMTPException as error:
                email.last_error = str(error)[:500]
                email.claimed_at = None
                email.next_attempt_at = now() + backoff(email.attempts)
                failed += 1
            else:
                email.sent_at = now()
                email.last_error = ""
                sent += 1
            session.commit()
    return sent, failed


def queue_sms(session: DbSession, to: str, text: str, appointment_id: int | None = None) -> OutboundEmail:
    """An SMS to the E.164 number `to`, in the same outbox as emails (claimed, retried, dropped
    with its appointment the same way)."""
    message = OutboundEmail(
        to=to, subject="SMS", body=text, appointment_id=appointment_id, channel=MessageChannel.SMS
    )
    session.add(message)
    return message


def send_pending_sms(
    session: DbSession,
    sender: SmsSender | None,
    now: Callable[[], datetime],
    zone: ZoneInfo | None = None,
    limit: int = 100,
) -> tuple[int, int, str]:
    """Send the SMS waiting in the outbox through the provider: (sent, failed, why the run
    stopped — a refused key, no credits — or ""). Each is claimed, sent, then committed on its
    own, like an email: never twice. A provider that refuses every message costs no attempt."""
    if sender is None:
        return 0, 0, ""
    sent = failed = 0
    for message_id in _due(session, MessageChannel.SMS, now(), zone, limit):
        if not _claim(session, message_id, now()):
            continue
        message = session.get(OutboundEmail, message_id)
        if message is None or _dropped(session, message, now()):
            continue
        try:
            sender.send(message.to, message.body)
        except SmsError as error:
            message.last_error = str(error)[:500]
            message.claimed_at = None
            if error.stop_run:
                session.commit()
                return sent, failed + 1, str(error)
            message.attempts += 1
            message.next_attempt_at = now() + backoff(message.attempts)
            failed += 1
        else:
            message.attempts += 1
            message.sent_at = now()
            message.last_error = ""
            sent += 1
        session.commit()
    return sent, failed, ""


STALE = timedelta(hours=1)  # a message waiting longer shows on the admins' banner and in `check`


@dataclass(frozen=True)
class OutboxStatus:
    """What waits in the outbox, for the admins' page « Envois » and its banner."""

    waiting: dict[str, int]  # by channel
    oldest: datetime | None
    errors: list[tuple[str, int]]  # the last errors of the waiting messages, most frequent first
    now: datetime

    @property
    def stale(self) -> bool:
        return self.oldest is not None and self.now - self.oldest > STALE


def outbox_status(session: DbSession, *, now: datetime) -> OutboxStatus:
    """The outbox in one query: waiting messages by channel and error, and the oldest of them.
    No recipient is read: the page shows no patient's address or number."""
    waiting: dict[str, int] = dict.fromkeys(MessageChannel, 0)
    errors: dict[str, int] = {}
    oldest: datetime | None = None
    for channel, error, count, first in session.execute(
        select(
            OutboundEmail.channel, OutboundEmail.last_error, func.count(), func.min(OutboundEmail.created_at)
        )
        .where(OutboundEmail.sent_at.is_(None), OutboundEmail.attempts < MAX_ATTEMPTS)
        .group_by(OutboundEmail.channel, OutboundEmail.last_error)
    ):
        waiting[channel] += count
        if error:
            errors[error] = errors.get(error, 0) + count
        if first is not None and first.tzinfo is None:
            first = first.replace(tzinfo=UTC)
        oldest = first if oldest is None or (first is not None and first < oldest) else oldest
    return OutboxStatus(waiting, oldest, sorted(errors.items(), key=lambda e: -e[1])[:10], now)
