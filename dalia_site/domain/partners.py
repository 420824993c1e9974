"""Partner directory rules: what a valid organisation is, its search text, what is left to complete."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from dalia_site.domain import audit
from dalia_site.domain.text import InvalidValue, fold, normalise_phone, normalise_postcode
from dalia_site.models.partners import PARTNER_CATEGORIES, PartnerContact, PartnerOrganisation

ORGANISATION_FIELDS = ("name", "category", "address", "postcode", "commune", "phone", "email",
                       "website", "opening_hours", "finess", "notes")
CONTACT_FIELDS = ("name", "role", "phone", "email")
FINESS_RE = re.compile(r"^(\d{2}|2[AB])\d{7}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
MAX_LENGTHS = {"name": 200, "address": 300, "commune": 120, "website": 300,
               "opening_hours": 200, "email": 254, "role": 120, "notes": 5000}


class PartnerError(InvalidValue):
    """An invalid partner field: `field` names it, the message is French."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _clean_email(field: str, value: str) -> str:
    value = value.strip()
    if value and not EMAIL_RE.match(value):
        raise PartnerError(field, "Adresse e-mail invalide (ex. contact@cpts.fr).")
    return value.lower()


def _clean_common(values: Mapping[str, object], fields: Iterable[str]) -> dict[str, str]:
    cleaned = {}
    for field in fields:
        value = values.get(field, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise PartnerError(field, "doit être du texte")
        value = value.strip()
        if len(value) > MAX_LENGTHS.get(field, 300):
            raise PartnerError(field, f"Trop long ({MAX_LENGTHS.get(field, 300)} caractères au plus).")
        cleaned[field] = value
    try:
        if "phone" in cleaned:
            cleaned["phone"] = normalise_phone(cleaned["phone"])
    except InvalidValue as error:
        raise PartnerError("phone", str(error)) from error
    if "email" in cleaned:
        cleaned["email"] = _clean_email("email", cleaned["email"])
    return cleaned


def clean_organisation(values: Mapping[str, object]) -> dict[str, object]:
    """Validated and normalised organisation fields, or PartnerError naming the first bad one."""
    cleaned: dict[str, object] = _clean_common(values, ORGANISATION_FIELDS)
    if not cleaned["name"]:
        raise PartnerError("name", "Le nom est obligatoire.")
    if cleaned["category"] not in PARTNER_CATEGORIES:
        raise PartnerError("category", f"Catégorie inconnue : {cleaned['category']!r}.")
    try:
        cleaned["postcode"] = normalise_postcode(cleaned["postcode"])
    except InvalidValue as error:
        raise PartnerError("postcode", str(error)) from error
    finess = cleaned["finess"].upper().replace(" ", "")
    if finess and not FINESS_RE.match(finess):
        raise PartnerError("finess", "Numéro FINESS invalide : 9 caractères (ex. 110780061).")
    cleaned["finess"] = finess or None
    website = cleaned["website"]
    if website and not re.match(r"^(https?://)?[\w.-]+\.[a-z]{2,}(/\S*)?$", website, re.I):
        raise PartnerError("website", "Adresse de site web invalide (ex. www.cpts-exemple.fr).")
    return cleaned


def clean_contact(values: Mapping[str, object]) -> dict[str, str]:
    cleaned = _clean_common(values, CONTACT_FIELDS)
    if not (cleaned["name"] or cleaned["role"]):
        raise PartnerError("name", "Indiquez au moins le nom ou la fonction de la personne.")
    return cleaned


def search_text(organisation: PartnerOrganisation, contacts: Iterable[PartnerContact]) -> str:
    parts = [organisation.name, organisation.commune, organisation.postcode,
             PARTNER_CATEGORIES[organisation.category], organisation.category]
    parts += [f"{c.name} {c.role}" for c in contacts]
    return fold(" ".join(parts))


def create_organisation(
    session: Session, actor, values: Mapping[str, object],
    contacts: Iterable[Mapping[str, object]] = (),
) -> PartnerOrganisation:
    cleaned = clean_organisation(values)
    people = [PartnerContact(**clean_contact(c)) for c in contacts]
    organisation = PartnerOrganisation(**cleaned, active=True)
    organisation.contacts = people
    organisation.search_text = search_text(organisation, people)
    session.add(organisation)
    session.flush()
    audit.record(session, actor, "partner.create", "partner_organisation", organisation.id,
                 f"Partenaire créé : {organisation.name} ({organisation.category_label})")
    return organisation


def missing_details(session: Session) -> list[str]:
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
        missing = [label for field, label in (("phone", "téléphone"), ("email", "e-mail"),
                                              ("address", "adresse"), ("commune", "commune"))
                   if not getattr(organisation, field)]
        if missing:
            lines.append(f"{organisation.name} : {', '.join(missing)} à compléter")
        for person in organisation.contacts:
            if not (person.phone or person.email):
                who = person.name or person.role
                lines.append(f"{organisation.name} / {who} : téléphone ou e-mail à compléter")
    return lines
