"""What `dalia check` says about the messages a site sends (issue 17: nothing leaves silently):
the SMTP server and the SMS provider set in site.toml, each tried for real, and the messages that
have waited in the outbox for over an hour."""

from __future__ import annotations

import smtplib
from datetime import datetime, timedelta

from dalia_site.database import SiteDatabase
from dalia_site.domain import centre, mail, sms

STALE = timedelta(hours=1)  # a message waiting longer is reported (and shown to admins)


def _smtp_problem(settings: dict) -> str:
    """'' when the SMTP server answers (and accepts the login), else why not."""
    if not settings.get("from_address"):
        return "site.toml : [mail] from_address (adresse d'expéditeur) absent"
    try:
        with mail._connect(settings) as smtp:  # noqa: SLF001 — the one way the outbox connects
            if settings.get("starttls") and not settings.get("tls"):
                import ssl

                smtp.starttls(context=ssl.create_default_context())
            if settings.get("username"):
                smtp.login(settings["username"], settings.get("password", ""))
    except (OSError, smtplib.SMTPException) as error:
        return f"serveur SMTP {settings['host']}:{settings['port']} : {error}"
    return ""


def outbox_lines(opened: SiteDatabase, now: datetime) -> tuple[list[str], list[str]]:
    """(problems: `check` exits non-zero, details to complete) about sending email and SMS."""
    problems: list[str] = []
    to_complete: list[str] = []
    smtp_ready = bool(opened.mail.get("host"))
    if smtp_ready and (why := _smtp_problem(opened.mail)):
        problems.append(why)
        smtp_ready = False
    lacks = sms.missing(opened.sms)
    problems += lacks
    sender = sms.sender_from(opened.sms)
    if sender is not None:
        try:
            sender.probe()
        except sms.SmsError as error:
            problems.append(str(error))
            sender = None
    settings = centre.load(opened.session)
    reminding = settings.remind_day_before or settings.remind_two_days_before
    if not opened.mail.get("host") and not opened.sms.get("provider"):
        line = (
            "ni serveur SMTP ([mail] de site.toml) ni fournisseur SMS ([sms]) : "
            "aucun e-mail ni SMS ne peut partir"
        )
        if reminding:
            problems.append(f"{line} — les rappels de rendez-vous non plus")
        else:
            to_complete.append(line)
    elif not opened.mail.get("host"):
        to_complete.append(
            "site.toml : [mail] host à compléter : les e-mails (référents, rappels par e-mail) attendent"
        )
    count, oldest = mail.waiting(opened.session)
    if count and oldest is not None and now - oldest > STALE:
        problems.append(
            f"{count} message(s) en attente d'envoi, le plus ancien depuis le {oldest:%d/%m/%Y %H:%M} (UTC)"
        )
    return problems, to_complete
