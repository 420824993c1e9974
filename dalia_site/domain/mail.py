"""Emails: queued in the outbox in the caller's transaction, sent after commit, retried later.

Referrers are told only a reference and a decision — never a patient's identity or health data.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from sqlalchemy import select
from sqlalchemy.orm import Session

from dalia_site.models import OutboundEmail
from dalia_site.models.types import utcnow

MAX_ATTEMPTS = 10


def queue(session: Session, to: str, subject: str, body: str) -> OutboundEmail:
    email = OutboundEmail(to=to, subject=subject[:200], body=body)
    session.add(email)
    return email


def send_pending(session: Session, settings: dict, site_name: str, limit: int = 100) -> tuple[int, int]:
    """Send what waits in the outbox; returns (sent, failed). Each email is committed on its own,
    so one that is sent is never sent twice, and one that fails is retried next time."""
    if not settings.get("host") or not settings.get("from_address"):
        return 0, 0
    pending = session.scalars(
        select(OutboundEmail).where(OutboundEmail.sent_at.is_(None),
                                    OutboundEmail.attempts < MAX_ATTEMPTS)
        .order_by(OutboundEmail.id).limit(limit)
    ).all()
    sent = failed = 0
    if not pending:
        return 0, 0
    try:
        smtp = smtplib.SMTP(settings["host"], settings["port"], timeout=10)
        if settings.get("starttls"):
            smtp.starttls(context=ssl.create_default_context())
        if settings.get("username"):
            smtp.login(settings["username"], settings.get("password", ""))
    except (OSError, smtplib.SMTPException) as error:
        for email in pending:
            email.attempts += 1
            email.last_error = f"connexion SMTP : {error}"[:500]
        session.commit()
        return 0, len(pending)
    with smtp:
        for email in pending:
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
                failed += 1
            else:
                email.sent_at = utcnow()
                email.last_error = ""
                sent += 1
            session.commit()
    return sent, failed
