"""Eligibility for a DALIA centre: lives in the territory, has an ALD, has no médecin traitant.

A checklist for the triage screen: each criterion is met, not met or unknown. The decision stays
human and is recorded with the referral.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dalia_site.domain.text import fold
from dalia_site.models import Patient, Referral

MET, NOT_MET, UNKNOWN = "met", "not_met", "unknown"


@dataclass(frozen=True)
class Criterion:
    label: str
    state: str
    detail: str


def lives_in_territory(postcode: str, commune: str, prefixes: list[str], communes: list[str]) -> Criterion:
    label = "Habite le territoire"
    if not postcode and not commune:
        return Criterion(label, UNKNOWN, "adresse non renseignée")
    if commune and fold(commune) in {fold(c) for c in communes}:
        return Criterion(label, MET, f"commune {commune} desservie")
    if postcode and any(postcode.startswith(p) for p in prefixes):
        return Criterion(label, MET, f"code postal {postcode} dans la zone du site")
    where = " ".join(filter(None, (postcode, commune)))
    return Criterion(label, NOT_MET, f"{where} hors de la zone du site")


def has_ald(ald: str, label: str) -> Criterion:
    title = "Affection de longue durée (ALD)"
    if ald == "yes":
        return Criterion(title, MET, label or "ALD déclarée")
    if ald == "no":
        return Criterion(title, NOT_MET, "pas d'ALD")
    return Criterion(title, UNKNOWN, "à vérifier (ALD probable ?)")


def has_no_gp(gp_status: str, gp_name: str) -> Criterion:
    title = "Sans médecin traitant"
    if gp_status == "none":
        return Criterion(title, MET, "aucun médecin traitant déclaré")
    return Criterion(title, NOT_MET, f"médecin traitant : {gp_name or 'oui'}")


def checklist(identity: Patient | Referral, territory: Mapping[str, Any]) -> list[Criterion]:
    """The three criteria for a referral or a patient (anything with the identity fields)."""
    return [
        lives_in_territory(
            identity.postcode,
            identity.commune,
            territory.get("postcode_prefixes", []),
            territory.get("communes", []),
        ),
        has_ald(identity.ald, identity.ald_label),
        has_no_gp(identity.gp_status, identity.gp_name),
    ]
