"""Looking after provisioned sites: list, check, back up, restore, upgrade.

SQLite sites are copied with SQLite's online backup API (consistent while the site serves);
PostgreSQL sites with pg_dump / pg_restore. Every backup carries the site's identity
(table site_identity), so that a restore refuses a backup of another site.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from dalia_site import MIGRATIONS_DIR, clock, database
from dalia_site.config import SITE_FILE, SiteConfigError
from dalia_site.database import SiteDatabase, head_revision, open_site
from dalia_site.domain import centre, retention
from dalia_site.provisioning import crypto, outbox_check

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


class MaintenanceError(Exception):
    """A maintenance step that failed; the message is one French line."""


def site_folders(instances_dir: Path) -> list[Path]:
    if not instances_dir.is_dir():
        return []
    return sorted(
        p
        for p in instances_dir.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / SITE_FILE).is_file()
    )


def _stamp(site: SiteDatabase) -> str:
    """A backup's date in its name: the real clock, in the site's timezone (not the server's)."""
    return f"{clock.now().astimezone(ZoneInfo(site.site['timezone'])):%Y%m%d-%H%M%S}"


def last_backup(folder: Path) -> Path | None:
    backups = [p for p in (folder / "backups").glob("*") if p.is_file()]
    return max(backups, key=lambda p: p.stat().st_mtime, default=None)


@dataclass(frozen=True)
class SiteSummary:
    slug: str
    name: str
    schema: str
    patients: str
    last_backup: str


def summarise(folder: Path) -> SiteSummary:
    """One line of `dalia sites`; a broken site is listed with its error rather than hidden."""
    backup = last_backup(folder)
    zone: tzinfo = UTC
    try:
        with open_site(folder) as site:
            zone = ZoneInfo(site.site["timezone"])
            revision = database.current_revision(site.engine)
            schema = (
                "absent"
                if revision is None
                else (
                    f"{revision} (à jour)"
                    if revision == head_revision()
                    else f"{revision} (mise à jour disponible : {head_revision()})"
                )
            )
            tables = inspect(site.engine).get_table_names()
            patients = (
                str(site.session.scalar(text("SELECT count(*) FROM patient"))) if "patient" in tables else "0"
            )
            name = site.site["name"]
    except (SiteConfigError, SQLAlchemyError) as error:
        return SiteSummary(
            folder.name, "?", f"erreur : {str(error).splitlines()[0]}", "?", _backup_text(backup, zone)
        )
    return SiteSummary(folder.name, name, schema, patients, _backup_text(backup, zone))


def _backup_text(backup: Path | None, zone: tzinfo) -> str:
    """When the last backup was written, in the site's timezone (UTC if its config is unreadable)."""
    if backup is None:
        return "jamais"
    return f"{datetime.fromtimestamp(backup.stat().st_mtime, zone):%d/%m/%Y %Hh%M}"


def check_site(folder: Path) -> tuple[list[str], list[str]]:
    """(problems that stop the site, details still to complete) for `dalia check`."""
    from dalia_site.domain.partners import missing_details

    problems: list[str] = []
    to_complete: list[str] = []
    try:
        with open_site(folder) as opened:
            site = opened.site
            try:
                revision = database.current_revision(opened.engine)
            except SQLAlchemyError as error:
                return [f"base de données injoignable : {str(error).splitlines()[0]}"], []
            if revision != head_revision():
                problems.append(
                    f"schéma de la base en version {revision}, attendu "
                    f"{head_revision()} : lancez `dalia upgrade {folder.name}`"
                )
                return problems, to_complete
            if not site["cpts"]:
                to_complete.append("site.toml : [site] cpts (nom de la CPTS porteuse) à compléter")
            if not site["domain"]:
                to_complete.append(
                    "site.toml : [site] domain (nom d'hôte public) à compléter avant la mise en ligne"
                )
            to_complete += [
                f"réglages du centre : {what} à compléter (page « Réglages du centre »)"
                for what in centre.load(opened.session).missing()
            ]
            to_complete += missing_details(opened.session)
            sending, sending_details = outbox_check.outbox_lines(opened, clock.now())
            problems += sending
            to_complete += sending_details
    except SiteConfigError as error:
        problems.append(str(error))
    return problems, to_complete


def _libpq(url) -> tuple[str, dict[str, str]]:
    """The URL for pg_dump / pg_restore without its password, which goes in their environment
    (a command line is visible to every local user through `ps`)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    return url.set(drivername="postgresql", password=None).render_as_string(), env


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=3600, env=env)
    except FileNotFoundError as error:
        raise MaintenanceError(
            f"{what} : {command[0]} introuvable (apt-get install postgresql-client)"
        ) from error
    if result.returncode != 0:
        raise MaintenanceError(f"{what} : {result.stderr.strip().splitlines()[-1]}")


def _sqlite_copy(source_path: Path, destination_path: Path) -> None:
    """SQLite's online backup API: a consistent copy even while the source is being written."""
    source = sqlite3.connect(source_path)
    destination = sqlite3.connect(destination_path)
    try:
        with destination:
            source.backup(destination)
    finally:
        destination.close()
        source.close()


def backup_site(folder: Path, out: Path | None = None) -> Path:
    """A consistent snapshot of the site's database, written under a temporary name then renamed."""
    with open_site(folder) as site:
        slug = site.site["slug"]
        sqlite = site.is_sqlite
        target = out or folder / "backups" / f"{slug}-{_stamp(site)}.{'sqlite3' if sqlite else 'pgdump'}"
        # With a public key in site.toml, encrypted before a byte is written (crypto.py).
        recipient = site.settings["backup"]["age_recipient"]
        if recipient and not str(target).endswith(crypto.SUFFIX):
            target = Path(f"{target}{crypto.SUFFIX}")
        # Absolute, but a symlink planted under the target's name is not followed (it is replaced).
        target = Path(os.path.abspath(target))
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written in a private folder (0700) beside the target, then renamed over it: in a shared
        # folder (--out /tmp/…) a file or symlink planted under the partial's name is never
        # followed nor written through, and a planted target is replaced, not written into.
        scratch = Path(tempfile.mkdtemp(prefix=".dalia-sauvegarde-", dir=target.parent))
        partial = scratch / f"{target.name}.partial"
        # Created 0600 before a byte is written: a backup holds health data.
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        try:
            if recipient and sqlite:
                crypto.encrypt_sqlite(Path(site.engine.url.database or ""), recipient, partial)
            elif recipient:
                url, env = _libpq(site.engine.url)
                command = ["pg_dump", "--format=custom", "--no-owner", url]
                crypto.encrypt_pg_dump(command, env, recipient, partial)
            elif sqlite:
                _sqlite_copy(Path(str(site.engine.url.database)), partial)
            else:
                url, env = _libpq(site.engine.url)
                _run(
                    ["pg_dump", "--format=custom", "--no-owner", "--file", str(partial), url], "pg_dump", env
                )
            partial.replace(target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def prune_backups(folder: Path, slug: str, keep: int) -> list[Path]:
    """Remove all but the `keep` newest dated backups of the site (safety copies made before a
    restore, and files written with --out elsewhere, are never removed)."""
    dated = sorted(
        (p for p in (folder / "backups").glob(f"{slug}-2*") if p.is_file()),
        key=lambda p: p.name,
        reverse=True,
    )
    removed = dated[keep:]
    for path in removed:
        path.unlink()
    return removed


def prune_expired_backups(folder: Path, now: datetime) -> list[Path]:
    """Remove every backup in the site's backups/ older than its retention window (the shortest
    retention period of the centre settings): a backup must not keep what the site has erased."""
    with open_site(folder) as site:
        days = retention.periods(site.session).shortest_days
    limit = now.timestamp() - days * 86400
    expired = sorted(p for p in (folder / "backups").glob("*") if p.is_file() and p.stat().st_mtime < limit)
    for path in expired:
        path.unlink()
    return expired


def _read_only(path: Path) -> sqlite3.Connection:
    # The path quoted in the URI: a "#" or "?" in a file name would end the path there (and open
    # another file than the one restored).
    return sqlite3.connect(f"file:{urllib.parse.quote(str(path))}?mode=ro", uri=True)


def _check_sqlite_backup(backup: Path, live_database: str) -> None:
    """A SQLite file of this kit's schema: at a revision of its migrations, whole (integrity
    check), and holding no trigger or view that the schema does not define (compared with the
    live site's own database). Raises MaintenanceError saying why not."""
    from alembic.script import ScriptDirectory

    known = {script.revision for script in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()}
    connection = _read_only(backup)
    try:
        try:
            revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            integrity = [row[0] for row in connection.execute("PRAGMA integrity_check")]
            extras = set(
                connection.execute(
                    "SELECT type, name, sql FROM sqlite_master WHERE type IN ('trigger', 'view')"
                )
            )
        except sqlite3.DatabaseError as error:
            raise MaintenanceError(
                f"{backup.name} : base illisible ({error}), restauration refusée"
            ) from error
    finally:
        connection.close()
    if revision is None or revision[0] not in known:
        raise MaintenanceError(
            f"{backup.name} : schéma inconnu de ce kit (révision {revision[0] if revision else 'absente'}), "
            "restauration refusée"
        )
    if integrity != ["ok"]:
        raise MaintenanceError(f"{backup.name} : fichier endommagé ({integrity[0]}), restauration refusée")
    live = sqlite3.connect(f"file:{urllib.parse.quote(live_database)}?mode=ro", uri=True)
    try:
        expected = set(
            live.execute("SELECT type, name, sql FROM sqlite_master WHERE type IN ('trigger', 'view')")
        )
    finally:
        live.close()
    unknown = sorted(name for _kind, name, _sql in extras - expected)
    if unknown:
        raise MaintenanceError(
            f"{backup.name} : déclencheur ou vue étrangers au schéma ({', '.join(unknown)}), "
            "restauration refusée"
        )


def _backup_identity(backup: Path) -> tuple[str, str] | None:
    """(slug, site_uid) read from a backup file, without touching any site."""
    head = backup.read_bytes()[:16]
    if head.startswith(SQLITE_MAGIC):
        connection = _read_only(backup)
        try:
            row = connection.execute("SELECT slug, site_uid FROM site_identity").fetchone()
        except sqlite3.DatabaseError:
            row = None
        finally:
            connection.close()
        return tuple(row) if row else None
    if head.startswith(PGDUMP_MAGIC):
        result = subprocess.run(
            ["pg_restore", "--data-only", "--table=site_identity", "-f", "-", str(backup)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        lines = result.stdout.splitlines()
        for index, line in enumerate(lines):
            if line.startswith("COPY ") and "site_identity" in line and index + 1 < len(lines):
                columns = line[line.index("(") + 1 : line.index(")")].replace('"', "").split(", ")
                values = dict(zip(columns, lines[index + 1].split("\t"), strict=False))
                slug, site_uid = values.get("slug"), values.get("site_uid")
                return (slug, site_uid) if slug is not None and site_uid is not None else None
        return None
    raise MaintenanceError(f"{backup} : ni une sauvegarde SQLite ni un export pg_dump")


def restore_site(folder: Path, backup: Path, identity: Path | None = None) -> Path:
    """Replace the site's data by a backup of the same site, decrypted first with the private key
    file `identity` if it is encrypted; the current data is saved first."""
    backup = Path(backup).resolve()
    if not backup.is_file():
        raise MaintenanceError(f"{backup} : fichier introuvable")
    with crypto.decrypted(backup, identity, folder) as plain:
        return _restore_plain(folder, plain)


def _restore_plain(folder: Path, backup: Path) -> Path:
    if backup.read_bytes()[:16].startswith(SQLITE_MAGIC):
        # Checked and restored from one private copy: the file read is the file copied.
        with tempfile.TemporaryDirectory(dir=folder, prefix=".restauration-") as scratch:
            copy = Path(scratch) / "restauration.sqlite3"
            shutil.copyfile(backup, copy)
            return _restore_checked(folder, copy, backup.name)
    return _restore_checked(folder, backup, backup.name)


def _restore_checked(folder: Path, backup: Path, shown: str) -> Path:
    from dalia_site.models import SiteIdentity

    identity = _backup_identity(backup)
    if identity is None:
        raise MaintenanceError(f"{shown} : sauvegarde sans identité de site, restauration refusée")
    with open_site(folder) as site:
        slug = site.site["slug"]
        try:
            current = site.session.execute(select(SiteIdentity.slug, SiteIdentity.site_uid)).first()
        except SQLAlchemyError:
            site.session.rollback()
            current = None
        if (current and tuple(current) != identity) or (not current and identity[0] != slug):
            raise MaintenanceError(
                f"{shown} est une sauvegarde du site {identity[0]!r}, pas de {slug!r} : restauration refusée"
            )
        sqlite = site.is_sqlite
        database_file = str(site.engine.url.database) if sqlite else None
        url = site.engine.url
        stamp = _stamp(site)
    if sqlite:
        _check_sqlite_backup(backup, str(database_file))
    safety = backup_site(
        folder,
        folder / "backups" / f"{slug}-avant-restauration-{stamp}.{'sqlite3' if sqlite else 'pgdump'}",
    )
    if sqlite:
        # The backup API writes into the live database under SQLite's own locks: readers of a
        # serving site see the old data or the new, never a mix.
        _sqlite_copy(backup, Path(str(database_file)))
    else:
        libpq_url, env = _libpq(url)
        _run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--dbname",
                libpq_url,
                str(backup),
            ],
            "pg_restore",
            env,
        )
    return safety


@dataclass(frozen=True)
class UpgradeResult:
    slug: str
    ok: bool
    message: str


def upgrade_site(folder: Path) -> UpgradeResult:
    """Back up, then apply pending migrations. Never raises: the result says what happened."""
    slug = folder.name
    try:
        with open_site(folder) as site:
            before = database.current_revision(site.engine)
            if before == head_revision():
                # No migration, but fresh planner statistics all the same (as after migrations).
                with site.engine.begin() as connection:
                    database.analyse(connection)
                return UpgradeResult(slug, True, f"déjà à jour ({before})")
        backup = backup_site(folder)
        with open_site(folder) as site:
            database.upgrade(site.engine)
            after = database.current_revision(site.engine)
            # Settings that site.toml held before the centre's settings page existed move there.
            if centre.import_site_toml(site.session, site.settings, clock.now()):
                site.session.commit()
        return UpgradeResult(slug, True, f"{before or 'vide'} → {after} (sauvegarde : {backup.name})")
    except (SiteConfigError, MaintenanceError) as error:
        return UpgradeResult(slug, False, str(error))
    except Exception as error:  # noqa: BLE001 - one broken site must not stop the others
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return UpgradeResult(slug, False, f"{type(error).__name__} : {first_line}")
