"""The second factor of staff logins: TOTP (RFC 6238, an authenticator app) and recovery codes.

Health data is reached with two factors (the French reference for health professionals'
authentication): admins always, every role when the site says so (`[security]
second_factor_for_all`, on for sites created with --domain). Enrolment shows a QR code drawn
server-side as SVG (segno: no script, fits the CSP) and is confirmed by a first code; it gives 10
single-use recovery codes, stored as SHA-256 hashes (60 random bits each). An admin may reset a
member's second factor (audited); the member enrols again at the next login.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

import pyotp
import segno
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from dalia_site.database import DbSession, claim
from dalia_site.domain import audit
from dalia_site.models import RecoveryCode, StaffUser
from dalia_site.models.vocabulary import Role

RECOVERY_CODES = 10
ISSUER = "DALIA"
_CODE_RE = re.compile(r"\d{6}")
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud, typed back


def required(user: StaffUser, for_all: bool) -> bool:
    """Whether this account must log in with a second factor."""
    return user.role == Role.ADMIN or for_all


def asked(user: StaffUser, for_all: bool) -> bool:
    """Whether the login asks for a code: required, or enrolled of one's own will."""
    return required(user, for_all) or user.has_second_factor


def start_enrolment(user: StaffUser) -> str:
    """A new secret for an account that has no confirmed second factor (kept until confirmed)."""
    if user.has_second_factor:
        raise ValueError("second factor already enrolled")
    if not user.totp_secret:
        user.totp_secret = pyotp.random_base32()
    return user.totp_secret


def provisioning_uri(user: StaffUser, site_name: str) -> str:
    assert user.totp_secret
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=f"{ISSUER} {site_name}")


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as inline SVG markup (segno's own output: no user text in it)."""
    return segno.make(uri, error="m").svg_inline(scale=5, title="Code QR à scanner avec l'application")


def spaced_secret(secret: str) -> str:
    """« ABCD EFGH … »: the secret to type by hand when the QR code cannot be scanned."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _clean(code: str) -> str:
    return re.sub(r"[\s-]", "", code).lower()


def _hash(code: str) -> str:
    return hashlib.sha256(_clean(code).encode()).hexdigest()


def _totp_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code `code` is, within one step either side of `now` (clock drift)."""
    code = _clean(code)
    if not _CODE_RE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _totp_ok(session: DbSession, user: StaffUser, code: str, now: datetime) -> bool:
    """A right code of a time step later than the last one accepted for this account: a code is
    accepted once (RFC 6238 5.2). The step is claimed by one conditional UPDATE in the login's
    transaction, so two requests racing with the same code cannot both pass."""
    step = _totp_step(user.totp_secret or "", code, now)
    if step is None:
        return False
    if not claim(
        session,
        update(StaffUser)
        .where(
            StaffUser.id == user.id,
            or_(StaffUser.totp_last_step.is_(None), StaffUser.totp_last_step < step),
        )
        .values(totp_last_step=step),
    ):
        return False
    set_committed_value(user, "totp_last_step", step)
    return True


def _new_recovery_codes(session: DbSession, user: StaffUser) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [
        "-".join("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(4)) for _ in range(3))
        for _ in range(RECOVERY_CODES)
    ]
    session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash(code)) for code in codes)
    return codes


def confirm_enrolment(session: DbSession, user: StaffUser, code: str, *, now: datetime) -> list[str] | None:
    """The first code from the app confirms the enrolment: returns the recovery codes to show
    once, or None when the code is wrong."""
    if user.has_second_factor or not user.totp_secret or not _totp_ok(session, user, code, now):
        return None
    user.totp_confirmed_at = now
    codes = _new_recovery_codes(session, user)
    audit.record(
        session, user, "auth.second_factor_enrolled", "staff_user", user.id, "Double authentification activée"
    )
    return codes


def verify(session: DbSession, user: StaffUser, code: str, *, now: datetime) -> bool:
    """A code of the app, or one of the unused recovery codes (then used up, and traced)."""
    if not user.has_second_factor or not user.totp_secret:
        return False
    if _totp_ok(session, user, code, now):
        return True
    recovery = session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash(code),
            RecoveryCode.used_at.is_(None),
        )
    )
    if recovery is None:
        return False
    recovery.used_at = now
    left = session.scalars(
        select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).all()
    audit.record(
        session,
        user,
        "auth.recovery_code_used",
        "staff_user",
        user.id,
        f"Connexion avec un code de secours ({len(left)} restants)",
    )
    return True


def reset(session: DbSession, actor: StaffUser, user: StaffUser) -> None:
    """An admin removes a member's second factor (phone lost): they enrol again at next login;
    their open sessions end."""
    user.totp_secret = None
    user.totp_confirmed_at = None
    user.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    user.end_sessions()
    audit.record(
        session,
        actor,
        "staff.second_factor_reset",
        "staff_user",
        user.id,
        f"Double authentification de {user.name} réinitialisée",
    )
