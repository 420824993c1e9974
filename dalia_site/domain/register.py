"""The register of processing (RGPD art. 30) of one site, from its real configuration: site.toml
(security, backups, mail and SMS servers) and the centre settings (retention periods, contact).
`dalia register SLUG` writes it as Markdown; the « Données personnelles » page and the public
information notice show the same facts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import func, select

from dalia_site.database import DbSession
from dalia_site.domain import centre, retention
from dalia_site.models import PartnerContact, PartnerOrganisation, StaffUser

PURPOSES = (
    "Recevoir et trier les adressages des partenaires (éligibilité : territoire, ALD, "
    "absence de médecin traitant)",
    "Organiser les rendez-vous (première consultation en binôme, suivi alterné médecin / infirmière) "
    "et les rappels",
    "Suivre le parcours du patient jusqu'à un médecin traitant (courrier de liaison, transmission au DAC)",
    "Produire les chiffres d'activité anonymes demandés par les financeurs "
    "(effectifs inférieurs à 5 masqués)",
    "Tracer chaque consultation et modification d'un dossier (journal d'audit)",
)
LEGAL_BASIS = (
    "Mission d'intérêt public d'accès aux soins (RGPD art. 6-1-e) ; données de santé traitées pour la "
    "prise en charge sanitaire par des professionnels soumis au secret (art. 9-2-h, CSP art. L1110-4)."
)
PEOPLE = (
    "Patients adressés ou venus directement",
    "Professionnels qui adressent (nom, profession, coordonnées)",
    "Membres de l'équipe du centre (comptes, planning)",
)
DATA = (
    "Identité : nom, prénoms, nom de naissance, date de naissance, sexe",
    "Coordonnées : adresse, téléphone, e-mail",
    "Santé : ALD oui / non et libellé facultatif, existence d'un médecin traitant — aucun dossier médical",
    "Parcours : adressages, décisions, rendez-vous, plan de suivi organisationnel, tentatives de contact, "
    "messages envoyés",
    "Droits : information donnée, oppositions, historique des rectifications",
)
RECIPIENTS = (
    "L'équipe du centre, selon son rôle (administrateur, assistant·e, soignant·e)",
    "Le DAC du territoire, pour une situation complexe, sauf opposition du patient",
    "Le médecin traitant trouvé (courrier de liaison)",
    "Les financeurs (URPS, ARS, CPAM) : chiffres d'activité seulement, jamais l'identité d'un patient",
)
RIGHTS = (
    "Accès : une copie de tout ce que le centre détient sur vous",
    "Rectification d'une information inexacte",
    "Opposition : au partage avec le DAC, aux rappels par SMS ou e-mail, à être contacté(e) pour "
    "la recherche d'un médecin traitant",
    "Effacement, lorsque la loi le permet",
    "Réclamation auprès de la CNIL (www.cnil.fr)",
)


@dataclass(frozen=True)
class Contact:
    name: str
    role: str
    email: str
    phone: str


@dataclass(frozen=True)
class Register:
    site: str
    territory: str
    departement: str
    cpts: str
    address: str
    phone: str
    support: tuple[Contact, ...]  # the URPS, from the partner directory
    inactive_years: int
    declined_years: int
    backup_days: int
    https: bool
    backups_encrypted: bool
    database: str
    idle_minutes: int
    second_factor: str
    mail_server: str
    sms_provider: str
    purposes: tuple[str, ...] = PURPOSES
    legal_basis: str = LEGAL_BASIS
    people: tuple[str, ...] = PEOPLE
    data: tuple[str, ...] = DATA
    recipients: tuple[str, ...] = RECIPIENTS
    rights: tuple[str, ...] = RIGHTS

    @property
    def retention(self) -> tuple[str, ...]:
        def years(n: int) -> str:
            return f"{n} an{'s' if n > 1 else ''}"

        return (
            f"Patient sans rendez-vous ni adressage depuis {years(self.inactive_years)} : identité, "
            "coordonnées et textes libres effacés ; restent les lignes anonymes des chiffres d'activité",
            f"Adressage non retenu : {years(self.declined_years)} après la décision, même effacement",
            f"Sauvegardes : supprimées après {self.backup_days} jours",
            "Journal d'audit : conservé, sans nom une fois le patient effacé",
        )

    @property
    def security(self) -> tuple[str, ...]:
        return (
            f"Connexion chiffrée (TLS, HTTPS) : {'oui' if self.https else 'non — à configurer'}",
            f"Second facteur d'authentification : {self.second_factor}",
            f"Sauvegardes chiffrées (age) : {'oui' if self.backups_encrypted else 'non — à configurer'}",
            f"Base de données : {self.database}, propre à ce site",
            f"Session fermée après {self.idle_minutes} minutes d'inactivité ; chaque consultation et "
            "modification d'un dossier est tracée au nom de son auteur",
            "Droits par rôle : le suivi d'activité ne voit jamais l'identité d'un patient",
        )


def _second_factor(session: DbSession, for_all: bool) -> str:
    """Who must log in with a second factor ([security] second_factor_for_all), and how many
    active accounts have one."""
    who = (
        "exigé pour tous les comptes"
        if for_all
        else "exigé pour les administrateurs, au choix pour les autres"
    )
    column = getattr(StaffUser, "totp_confirmed_at", None)
    if column is None:  # a kit without the second factor
        return "non disponible"
    total, enrolled = session.execute(
        select(func.count(), func.count(column)).select_from(StaffUser).where(StaffUser.active.is_(True))
    ).one()
    return f"{who} ; activé sur {enrolled} des {total} compte(s) actif(s)"


# Built once: the contacts of the directory's first active URPS, by name.
_SUPPORT = (
    select(PartnerContact.name, PartnerContact.role, PartnerContact.email, PartnerContact.phone)
    .where(
        PartnerContact.organisation_id
        == select(PartnerOrganisation.id)
        .where(PartnerOrganisation.name.like("URPS%"), PartnerOrganisation.active.is_(True))
        .order_by(PartnerOrganisation.id)
        .limit(1)
        .scalar_subquery()
    )
    .order_by(PartnerContact.name, PartnerContact.id)
)


def build(session: DbSession, settings: Mapping[str, Mapping[str, Any]]) -> Register:
    """The register from site.toml's settings (as read by config) and the database (the retention
    periods read with the centre's settings)."""
    site, security = settings["site"], settings.get("security", {})
    centre_settings = centre.load(session)
    periods = retention.periods(session)
    url = str(settings.get("database", {}).get("url") or "")
    sms = settings.get("sms", {})
    return Register(
        site=centre_settings.display_name or str(site["name"]),
        territory=str(site.get("territory", "")),
        departement=str(site.get("departement", "")),
        cpts=str(site.get("cpts", "")),
        address=centre_settings.address,
        phone=centre_settings.phone,
        support=tuple(Contact(*row) for row in session.execute(_SUPPORT)),
        inactive_years=periods.inactive_years,
        declined_years=periods.declined_years,
        backup_days=periods.shortest_days,
        https=bool(security.get("https")),
        backups_encrypted=bool(settings.get("backup", {}).get("age_recipient")),
        database="PostgreSQL" if url.startswith("postgresql") else "SQLite",
        idle_minutes=int(security.get("idle_timeout_minutes", 30)),
        second_factor=_second_factor(session, bool(security.get("second_factor_for_all"))),
        mail_server=str(settings.get("mail", {}).get("host") or ""),
        sms_provider=str(sms.get("provider") or ""),
    )


_text = jinja2.Environment(  # nosec B701 - Markdown, not HTML
    loader=jinja2.FileSystemLoader(Path(__file__).parents[1] / "templates" / "text"),
    autoescape=False,  # noqa: S701
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)


def as_markdown(register: Register, day: str) -> str:
    return _text.get_template("register.md").render(r=register, day=day)
