"""Staff accounts of a site and the record of login attempts used for throttling."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

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
