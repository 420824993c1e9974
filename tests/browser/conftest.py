"""Browser tests: Debian's Chromium driven by Playwright against a live, freshly provisioned site.

The site is provisioned once per session (a copy of the shared SQLite template), given one user per
role, and served by a real Werkzeug server in a daemon thread. Every page a test lands on goes
through `check_page`: axe-core finds no serious or critical violation, and the browser reported no
Content Security Policy violation and no uncaught script error.

axe-core lives in tests/browser/vendor/, never in the app's static folder. Playwright answers
requests for AXE_URL on the site's own origin with that file, so axe is loaded as a same-origin
script and every test runs with the app's CSP (`script-src 'self'`) enforced, as users get it.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, Response
from sqlalchemy import update
from werkzeug.serving import make_server

from dalia_site import clock, create_app
from dalia_site.domain import accounts
from dalia_site.extensions import db
from dalia_site.models import StaffUser
from dalia_site.models.vocabulary import Role
from tests.conftest import PASSWORD, ROLES, next_totp, second_factor_fields

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_FILE = Path(__file__).parent / "vendor" / "axe.min.js"
AXE_URL = "/__tests__/axe.min.js"  # answered by Playwright (context.route), never by the app
BLOCKING_IMPACTS = ("serious", "critical")
CSP_MARKER = "Content Security Policy"
ACTION_TIMEOUT_MS = 5_000  # a local server answers in milliseconds: fail fast, not after 30 s


@dataclass(frozen=True)
class Staff:
    role: str
    email: str
    name: str

    @property
    def role_label(self) -> str:
        return Role(self.role).label


# One account per role, all with tests.conftest.PASSWORD, created in the live site.
STAFF = {
    "admin": Staff("admin", "claire.admin@test.dalia.invalid", "Claire Lefèvre"),
    "assistant": Staff("assistant", "bruno.secretariat@test.dalia.invalid", "Bruno Méric"),
    "clinician": Staff("clinician", "helene.medecin@test.dalia.invalid", "Hélène Castan"),
    "reporting": Staff("reporting", "paul.urps@test.dalia.invalid", "Paul Gaubert"),
}
assert set(STAFF) == set(ROLES)


# --- Parallel runs (pytest-xdist) ------------------------------------------------------------


def pytest_collection_modifyitems(config, items):
    """With `-n N --dist loadgroup` (make test), every browser test runs in the same worker: one
    Chromium and one live site for them all, instead of one per worker."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and not any(item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group("browser"))


# --- Chromium -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, browser_name):
    """Debian's Chromium: Playwright's own browser download does not work on these machines."""
    if browser_name != "chromium":
        pytest.fail(f"the browser tests run on Debian's Chromium only, not on {browser_name}")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


# --- The live site --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def live_app(sqlite_site_template, tmp_path_factory, password_hash):
    """A provisioned site with one user per role (personal password already chosen, stored with
    the tests' cheap argon2id hash of PASSWORD: logging in takes a millisecond)."""
    site_dir = tmp_path_factory.mktemp("browser") / "instances" / "test"
    shutil.copytree(sqlite_site_template, site_dir)
    app = create_app(site_dir)
    with app.app_context():
        for staff in STAFF.values():
            user = accounts.create_staff(db.session, None, staff.email, staff.name, staff.role, PASSWORD)
            user.must_change_password = False
            user.password_hash = password_hash
            for column, value in second_factor_fields(staff.role).items():
                setattr(user, column, value)  # the admin's authenticator app holds TOTP_SECRET
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def fresh_authenticators(request):
    """Each test on the live site starts with no second-factor code used: the site accepts a code
    once per account, so tests logging the admin in within the same 30-second steps would each
    wait for the app's next code (the rule itself is tested within a test, by the second-factor
    journey and tests/web/test_second_factor.py)."""
    if "live_app" in request.fixturenames:
        live_app = request.getfixturevalue("live_app")
        with live_app.app_context():
            db.session.execute(update(StaffUser).values(totp_last_step=None))
            db.session.commit()
        _LAST_STEPS.clear()


def frozen(wsgi_app: Callable, moment: datetime) -> Callable:
    """The app, answering every request as if it were `moment` (clock.now() in the request)."""

    def app(environ, start_response):
        with clock.clock_at(moment):
            return list(wsgi_app(environ, start_response))

    return app


@pytest.fixture(scope="session")
def live_server(live_app):
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="dalia-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def base_url(live_server):
    """pytest-playwright hands this to every context, so tests visit paths like "/connexion"."""
    return live_server


# --- Contexts that load axe and record what the browser complains about ---------------------

_complaints: dict[BrowserContext, list[str]] = {}


@pytest.fixture
def context(new_context, base_url):
    """A normal context (CSP enforced) on the shared live site."""
    ctx = new_context()
    yield from checked(ctx, base_url)


def checked(ctx: BrowserContext, origin: str) -> Iterator[BrowserContext]:
    """The context, serving axe on `origin` (the site's own origin) and recording CSP violations
    (console) and uncaught script errors, for the time of a test."""
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    ctx.route(
        origin + AXE_URL,
        lambda route: route.fulfill(path=AXE_FILE, content_type="text/javascript; charset=utf-8"),
    )
    complaints = _complaints.setdefault(ctx, [])
    ctx.on(
        "console",
        lambda message: (
            complaints.append(f"console {message.type}: {message.text}")
            if CSP_MARKER in message.text
            else None
        ),
    )
    ctx.on("weberror", lambda error: complaints.append(f"uncaught error: {error.error}"))
    yield ctx
    _complaints.pop(ctx, None)


def browser_complaints(page: Page) -> list[str]:
    return list(_complaints.get(page.context, []))


def csp_violations(page: Page) -> list[str]:
    return [c for c in browser_complaints(page) if CSP_MARKER in c]


# --- Checks run on every page ---------------------------------------------------------------


def _describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        targets = "; ".join(
            " ".join(node["target"]) if isinstance(node["target"], list) else str(node["target"])
            for node in v["nodes"]
        )
        lines.append(f"- {v['id']} [{v['impact']}] {v['help']} ({v['helpUrl']})\n    on: {targets}")
    return "\n".join(lines)


def check_a11y(page: Page) -> None:
    """axe-core on the page as it is now: no serious or critical violation."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(url=AXE_URL)
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    blocking = [v for v in results["violations"] if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, (
        f"axe-core: {len(blocking)} serious/critical violation(s) on {page.url}:\n" + _describe(blocking)
    )


def check_page(page: Page) -> None:
    """What must hold on every page a test lands on."""
    check_a11y(page)
    complaints = browser_complaints(page)
    assert not complaints, f"the browser reported problems on {page.url}:\n" + "\n".join(complaints)


def visit(page: Page, path: str, status: int = 200) -> Response:
    """Open a page by its address, check its status, then check_page."""
    response = page.goto(path)
    assert response is not None and response.status == status, (
        f"GET {path}: expected {status}, got {response.status if response else 'no response'}"
    )
    check_page(page)
    return response


def follow(page: Page, control: Locator) -> None:
    """Click a link or a submit button that loads a new page, wait for it, then check_page."""
    with page.expect_navigation():
        control.click()
    page.wait_for_load_state("load")
    check_page(page)


def field(page: Page, label: str) -> Locator:
    """The form control whose visible label reads `label`, with or without the required star."""
    return page.get_by_label(re.compile(rf"^\s*{re.escape(label)}(\s*\*)?\s*$"))


# The time step of the last code each account typed on the live site (shared by the session).
_LAST_STEPS: dict[str, int] = {}


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Through the login form, as a person would; checks the login page first. An account asked
    for its second factor types the code of its authenticator app (TOTP_SECRET)."""
    visit(page, "/connexion")
    field(page, "Adresse e-mail").fill(email)
    field(page, "Mot de passe").fill(password)
    follow(page, page.get_by_role("button", name="Se connecter"))
    if page.url.endswith("/connexion/code"):
        type_code(page, email)
        follow(page, page.get_by_role("button", name="Valider"))


def type_code(page: Page, email: str) -> None:
    """The second factor's page: the code of the account's authenticator app (TOTP_SECRET)."""
    step, code = next_totp(_LAST_STEPS.get(email))  # a code is accepted once per account
    _LAST_STEPS[email] = step
    field(page, "Code à 6 chiffres de l'application").fill(code)


def log_out(page: Page) -> None:
    follow(page, page.get_by_role("button", name="Se déconnecter"))
