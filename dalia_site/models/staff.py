"""Staff accounts of a site and the record of login attempts used for throttling."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dalia_site.database import Model
from dalia_site.models.types import UTCDateTime, utcnow
from dalia_site.models.vocabulary import Role, VocabularyType, one_of


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class StaffUser(Model):
    __tablename__ = "staff_user"
    __table_args__ = (
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        CheckConstraint(one_of("role", Role), name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(VocabularyType(Role, 20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    # What the session cookie carries instead of the id: rotating it ends every session of the user.
    session_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Second factor (TOTP, RFC 6238): the base32 secret of the member's authenticator app, set at
    # enrolment and confirmed by a first code.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The 30-second time step of the last code accepted: a code (step) is accepted once (RFC 6238
    # 5.2), never replayed by someone who saw it typed or caught it on the way.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    # Flask-Login's user protocol, written out (not its UserMixin) so that the models load
    # without the web layer: the CLI and provisioning import them.
    __hash__ = object.__hash__

    def get_id(self) -> str:
        return self.session_token

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return self.is_active

    @property
    def is_anonymous(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:  # as UserMixin: the same account, whichever session
        if isinstance(other, StaffUser):
            return self.get_id() == other.get_id()
        return NotImplemented

    @property
    def role_label(self) -> str:
        return self.role.label

    def end_sessions(self) -> None:
        self.session_token = new_session_token()

    @property
    def has_second_factor(self) -> bool:
        return self.totp_confirmed_at is not None

    def __repr__(self) -> str:
        return f"<StaffUser {self.id} {self.role}>"


class LoginAttempt(Model):
    """One login attempt, kept in the database so every worker and host sees the same count."""

    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_email_at", "email", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))  # sha256 of the typed email (throttle_key)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))


class RecoveryCode(Model):
    """One of a member's single-use recovery codes (second factor lost), stored hashed (argon2id)."""

    __tablename__ = "staff_recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffSession(Model):
    """One browser's session of a member: what « Mes sessions » lists and may end.

    The cookie carries `token` (rotated at each login); the session is valid while it is not
    ended, younger than the site's absolute lifetime, and its `generation` is still the user's
    session_token (rotating that one — logout, password change, role change — ends them all)."""

    __tablename__ = "staff_session"
    __table_args__ = (Index("ix_staff_session_user_id_ended_at", "user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    token: Mapped[str] = mapped_column(String(64), unique=True, default=new_session_token)
    generation: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")

    user: Mapped[StaffUser] = relationship(lazy="raise")
