"""Territory templates: TOML data in instance_templates/, validated on load.

`_common/partners.toml` holds what every Occitanie site shares (URPS, ARS) and the partners each
département has one of (CPAM, CDOM, DAC…), named with the territory's `{de_departement}`;
`<slug>/territory.toml` holds the territory's facts and its own partners.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from dalia_site.config import SCHEMA, SiteConfigError, check_value
from dalia_site.domain.partners import PartnerError, clean_contact, clean_organisation
from dalia_site.kit import templates_folder

TEMPLATE_FILE = "territory.toml"
COMMON_PARTNERS = Path("_common") / "partners.toml"
TEMPLATE_KEYS = {
    "site": ("name", "territory", "departement", "cpts"),
    "territory": ("de_departement", "postcode_prefixes", "communes"),
}
PARTNER_KEYS = {
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
    "contacts",
}


class TemplateError(SiteConfigError):
    """A template that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Partner:
    values: dict[str, object]
    contacts: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class TerritoryTemplate:
    slug: str
    path: Path
    site: dict[str, object]
    territory: dict[str, object]
    partners: list[Partner]


def templates_dir() -> Path:
    """The kit's instance_templates/ (shipped in the wheel); DALIA_TEMPLATES_DIR points elsewhere."""
    return Path(os.environ.get("DALIA_TEMPLATES_DIR") or templates_folder())


def template_slugs() -> list[str]:
    root = templates_dir()
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(("_", ".")) and (p / TEMPLATE_FILE).is_file()
    )


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TemplateError(f"{path} : fichier introuvable") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path} : TOML invalide ({exc})") from exc


def _section(data: dict, path: Path, name: str, required: bool = True) -> dict[str, object]:
    section = data.get(name, None if required else {})
    if not isinstance(section, dict):
        raise TemplateError(f"{path} : la section [{name}] est obligatoire")
    values = {}
    keys = {k.name: k for k in SCHEMA if k.section == name}
    for key_name in TEMPLATE_KEYS[name]:
        key = keys[key_name]
        value = section.get(key_name, key.default)
        if value is None:
            raise TemplateError(f"{path} : [{name}] {key_name} est obligatoire et absent")
        value = list(value) if isinstance(value, tuple) else value
        check_value(key, value, str(path))
        values[key_name] = value
    unknown = set(section) - set(TEMPLATE_KEYS[name])
    if unknown:
        raise TemplateError(f"{path} : [{name}] {sorted(unknown)[0]} est une clé inconnue")
    return values


def _partners(data: dict, path: Path, names: dict[str, str]) -> list[Partner]:
    entries = data.get("partners", [])
    if not isinstance(entries, list):
        raise TemplateError(f"{path} : partners doit être une liste [[partners]]")
    partners = []
    for index, entry in enumerate(entries, start=1):
        where = f"{path} : partners[{index}]"
        if not isinstance(entry, dict):
            raise TemplateError(f"{where} doit être une table [[partners]]")
        unknown = set(entry) - PARTNER_KEYS
        if unknown:
            raise TemplateError(f"{where}.{sorted(unknown)[0]} est une clé inconnue")
        values = {k: v for k, v in entry.items() if k != "contacts"}
        if isinstance(values.get("name"), str):
            try:
                values["name"] = values["name"].format(**names)
            except (KeyError, IndexError, ValueError) as exc:
                raise TemplateError(f"{where}.name : variable inconnue {exc}") from exc
        try:
            cleaned = clean_organisation(values)
        except PartnerError as error:
            raise TemplateError(f"{where}.{error.field} : {error}") from error
        contacts = []
        for number, person in enumerate(entry.get("contacts", []), start=1):
            try:
                contacts.append(clean_contact(person if isinstance(person, dict) else {}))
            except PartnerError as error:
                raise TemplateError(f"{where}.contacts[{number}].{error.field} : {error}") from error
        partners.append(Partner(values=cleaned, contacts=contacts))
    return partners


def load_template(slug: str) -> TerritoryTemplate:
    root = templates_dir()
    path = root / slug / TEMPLATE_FILE
    if slug.startswith(("_", ".")) or "/" in slug or not path.is_file():
        known = ", ".join(template_slugs()) or "aucun"
        raise TemplateError(f"modèle de territoire inconnu : {slug!r} (modèles : {known})")
    data = _read_toml(path)
    unknown = set(data) - {"site", "territory", "partners"}
    if unknown:
        raise TemplateError(
            f"{path} : {sorted(unknown)[0]} est inconnu (attendu : [site], [territory], [[partners]])"
        )
    site = _section(data, path, "site")
    territory = _section(data, path, "territory", required=False)
    names = {
        "de_departement": str(territory["de_departement"] or f"({site['departement']})"),
        "departement": str(site["departement"]),
    }
    common_path = root / COMMON_PARTNERS
    partners = _partners(_read_toml(common_path), common_path, names) if common_path.is_file() else []
    partners += _partners(data, path, names)
    return TerritoryTemplate(slug=slug, path=path, site=site, territory=territory, partners=partners)
