"""Read a site folder (site.toml + secret_key) into Flask config, validated in one place.

Every problem is reported as one SiteConfigError naming the file and the key, so that an admin
reading a failed `systemctl status` or `dalia check` knows exactly what to fix.
"""

from __future__ import annotations

import ipaddress
import re
import stat
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dalia_site.models.booking import MAX_VISIT_MINUTES
from dalia_site.models.roster import WEEKDAYS

SITE_FILE = "site.toml"
SECRET_FILE = "secret_key"
SQLITE_FILE = "dalia.sqlite3"
SMTP_PASSWORD_FILE = "smtp_password"  # optional, mode 0600, like secret_key
SMS_API_KEY_FILE = "sms_api_key"  # the SMS provider's API key ([sms]), mode 0600
SMS_PROVIDERS = ("", "brevo")
SMS_SENDER_RE = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9]{3,11}$|^\d{3,15}$")
MIN_SECRET_LENGTH = 32
HOURS_RE = re.compile(r"([01]\d:[0-5]\d|2[0-3]:[0-5]\d)-([01]\d:[0-5]\d|2[0-3]:[0-5]\d)")
# Matched whole (fullmatch): "$" alone would let a trailing newline through.
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
DEPARTEMENT_RE = re.compile(r"^(0[1-9]|[1-8][0-9]|9[0-5]|2A|2B|97[1-6])$")


class SiteConfigError(Exception):
    """A site folder that cannot be served; the message names the file and the key."""


@dataclass(frozen=True)
class Key:
    section: str
    name: str
    kind: type
    default: object = None  # None means required

    @property
    def label(self) -> str:
        return f"[{self.section}] {self.name}"


# The schema of site.toml. Later capabilities add their sections here, in this one place.
SCHEMA = (
    Key("site", "slug", str),
    Key("site", "name", str),
    Key("site", "territory", str),
    Key("site", "departement", str),
    Key("site", "cpts", str, ""),
    Key("site", "timezone", str, "Europe/Paris"),
    Key("site", "domain", str, ""),
    Key("territory", "de_departement", str, ""),
    Key("territory", "postcode_prefixes", list, ()),
    Key("territory", "communes", list, ()),
    Key("hours", "open_days", list, ("lundi", "mardi", "mercredi", "jeudi", "vendredi")),
    Key("hours", "morning", str, "08:30-12:30"),
    Key("hours", "afternoon", str, "13:30-17:30"),
    Key("visits", "first_minutes", int, 60),
    Key("visits", "doctor_minutes", int, 30),
    Key("visits", "nurse_minutes", int, 30),
    Key("visits", "address", str, ""),
    Key(
        "visits",
        "what_to_bring",
        str,
        "Carte Vitale, ordonnances en cours, derniers résultats "
        "d'analyses et comptes rendus, carnet de santé.",
    ),
    Key("database", "url", str, ""),
    Key("backup", "age_recipient", str, ""),
    Key("mail", "host", str, ""),
    Key("mail", "port", int, 25),
    Key("mail", "from_address", str, ""),
    Key("mail", "starttls", bool, False),
    Key("mail", "tls", bool, False),  # implicit TLS from the first byte (port 465)
    Key("mail", "username", str, ""),
    Key("sms", "provider", str, ""),
    Key("sms", "sender", str, ""),
    Key("sms", "api_url", str, "https://api.brevo.com/v3"),
    Key("sms", "timeout_seconds", int, 10),
    Key("security", "idle_timeout_minutes", int, 30),
    Key("security", "https", bool, False),
    Key("security", "proxy_hops", int, 0),
    # Forwarded headers are read only from these peers (or gunicorn's unix socket): see proxy.py.
    Key("security", "trusted_proxies", list, ("127.0.0.1", "::1")),
    # A session ends this many hours after login, however active (on top of the idle timeout).
    Key("security", "session_max_hours", int, 12),
    # The second factor (TOTP) is always asked of admins; true: of every role (new-site --domain).
    Key("security", "second_factor_for_all", bool, False),
    # Statistical secrecy: activity counts of 1 to this minus one people are shown as « < N ».
    Key("security", "small_count_threshold", int, 5),
)


AGE_RECIPIENT_RE = re.compile(r"age1[02-9ac-hj-np-z]{58}")


def check_value(key: Key, value: object, where: str) -> None:
    def fail(why: str) -> NoReturn:
        raise SiteConfigError(f"{where} : {key.label} {why}")

    # bool is a subclass of int in Python: refuse `true` where a number is expected.
    if not isinstance(value, key.kind) or (key.kind is int and isinstance(value, bool)):
        fail(f"doit être de type {_TYPE_NAMES[key.kind]} (valeur lue : {value!r})")
    if isinstance(value, list):
        if not all(isinstance(item, str) and item.strip() for item in value):
            fail("doit être une liste de textes non vides")
        if key.name == "open_days" and not set(value) <= set(WEEKDAYS):
            fail(f"doit lister des jours parmi {', '.join(WEEKDAYS)}")
        if key.name == "trusted_proxies" and not all(_is_network(v) for v in value):
            fail('doit lister des adresses IP (ex. ["127.0.0.1", "::1"])')
        if key.name == "postcode_prefixes" and not all(re.fullmatch(r"\d{2,5}", v) for v in value):
            fail('doit lister des débuts de codes postaux (ex. ["12"] ou ["12000", "12850"])')
        return
    if isinstance(value, str):
        _check_text(key, value, fail)
    elif isinstance(value, int) and not isinstance(value, bool):
        _check_number(key, value, fail)


def _check_text(key: Key, value: str, fail: Callable[[str], NoReturn]) -> None:
    if key.section == "hours" and key.name in ("morning", "afternoon"):
        match = HOURS_RE.fullmatch(value)
        if not match or match.group(1) >= match.group(2):
            fail('doit être une plage « HH:MM-HH:MM » (ex. "08:30-12:30")')
    if key.name == "slug" and not SLUG_RE.fullmatch(value):
        fail("doit être en minuscules, chiffres et tirets (ex. « tarn-et-garonne »)")
    if key.name in ("name", "territory") and not value.strip():
        fail("ne doit pas être vide")
    if key.name == "departement" and not DEPARTEMENT_RE.match(value):
        fail("doit être un numéro de département entre guillemets (ex. « 09 », « 2A »)")
    if key.name == "domain" and value and host_name_problem(value):
        fail(f"n'est pas un nom d'hôte valide : {host_name_problem(value)}")
    if key.name == "timezone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            fail(f"n'est pas un fuseau horaire connu : {value!r}")
    if key.section == "database" and value and not value.startswith(("postgresql", "sqlite")):
        fail("doit commencer par postgresql+psycopg:// ou sqlite:///")
    if key.section == "sms" and key.name == "provider" and value not in SMS_PROVIDERS:
        fail("doit être « brevo » ou vide (pas de SMS)")
    if key.section == "sms" and key.name == "sender" and value and not SMS_SENDER_RE.match(value):
        fail("doit être un nom d'expéditeur de 3 à 11 lettres ou chiffres (ex. « DALIA12 »)")
    if (
        key.section == "sms"
        and key.name == "api_url"
        and not value.startswith(("https://", "http://127.0.0.1"))
    ):
        fail("doit être une adresse https://")
    if key.name == "age_recipient" and value and not AGE_RECIPIENT_RE.fullmatch(value):
        fail("doit être une clé publique age (« age1… », donnée par age-keygen -y) ou vide")


def _check_number(key: Key, value: int, fail: Callable[[str], NoReturn]) -> None:
    if key.name == "idle_timeout_minutes" and not 1 <= value <= 24 * 60:
        fail("doit être compris entre 1 et 1440 minutes")
    if key.section == "visits" and key.name.endswith("_minutes") and not 10 <= value <= MAX_VISIT_MINUTES:
        fail(f"doit être une durée en minutes entre 10 et {MAX_VISIT_MINUTES}")
    if key.section == "mail" and key.name == "port" and not 1 <= value <= 65535:
        fail("doit être un port entre 1 et 65535")
    if key.section == "sms" and key.name == "timeout_seconds" and not 1 <= value <= 60:
        fail("doit être compris entre 1 et 60 secondes")
    if key.name == "proxy_hops" and not 0 <= value <= 5:
        fail("doit être compris entre 0 et 5")
    if key.name == "session_max_hours" and not 1 <= value <= 24:
        fail("doit être compris entre 1 et 24 heures")
    if key.name == "small_count_threshold" and not 2 <= value <= 20:
        fail("doit être compris entre 2 et 20")


def host_name_problem(value: str) -> str | None:
    """Why `value` is not a public host name (IDNA: « dalia-aveyron.fr », « santé-rodez.fr »), or None.

    It lands in nginx's server_name, the unit files and every link of the emails: nothing but
    letters, digits, hyphens and dots, in at least two labels."""
    if value != value.strip() or not value or value.endswith("."):
        return "espaces, point final ou vide"
    try:
        ascii_name = value.encode("idna").decode("ascii")
    except UnicodeError:
        return "caractères non permis (lettres, chiffres, tirets et points seulement)"
    labels = ascii_name.split(".")
    if len(labels) < 2 or len(ascii_name) > 253:
        return "il faut un nom complet (ex. « dalia-aveyron.fr »)"
    label_re = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.I)
    if not all(label_re.fullmatch(label) for label in labels) or labels[-1].isdigit():
        return "lettres, chiffres, tirets et points seulement (ex. « dalia-aveyron.fr »)"
    return None


def _is_network(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


_TYPE_NAMES = {str: "texte", int: "entier", bool: "booléen (true/false)", list: "liste"}


def read_site_toml(site_dir: Path) -> dict[str, dict[str, object]]:
    """Parse and validate site.toml; returns {section: {key: value}} with defaults filled in."""
    path = site_dir / SITE_FILE
    if not path.is_file():
        raise SiteConfigError(f"{path} : fichier introuvable")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SiteConfigError(f"{path} : TOML invalide ({exc})") from exc

    known = {(k.section, k.name) for k in SCHEMA}
    for section, values in raw.items():
        if not isinstance(values, dict):
            raise SiteConfigError(f"{path} : {section} doit être une section [{section}]")
        for name in values:
            if (section, name) not in known and section in {k.section for k in SCHEMA}:
                raise SiteConfigError(f"{path} : [{section}] {name} est une clé inconnue")

    settings: dict[str, dict[str, object]] = {}
    for key in SCHEMA:
        value = raw.get(key.section, {}).get(key.name, key.default)
        if isinstance(value, tuple):
            value = list(value)
        if value is None:
            raise SiteConfigError(f"{path} : {key.label} est obligatoire et absent")
        check_value(key, value, str(path))
        settings.setdefault(key.section, {})[key.name] = value
    # Sections of later capabilities (opening hours, visits…) are kept as they are.
    for section, values in raw.items():
        settings.setdefault(section, dict(values))
    return settings


def read_secret_key(site_dir: Path) -> str:
    path = site_dir / SECRET_FILE
    if not path.is_file():
        raise SiteConfigError(f"{path} : fichier introuvable (clé secrète du site)")
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SiteConfigError(f"{path} : permissions trop larges, attendu 0600 (chmod 600)")
    secret = path.read_text(encoding="utf-8").strip()
    if len(secret) < MIN_SECRET_LENGTH:
        raise SiteConfigError(
            f"{path} : clé secrète trop courte ({len(secret)} caractères, minimum {MIN_SECRET_LENGTH})"
        )
    return secret


def _optional_secret(path: Path) -> str:
    if not path.is_file():
        return ""
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SiteConfigError(f"{path} : permissions trop larges, attendu 0600 (chmod 600)")
    return path.read_text(encoding="utf-8").strip()


def database_url(site_dir: Path, settings: dict[str, dict[str, object]]) -> str:
    url = str(settings["database"]["url"])
    return url or f"sqlite:///{(site_dir / SQLITE_FILE).resolve()}"


def flask_config(site_dir: str | Path) -> dict[str, object]:
    """Everything create_app needs from a site folder, as Flask config keys."""
    site_dir = Path(site_dir).resolve()
    if not site_dir.is_dir():
        raise SiteConfigError(f"{site_dir} : dossier de site introuvable")
    settings = read_site_toml(site_dir)
    security = settings["security"]
    minutes, max_hours, proxies = (
        security["idle_timeout_minutes"],
        security["session_max_hours"],
        security["trusted_proxies"],
    )
    # read_site_toml has checked them
    assert isinstance(minutes, int) and isinstance(max_hours, int) and isinstance(proxies, list)
    idle_timeout = timedelta(minutes=minutes)
    url = database_url(site_dir, settings)
    return {
        "SITE_DIR": site_dir,
        "SITE": settings["site"],
        "SITE_SETTINGS": settings,
        "SECRET_KEY": read_secret_key(site_dir),
        "SQLALCHEMY_DATABASE_URI": url,
        # A server connection may be dropped under us (restart, idle timeout); a file cannot.
        # hide_parameters: a database error in the logs never carries what a user typed.
        # pool_recycle: a SQLite connection reads the planner statistics when it opens, so the
        # nightly `dalia optimize` reaches a serving site through connections at most an hour old.
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_pre_ping": url.startswith("postgresql"),
            "hide_parameters": True,
            "pool_recycle": 3600,
        },
        "IDLE_TIMEOUT": idle_timeout,
        "PERMANENT_SESSION_LIFETIME": idle_timeout,
        "SESSION_COOKIE_NAME": f"dalia_{settings['site']['slug']}",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": security["https"],
        "PREFERRED_URL_SCHEME": "https" if security["https"] else "http",
        "PROXY_HOPS": security["proxy_hops"],
        "TRUSTED_PROXIES": list(proxies),
        "SESSION_MAX_AGE": timedelta(hours=max_hours),
        "SECOND_FACTOR_FOR_ALL": security["second_factor_for_all"],
        "SMALL_COUNT_THRESHOLD": security["small_count_threshold"],
        "REMEMBER_COOKIE_DURATION": timedelta(0),
        "WTF_I18N_ENABLED": False,  # use WTForms' bundled French messages (dalia_site.forms)
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the (idle-limited) session
        "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,
        "MAIL": dict(settings["mail"], password=_optional_secret(site_dir / SMTP_PASSWORD_FILE)),
        "SMS": dict(settings["sms"], api_key=_optional_secret(site_dir / SMS_API_KEY_FILE)),
    }
