"""Fixtures shared by every test: a provisioned site in a tmp folder, the app, a client, users.

A site is provisioned once per session per database backend (as `new-site` does it), then copied
for each test: a file copy for SQLite, `CREATE DATABASE … TEMPLATE` for PostgreSQL.
"""

from __future__ import annotations

import itertools
import re
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner, Result
from sqlalchemy import select, update

from dalia_site import clock, create_app
from dalia_site.commands import cli
from dalia_site.extensions import db
from dalia_site.models import StaffUser
from dalia_site.provisioning.site import create_site
from tests.pgserver import PostgresServer

ADMIN_EMAIL = "admin@test.dalia.invalid"
PASSWORD = "correct horse battery staple"
ROLES = ("admin", "assistant", "clinician", "reporting")
# Every test account with a second factor (the admins: always asked) shares this TOTP secret; the
# login helpers send the current code with the password (the login form accepts it at once).
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
CSRF_RE = re.compile(r'name="(?:\w+-)?csrf_token"[^>]*?value="([^"]+)"')
_database_numbers = itertools.count(1)
# The real argon2id at its lowest cost: its parameters travel with the hash, so the app verifies
# it as any other, in a millisecond instead of 0.1-0.4 s (hundreds of logins in the suite).
# Hashes the app makes itself (password changes, new accounts, the demo) keep the app's cost.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """`--dist loadgroup` (make test runs two pytest-xdist workers) sends the tests marked
    `xdist_group(name)` to one worker by suffixing their node ids with "@name". pytest-xdist 3.8
    writes that suffix where pytest 9 no longer reads it (`_nodeid`; pytest 9 keeps `_id`), so the
    groups were silently ignored: the demo was built in each worker. The suffix is written here."""
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        names = sorted(
            {
                str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                for m in item.iter_markers("xdist_group")
            }
        )
        suffix = "@" + "_".join(names)
        if not names or item.nodeid.endswith(suffix):
            continue
        if hasattr(item, "_id"):  # pytest >= 9
            from _pytest.nodeid import NodeId

            item._id = NodeId.parse(item.nodeid + suffix)
        else:
            item._nodeid = item.nodeid + suffix


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One cheap argon2id hash of PASSWORD for every test user (see CHEAP_HASHER)."""
    return CHEAP_HASHER.hash(PASSWORD)


def totp_code() -> str:
    """The current code of the test accounts' authenticator app."""
    return pyotp.TOTP(TOTP_SECRET).now()


def next_totp(last_step: int | None) -> tuple[int, str]:
    """(step, code): the code of the test accounts' app for the first time step after `last_step`
    (the last one the site accepted for the account: a code is accepted once) that the site still
    takes (one step either side of now). The step before now only early in the current step, so
    that it is still valid when the request arrives; when none is left, wait for the next step,
    as a person waits for the app's next code."""
    totp = pyotp.TOTP(TOTP_SECRET)
    while True:
        moment = clock.now().timestamp()  # the site's clock: a test may have set it
        current = int(moment // totp.interval)
        lowest = current - 1 if moment % totp.interval < totp.interval - 10 else current
        step = lowest if last_step is None else max(lowest, last_step + 1)
        if step <= current + 1:
            return step, totp.generate_otp(step)
        time.sleep(totp.interval - moment % totp.interval + 0.05)
        if clock.now().timestamp() == moment:
            raise RuntimeError("no second-factor code left for this account at the frozen time")


def login_code(app, email: str) -> str:
    """The code a login of `email` on `app`'s site sends: the next one the site has not accepted
    yet for that account (read from its database, whatever logged it in before)."""
    with app.app_context(), db.engine.connect() as connection:
        last = connection.scalar(select(StaffUser.totp_last_step).where(StaffUser.email == email.lower()))
    return next_totp(last)[1]


def second_factor_fields(role: str) -> dict:
    """The columns that give an account its (confirmed) second factor, for admins."""
    if role != "admin":
        return {}
    return {"totp_secret": TOTP_SECRET, "totp_confirmed_at": datetime.now(UTC)}


def with_cheap_admin_hash(site: Path, password_hash: str) -> Path:
    """The provisioned site's admin (ADMIN_EMAIL, PASSWORD) gets the cheap hash of PASSWORD, and
    its second factor enrolled with TOTP_SECRET."""
    app = create_app(site)
    with app.app_context():
        db.session.execute(
            update(StaffUser)
            .where(StaffUser.email == ADMIN_EMAIL)
            .values(password_hash=password_hash, **second_factor_fields("admin"))
        )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return site


@pytest.fixture(scope="session")
def pg_server():
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sqlite_site_template(tmp_path_factory, password_hash) -> Path:
    instances = tmp_path_factory.mktemp("template-sqlite")
    site = create_site(
        "carcassonne", instances, slug="test", admin_email=ADMIN_EMAIL, admin_password=PASSWORD
    )
    return with_cheap_admin_hash(site.path, password_hash)


@pytest.fixture(scope="session")
def pg_site_template(tmp_path_factory, pg_server, password_hash) -> Path:
    pg_server.sql("CREATE DATABASE dalia_template")
    instances = tmp_path_factory.mktemp("template-pg")
    site = create_site(
        "carcassonne",
        instances,
        slug="test",
        admin_email=ADMIN_EMAIL,
        admin_password=PASSWORD,
        database_url=pg_server.url("dalia_template"),
    )
    return with_cheap_admin_hash(site.path, password_hash)


@pytest.fixture
def db_backend() -> str:
    """SQLite unless a test folder asks for both (tests/web does)."""
    return "sqlite"


@pytest.fixture
def site_dir(request, tmp_path, db_backend) -> Path:
    folder = tmp_path / "instances" / "test"
    if db_backend == "sqlite":
        shutil.copytree(request.getfixturevalue("sqlite_site_template"), folder)
        yield folder
        return
    server = request.getfixturevalue("pg_server")
    template = request.getfixturevalue("pg_site_template")
    dbname = f"dalia_test_{next(_database_numbers)}"
    # FILE_COPY: a plain copy of the template's files, faster than WAL_LOG (PostgreSQL 15's
    # default) for a small database on a server with fsync off.
    server.sql(f"CREATE DATABASE {dbname} TEMPLATE dalia_template STRATEGY FILE_COPY")
    shutil.copytree(template, folder)
    toml = folder / "site.toml"
    toml.write_text(toml.read_text().replace(server.url("dalia_template"), server.url(dbname)))
    yield folder
    server.sql(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")


@pytest.fixture
def app(site_dir):
    app = create_app(site_dir, {"TESTING": True})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app, password_hash):
    """make_user(role, **fields) -> StaffUser with PASSWORD, ready to log in."""
    numbers = itertools.count(1)

    def make(role: str = "assistant", **fields) -> StaffUser:
        n = next(numbers)
        values = (
            {
                "email": f"{role}{n}@test.dalia.invalid",
                "name": f"{role.capitalize()} Numéro {n}",
                "role": role,
                "active": True,
                "password_hash": password_hash,
                "must_change_password": False,
            }
            | second_factor_fields(role)
            | fields
        )
        with app.app_context():
            user = StaffUser(**values)
            db.session.add(user)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
        return user

    return make


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


class AuthActions:
    """Log in and out through the real login form, CSRF token included."""

    def __init__(self, client):
        self.client = client

    def csrf(self) -> str:
        """A token for the current session, from whatever page it lands on (login or home)."""
        page = self.client.get("/connexion", follow_redirects=True)
        return csrf_from(page.get_data(as_text=True))

    def login(self, email: str, password: str = PASSWORD, follow: bool = False):
        token = self.csrf()
        return self.client.post(
            "/connexion",
            data={
                "csrf_token": token,
                "email": email,
                "password": password,
                "code": login_code(self.client.application, email),  # ignored without a second factor
            },
            follow_redirects=follow,
        )

    def login_as(self, user: StaffUser):
        response = self.login(user.email)
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    def post(self, path: str, data: dict | None = None, **kwargs):
        """POST with the CSRF token of the current session, as a form in a page would."""
        token = self.csrf()
        return self.client.post(path, data={"csrf_token": token, **(data or {})}, **kwargs)

    def logout(self):
        return self.post("/deconnexion")


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def as_role(make_user, auth):
    """as_role('clinician') -> a logged-in user of that role."""

    def login(role: str, **fields) -> StaffUser:
        return auth.login_as(make_user(role, **fields))

    return login


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> tuple[Path, Result]:
    """`dalia demo --no-serve` run once per session (~20 s), next to an ordinary site made by
    `dalia new-site aveyron`: (instances folder, the demo command's result).

    Shared read-only: a test that changes the demo site works on a copy of its folder."""
    instances = tmp_path_factory.mktemp("demo") / "instances"
    runner = CliRunner()
    result = runner.invoke(
        cli, ["demo", "--no-serve", "--instances-dir", str(instances)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    other = runner.invoke(
        cli, ["new-site", "aveyron", "--instances-dir", str(instances)], catch_exceptions=False
    )
    assert other.exit_code == 0, other.output
    return instances, result
