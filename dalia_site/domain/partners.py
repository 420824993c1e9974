"""Partner directory rules: what a valid organisation is, its search text, what is left to complete."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Bundle, selectinload

from dalia_site.database import DbSession
from dalia_site.domain import audit, phones
from dalia_site.domain.search import all_words
from dalia_site.domain.text import (
    FieldError,
    InvalidValue,
    choice,
    fold,
    format_phone,
    normalise_email,
    normalise_postcode,
    postcode_departement,
)
from dalia_site.domain.tokens import new_token, token_hash
from dalia_site.models import StaffUser
from dalia_site.models.partners import (
    PartnerContact,
    PartnerOrganisation,
    PartnerReferralLink,
)
from dalia_site.models.vocabulary import AcceptsPatients, PartnerCategory

ORGANISATION_FIELDS = (
    "name",
    "category",
    "address",
    "postcode",
    "commune",
    "phone",
    "email",
    "website",
    "opening_hours",
    "finess",
    "notes",
)
CONTACT_FIELDS = ("name", "role", "phone", "email")
FINESS_RE = re.compile(r"^(\d{2}|2[AB])\d{7}$")
FIELD_LABELS = {
    "name": "nom",
    "category": "catégorie",
    "address": "adresse",
    "postcode": "code postal",
    "commune": "commune",
    "phone": "téléphone",
    "email": "e-mail",
    "website": "site web",
    "opening_hours": "horaires",
    "finess": "FINESS",
    "notes": "notes",
    "role": "fonction",
}
CONTACT_LENGTHS = {"name": 120, "role": 120, "email": 254}
MAX_LENGTHS = {
    "name": 200,
    "address": 300,
    "commune": 120,
    "website": 300,
    "opening_hours": 200,
    "email": 254,
    "role": 120,
    "notes": 5000,
}


class PartnerError(FieldError):
    """An invalid partner field: `field` names it, the message is French."""


def clean_email(field: str, value: str) -> str:
    try:
        return normalise_email(value)
    except InvalidValue as error:
        raise PartnerError(field, str(error)) from error


def _clean_common(
    values: Mapping[str, object], fields: Iterable[str], lengths: Mapping[str, int] | None = None
) -> dict[str, str]:
    lengths = lengths or MAX_LENGTHS
    cleaned = {}
    for field in fields:
        value = values.get(field, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise PartnerError(field, "doit être du texte")
        value = value.strip()
        if len(value) > lengths.get(field, 300):
            raise PartnerError(field, f"Trop long ({lengths.get(field, 300)} caractères au plus).")
        cleaned[field] = value
    try:
        if "phone" in cleaned:
            cleaned["phone"] = phones.normalise(cleaned["phone"], short=True)  # E.164, or 3646
    except InvalidValue as error:
        raise PartnerError("phone", str(error)) from error
    if "email" in cleaned:
        cleaned["email"] = clean_email("email", cleaned["email"])
    return cleaned


def normalise_finess(raw: str) -> str:
    finess = raw.upper().replace(" ", "")
    if finess and not FINESS_RE.match(finess):
        raise PartnerError("finess", "Numéro FINESS invalide : 9 caractères (ex. 110780061).")
    return finess


def clean_organisation(values: Mapping[str, object]) -> dict[str, object]:
    """Validated and normalised organisation fields, or PartnerError naming the first bad one."""
    text = _clean_common(values, ORGANISATION_FIELDS)
    if not text["name"]:
        raise PartnerError("name", "Le nom est obligatoire.")
    if not PartnerCategory.has(text["category"]):
        raise PartnerError("category", f"Catégorie inconnue : {text['category']!r}.")
    cleaned: dict[str, object] = dict(text)
    cleaned["category"] = PartnerCategory(text["category"])
    try:
        cleaned["postcode"] = normalise_postcode(text["postcode"])
    except InvalidValue as error:
        raise PartnerError("postcode", str(error)) from error
    cleaned["finess"] = normalise_finess(text["finess"]) or None
    website = text["website"]
    if website and not re.match(r"^(https?://)?[\w.-]+\.[a-z]{2,}(/\S*)?$", website, re.I):
        raise PartnerError("website", "Adresse de site web invalide (ex. www.cpts-exemple.fr).")
    return cleaned


def clean_contact(values: Mapping[str, object]) -> dict[str, str]:
    cleaned = _clean_common(values, CONTACT_FIELDS, CONTACT_LENGTHS)
    if not (cleaned["name"] or cleaned["role"]):
        raise PartnerError("name", "Indiquez au moins le nom ou la fonction de la personne.")
    return cleaned


def search_text(organisation: PartnerOrganisation, contacts: Iterable[PartnerContact]) -> str:
    parts = [
        organisation.name,
        organisation.commune,
        organisation.postcode,
        organisation.category_label,
        organisation.category,
    ]
    parts += [f"{c.name} {c.role}" for c in contacts]
    return fold(" ".join(parts))


def create_organisation(
    session: DbSession,
    actor: StaffUser | None,
    values: Mapping[str, object],
    contacts: Iterable[Mapping[str, object]] = (),
) -> PartnerOrganisation:
    cleaned = clean_organisation(values)
    people = [PartnerContact(**clean_contact(c)) for c in contacts]
    organisation = PartnerOrganisation(**cleaned, active=True)
    organisation.contacts = people
    organisation.search_text = search_text(organisation, people)
    session.add(organisation)
    session.flush()
    audit.record(
        session,
        actor,
        "partner.create",
        "partner_organisation",
        organisation.id,
        f"Partenaire créé : {audit.describe_changes(_labelled({}), _labelled(cleaned))}",
    )
    return organisation


def missing_details(session: DbSession) -> list[str]:
    """'CPAM de l'Aude : téléphone, e-mail à compléter' for each active organisation or person
    whose contact details are still empty (templates leave unknown details empty on purpose)."""
    organisations = session.scalars(
        select(PartnerOrganisation)
        .where(PartnerOrganisation.active.is_(True))
        .options(selectinload(PartnerOrganisation.contacts))
        .order_by(PartnerOrganisation.category, PartnerOrganisation.name)
    ).all()
    lines = []
    for organisation in organisations:
        missing = [
            label
            for field, label in (
                ("phone", "téléphone"),
                ("email", "e-mail"),
                ("address", "adresse"),
                ("commune", "commune"),
            )
            if not getattr(organisation, field)
        ]
        if missing:
            lines.append(f"{organisation.name} : {', '.join(missing)} à compléter")
        if organisation.phone and not phones.is_stored_form(organisation.phone, short=True):
            lines.append(f"{organisation.name} : téléphone illisible « {organisation.phone} » à corriger")
        for person in organisation.contacts:
            who = person.name or person.role
            if not (person.phone or person.email):
                lines.append(f"{organisation.name} / {who} : téléphone ou e-mail à compléter")
            elif person.phone and not phones.is_stored_form(person.phone, short=True):
                lines.append(
                    f"{organisation.name} / {who} : téléphone illisible « {person.phone} » à corriger"
                )
    return lines


def postcode_outside(postcode: str, departement: str) -> bool:
    """True when a postcode lies outside the site's département (Corsica: 2A and 2B are 20…)."""
    if not postcode:
        return False
    expected = "20" if departement in ("2A", "2B") else departement
    return postcode_departement(postcode) != expected


def _refresh_search_text(session: DbSession, organisation: PartnerOrganisation) -> None:
    contacts: Sequence[PartnerContact]
    if "contacts" not in sa_inspect(organisation).unloaded:
        contacts = organisation.contacts  # already loaded with the organisation: no query
    else:
        contacts = (
            session.scalars(
                select(PartnerContact).where(PartnerContact.organisation_id == organisation.id)
            ).all()
            if organisation.id
            else []
        )
    organisation.search_text = search_text(organisation, contacts)


def _labelled(values: Mapping[str, object]) -> dict[str, object]:
    """The audit's wording: French labels, the category's label, a phone as the pages show it."""
    return {
        FIELD_LABELS.get(k, k): (
            PartnerCategory(v).label
            if k == "category" and isinstance(v, str) and PartnerCategory.has(v)
            else format_phone(v)
            if k == "phone" and isinstance(v, str)
            else v
        )
        for k, v in values.items()
    }


def update_organisation(
    session: DbSession,
    actor: StaffUser | None,
    organisation: PartnerOrganisation,
    values: Mapping[str, object],
) -> bool:
    """Apply validated changes; the audit event lists each changed field before and after."""
    cleaned = clean_organisation(values)
    before = {field: getattr(organisation, field) for field in ORGANISATION_FIELDS}
    changes = audit.describe_changes(_labelled(before), _labelled(cleaned))
    if not changes:
        return False
    for field, value in cleaned.items():
        setattr(organisation, field, value)
    _refresh_search_text(session, organisation)
    audit.record(
        session,
        actor,
        "partner.update",
        "partner_organisation",
        organisation.id,
        f"{organisation.name} : {changes}",
    )
    return True


def set_archived(
    session: DbSession, actor: StaffUser | None, organisation: PartnerOrganisation, archived: bool
) -> None:
    if organisation.active != archived:
        return
    organisation.active = not archived
    audit.record(
        session,
        actor,
        "partner.archive" if archived else "partner.restore",
        "partner_organisation",
        organisation.id,
        f"{organisation.name} : " + audit.describe_changes({"actif": archived}, {"actif": not archived}),
    )


def add_contact(
    session: DbSession,
    actor: StaffUser | None,
    organisation: PartnerOrganisation,
    values: Mapping[str, object],
) -> PartnerContact:
    contact = PartnerContact(organisation_id=organisation.id, **clean_contact(values))
    session.add(contact)
    session.flush()
    _refresh_search_text(session, organisation)
    added = audit.describe_changes({}, _labelled({f: getattr(contact, f) for f in CONTACT_FIELDS}))
    audit.record(
        session,
        actor,
        "partner.contact_create",
        "partner_organisation",
        organisation.id,
        f"{organisation.name} : personne ajoutée ({added})",
    )
    return contact


def update_contact(
    session: DbSession, actor: StaffUser | None, contact: PartnerContact, values: Mapping[str, object]
) -> bool:
    cleaned = clean_contact(values)
    before = {field: getattr(contact, field) for field in CONTACT_FIELDS}
    changes = audit.describe_changes(_labelled(before), _labelled(cleaned))
    if not changes:
        return False
    for field, value in cleaned.items():
        setattr(contact, field, value)
    organisation = session.get_one(PartnerOrganisation, contact.organisation_id)
    _refresh_search_text(session, organisation)
    audit.record(
        session,
        actor,
        "partner.contact_update",
        "partner_organisation",
        organisation.id,
        f"{organisation.name} / {contact.name or contact.role} : {changes}",
    )
    return True


def delete_contact(session: DbSession, actor: StaffUser | None, contact: PartnerContact) -> None:
    organisation = session.get_one(PartnerOrganisation, contact.organisation_id)
    details = ", ".join(
        f"{label} : {value}"
        for label, value in _labelled({f: getattr(contact, f) for f in CONTACT_FIELDS}).items()
        if value
    )
    session.delete(contact)
    session.flush()
    _refresh_search_text(session, organisation)
    audit.record(
        session,
        actor,
        "partner.contact_delete",
        "partner_organisation",
        organisation.id,
        f"{organisation.name} : personne retirée ({details})",
    )


def search_filter(query: str) -> list[Any]:
    """Conditions matching every word of `query` in the folded search text (accents and case
    ignored), for name, commune, postcode, category and people's names and roles."""
    return all_words(PartnerOrganisation.id, PartnerOrganisation.search_text, query)


# A directory row as the list shows it: plain columns in one value (a page of them is read
# without an entity each, nor each organisation's people as entities).
LISTED: Bundle[Any] = Bundle(
    "partner",
    PartnerOrganisation.id,
    PartnerOrganisation.name,
    PartnerOrganisation.category,
    PartnerOrganisation.commune,
    PartnerOrganisation.phone,
    PartnerOrganisation.email,
    PartnerOrganisation.active,
)


def listed(query: str, category: str, archived: bool) -> Select[tuple[Any]]:
    """The directory's list: the LISTED rows matching `query` (search_filter), of one category
    if `category` is one, archived ones only when `archived`, by name."""
    conditions = search_filter(query)
    if PartnerCategory.has(category):
        conditions.append(PartnerOrganisation.category == category)
    if not archived:
        conditions.append(PartnerOrganisation.active.is_(True))
    return (
        select(LISTED)
        .where(*conditions)
        .order_by(func.lower(PartnerOrganisation.name), PartnerOrganisation.id)
    )


_PEOPLE = (  # built once
    select(PartnerContact.organisation_id, PartnerContact.name)
    .where(PartnerContact.organisation_id.in_(bindparam("organisation_ids", expanding=True)))
    .order_by(PartnerContact.name)
)


def people_named(session: DbSession, organisation_ids: Iterable[int]) -> dict[int, str]:
    """For each of these organisations that has people: their names, by name, as the list
    shows them ('' when none of them has a name, only a role)."""
    names: dict[int, list[str]] = {}
    for organisation_id, name in session.execute(_PEOPLE, {"organisation_ids": list(organisation_ids)}):
        names.setdefault(organisation_id, []).append(name)
    return {organisation_id: ", ".join(filter(None, people)) for organisation_id, people in names.items()}


# Referral links -------------------------------------------------------------------------------


# A private link works for twelve months, renewable in one click: a link forgotten in a partner's
# old emails stops opening the form by itself.
LINK_VALIDITY = timedelta(days=365)


def create_referral_link(
    session: DbSession,
    actor: StaffUser | None,
    organisation: PartnerOrganisation,
    label: str = "",
    *,
    now: datetime | None = None,
) -> tuple[PartnerReferralLink, str]:
    """A new link, valid LINK_VALIDITY from `now` (default: its creation time); returns it with its
    token, which is stored only as a hash."""
    if not organisation.active:
        raise PartnerError("label", "Ce partenaire est archivé : rétablissez-le d'abord.")
    label = label.strip()[:120]
    token, hashed = new_token()
    link = PartnerReferralLink(
        organisation_id=organisation.id,
        token_hash=hashed,
        label=label,
        created_by_id=actor.id if actor else None,
    )
    session.add(link)
    session.flush()
    link.expires_at = (now or link.created_at) + LINK_VALIDITY
    audit.record(
        session,
        actor,
        "partner.link_create",
        "partner_organisation",
        organisation.id,
        f"{organisation.name} : lien d'adressage n° {link.id} créé" + (f" ({label})" if label else ""),
    )
    return link, token


def revoke_referral_link(
    session: DbSession, actor: StaffUser | None, link: PartnerReferralLink, *, now: datetime
) -> None:
    if link.revoked_at is not None:
        return
    link.revoked_at = now
    organisation = session.get_one(PartnerOrganisation, link.organisation_id)
    audit.record(
        session,
        actor,
        "partner.link_revoke",
        "partner_organisation",
        organisation.id,
        f"{organisation.name} : lien d'adressage n° {link.id} révoqué",
    )


def renew_referral_link(
    session: DbSession, actor: StaffUser | None, link: PartnerReferralLink, *, now: datetime
) -> None:
    """Twelve more months from now (an expired link works again); a revoked link stays revoked."""
    if link.revoked_at is not None:
        raise PartnerError("lien", "Ce lien est révoqué : créez-en un nouveau.")
    link.expires_at = now + LINK_VALIDITY
    organisation = session.get_one(PartnerOrganisation, link.organisation_id)
    audit.record(
        session,
        actor,
        "partner.link_renew",
        "partner_organisation",
        organisation.id,
        f"{organisation.name} : lien d'adressage n° {link.id} renouvelé jusqu'au {link.expires_at:%d/%m/%Y}",
    )


def link_expired(link: PartnerReferralLink, now: datetime) -> bool:
    return link.expires_at is not None and link.expires_at <= now


def find_referral_link(session: DbSession, token: str, *, now: datetime) -> PartnerReferralLink | None:
    """The active link with this token, or None (unknown, revoked or expired)."""
    link = session.scalar(
        select(PartnerReferralLink).where(PartnerReferralLink.token_hash == token_hash(token))
    )
    return link if link is not None and link.active and not link_expired(link, now) else None


def usable_referral_link(session: DbSession, token: str, *, now: datetime) -> PartnerReferralLink | None:
    """The link a partner may refer through: active, not expired, of a partner not archived."""
    link = find_referral_link(session, token, now=now)
    if link is None:
        return None
    organisation = session.get(PartnerOrganisation, link.organisation_id)
    return link if organisation is not None and organisation.active else None


def set_accepts_new_patients(
    session: DbSession,
    actor: StaffUser | None,
    organisation: PartnerOrganisation,
    value: object,
    checked_on: date | None,
    *,
    today: date,
) -> None:
    """Whether a médecin généraliste takes new patients (oui / non / à vérifier) and the day it
    was checked: the search for a médecin traitant asks those who do first."""
    if organisation.category != PartnerCategory.MEDECIN_GENERALISTE:
        raise PartnerError("accepts_new_patients", "Réservé aux médecins généralistes de l'annuaire.")
    answer = choice("accepts_new_patients", value, AcceptsPatients, "Choisissez oui, non ou à vérifier.")
    if checked_on is None:
        raise PartnerError("accepts_checked_on", "Indiquez la date de la vérification (jj/mm/aaaa).")
    if checked_on > today:
        raise PartnerError("accepts_checked_on", "La date de la vérification ne peut pas être dans le futur.")
    before = (organisation.accepts_label, organisation.accepts_checked_on)
    organisation.accepts_new_patients = answer
    organisation.accepts_checked_on = checked_on
    audit.record(
        session,
        actor,
        "partner.update",
        "partner_organisation",
        organisation.id,
        f"accepte de nouveaux patients : {before[0] or '—'} → {answer.label} "
        f"(vérifié le {checked_on:%d/%m/%Y})",
    )
