"""Territory templates: TOML data in instance_templates/<slug>/, validated on load."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from dalia_site.config import SCHEMA, SiteConfigError, check_value

TEMPLATE_FILE = "territory.toml"
# The templates live beside the package in a checkout; DALIA_TEMPLATES_DIR points elsewhere.
DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "instance_templates"
SITE_KEYS = {key.name: key for key in SCHEMA if key.section == "site"}
TEMPLATE_SITE_KEYS = ("name", "territory", "departement", "cpts")


class TemplateError(SiteConfigError):
    """A template that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class TerritoryTemplate:
    slug: str
    path: Path
    site: dict[str, str]


def templates_dir() -> Path:
    return Path(os.environ.get("DALIA_TEMPLATES_DIR") or DEFAULT_TEMPLATES_DIR)


def template_slugs() -> list[str]:
    root = templates_dir()
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and not p.name.startswith("_") and (p / TEMPLATE_FILE).is_file())


def load_template(slug: str) -> TerritoryTemplate:
    path = templates_dir() / slug / TEMPLATE_FILE
    if slug.startswith(("_", ".")) or "/" in slug or not path.is_file():
        known = ", ".join(template_slugs()) or "aucun"
        raise TemplateError(f"modèle de territoire inconnu : {slug!r} (modèles : {known})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path} : TOML invalide ({exc})") from exc
    section = data.get("site")
    if not isinstance(section, dict):
        raise TemplateError(f"{path} : la section [site] est obligatoire")
    site = {}
    for name in TEMPLATE_SITE_KEYS:
        key = SITE_KEYS[name]
        value = section.get(name, key.default)
        if value is None:
            raise TemplateError(f"{path} : [site] {name} est obligatoire et absent")
        check_value(key, value, str(path))
        site[name] = value
    return TerritoryTemplate(slug=slug, path=path, site=site)
