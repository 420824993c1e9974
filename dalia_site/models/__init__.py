"""SQLAlchemy models, one module per capability; imported here so Alembic sees them all."""

from dalia_site.models.audit import AuditEvent
from dalia_site.models.staff import ROLES, LoginAttempt, StaffUser

__all__ = ["ROLES", "AuditEvent", "LoginAttempt", "StaffUser"]
