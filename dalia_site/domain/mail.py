"""Emails: queued in the outbox in the caller's transaction, sent after commit, retried later.

Referrers are told only a reference and a decision — never a patient's identity or health data.
"""

from __future__ import annotations

import smtplib
import ssl
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from dalia_site.models import OutboundEmail
from dalia_site.models.types import utcnow

MAX_ATTEMPTS = 10


def queue(
    session: Session, to: str, subject: str, body: str, appointment_id: int | None = None
) -> OutboundEmail:
    email = OutboundEmail(to=to, subject=subject[:200], body=body, appointment_id=appointment_id)
    session.add(email)
    return email


CLAIM_TIMEOUT = timedelta(minutes=10)  # a sender that died releases its emails after this


def _claim(session: Session, email_id: int, now) -> bool:
    claimed = session.execute(
        update(OutboundEmail)
        .where(
            OutboundEmail.id == email_id,
            OutboundEmail.sent_at.is_(None),
            or_(OutboundEmail.claimed_at.is_(None), OutboundEmail.claimed_at < now - CLAIM_TIMEOUT),
        )
        .values(claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return claimed.rowcount == 1


def _still_due(session: Session, appointment_id: int) -> bool:
    from dalia_site.models import Appointment

    appointment = session.get(Appointment, appointment_id)
    return appointment is not None and appointment.status == "booked" and appointment.starts_at > utcnow()


def send_pending(session: Session, settings: dict, site_name: str, limit: int = 100) -> tuple[int, int]:
    """Send what waits in the outbox; returns (sent, failed). Each email is claimed, then sent,
    then committed on its own: one that is sent is never sent again, by this run or another; one
    that fails stays in the outbox for the next run. An unreachable server costs no attempt."""
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
            if not _claim(session, email_id, utcnow()):
                continue  # another sender has it
            email = session.get(OutboundEmail, email_id)
            if email.appointment_id is not None and not _still_due(session, email.appointment_id):
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
                smtp.send_message(message)
            except smtplib.SMTPException as error:
                email.last_error = str(error)[:500]
                email.claimed_at = None
                failed += 1
            else:
                email.sent_at = utcnow()
                email.last_error = ""
                sent += 1
            session.commit()
    return sent, failed
