"""SQLAlchemy models, one module per capability; imported here so Alembic sees them all."""

from dalia_site.models.activity import HeldVisit, OverdueSpan
from dalia_site.models.audit import AuditEvent
from dalia_site.models.booking import Appointment, AppointmentClinician, PatientLink
from dalia_site.models.follow_up import ContactAttempt, FollowUpPlan, GpSearchStep, SlotOffer
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
from dalia_site.models.site import CentreSettings, Closure, SiteIdentity
from dalia_site.models.staff import LoginAttempt, RecoveryCode, StaffSession, StaffUser

__all__ = [
    "Appointment",
    "AppointmentClinician",
    "AuditEvent",
    "ContactAttempt",
    "FollowUpPlan",
    "GpSearchStep",
    "HeldVisit",
    "OverdueSpan",
    "SlotOffer",
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
    "RecoveryCode",
    "Referral",
    "Shift",
    "CentreSettings",
    "Closure",
    "SiteIdentity",
    "StaffSession",
    "StaffUser",
    "TeamMember",
    "WeeklyPattern",
]
