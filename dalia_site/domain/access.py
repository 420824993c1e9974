"""The right of access (RGPD art. 15): everything the site holds about one patient, as sections
of rows in plain French — printed from the « Droit d'accès » page, or downloaded as JSON.

Each table that holds data about a patient is one small function (a source) returning one
Section; `SOURCES` lists them. A table added to the kit joins the document with its source."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.orm import aliased, joinedload

from dalia_site.database import DbSession
from dalia_site.domain import audit, follow_up, patients, rights
from dalia_site.models import (
    Appointment,
    AppointmentClinician,
    AuditEvent,
    OutboundEmail,
    Patient,
    StaffUser,
)
from dalia_site.models.follow_up import FollowUpPlan

Row = dict[str, str]
# Audit actions that read the file without changing it (besides every « ….view »).
READINGS = ("patient.access",)


@dataclass(frozen=True)
class Section:
    key: str  # the JSON key
    title: str  # the printed heading
    rows: list[Row]
    empty: str = "Aucune donnée."


@dataclass(frozen=True)
class Context:
    session: DbSession
    patient: Patient  # with its referrals, their source and decider
    plan: FollowUpPlan | None
    visits: list[Appointment]  # with their clinicians
    sent: list[OutboundEmail]  # the messages about those appointments
    zone: ZoneInfo


# Built once: the file with its referrals and its follow-up plan; the appointments with their
# clinicians and messages.
_FILE = (
    select(Patient, FollowUpPlan)
    .outerjoin(FollowUpPlan, FollowUpPlan.patient_id == Patient.id)
    .where(Patient.id == bindparam("patient_id"))
    .options(*patients.WITH_REFERRALS)
)
# The patient's messages, read once through their appointments (the index on appointment_id,
# migration 0022: 6.1 → 0.07 ms for 75,000 messages); the visits come through the patient's
# index, in the order sorted below.
_SENT = (
    select(OutboundEmail)
    .where(
        OutboundEmail.appointment_id.in_(
            select(Appointment.id).where(Appointment.patient_id == bindparam("patient_id"))
        )
    )
    .cte("sent")
    .prefix_with("MATERIALIZED")
)
_SENT_ROW = aliased(OutboundEmail, _SENT)
_VISITS = (
    select(Appointment, _SENT_ROW)
    .outerjoin(_SENT_ROW, _SENT_ROW.appointment_id == Appointment.id)
    .where(Appointment.patient_id == bindparam("patient_id"))
    .options(joinedload(Appointment.clinicians).joinedload(AppointmentClinician.member))
)


def load(session: DbSession, patient_id: int, zone: ZoneInfo) -> Context | None:
    """The patient with what the other sources share, in two queries: the file with its
    referrals and its follow-up plan; the appointments with their clinicians and messages."""
    found = session.execute(_FILE, {"patient_id": patient_id}).unique().one_or_none()
    if found is None:
        return None
    rows = session.execute(_VISITS, {"patient_id": patient_id}).unique()
    visits: dict[int, Appointment] = {}
    sent: dict[int, OutboundEmail] = {}
    for appointment, message in rows:
        visits.setdefault(appointment.id, appointment)
        if message is not None:
            sent.setdefault(message.id, message)
    visits_in_order = sorted(visits.values(), key=lambda a: (a.starts_at, a.id))
    return Context(session, found[0], found[1], visits_in_order, list(sent.values()), zone)


def _day(value: date | None) -> str:
    return "" if value is None else f"{value:%d/%m/%Y}"


def _moment(value: datetime | None, zone: ZoneInfo) -> str:
    return "" if value is None else f"{value.astimezone(zone):%d/%m/%Y %Hh%M}"


def _yes(value: bool) -> str:
    return "oui" if value else "non"


def identity(c: Context) -> Section:
    p = c.patient
    row = {
        "Nom d'usage": p.last_name,
        "Prénom(s)": p.first_names,
        "Nom de naissance": p.birth_name,
        "Date de naissance": _day(p.birth_date),
        "Sexe": p.sex.label,
        "Adresse": " ".join(part for part in (p.address, p.postcode, p.commune) if part),
        "Téléphone": p.phone,
        "E-mail": p.email,
        "ALD": p.ald.label + (f" — {p.ald_label}" if p.ald_label else ""),
        "Médecin traitant": p.gp_name if p.has_gp else "aucun",
        "Statut dans le centre": p.status.label,
        "Rappels de rendez-vous": p.reminder_channel.label,
        "Joignable par le professionnel qui vous a adressé(e)": _yes(p.reachable_via_referrer),
        "Dossier créé le": _moment(p.created_at, c.zone),
    }
    if p.erased_at is not None:
        row["Identité effacée le"] = _moment(p.erased_at, c.zone)
    return Section("identite", "Identité et coordonnées", [row])


def information(c: Context) -> Section:
    p = c.patient
    row = {"Informé(e) de l'usage de ses données le": _day(p.informed_on) or "pas encore"}
    for purpose, field in rights.OBJECTION_FIELDS.items():
        row[f"Opposition — {purpose.label}"] = _yes(getattr(p, field))
    if p.dac_handover_on is not None:
        row["Situation transmise au DAC le"] = _day(p.dac_handover_on)
    return Section("information_et_oppositions", "Information et oppositions", [row])


def referrals(c: Context) -> Section:
    rows = []
    for r in c.patient.referrals:
        row = {
            "Référence": r.reference or "",
            "Reçu le": _moment(r.received_at, c.zone),
            "Canal": r.channel.label,
            "Adressé par": ", ".join(
                part
                for part in (r.source.name if r.source else "", r.referrer_name, r.referrer_profession)
                if part
            ),
            "Motif": r.reason,
            "Décision": r.status.label,
            "Décidé le": _moment(r.decided_at, c.zone),
            "Décidé par": r.decided_by.name if r.decided_by else "",
        }
        if r.decline_reason or r.orientation is not None:
            row["Motif du refus"] = r.decline_reason
            row["Orientation"] = r.orientation_detail or r.orientation_label
            row["Raison"] = r.decline_code.label if r.decline_code is not None else ""
        rows.append(row)
    return Section("adressages", "Adressages et décisions", rows)


def appointments(c: Context) -> Section:
    rows = [
        {
            "Date": _moment(a.starts_at, c.zone),
            "Type": a.kind.label + (" (sans rendez-vous)" if a.walk_in else ""),
            "Avec": ", ".join(f"{x.member.name} ({x.member.profession.in_sentence})" for x in a.clinicians),
            "État": a.status.label,
            "Motif d'annulation": a.cancel_reason,
            "Hors alternance": a.override_reason,
            "Arrivée à l'accueil": _moment(a.arrived_at, c.zone),
            "Confirmé par vous le": _moment(a.confirmed_by_patient_at, c.zone),
            "Annulé par vous le": _moment(a.cancelled_by_patient_at, c.zone),
        }
        for a in c.visits
    ]
    return Section("rendez_vous", "Rendez-vous", rows)


def messages(c: Context) -> Section:
    """Reminders and other messages sent to the patient (about one of their appointments)."""
    rows = [
        {
            "Canal": m.channel.label,
            "Destinataire": m.to,
            "Préparé le": _moment(m.created_at, c.zone),
            "Envoyé le": _moment(m.sent_at, c.zone) or "pas envoyé",
            "Objet": m.subject,
            "Contenu": m.body,
        }
        for m in sorted(c.sent, key=lambda m: (m.created_at, m.id))
    ]
    return Section("messages", "Messages envoyés (SMS, e-mails)", rows)


def rectifications(c: Context) -> Section:
    rows = [
        {
            "Date": _moment(r.at, c.zone),
            "Par": r.actor_name if r.actor_name is not None else "Ligne de commande",
            "Champ": r.field,
            "Avant": r.before,
            "Après": r.after,
        }
        for r in rights.rectifications(c.session, c.patient.id)
    ]
    return Section("rectifications", "Historique des rectifications", rows)


_READING = AuditEvent.action.like("%view") | AuditEvent.action.in_(READINGS)
_FIRST, _LAST = func.min(AuditEvent.at), func.max(AuditEvent.at)
# Built once: the trail of the patient and of their referrals (`referral_ids`), through the index by
# subject; the readings grouped by person and kind.
_TRAIL = (
    select(StaffUser.name, AuditEvent.action, func.count(), _FIRST, _LAST, func.max(AuditEvent.summary))
    .outerjoin(StaffUser, StaffUser.id == AuditEvent.actor_id)
    .where(
        ((AuditEvent.object_type == "patient") & (AuditEvent.object_id == bindparam("patient_id")))
        | (
            (AuditEvent.object_type == "referral")
            & AuditEvent.object_id.in_(bindparam("referral_ids", expanding=True))
        )
    )
    .group_by(
        AuditEvent.actor_id, StaffUser.name, AuditEvent.action, case((_READING, 0), else_=AuditEvent.id)
    )
    .order_by(_FIRST, func.min(AuditEvent.id))
)


def trail(c: Context) -> Section:
    """Who read or changed the file (the audit trail of the patient and of their referrals, read
    through the index by subject): each change on its own row; the readings (views, documents
    produced) one row per person and kind, with how many times and from when to when — the
    section does not grow with each reading of the file. One query."""
    found = c.session.execute(
        _TRAIL,
        {"patient_id": str(c.patient.id), "referral_ids": [str(r.id) for r in c.patient.referrals]},
    )
    rows = [
        {
            "Date": _moment(since, c.zone)
            if times == 1
            else f"du {_moment(since, c.zone)} au {_moment(until, c.zone)}",
            "Qui": audit.actor_name(name, action),
            "Action": audit.action_label(action),
            "Détail": summary if times == 1 else f"{times} fois",
        }
        for name, action, times, since, until, summary in found
    ]
    return Section("journal", "Qui a consulté ou modifié le dossier", rows)


def follow_up_plan(c: Context) -> Section:
    plan = c.plan
    if plan is None:
        return Section("plan_de_suivi", "Plan de suivi", [])
    row = {
        "Une visite toutes les (semaines)": str(plan.cadence_weeks),
        "Infirmière": plan.preferred_nurse.label,
        "Protocoles Azalée": ", ".join(p.label for p in follow_up.protocols(plan)),
        "Éducation thérapeutique proposée": _yes(plan.etp),
        "Recherche d'un médecin traitant engagée": _yes(plan.gp_search_started),
        "Mis à jour le": _moment(plan.updated_at, c.zone),
    }
    return Section("plan_de_suivi", "Plan de suivi", [row])


def contact_attempts(c: Context) -> Section:
    rows = [
        {
            "Date": _moment(a.attempted_at, c.zone),
            "Par": a.by_name or "",
            "Résultat": a.outcome.label,
        }
        for a in follow_up.attempts_of(c.session, c.patient.id)
    ]
    return Section("tentatives_de_contact", "Appels pour vous joindre", rows)


def gp_search(c: Context) -> Section:
    rows = [
        {"Médecin contacté": s.partner_name, "Le": _day(s.contacted_on), "Réponse": s.answer.label}
        for s in follow_up.steps_of(c.session, c.patient.id)
    ]
    return Section("recherche_medecin_traitant", "Recherche d'un médecin traitant", rows)


Source = Callable[[Context], Section]
SOURCES: list[Source] = [
    identity,
    information,
    referrals,
    appointments,
    follow_up_plan,
    contact_attempts,
    gp_search,
    messages,
    rectifications,
    trail,
]


def document(context: Context) -> list[Section]:
    return [source(context) for source in SOURCES]


def as_json(sections: Sequence[Section], patient: Patient, site: str, produced_at: datetime) -> str:
    return json.dumps(
        {
            "site": site,
            "patient": patient.id,
            "produit_le": produced_at.isoformat(),
            **{s.key: {"titre": s.title, "lignes": s.rows} for s in sections},
        },
        ensure_ascii=False,
        indent=2,
    )
