"""SQLAlchemy models, one module per capability; imported here so Alembic sees them all."""

from dalia_site.models.audit import AuditEvent
from dalia_site.models.booking import Appointment, AppointmentClinician, PatientLink
from dalia_site.models.mail import OutboundEmail
from dalia_site.models.partners import (
    PartnerContact,
    PartnerImport,
    PartnerOrganisation,
    PartnerReferralLink,
)
from dalia_site.models.patients import Patient, Referral
from dalia_site.models.ratelimit import RateLimitHit
from dalia_site.models.rights import PatientRectification
from dalia_site.models.roster import PatternException, Shift, TeamMember, WeeklyPattern
from dalia_site.models.site import CentreSettings, SiteIdentity
from dalia_site.models.staff import LoginAttempt, StaffUser

__all__ = [
    "Appointment",
    "AppointmentClinician",
    "AuditEvent",
    "LoginAttempt",
    "OutboundEmail",
    "PartnerContact",
    "PartnerImport",
    "PartnerOrganisation",
    "PartnerReferralLink",
    "PatternException",
    "Patient",
    "PatientLink",
    "PatientRectification",
    "RateLimitHit",
    "Referral",
    "Shift",
    "CentreSettings",
    "SiteIdentity",
    "StaffUser",
    "TeamMember",
    "WeeklyPattern",
]
