"""Referrals: intake by the three ways in, duplicate detection, the triage decision.

The identity a referral carries becomes a patient only once triage resolves it: attached to an
existing patient after a human confirms the match, or a new patient. Never silently duplicated.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, select, update

from dalia_site.database import DbSession, count_up_to
from dalia_site.domain import audit, mail, phones, reminders
from dalia_site.domain.partners import clean_email
from dalia_site.domain.text import (
    Collector,
    FieldError,
    choice,
    fold,
    normalise_postcode,
)
from dalia_site.models import PartnerOrganisation, PartnerReferralLink, Patient, Referral, StaffUser
from dalia_site.models.vocabulary import (
    DECISIONS,
    Ald,
    Channel,
    GpStatus,
    Orientation,
    PatientStatus,
    ReferralStatus,
    RefusalReason,
    ReminderChannel,
    Sex,
)

IDENTITY_FIELDS = (
    "last_name",
    "first_names",
    "birth_name",
    "birth_date",
    "sex",
    "phone",
    "email",
    "address",
    "postcode",
    "commune",
    "ald",
    "ald_label",
    "gp_status",
    "gp_name",
)
REFERRER_FIELDS = ("referrer_name", "referrer_profession", "referrer_phone", "referrer_email")
OLDEST_BIRTH_DATE = date(1900, 1, 1)
MAX_REASON = 1000
LENGTHS = {
    "last_name": 100,
    "first_names": 150,
    "birth_name": 100,
    "address": 300,
    "commune": 120,
    "ald_label": 120,
    "gp_name": 150,
    "referrer_name": 120,
    "referrer_profession": 120,
    "decline_reason": 500,
    "orientation_detail": 300,
}
FIELD_LABELS = {
    "last_name": "nom",
    "first_names": "prénoms",
    "birth_name": "nom de naissance",
    "birth_date": "date de naissance",
    "sex": "sexe",
    "phone": "téléphone",
    "email": "e-mail",
    "address": "adresse",
    "postcode": "code postal",
    "commune": "commune",
    "ald": "ALD",
    "ald_label": "libellé ALD",
    "gp_status": "médecin traitant",
    "gp_name": "nom du médecin traitant",
}


def _text(values: Mapping[str, object], field: str, required: str | None = None) -> str:
    value = values.get(field) or ""
    if not isinstance(value, str):
        raise FieldError(field, "Valeur invalide.")
    value = " ".join(value.split()) if field != "reason" else value.strip()
    if required and not value:
        raise FieldError(field, required)
    limit = LENGTHS.get(field, MAX_REASON if field == "reason" else 254)
    if len(value) > limit:
        raise FieldError(field, f"{limit} caractères au plus ({len(value)} saisis).")
    return value


def clean_birth_date(value: object, today: date) -> date:
    if not isinstance(value, date):
        raise FieldError("birth_date", "La date de naissance est obligatoire (jj/mm/aaaa).")
    if value > today:
        raise FieldError("birth_date", "La date de naissance ne peut pas être dans le futur.")
    if value < OLDEST_BIRTH_DATE:
        raise FieldError("birth_date", "La date de naissance doit être postérieure à 1900.")
    return value


def _postcode_or_commune(postcode: str | None, commune: str | None) -> None:
    if not postcode and not commune:
        raise FieldError("postcode", "Indiquez le code postal ou la commune du patient.")


def clean_identity(values: Mapping[str, object], today: date) -> dict[str, object]:
    """Validated, normalised identity (`today`: the site's date); FieldErrors lists every field
    at fault."""
    cleaned: dict[str, object] = {}
    with Collector() as check:
        for field, required in (
            ("last_name", "Le nom est obligatoire."),
            ("first_names", "Le prénom est obligatoire."),
            ("birth_name", None),
            ("address", None),
            ("commune", None),
            ("ald_label", None),
            ("gp_name", None),
        ):
            cleaned[field] = check(field, _text, values, field, required)
        cleaned["birth_date"] = check("birth_date", clean_birth_date, values.get("birth_date"), today)
        cleaned["sex"] = check("sex", choice, "sex", values.get("sex"), Sex, "Indiquez le sexe.")
        cleaned["ald"] = check(
            "ald", choice, "ald", values.get("ald"), Ald, "Indiquez si le patient a une ALD."
        )
        cleaned["gp_status"] = check(
            "gp_status",
            choice,
            "gp_status",
            values.get("gp_status"),
            GpStatus,
            "Indiquez s'il a un médecin traitant.",
        )
        cleaned["postcode"] = check("postcode", lambda: normalise_postcode(_text(values, "postcode")))
        if "postcode" not in check.errors:
            check("postcode", _postcode_or_commune, cleaned["postcode"], cleaned["commune"])
        cleaned["phone"] = check("phone", lambda: phones.normalise(_text(values, "phone")))
        cleaned["email"] = check("email", lambda: clean_email("email", _text(values, "email")))
    if cleaned["gp_status"] == GpStatus.NONE:
        cleaned["gp_name"] = ""
    return cleaned


def _reachable(phone: str | None, email: str | None) -> None:
    if not (phone or email):
        raise FieldError("referrer_phone", "Indiquez un téléphone ou un e-mail pour vous joindre.")


def clean_referrer(values: Mapping[str, object], required: bool) -> dict[str, str]:
    cleaned: dict[str, str | None] = {}
    with Collector() as check:
        cleaned["referrer_name"] = check(
            "referrer_name",
            _text,
            values,
            "referrer_name",
            "Le nom du professionnel qui adresse est obligatoire." if required else None,
        )
        cleaned["referrer_profession"] = check("referrer_profession", _text, values, "referrer_profession")
        cleaned["referrer_phone"] = check(
            "referrer_phone", lambda: phones.normalise(_text(values, "referrer_phone"))
        )
        cleaned["referrer_email"] = check(
            "referrer_email", lambda: clean_email("referrer_email", _text(values, "referrer_email"))
        )
        if required and not check.errors.keys() & {"referrer_phone", "referrer_email"}:
            check("referrer_phone", _reachable, cleaned["referrer_phone"], cleaned["referrer_email"])
    # The collector raised if a check failed: no value is None here.
    return {field: value or "" for field, value in cleaned.items()}


def name_key(name: str) -> str:
    """'Saint-Jean ', 'SAINT JEAN', 'saint jéan' -> 'saintjean': what duplicates compare."""
    return fold(name).replace(" ", "")


def same_person(a: Patient | Referral, b: Patient | Referral) -> bool:
    """Same birth date, a last (or birth) name in common, same first first-name; accents, case,
    hyphens and spaces ignored."""
    if a.birth_date != b.birth_date:
        return False
    names_a = {name_key(a.last_name), name_key(a.birth_name)} - {""}
    names_b = {name_key(b.last_name), name_key(b.birth_name)} - {""}
    first_a = fold(a.first_names).split()[:1]
    first_b = fold(b.first_names).split()[:1]
    return bool(names_a & names_b) and first_a == first_b


def find_duplicates(session: DbSession, identity: Patient | Referral) -> list[Patient]:
    """Existing patients who are probably this person (one query: same birth date)."""
    candidates = session.scalars(
        select(Patient).where(Patient.birth_date == identity.birth_date).order_by(Patient.id)
    ).all()
    return [p for p in candidates if same_person(identity, p)]


# The queue's counters count each status up to this many (then « plus de 1000 »): ten years of
# accepted referrals are not triage's business, and the counters cost the same whatever the years.
COUNTED_UP_TO = 1000


@functools.cache
def _status_counts_statement() -> Select[Any]:
    """status_counts' query, built once: a range of the status index each, never past the cap."""
    return select(
        *(
            count_up_to(select(Referral.id).where(Referral.status == status), COUNTED_UP_TO + 1)
            for status in ReferralStatus
        )
    )


def status_counts(session: DbSession) -> dict[ReferralStatus, int | None]:
    """How many referrals are in each status (the queue's counters): None past COUNTED_UP_TO."""
    row = session.execute(_status_counts_statement()).one()
    return {
        status: count if count <= COUNTED_UP_TO else None
        for status, count in zip(ReferralStatus, row, strict=True)
    }


def reference_for(referral: Referral) -> str:
    return f"DAL-{referral.received_at:%Y}-{referral.id:05d}"


class NotADuplicate(FieldError):
    """The patient chosen is not one of the referral's possible duplicates."""


def referring_partner(session: DbSession, partner_id: int | None) -> PartnerOrganisation | None:
    """The partner a staff member says the referral came from: None for a direct access
    (`partner_id` None); refused when the partner is unknown or archived (`partner_id` 0 for an
    id that could not be read)."""
    if partner_id is None:
        return None
    partner = session.get(PartnerOrganisation, partner_id) if partner_id else None
    if partner is None or not partner.active:
        raise FieldError("source_id", "Partenaire inconnu ou archivé.")
    return partner


def origin_channel(channel: str, source: PartnerOrganisation | None, link: object | None) -> Channel:
    """The channel a referral is stored with. Through a partner's private link, "link"; from
    staff, the way it was received from its partner (phone, mail, fax), and "direct" when no
    partner referred the patient, whatever way the assistant heard of them."""
    if link is not None:
        if channel != Channel.LINK or source is None or not source.active:
            raise FieldError("source_id", "Partenaire inconnu ou archivé.")
        return Channel.LINK
    if source is None:
        return Channel.DIRECT
    if not source.active:
        raise FieldError("source_id", "Partenaire inconnu ou archivé.")
    if channel == Channel.DIRECT:
        raise FieldError(
            "channel",
            "Un accès direct n'a pas de partenaire : choisissez « Accès direct » comme "
            "partenaire, ou le canal reçu.",
        )
    if not Channel.has(channel) or channel == Channel.LINK:
        raise FieldError("channel", "Choisissez comment l'adressage a été reçu.")
    return Channel(channel)


def _intake_channel(value: str | None, identity: Mapping[str, object] | None) -> ReminderChannel | None:
    """The reminder channel asked at intake, checked against the contact details typed with it."""
    if not value:
        return None
    chosen = choice("reminder_channel", value, ReminderChannel, "Choisissez SMS, e-mail ou aucun rappel.")
    if identity is not None:
        problem = reminders.channel_problem(
            chosen, str(identity.get("phone") or ""), str(identity.get("email") or ""), "ci-dessus"
        )
        if problem:
            raise FieldError("reminder_channel", problem)
    return chosen


def receive(
    session: DbSession,
    actor: StaffUser | None,
    channel: str,
    identity: Mapping[str, object],
    referrer: Mapping[str, object],
    reason: str,
    source: PartnerOrganisation | None = None,
    link: PartnerReferralLink | None = None,
    site_name: str = "DALIA",
    *,
    now: datetime,
    today: date,
    reminder_channel: str | None = None,
) -> Referral:
    """A new referral from any of the three ways in, received at `now` (`today`: the site's date,
    for the birth date's check); its reference is set, the referrer's acknowledgement queued.
    `reminder_channel`: the patient's choice asked at intake (empty: proposed at acceptance)."""
    channel = origin_channel(channel, source, link)
    with Collector() as check:
        cleaned = check("identity", clean_identity, identity, today)
        chosen = check("reminder_channel", _intake_channel, reminder_channel, cleaned)
        who = check("referrer", clean_referrer, referrer, channel != Channel.DIRECT)
        checked_reason = check(
            "reason",
            _text,
            {"reason": reason},
            "reason",
            "Le motif est obligatoire." if channel != Channel.DIRECT else None,
        )
    # The collector raised if a check failed: every value is set.
    assert cleaned is not None and who is not None and checked_reason is not None
    reason = checked_reason
    referral = Referral(
        channel=channel,
        source_id=source.id if source else None,
        link_id=link.id if link else None,
        reason=reason,
        received_by_id=actor.id if actor else None,
        received_at=now,
        reminder_channel=chosen,
        **cleaned,
        **who,
    )
    session.add(referral)
    session.flush()
    referral.reference = reference_for(referral)
    if link is not None and source is not None:
        origin = f"lien n° {link.id} de {source.name}"
    else:
        origin = source.name if source else "accès direct"
    audit.record(
        session,
        actor,
        "referral.receive",
        "referral",
        referral.id,
        f"Adressage {referral.reference} reçu ({channel.label}, {origin})",
    )
    if link is not None:
        link.last_used_at = referral.received_at
    if referral.referrer_email:
        mail.queue(
            session,
            referral.referrer_email,
            f"{site_name} — adressage {referral.reference} reçu",
            mail.render(
                "referral_received.txt",
                site_name=site_name,
                reference=referral.reference,
                received_at=referral.received_at,
            ),
        )
    return referral


def _lock(session: DbSession, referral: Referral) -> None:
    """Hold the referral's row until commit and read it afresh: two people deciding at the same
    moment are served one after the other, and the second sees the first's decision."""
    session.execute(
        update(Referral)
        .where(Referral.id == referral.id)
        .values(id=Referral.id)
        .execution_options(synchronize_session=False)
    )
    session.refresh(referral)


def resolve_identity(
    session: DbSession, actor: StaffUser | None, referral: Referral, patient: Patient | None = None
) -> Patient:
    """Attach the referral to an existing patient (confirmed by a person among the possible
    duplicates found for it) or create one."""
    _lock(session, referral)
    if referral.patient_id is not None:
        raise FieldError("patient", "Cet adressage est déjà rattaché à un patient.")
    if patient is not None and patient not in find_duplicates(session, referral):
        raise NotADuplicate("patient", "Ce patient n'est pas un doublon possible de cet adressage.")
    if patient is None:
        patient = Patient(**{f: getattr(referral, f) for f in IDENTITY_FIELDS}, status=PatientStatus.REFERRED)
        patient.reminder_channel = reminders.proposed_channel(
            referral.reminder_channel, patient.phone, patient.email
        )
        patient.search_text = patient_search_text(patient)
        session.add(patient)
        session.flush()
        audit.record(
            session,
            actor,
            "patient.create",
            "patient",
            patient.id,
            f"Patient créé depuis l'adressage {referral.reference}",
        )
    else:
        audit.record(
            session,
            actor,
            "patient.referral_attached",
            "patient",
            patient.id,
            f"Adressage {referral.reference} rattaché (doublon confirmé)",
        )
    referral.patient_id = patient.id
    audit.record(
        session,
        actor,
        "referral.attach",
        "referral",
        referral.id,
        f"Adressage {referral.reference} rattaché au patient n° {patient.id}",
    )
    return patient


def patient_search_text(patient: Patient) -> str:
    birth = patient.birth_date
    return fold(
        f"{patient.last_name} {patient.first_names} {patient.birth_name} {birth:%d/%m/%Y} {birth:%Y-%m-%d}"
    )


# What a decision does to the patient's status, from the statuses where it applies.
PATIENT_STATUS_AFTER: dict[ReferralStatus, tuple[PatientStatus, set[PatientStatus]]] = {
    ReferralStatus.ACCEPTED: (
        PatientStatus.FOLLOW_UP,
        {
            PatientStatus.REFERRED,
            PatientStatus.WAITING_LIST,
            PatientStatus.DECLINED,
            PatientStatus.DISCHARGED,
        },
    ),
    ReferralStatus.WAITING_LIST: (
        PatientStatus.WAITING_LIST,
        {PatientStatus.REFERRED, PatientStatus.DECLINED, PatientStatus.DISCHARGED},
    ),
    ReferralStatus.DECLINED: (PatientStatus.DECLINED, {PatientStatus.REFERRED, PatientStatus.WAITING_LIST}),
}


def decide(
    session: DbSession,
    actor: StaffUser | None,
    referral: Referral,
    decision: str,
    decline_reason: str = "",
    orientation: str | None = None,
    orientation_partner: PartnerOrganisation | None = None,
    orientation_detail: str = "",
    site_name: str = "DALIA",
    *,
    now: datetime,
    decline_code: str | None = None,
    reach: Mapping[str, object] | None = None,
) -> Patient:
    """Record the human decision on a referral (at `now`); the referrer hears of it by reference
    only. A refusal takes its reason from the closed list (`decline_code`, RefusalReason) — a
    text alone counts as « autre », which needs one."""
    if decision not in DECISIONS:
        raise FieldError("decision", "Décision inconnue.")
    decision = ReferralStatus(decision)
    _lock(session, referral)
    if not referral.decidable or referral.status == decision:
        raise FieldError("decision", f"Cet adressage est déjà « {referral.status_label} ».")
    code: RefusalReason | None = None
    if decision == ReferralStatus.DECLINED:
        with Collector() as check:
            if not decline_code and " ".join(decline_reason.split()):
                decline_code = RefusalReason.OTHER
            code = check(
                "decline_code",
                choice,
                "decline_code",
                decline_code,
                RefusalReason,
                "Choisissez le motif du refus.",
            )
            checked_decline_reason = check(
                "decline_reason",
                _text,
                {"decline_reason": decline_reason},
                "decline_reason",
                "Précisez le motif du refus." if code == RefusalReason.OTHER else None,
            )
            orientation = check(
                "orientation",
                choice,
                "orientation",
                orientation,
                Orientation,
                "Indiquez vers qui le patient est orienté.",
            )
            if orientation == Orientation.PARTNER and orientation_partner is None:
                check.errors.setdefault("orientation_partner", "Choisissez le partenaire de l'annuaire.")
            checked_detail = check(
                "orientation_detail",
                _text,
                {"orientation_detail": orientation_detail},
                "orientation_detail",
                "Précisez l'orientation." if orientation == Orientation.OTHER else None,
            )
        # The collector raised if a check failed: both texts are set.
        decline_reason, orientation_detail = checked_decline_reason or "", checked_detail or ""
    else:
        decline_reason, orientation, orientation_partner, orientation_detail = "", None, None, ""
    patient = session.get(Patient, referral.patient_id) if referral.patient_id else None
    if patient is None:
        if find_duplicates(session, referral):
            raise FieldError(
                "patient",
                "Des patients existants correspondent à cette identité : "
                "confirmez d'abord s'il s'agit de l'un d'eux.",
            )
        patient = resolve_identity(session, actor, referral)
    if decision == ReferralStatus.ACCEPTED:  # every acceptance: no accepted patient is unreachable
        reminders.ensure_reachable(patient, referral, reach or {})
    referral.status = decision
    referral.decided_by_id = actor.id if actor else None
    referral.decided_at = now
    referral.decline_code = code
    referral.decline_reason = decline_reason
    referral.orientation = orientation
    referral.orientation_partner_id = orientation_partner.id if orientation_partner else None
    referral.orientation_detail = orientation_detail
    audit.record(
        session,
        actor,
        "referral.decision",
        "referral",
        referral.id,
        f"Adressage {referral.reference} : {referral.status_label}"
        + (f", orientation {referral.orientation_label}" if referral.orientation else ""),
    )
    new_status, applies_from = PATIENT_STATUS_AFTER[decision]
    if patient.status in applies_from and patient.status != new_status:
        audit.record(
            session,
            actor,
            "patient.status",
            "patient",
            patient.id,
            f"statut : {patient.status_label} → {new_status.label} (adressage {referral.reference})",
        )
        patient.status = new_status
    if referral.referrer_email:
        _queue_decision_email(session, referral, orientation_partner, site_name)
    return patient


def _queue_decision_email(
    session: DbSession, referral: Referral, partner: PartnerOrganisation | None, site_name: str
) -> None:
    mail.queue(
        session,
        referral.referrer_email,
        f"{site_name} — décision pour l'adressage {referral.reference}",
        mail.render(
            "referral_decision.txt",
            reference=referral.reference,
            status=referral.status,
            orientation=partner.name if partner is not None else referral.orientation_label,
        ),
    )
