"""Staff accounts: login with throttling, creation, role and status changes, one-time passwords.

The rule that a site always keeps an active admin lives here and nowhere else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import delete, func, select, update

from dalia_site.database import DbSession
from dalia_site.domain import audit, mail, text
from dalia_site.domain.passwords import hash_password, password_problems, verify_password
from dalia_site.models import CentreSettings, LoginAttempt, SiteIdentity, StaffUser, TeamMember
from dalia_site.models.vocabulary import Role

# Failures are counted per (account typed, address): a stranger who guesses an email slows down
# only themselves, never the real user at another address. Past MAX_FAILURES, each further
# attempt waits twice as long as the previous one (30 s, 1 min, 2 min… at most 15 min); there is
# no hard lock. Whoever tries many accounts from one address meets the address limit of the
# login view (rate_limits), which writes nothing once reached.
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(hours=1)
FIRST_DELAY = timedelta(seconds=30)
LONGEST_DELAY = timedelta(minutes=15)
# The account's owner is told by email when this many failures on their account (from any
# address) fall within FAILURE_WINDOW.
WARN_AFTER = 10


class AccountError(ValueError):
    """A refused account operation; the message is shown to the user as is (French)."""


def throttle_key(email: str, ip: str | None = None) -> str:
    """Login attempts are counted per typed email and address, kept only as a hash: a password
    typed in the email box by mistake is never stored."""
    return hashlib.sha256(f"{text.email_key(email)}\n{ip or '?'}".encode()).hexdigest()


@dataclass(frozen=True)
class LoginResult:
    user: StaffUser | None
    throttled: bool = False
    retry_after: timedelta | None = None
    warn_owner: bool = False  # the failures on this account just reached WARN_AFTER

    @property
    def ok(self) -> bool:
        return self.user is not None


def throttle_wait(failure_times: list[datetime], now: datetime) -> timedelta | None:
    """How long to wait before the next attempt, or None when one is allowed now.

    Up to MAX_FAILURES failures within FAILURE_WINDOW: none. Beyond, the wait after the latest
    failure doubles with each one (FIRST_DELAY, then twice…), at most LONGEST_DELAY.
    """
    recent = sorted(t for t in failure_times if now - t < FAILURE_WINDOW)
    if len(recent) < MAX_FAILURES:
        return None
    delay = min(FIRST_DELAY * 2 ** (len(recent) - MAX_FAILURES), LONGEST_DELAY)
    wait = recent[-1] + delay - now
    return wait if wait > timedelta(0) else None


def _recent_failures(session: DbSession, key: str, now: datetime) -> list[datetime]:
    return list(
        session.scalars(
            select(LoginAttempt.at).where(
                LoginAttempt.email == key,
                LoginAttempt.succeeded.is_(False),
                LoginAttempt.at > now - FAILURE_WINDOW,
            )
        ).all()
    )


def check_throttle(session: DbSession, email: str, ip: str | None, *, now: datetime) -> timedelta | None:
    """The wait before `email` may be tried again from `ip` (None: now). Reads only."""
    return throttle_wait(_recent_failures(session, throttle_key(email, ip), now), now)


def record_failure(
    session: DbSession, email: str, user: StaffUser | None, ip: str | None, *, now: datetime, zone: tzinfo
) -> bool:
    """Count a failed password or second-factor code; True when the account's owner should now
    be told (WARN_AFTER failures on the account within the window, whatever the addresses), by
    an email giving the time of the last one in the site's timezone `zone`."""
    session.add(
        LoginAttempt(
            email=throttle_key(email, ip), at=now, succeeded=False, user_id=user.id if user else None
        )
    )
    if user is None:
        return False
    session.flush()
    on_account = session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(
            LoginAttempt.user_id == user.id,
            LoginAttempt.succeeded.is_(False),
            LoginAttempt.at > now - FAILURE_WINDOW,
        )
    )
    if on_account != WARN_AFTER:
        return False
    mail.queue(
        session,
        user.email,
        "DALIA — tentatives de connexion refusées sur votre compte",
        mail.render(
            "login_failures.txt", name=user.name, email=user.email, count=WARN_AFTER, at=now.astimezone(zone)
        ),
    )
    return True


def authenticate(
    session: DbSession, email: str, password: str, ip: str | None = None, *, now: datetime, zone: tzinfo
) -> LoginResult:
    """Check a login. Throttling is keyed on the email typed (and the address), whether or not an
    account has it, so neither the message nor the throttling tells which emails exist."""
    key = throttle_key(email, ip)
    email = text.email_key(email)[:254]
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - timedelta(days=1)))
    wait = throttle_wait(_recent_failures(session, key, now), now)
    if wait is not None:
        return LoginResult(user=None, throttled=True, retry_after=wait)

    user = session.scalar(select(StaffUser).where(StaffUser.email == email))
    valid = verify_password(user.password_hash if user else None, password)
    ok = bool(user and valid and user.active)
    if ok and user is not None:
        session.add(LoginAttempt(email=key, at=now, succeeded=True, user_id=user.id))
        return LoginResult(user=user)
    warn = record_failure(session, email, user, ip, now=now, zone=zone)
    # Whoever failed is unknown: the event names the account tried (never what was typed).
    audit.record(
        session,
        None,
        "auth.login_failed",
        "staff_user",
        user.id if user else None,
        f"Échec de connexion sur le compte {user.email}" if user else "Échec de connexion : adresse inconnue",
        ip=ip,
    )
    return LoginResult(user=None, warn_owner=warn)


def complete_login(session: DbSession, user: StaffUser, ip: str | None = None, *, now: datetime) -> None:
    """The login is complete (password, and second factor where one is asked): traced."""
    user.last_login_at = now
    audit.record(session, user, "auth.login", "staff_user", user.id, "Connexion", ip=ip)


def clear_throttle(session: DbSession, actor: StaffUser, user: StaffUser) -> int:
    """An admin lets a member try again at once: their failures are forgotten (audited)."""
    cleared = session.execute(
        delete(LoginAttempt).where(LoginAttempt.user_id == user.id, LoginAttempt.succeeded.is_(False))
    )
    count = int(getattr(cleared, "rowcount", 0) or 0)
    audit.record(
        session,
        actor,
        "staff.throttle_cleared",
        "staff_user",
        user.id,
        f"Tentatives de connexion échouées effacées ({count})",
    )
    return count


def _active_admin_count(session: DbSession) -> int:
    # FOR UPDATE (PostgreSQL) holds the admin rows until commit, so two admins stepping down at
    # the same moment cannot both see the other one still there. SQLite serialises writers.
    admins = session.scalars(
        select(StaffUser.id).where(StaffUser.role == Role.ADMIN, StaffUser.active.is_(True)).with_for_update()
    ).all()
    return len(admins)


def _check_keeps_an_admin(session: DbSession, user: StaffUser, role: Role, active: bool) -> None:
    stays_admin = role == Role.ADMIN and active
    if user.role == Role.ADMIN and user.active and not stays_admin:
        if _active_admin_count(session) <= 1:
            raise AccountError(
                "Impossible : c'est le dernier compte administrateur actif du site. "
                "Nommez d'abord un autre administrateur."
            )


def _checked_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise AccountError("Le nom est obligatoire.")
    if len(name) > 120:
        raise AccountError("Le nom est trop long (120 caractères au plus).")
    return name


def _site_words(session: DbSession) -> list[str]:
    """The site's own names (slug, name as shown): zxcvbn's context for a new password."""
    slug = session.scalar(select(SiteIdentity.slug).limit(1)) or ""
    shown = session.scalar(select(CentreSettings.display_name).limit(1)) or ""
    return [slug, *slug.split("-"), *shown.split()]


def _check_new_password(session: DbSession, password: str, email: str, name: str) -> None:
    problems = password_problems(password, email, name, _site_words(session))
    if problems:
        raise AccountError(" ".join(problems))


def _role(value: str) -> Role:
    if not Role.has(value):
        raise AccountError(f"Rôle inconnu : {value}.")
    return Role(value)


def create_staff(
    session: DbSession, actor: StaffUser | None, email: str, name: str, role: str, password: str
) -> StaffUser:
    """A new account whose password is a one-time password, to change at first login."""
    try:
        email = text.normalise_email(email)
    except text.InvalidValue as error:
        raise AccountError(str(error)) from error
    name = _checked_name(name)
    role = _role(role)
    if not email:
        raise AccountError("L'adresse e-mail est obligatoire.")
    if session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is not None:
        raise AccountError("Un compte existe déjà avec cette adresse e-mail.")
    _check_new_password(session, password, email, name)
    user = StaffUser(
        email=email,
        name=name,
        role=role,
        active=True,
        password_hash=hash_password(password),
        must_change_password=True,
    )
    session.add(user)
    session.flush()
    audit.record(
        session, actor, "staff.create", "staff_user", user.id, f"Compte créé : {name} <{email}>, rôle {role}"
    )
    return user


def update_staff(
    session: DbSession, actor: StaffUser, user: StaffUser, name: str, role: str, active: bool
) -> bool:
    """Change name, role and status; returns whether anything changed."""
    name = _checked_name(name)
    role = _role(role)
    _check_keeps_an_admin(session, user, role, active)
    before = {"nom": user.name, "rôle": user.role, "actif": user.active}
    after = {"nom": name, "rôle": role, "actif": active}
    changes = audit.describe_changes(before, after)
    if not changes:
        return False
    if (user.role, user.active) != (role, active):
        user.end_sessions()  # a changed role or a deactivation takes effect at once
    if user.active and not active:
        # The calendar feed of the linked team member dies with the account (not revived later).
        session.execute(
            update(TeamMember).where(TeamMember.staff_user_id == user.id).values(ics_token_hash=None)
        )
    user.name, user.role, user.active = name, role, active
    audit.record(session, actor, "staff.update", "staff_user", user.id, changes)
    return True


def set_one_time_password(session: DbSession, actor: StaffUser, user: StaffUser, password: str) -> None:
    """An admin sets a password that the user must replace at next login."""
    _check_new_password(session, password, user.email, user.name)
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.end_sessions()
    audit.record(
        session, actor, "staff.one_time_password", "staff_user", user.id, "Mot de passe provisoire défini"
    )


def change_own_password(
    session: DbSession, user: StaffUser, current_password: str, new_password: str
) -> None:
    if not verify_password(user.password_hash, current_password):
        raise AccountError("Le mot de passe actuel est incorrect.")
    if current_password == new_password:
        raise AccountError("Le nouveau mot de passe doit être différent de l'actuel.")
    _check_new_password(session, new_password, user.email, user.name)
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    user.end_sessions()  # other browsers where this account is open are logged out
    audit.record(
        session, user, "auth.password_changed", "staff_user", user.id, "Mot de passe changé par l'utilisateur"
    )


def end_session(session: DbSession, user: StaffUser, ip: str | None = None) -> None:
    """Logout: rotating the token makes the cookie worthless even if it was copied."""
    user.end_sessions()
    audit.record(session, user, "auth.logout", "staff_user", user.id, "Déconnexion", ip=ip)
