"""Emails: queued in the outbox in the caller's transaction, sent after commit, retried later.

Their bodies are templates (templates/email/*.txt), rendered here without a Flask app: the CLI
sends reminders with none. Referrers are told only a reference and a decision — never a
patient's identity or health data.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Any, cast

import jinja2
from sqlalchemy import CursorResult, or_, select, update

from dalia_site.database import DbSession
from dalia_site.domain.text import InvalidValue, normalise_email
from dalia_site.models import OutboundEmail

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
    # An UPDATE gives a CursorResult (rowcount); scoped_session.execute is typed as any Result.
    claimed = cast(
        "CursorResult[Any]",
        session.execute(
            update(OutboundEmail)
            .where(
                OutboundEmail.id == email_id,
                OutboundEmail.sent_at.is_(None),
                or_(OutboundEmail.claimed_at.is_(None), OutboundEmail.claimed_at < now - CLAIM_TIMEOUT),
            )
            .values(claimed_at=now)
            .execution_options(synchronize_session=False)
        ),
    )
    session.commit()
    return claimed.rowcount == 1


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
) -> tuple[int, int]:
    """Send what waits in the outbox; returns (sent, failed). Each email is claimed, then sent,
    then committed on its own: one that is sent is never sent again, by this run or another; one
    that fails stays in the outbox for the next run. An unreachable server costs no attempt.

    `now` is the caller's clock (dalia_site.clock.now), read at each claim and each sending: a run
    lasts as long as the SMTP server makes it, longer than a claim is held (CLAIM_TIMEOUT)."""
    if not settings.get("host") or not settings.get("from_address"):
        return 0, 0
    pending = session.scalars(
        select(OutboundEmail.id)
        .where(OutboundEmail.sent_at.is_(None), OutboundEmail.attempts < MAX_ATTEMPTS)
        .order_by(OutboundEmail.id)
        .limit(limit)
    ).all()
    if not pending:
        return 0, 0
    try:
        smtp = smtplib.SMTP(settings["host"], settings["port"], timeout=10)
        if settings.get("starttls"):
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
            if email.appointment_id is not None and not _still_due(session, email.appointment_id, now()):
                email.attempts = MAX_ATTEMPTS  # a reminder of a cancelled or past appointment
                email.last_error = "rendez-vous annulé, déplacé ou passé : rappel abandonné"
                email.claimed_at = None
                session.commit()
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
                failed += 1
            else:
                email.sent_at = now()
                email.last_error = ""
                sent += 1
            session.commit()
    return sent, failed
