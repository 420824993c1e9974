"""The `dalia` command (also `python cli.py`): provision, run and look after DALIA sites.

Each command parses its options, calls one provisioning function and reports in one line;
errors go to stderr as one line with a non-zero exit.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from dalia_site import clock
from dalia_site.config import SiteConfigError
from dalia_site.database import open_site
from dalia_site.domain import centre
from dalia_site.models.vocabulary import Role
from dalia_site.provisioning import maintenance
from dalia_site.provisioning.crypto import BackupCryptoError
from dalia_site.provisioning.site import (
    ProvisioningError,
    create_site,
    default_instances_dir,
    generate_password,
    site_path,
)
from dalia_site.provisioning.templates import TemplateError, load_template, template_slugs

DEMO_SLUG = "demo"
DEMO_TEMPLATE = "carcassonne"

instances_option = click.option(
    "--instances-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Dossier des sites (défaut : ./instances ou DALIA_INSTANCES_DIR).",
)


def _instances(instances_dir: Path | None) -> Path:
    return (instances_dir or default_instances_dir()).resolve()


def _fail(message: str) -> None:
    click.secho(f"Erreur : {message}", fg="red", err=True)
    raise SystemExit(1)


def _site_dir(instances_dir: Path | None, slug: str) -> Path:
    try:
        folder = site_path(_instances(instances_dir), slug)
    except ProvisioningError as error:
        _fail(str(error))
    if not (folder / "site.toml").is_file():
        _fail(f"site inconnu : {slug!r} (aucun {folder / 'site.toml'})")
    return folder


def _load_app(folder: Path):
    """The web app, for `serve` only: every other command works on the database alone."""
    from dalia_site import create_app

    try:
        return create_app(folder)
    except SiteConfigError as error:
        _fail(str(error))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dalia-site", prog_name="dalia", message="%(prog)s %(version)s")
def cli():
    """Sites DALIA : créer, servir et entretenir le site de chaque territoire."""


@cli.command("new-site")
@click.argument("template")
@click.option("--slug", help="Nom court du site (défaut : celui du modèle).")
@instances_option
@click.option("--domain", default="", help="Nom d'hôte public (ex. dalia-aveyron.fr).")
@click.option("--admin-email", help="E-mail du premier administrateur.")
@click.option("--database-url", default="", help="Base PostgreSQL existante et vide (défaut : SQLite).")
def new_site(template, slug, instances_dir, domain, admin_email, database_url):
    """Crée un site configuré, migré et prêt à servir à partir d'un modèle de territoire."""
    try:
        created = create_site(
            template,
            _instances(instances_dir),
            slug=slug,
            domain=domain,
            admin_email=admin_email,
            database_url=database_url,
            admin_password=os.environ.get("DALIA_ADMIN_PASSWORD") or None,
            progress=lambda step: click.echo(f"  … {step}", err=True),
        )
    except (ProvisioningError, SiteConfigError) as error:
        _fail(str(error))
    click.echo(f"Site créé : {created.path}")
    click.echo(f"Administrateur : {created.admin_email}")
    if created.admin_password:
        click.echo(f"Mot de passe provisoire (affiché une seule fois) : {created.admin_password}")


@cli.command("create-user")
@click.argument("slug")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
@click.option("--name", default="", help="Nom et prénom (défaut : l'e-mail).")
@instances_option
def create_user(slug, email, role, name, instances_dir):
    """Ajoute un compte ; mot de passe provisoire depuis DALIA_USER_PASSWORD ou généré."""
    from dalia_site.domain import accounts

    folder = _site_dir(instances_dir, slug)
    password = os.environ.get("DALIA_USER_PASSWORD") or generate_password()
    try:
        with open_site(folder) as site:
            try:
                user = accounts.create_staff(site.session, None, email, name or email, role, password)
            except accounts.AccountError as error:
                site.session.rollback()
                _fail(str(error))
            site.session.commit()
            email = user.email
    except SiteConfigError as error:
        _fail(str(error))
    click.echo(f"Compte créé : {email} ({role})")
    if not os.environ.get("DALIA_USER_PASSWORD"):
        click.echo(f"Mot de passe provisoire (affiché une seule fois) : {password}")


@cli.command()
def templates():
    """Liste les modèles de territoire (nom court, nom, département)."""
    slugs = template_slugs()
    if not slugs:
        _fail("aucun modèle de territoire trouvé")
    for slug in slugs:
        try:
            template = load_template(slug)
        except TemplateError as error:
            click.echo(f"{slug:<18} modèle invalide : {error}")
            continue
        site = template.site
        click.echo(
            f"{slug:<18} {site['name']:<34} {site['departement']:>3}  {len(template.partners)} partenaires"
        )


@cli.command()
@instances_option
def sites(instances_dir):
    """Liste les sites : nom court, nom, version du schéma, patients, dernière sauvegarde."""
    folders = maintenance.site_folders(_instances(instances_dir))
    if not folders:
        click.echo(f"Aucun site dans {_instances(instances_dir)}")
        return
    click.echo(f"{'site':<18} {'nom':<34} {'schéma':<14} {'patients':>8}  dernière sauvegarde")
    for folder in folders:
        info = maintenance.summarise(folder)
        click.echo(
            f"{info.slug:<18} {info.name:<34} {info.schema:<14} {info.patients:>8}  {info.last_backup}"
        )


@cli.command()
@click.argument("slug")
@instances_option
def check(slug, instances_dir):
    """Vérifie la configuration et la base ; liste ce qui reste à compléter."""
    problems, to_complete = maintenance.check_site(_site_dir(instances_dir, slug))
    for line in problems:
        click.secho(f"ERREUR   {line}", fg="red", err=True)
    for line in to_complete:
        click.echo(f"à compléter  {line}")
    if problems:
        raise SystemExit(1)
    click.echo(
        f"{slug} : configuration et base valides"
        + (f", {len(to_complete)} point(s) à compléter" if to_complete else "")
    )


@cli.command()
@click.argument("slug", required=False)
@click.option("--all", "all_sites", is_flag=True, help="Tous les sites du dossier.")
@instances_option
def upgrade(slug, all_sites, instances_dir):
    """Sauvegarde puis applique les migrations en attente (un site, ou --all)."""
    if bool(slug) == all_sites:
        _fail("indiquez un site ou --all (pas les deux)")
    folders = (
        maintenance.site_folders(_instances(instances_dir)) if all_sites else [_site_dir(instances_dir, slug)]
    )
    results = []
    with click.progressbar(
        folders, label="Mise à jour", file=sys.stderr, item_show_func=lambda f: f.name if f else ""
    ) as bar:
        for folder in bar:
            results.append(maintenance.upgrade_site(folder))
    for result in results:
        status = click.style("ok    ", fg="green") if result.ok else click.style("ÉCHEC ", fg="red")
        click.echo(f"{status}{result.slug:<18} {result.message}")
    failed = [r for r in results if not r.ok]
    click.echo(f"{len(results) - len(failed)} site(s) à jour, {len(failed)} en échec")
    if failed:
        raise SystemExit(1)


@cli.command()
@click.argument("slug")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Fichier de sortie.")
@click.option(
    "--keep", type=click.IntRange(1), help="Ne garder que les N sauvegardes datées les plus récentes."
)
@instances_option
def backup(slug, out, keep, instances_dir):
    """Sauvegarde cohérente de la base du site (même pendant qu'il sert)."""
    folder = _site_dir(instances_dir, slug)
    try:
        path = maintenance.backup_site(folder, out)
    except (maintenance.MaintenanceError, BackupCryptoError, SiteConfigError) as error:
        _fail(str(error))
    click.echo(f"Sauvegarde : {path}")
    if keep:
        removed = maintenance.prune_backups(folder, slug, keep)
        if removed:
            click.echo(f"{len(removed)} ancienne(s) sauvegarde(s) supprimée(s)")
    expired = maintenance.prune_expired_backups(folder, clock.now())
    if expired:
        click.echo(f"{len(expired)} sauvegarde(s) plus ancienne(s) que la durée de conservation supprimée(s)")


@cli.command()
@click.argument("slug")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--identity",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Clé privée age (age-keygen) d'une sauvegarde chiffrée.",
)
@instances_option
def restore(slug, file, identity, instances_dir):
    """Remplace les données du site par une sauvegarde de ce même site."""
    try:
        safety = maintenance.restore_site(_site_dir(instances_dir, slug), file, identity)
    except (maintenance.MaintenanceError, BackupCryptoError, SiteConfigError) as error:
        _fail(str(error))
    click.echo(f"Site {slug} restauré depuis {file} (données précédentes : {safety.name})")


@cli.command("move-to-postgresql")
@click.argument("slug")
@click.argument("url")
@instances_option
def move_to_postgresql(slug, url, instances_dir):
    """Déplace un site SQLite vers une base PostgreSQL vide, données vérifiées (site arrêté)."""
    from dalia_site.provisioning.move import MoveError
    from dalia_site.provisioning.move import move_to_postgresql as move

    try:
        moved = move(
            _site_dir(instances_dir, slug), url, progress=lambda step: click.echo(f"  … {step}", err=True)
        )
    except (MoveError, SiteConfigError) as error:
        _fail(str(error))
    click.echo(
        f"Site {slug} déplacé vers {moved.url} : {len(moved.tables)} tables, {moved.rows} lignes "
        "vérifiées (nombre et somme de contrôle par table)"
    )
    click.echo(f"Base SQLite conservée : {moved.sqlite_backup}")
    click.echo(f"Redémarrez le site : systemctl restart dalia@{slug}")


def _each_site(slug: str | None, all_sites: bool, instances_dir: Path | None, work) -> None:
    """Run `work(site)` -> (report line, failures) on each open site (database.SiteDatabase), one or
    all; one failing site does not stop the others; non-zero exit if any failed."""
    if bool(slug) == all_sites:
        _fail("indiquez un site ou --all (pas les deux)")
    folders = (
        [_site_dir(instances_dir, slug)] if slug else maintenance.site_folders(_instances(instances_dir))
    )
    failures = 0
    for folder in folders:
        try:
            with open_site(folder) as site:
                line, failed = work(site)
        except SiteConfigError as error:
            click.secho(f"{folder.name} : {error}", fg="red", err=True)
            failures += 1
            continue
        failures += failed
        click.echo(f"{folder.name} : {line}")
    if failures:
        raise SystemExit(1)


sites_argument = click.argument("slug", required=False)
all_option = click.option("--all", "all_sites", is_flag=True, help="Tous les sites du dossier.")


@cli.command("send-mail")
@sites_argument
@all_option
@instances_option
def send_mail(slug, all_sites, instances_dir):
    """Envoie les e-mails et SMS en attente (accusés, décisions, rappels) ; à lancer par un timer.
    Sort en erreur quand des messages attendent et que rien ne peut les envoyer."""

    def work(site):
        sent = _send_outbox(site)
        line = f"{sent.emails} envoyé(s), {sent.email_failures} en échec (réessayés au prochain passage)"
        return "".join([line, sent.sms_line, *sent.notes]), sent.failures

    _each_site(slug, all_sites, instances_dir, work)


@dataclasses.dataclass
class _Sent:
    emails: int = 0
    email_failures: int = 0
    sms: int | None = None  # None: no SMS provider
    sms_failures: int = 0
    notes: list[str] = dataclasses.field(default_factory=list)
    failures: int = 0

    @property
    def sms_line(self) -> str:
        return "" if self.sms is None else f" ; {self.sms} SMS envoyé(s), {self.sms_failures} en échec"


def _send_outbox(site) -> _Sent:
    """Send what waits in the site's outbox, emails then SMS. Messages waiting with no server
    (or no SMS provider) to send them count as a failure: the timer's exit status shows it
    rather than a silent 0."""
    from dalia_site.domain import mail, sms
    from dalia_site.models.vocabulary import MessageChannel

    zone = ZoneInfo(site.site["timezone"])
    sent = _Sent()
    if site.mail["host"] and site.mail["from_address"]:
        sent.emails, sent.email_failures = mail.send_pending(
            site.session, site.mail, site.site["name"], clock.now, 1000, zone
        )
        sent.failures += sent.email_failures
    else:
        count, _ = mail.waiting(site.session, MessageChannel.EMAIL)
        sent.notes.append(
            f" ; {count} e-mail(s) en attente mais pas de serveur SMTP dans site.toml [mail]"
            if count
            else " ; pas de serveur SMTP dans site.toml [mail]"
        )
        sent.failures += bool(count)
    sender = sms.sender_from(site.sms)
    if sender is not None:
        sent.sms, sent.sms_failures, stopped = mail.send_pending_sms(
            site.session, sender, clock.now, zone, 1000
        )
        if stopped:
            sent.notes.append(f" ; envoi des SMS arrêté : {stopped}")
        sent.failures += sent.sms_failures
    else:
        count, _ = mail.waiting(site.session, MessageChannel.SMS)
        if count:
            sent.notes.append(f" ; {count} SMS en attente mais pas de fournisseur SMS ([sms] de site.toml)")
            sent.failures += 1
    return sent


@cli.command("send-reminders")
@sites_argument
@all_option
@instances_option
def send_reminders(slug, all_sites, instances_dir):
    """Rappels (SMS ou e-mail, J-2 et/ou J-1 selon les réglages du centre, entre 8 h et 20 h) des
    rendez-vous à venir, une fois par jour et par rendez-vous, puis envoi de la file."""
    from dalia_site.domain import reminders, sms
    from dalia_site.models.vocabulary import ReminderChannel

    def work(site):
        zone = ZoneInfo(site.site["timezone"])
        settings = centre.load(site.session)
        if not settings.display_name:
            settings = dataclasses.replace(settings, display_name=site.site["name"])
        queued = reminders.queue_reminders(
            site.session,
            settings,
            zone,
            now=clock.now(),
            sms_ready=sms.sender_from(site.sms) is not None,
            base_url=_public_url(site),
        )
        site.session.commit()  # queued and marked together: never twice
        sent = _send_outbox(site)
        line = (
            f"{sum(queued.values())} rappel(s) préparé(s), {sent.emails} e-mail(s) envoyé(s), "
            f"{sent.email_failures} en échec{sent.sms_line} (réessayés au prochain passage)"
            f" ; rappels par SMS : {queued[ReminderChannel.SMS]},"
            f" par e-mail : {queued[ReminderChannel.EMAIL]}"
        )
        return "".join([line, *sent.notes]), sent.failures

    _each_site(slug, all_sites, instances_dir, work)


@cli.command("send-open-half-days")
@sites_argument
@all_option
@instances_option
def send_open_half_days(slug, all_sites, instances_dir):
    """Courriel hebdomadaire aux membres de l'équipe flexible qui l'ont demandé : les
    demi-journées ouvertes des trois prochains mois (sans donnée de patient), puis envoi de la
    file ; à lancer par un timer le lundi matin."""
    from dalia_site.domain import board

    def work(site):
        zone = ZoneInfo(site.site["timezone"])
        settings = centre.load(site.session)
        board_url = (_public_url(site) or "") + "/planning/demi-journees-ouvertes"
        queued = board.queue_weekly_email(
            site.session,
            settings.opening,
            zone,
            settings.display_name or site.site["name"],
            board_url,
            today=clock.today(zone),
            now=clock.now(),
        )
        site.session.commit()
        sent = _send_outbox(site)
        line = (
            f"{queued} courriel(s) des demi-journées ouvertes préparé(s), {sent.emails} e-mail(s) envoyé(s)"
        )
        return "".join([line, *sent.notes]), sent.failures

    _each_site(slug, all_sites, instances_dir, work)


def _public_url(site) -> str:
    """The site's public address for the patients' private links ('' without [site] domain)."""
    domain = site.site.get("domain") or ""
    if not domain:
        return ""
    return f"{'https' if site.settings['security']['https'] else 'http'}://{domain}"


@cli.command()
@sites_argument
@all_option
@instances_option
def optimize(slug, all_sites, instances_dir):
    """Met à jour les statistiques du planificateur de requêtes (ANALYZE) ; le timer nocturne le lance."""
    from dalia_site.database import analyse

    def work(site):
        started = time.perf_counter()
        with site.engine.begin() as connection:
            analyse(connection)
        return f"statistiques à jour (ANALYZE, {time.perf_counter() - started:.1f} s)", 0

    _each_site(slug, all_sites, instances_dir, work)


@cli.command()
@sites_argument
@all_option
@click.option("--dry-run", is_flag=True, help="Lister ce qui serait effacé, sans rien modifier.")
@instances_option
def retention(slug, all_sites, dry_run, instances_dir):
    """Efface l'identité de ce qui a dépassé sa durée de conservation (timer quotidien) et prévient
    les administrateurs un mois avant."""
    from dalia_site.domain import retention as rules

    def work(site):
        now = clock.now()
        due = rules.upcoming(site.session, now=now)
        for item in due:  # numbers only: the journal never holds a name
            what = f"patient n° {item.patient_id}" if item.patient_id else f"adressage n° {item.referral_id}"
            click.echo(f"  {what} : {item.reason}")
        if dry_run:
            site.session.rollback()
            return f"{len(due)} dossier(s) à effacer (simulation : rien n'est modifié)", 0
        rules.apply(site.session, now=now)
        warned = rules.warn_admins(site.session, site.site["name"], now=now)
        site.session.commit()
        return f"{len(due)} dossier(s) effacé(s), {warned} avertissement(s) aux administrateurs", 0

    _each_site(slug, all_sites, instances_dir, work)


@cli.command()
@click.argument("slug")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Fichier Markdown (défaut : la sortie)."
)
@instances_option
def register(slug, out, instances_dir):
    """Registre des traitements du site (Markdown), tiré de sa configuration réelle."""
    from dalia_site.domain import register as processing

    try:
        with open_site(_site_dir(instances_dir, slug)) as site:
            entry = processing.build(site.session, site.config["SITE_SETTINGS"])
            zone = ZoneInfo(site.site["timezone"])
    except SiteConfigError as error:
        _fail(str(error))
    text = processing.as_markdown(entry, f"{clock.today(zone):%d/%m/%Y}")
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"Registre : {out}")


DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y"]


def _decimal_comma(value):
    """French Excel reads 2,604 as a number, 2.604 as text."""
    return str(value).replace(".", ",") if isinstance(value, float) else value


# `report --all`: per site, its name, its period (as `report SLUG --format json` gives them) and these.
ALL_SITES_FIGURES = (
    "patients_received",
    "consultations",
    "patients_per_hour",
    "direct_access_share",
    "no_show_rate",
    "referrals_received",
    "median_days_referral_to_first_visit",
    "patients_given_gp",
    "refusal_reasons",
    "waiting_list",
    "overdue_follow_ups",
    "gp_found",
    "gp_found_median_days",
    "reminders_sent",
    "confirmed_by_patient",
    "cancelled_by_patient",
    "no_show_rate_with_reminder",
    "no_show_rate_without_reminder",
)


def _flat(row: dict) -> dict:
    """A row of `report --all` for a CSV sheet: an object's figures as `key.subkey` columns."""
    flat: dict[str, object] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat |= {f"{key}.{sub}": item for sub, item in value.items()}
        else:
            flat[key] = value
    return flat


@cli.command()
@sites_argument
@all_option
@click.option(
    "--from", "first", type=click.DateTime(DATE_FORMATS), help="Premier jour (défaut : un an avant --to)."
)
@click.option("--to", "last", type=click.DateTime(DATE_FORMATS), help="Dernier jour (défaut : aujourd'hui).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "csv", "json"]), default="text", show_default=True
)
@instances_option
def report(slug, all_sites, first, last, fmt, instances_dir):
    """Chiffres d'activité d'une période : un site en détail, ou une ligne par site (--all)."""
    import json

    from dalia_site.domain import activity
    from dalia_site.domain.spreadsheet import csv_text

    def figures(site):
        zone = ZoneInfo(site.site["timezone"])
        end = last.date() if last else clock.today(zone)
        try:
            period = activity.Period(first.date() if first else activity.Period.year_to(end).first, end)
        except activity.PeriodError as error:
            _fail(str(error))
        return activity.compute(site.session, period, zone, centre.load(site.session).opening)

    def secrecy(site) -> int:
        """The site's small-count threshold: counts of 1 to 4 people read « < 5 », as in the web
        exports (statistical secrecy)."""
        return int(site.config["SMALL_COUNT_THRESHOLD"])

    if bool(slug) == all_sites:
        _fail("indiquez un site ou --all (pas les deux)")
    if slug:
        try:
            with open_site(_site_dir(instances_dir, slug)) as site:
                result = figures(site)
                name, threshold = site.site["name"], secrecy(site)
        except SiteConfigError as error:
            _fail(str(error))
        render = {"text": activity.as_text, "csv": activity.as_secret_csv, "json": activity.as_secret_json}[
            fmt
        ]
        click.echo(render(result, name, threshold), nl=False)
        return
    if fmt == "text":
        _each_site(
            None, True, instances_dir, lambda site: (activity.one_line(figures(site), secrecy(site)), 0)
        )
        return
    rows, failures = [], 0
    for folder in maintenance.site_folders(_instances(instances_dir)):
        try:
            with open_site(folder) as site:
                values = activity.secret_values(figures(site), folder.name, secrecy(site))
        except SiteConfigError as error:
            click.secho(f"{folder.name} : {error}", fg="red", err=True)
            failures += 1
            continue
        rows.append(
            {"site": values["site"], "period": values["period"]} | {k: values[k] for k in ALL_SITES_FIGURES}
        )
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        flat = [_flat({k: row[k] for k in ALL_SITES_FIGURES}) for row in rows]
        columns = list(flat[0]) if flat else list(ALL_SITES_FIGURES)
        header = ("site", "from", "to", *columns)
        lines = (
            [
                row["site"],
                row["period"]["from"],
                row["period"]["to"],
                *(_decimal_comma(values[k]) for k in columns),
            ]
            for row, values in zip(rows, flat, strict=True)
        )
        click.echo(csv_text([header, *lines]), nl=False)
    if failures:
        raise SystemExit(1)


def _port_taken(port: int, host: str = "127.0.0.1") -> str | None:
    """Why `port` cannot be served on `host` (the French line to print), or None if it can: the
    same bind the server will do, tried before any long work (the demo builds a year first)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Werkzeug's server does
        try:
            probe.bind((host, port))
        except PermissionError:
            return f"le port {port} est réservé à l'administrateur : choisissez-en un au-delà de 1023"
        except OSError:
            return (
                f"le port {port} de {host} est déjà utilisé (un autre serveur, ou une démo déjà lancée ?) : "
                f"arrêtez-le ou choisissez un autre port (--port {port + 1}, ou make demo PORT={port + 1})"
            )
    return None


def _serve(folder: Path, port: int, host: str = "127.0.0.1") -> None:
    from werkzeug.serving import run_simple

    app = _load_app(folder)
    if reason := _port_taken(port, host):  # taken meanwhile: still one French line, not a traceback
        _fail(reason)
    click.echo(f"Site {folder.name} servi sur http://{host}:{port}/ (Ctrl+C pour arrêter)")
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@cli.command()
@click.argument("slug")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@instances_option
def serve(slug, port, instances_dir):
    """Sert un site en local (pour la production : gunicorn, voir deploy/)."""
    folder = _site_dir(instances_dir, slug)
    if reason := _port_taken(port):
        _fail(reason)
    _serve(folder, port)


DEMO_STAFF = (  # the clinician and the assistant are members of the demo's team
    ("admin", "admin@demo.dalia.invalid", "Camille Admin"),
    ("assistant", "assistante@demo.dalia.invalid", "Nadia Benali"),
    ("clinician", "medecin@demo.dalia.invalid", "Dr Paul Séverac"),
    ("reporting", "suivi@demo.dalia.invalid", "Suivi URPS"),
)
# The demo centre's contact details, as its admin would fill them in: fictitious (the 04 65 71
# numbers are reserved by ARCEP for fiction), so that convocations show what a real one prints.
DEMO_CENTRE = {
    "address": "1 place de la Démonstration, 11000 Carcassonne",
    "phone": "04 65 71 00 00",
    "access_notes": "Bus ligne 2, arrêt Gambetta. Rez-de-chaussée, accessible en fauteuil.",
}


@cli.command()
@instances_option
@click.option("--no-serve", is_flag=True, help="Créer le site de démonstration sans le servir.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
def demo(instances_dir, no_serve, port):
    """(Re)crée le site de démonstration instances/demo, avec une année d'activité fictive qui
    reproduit le bilan d'un an de Carcassonne, et le sert sur 127.0.0.1."""
    import gc

    from dalia_site.domain import accounts, activity
    from dalia_site.provisioning import demo as demo_data

    if not no_serve and (reason := _port_taken(port)):
        _fail(reason)  # before the year is built (≈ 45 s), not after
    instances = _instances(instances_dir)
    folder = instances / DEMO_SLUG
    if folder.exists():
        toml = folder / "site.toml"
        if not toml.is_file() or 'slug = "demo"' not in toml.read_text(encoding="utf-8"):
            _fail(f"{folder} existe et n'est pas un site de démonstration : rien n'a été supprimé")
        shutil.rmtree(folder)  # the demo holds only synthetic data: rebuilt on every run
    passwords = {role: generate_password() for role, _, _ in DEMO_STAFF}
    try:
        created = create_site(
            DEMO_TEMPLATE,
            instances,
            slug=DEMO_SLUG,
            admin_email=DEMO_STAFF[0][1],
            admin_password=passwords["admin"],
        )
    except (ProvisioningError, SiteConfigError) as error:
        _fail(str(error))
    try:
        with open_site(created.path) as opened:
            session, site, settings = opened.session, opened.site, opened.settings
            zone = ZoneInfo(site["timezone"])
            for role, email, name in DEMO_STAFF[1:]:
                user = accounts.create_staff(session, None, email, name, role, passwords[role])
                user.must_change_password = False
            session.flush()
            centre.update(session, None, dataclasses.asdict(centre.load(session)) | DEMO_CENTRE)
            settings_now = centre.load(session)
            plan = demo_data.plan_year(clock.today(zone), zone, settings_now.hours, settings_now.visits)
            gc.disable()  # a year of objects in one session: the collector would rescan them
            try:
                with click.progressbar(
                    demo_data.Replay(session, plan, site, settings),
                    label="Une année d'activité fictive",
                    file=sys.stderr,
                ) as steps:
                    for _ in steps:
                        pass
            finally:
                gc.enable()
            session.commit()
            figures = activity.compute(session, plan.period, zone, centre.load(session).opening)
    except BaseException:
        shutil.rmtree(created.path, ignore_errors=True)  # never a half-made demo
        raise
    click.echo(f"Site de démonstration prêt : {created.path}")
    click.echo(f"Activité : {activity.one_line(figures)}")
    click.echo("Comptes (mots de passe régénérés à chaque `make demo`) :")
    for role, email, _ in DEMO_STAFF:
        click.echo(f"  {role:<10} {email:<32} {passwords[role]}")
    click.echo(
        "À sa première connexion, l'admin active la double authentification : scanner le code QR "
        "avec une application (FreeOTP, Aegis, Google Authenticator…), taper son code, noter les "
        "codes de secours."
    )
    if not no_serve:
        _serve(created.path, port)
