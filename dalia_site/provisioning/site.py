"""Create a site folder from a territory template: all of it, or nothing at all.

The folder is built under a temporary name beside its final place and renamed at the end, so a
failure at any step leaves no folder behind (and, on PostgreSQL, no tables).
"""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
import tomli_w
from sqlalchemy import inspect, text

from dalia_site import clock, database
from dalia_site.config import SECRET_FILE, SITE_FILE, SLUG_RE, SiteConfigError, host_name_problem
from dalia_site.provisioning.deploy import render_deploy
from dalia_site.provisioning.templates import load_template

FILES_DIR = Path(__file__).parent / "files"
# TOML, not HTML: no HTML escaping; values are quoted by the `toml` filter below.
_jinja = jinja2.Environment(  # nosec B701
    loader=jinja2.FileSystemLoader(FILES_DIR),
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701
)


def _toml_value(value: object) -> str:
    """One TOML value, written by a TOML writer (tomli-w): JSON's escapes are not all TOML's."""
    return tomli_w.dumps({"v": value}).removeprefix("v = ").rstrip("\n")


_jinja.filters["toml"] = _toml_value


class ProvisioningError(Exception):
    """A site that could not be created; nothing of it was left behind."""


@dataclass(frozen=True)
class CreatedSite:
    path: Path
    admin_email: str
    admin_password: str | None  # set when generated: to print once


def default_instances_dir() -> Path:
    return Path(os.environ.get("DALIA_INSTANCES_DIR") or "instances").resolve()


def site_path(instances_dir: Path, slug: str) -> Path:
    if not SLUG_RE.fullmatch(slug):
        raise ProvisioningError(
            f"nom de site invalide : {slug!r} (minuscules, chiffres et tirets, ex. « aveyron »)"
        )
    return instances_dir / slug


def generate_password() -> str:
    """16 random characters (letters, digits, - and _): the password rules' « 14 of any kind »."""
    from dalia_site.domain.passwords import password_problems

    while True:
        password = secrets.token_urlsafe(12)
        if not password_problems(password):
            return password


def write_site_files(folder: Path, template, slug: str, domain: str, database_url: str) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.mkdir(mode=0o700)  # secret key, database and backups: for the site's user only
    site = dict(template.site, slug=slug, timezone="Europe/Paris", domain=domain)
    https = bool(domain)
    toml = _jinja.get_template("site.toml.j2").render(
        site=site,
        territory=template.territory,
        template=template.slug,
        created=f"{clock.today(ZoneInfo(site['timezone'])):%d/%m/%Y}",
        database_url=database_url,
        https=https,
        proxy_hops=1 if https else 0,
        # A site on the internet asks every role for the second factor; a local one only admins.
        second_factor_for_all=https,
    )
    (folder / SITE_FILE).write_text(toml, encoding="utf-8")
    secret_path = folder / SECRET_FILE
    fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as secret_file:
        secret_file.write(secrets.token_hex(32) + "\n")
    (folder / "backups").mkdir()


def _check_empty_database(engine) -> None:
    tables = inspect(engine).get_table_names()
    if tables:
        raise ProvisioningError(
            f"la base {engine.url.render_as_string(hide_password=True)} n'est pas vide "
            f"({len(tables)} tables) : elle appartient peut-être à un autre site"
        )


def _drop_schema(folder: Path) -> None:
    """Undo what a failed provisioning created in an existing PostgreSQL database."""
    with database.open_site(folder, new=True) as site:
        database.db.metadata.drop_all(site.engine)
        with site.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


def create_site(
    template_slug: str,
    instances_dir: Path,
    slug: str | None = None,
    domain: str = "",
    admin_email: str | None = None,
    database_url: str = "",
    admin_password: str | None = None,
    progress=lambda step: None,
) -> CreatedSite:
    """Provision a configured, migrated site with its first admin; see DESIGN.md, new-site."""
    from dalia_site.domain import accounts, centre, partners
    from dalia_site.domain.text import email_key
    from dalia_site.models import SiteIdentity

    template = load_template(template_slug)
    slug = slug or template.slug
    final = site_path(instances_dir, slug)
    if domain and (problem := host_name_problem(domain)):
        raise ProvisioningError(f"--domain {domain!r} refusé : {problem}")
    if final.exists():
        raise ProvisioningError(f"le site {slug!r} existe déjà : {final} (rien n'a été modifié)")
    admin_email = email_key(admin_email or f"admin@{domain or slug + '.invalid'}")
    generated = admin_password is None
    password = admin_password or generate_password()

    temporary = instances_dir / f".{slug}.creating-{secrets.token_hex(4)}"
    schema_created = False
    try:
        progress("fichiers du site")
        write_site_files(temporary, template, slug, domain, database_url)
        with database.open_site(temporary, new=True) as site:
            if database_url:
                _check_empty_database(site.engine)
            progress("base de données")
            schema_created = True
            database.upgrade(site.engine)
            session = site.session
            session.add(SiteIdentity(slug=slug, site_uid=str(uuid.uuid4())))
            progress(f"annuaire : {len(template.partners)} partenaires")
            for partner in template.partners:
                partners.create_organisation(session, None, partner.values, partner.contacts)
            progress("premier compte administrateur")
            admin = accounts.create_staff(
                session, None, admin_email, "Administrateur du site", "admin", password
            )
            # A generated password is a one-time password; one the operator chose is not.
            admin.must_change_password = generated
            # The centre's settings start from the template's (then edited on the settings page).
            centre.import_site_toml(session, site.settings, clock.now())
            session.commit()
            site_values = dict(site.site)
        progress("fichiers de déploiement")
        render_deploy(temporary, site_values, instances_dir.resolve())
        # Deploy files name the final folder; they are rendered before the rename on purpose.
        temporary.rename(final)
    except BaseException as error:
        if schema_created and database_url:
            _drop_schema(temporary)
        shutil.rmtree(temporary, ignore_errors=True)
        if isinstance(error, (SiteConfigError, ProvisioningError)):
            raise
        if isinstance(error, accounts.AccountError):
            raise ProvisioningError(f"premier administrateur refusé : {error}") from error
        if isinstance(error, Exception):
            raise ProvisioningError(f"création du site {slug!r} impossible : {error}") from error
        raise
    return CreatedSite(path=final, admin_email=admin_email, admin_password=password if generated else None)
