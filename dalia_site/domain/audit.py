"""Writing the audit trail. The caller commits: the event lands with the change or not at all."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, insert, select

from dalia_site.database import DbSession
from dalia_site.models import AuditEvent, StaffUser

MAX_SUMMARY = 2000
# What the audit log shows for each code; a code without a label is shown as is.
ACTION_LABELS = {
    "auth.login": "Connexion",
    "auth.login_failed": "Échec de connexion",
    "auth.logout": "Déconnexion",
    "auth.password_changed": "Mot de passe changé",
    "staff.create": "Création de compte",
    "staff.update": "Modification de compte",
    "staff.one_time_password": "Mot de passe provisoire",
    "staff.throttle_cleared": "Connexions débloquées",
    "staff.second_factor_reset": "Double authentification réinitialisée",
    "auth.second_factor_enrolled": "Double authentification activée",
    "auth.recovery_code_used": "Connexion avec un code de secours",
    "auth.session_ended": "Session fermée",
    "auth.sessions_ended": "Autres sessions fermées",
    "partner.create": "Ajout de partenaire",
    "partner.update": "Modification de partenaire",
    "partner.archive": "Archivage de partenaire",
    "partner.restore": "Rétablissement de partenaire",
    "partner.contact_create": "Ajout d'une personne",
    "partner.contact_update": "Modification d'une personne",
    "partner.contact_delete": "Retrait d'une personne",
    "partner.link_create": "Création de lien d'adressage",
    "partner.link_revoke": "Révocation de lien d'adressage",
    "partner.link_renew": "Renouvellement de lien d'adressage",
    "partner.import": "Import CSV de l'annuaire",
    "referral.receive": "Adressage reçu",
    "referral.view": "Consultation d'adressage",
    "referral.attach": "Rattachement d'adressage",
    "referral.decision": "Décision de tri",
    "patient.create": "Création du dossier",
    "patient.view": "Consultation du dossier",
    "patient.list_view": "Consultation d'une liste de patients",
    "referral.list_view": "Consultation de la file des adressages",
    "patient.update": "Modification du dossier",
    "patient.status": "Changement de statut",
    "patient.referral_attached": "Adressage rattaché",
    "patient.dac_handover": "Transmission au DAC",
    "patient.plan": "Plan de suivi",
    "patient.contact": "Appel du patient",
    "patient.gp_search": "Recherche d'un médecin traitant",
    "slot_offer.dismiss": "Créneau libéré retiré de la liste d'attente",
    "patient.access": "Droit d'accès : document produit",
    "patient.erase": "Effacement de l'identité",
    "referral.erase": "Effacement de l'identité (adressage)",
    "appointment.book": "Rendez-vous pris",
    "appointment.cancel": "Rendez-vous annulé",
    "appointment.mark": "Rendez-vous honoré / non venu",
    "appointment.walk_in": "Consultation sans rendez-vous",
    "roster.member_create": "Ajout d'un membre de l'équipe",
    "roster.member_update": "Modification d'un membre de l'équipe",
    "roster.session_add": "Vacation proposée",
    "roster.session_withdraw": "Vacation retirée",
    "roster.pattern_add": "Vacation hebdomadaire ajoutée",
    "roster.pattern_exception": "Absence notée",
    "roster.pattern_end": "Vacation hebdomadaire arrêtée",
    "roster.ics_token": "Lien d'agenda créé",
    "roster.ics_revoke": "Lien d'agenda révoqué",
    "centre.update": "Réglages du centre modifiés",
    "patient_link.view": "Page « Votre rendez-vous » ouverte",
    "patient_link.confirm": "Rendez-vous confirmé par le patient",
    "patient_link.cancel": "Rendez-vous annulé par le patient",
    "patient_link.stop": "Rappels arrêtés par le patient",
}
OBJECT_LABELS = {
    "staff_user": "Compte",
    "partner_organisation": "Partenaire",
    "referral": "Adressage",
    "patient": "Patient",
    "team_member": "Membre de l'équipe",
    "centre": "Réglages du centre",
}


def action_label(code: str) -> str:
    return ACTION_LABELS.get(code, code)


def object_label(code: str) -> str:
    return OBJECT_LABELS.get(code, code)


def actor_name(name: str | None, action: str) -> str:
    """Who did it, as the log shows it: the staff member (`name`, None when there is none); the
    patient through their private link; for a login attempt with no known account, someone
    unknown; otherwise a command run on the server (provisioning, timers)."""
    if name is not None:
        return name
    if action.startswith("patient_link."):
        return "Le patient (lien privé)"
    return "Inconnu" if action.startswith("auth.") else "Ligne de commande"


def journal() -> Select[*tuple[Any, ...]]:
    """The audit log, newest first, as the columns it shows (the actor's name joined): each
    row has at, actor_name, action, object_type, object_id, summary and ip."""
    return (
        select(
            AuditEvent.at,
            StaffUser.name.label("actor_name"),
            AuditEvent.action,
            AuditEvent.object_type,
            AuditEvent.object_id,
            AuditEvent.summary,
            AuditEvent.ip,
        )
        .outerjoin(StaffUser, StaffUser.id == AuditEvent.actor_id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    )


def record(
    session: DbSession,
    actor: StaffUser | None,
    action: str,
    object_type: str,
    object_id: object = None,
    summary: str = "",
    ip: str | None = None,
) -> None:
    """Write one event in the session's transaction, at once: committed with the change it
    traces, rolled back with it; stamped by the column's default (a plain insert: the ORM's unit
    of work cost more than the row)."""
    session.connection().execute(
        _INSERT,
        {
            "actor_id": actor.id if actor is not None else None,
            "action": action,
            "object_type": object_type,
            "object_id": None if object_id is None else str(object_id),
            "summary": summary[:MAX_SUMMARY],
            "ip": ip,
        },
    )


_INSERT = insert(AuditEvent)


def describe_changes(before: dict[str, object], after: dict[str, object]) -> str:
    """'role : assistant → admin ; actif : oui → non' for the fields that changed (a field
    missing on one side counts as empty: a creation lists every field it sets)."""
    parts = []
    for field in dict.fromkeys([*before, *after]):
        old, new = before.get(field), after.get(field)
        if old != new and not (old in (None, "") and new in (None, "")):
            parts.append(f"{field} : {_shown(old)} → {_shown(new)}")
    return " ; ".join(parts)


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "oui" if value else "non"
    return "—" if value in (None, "") else str(value)
