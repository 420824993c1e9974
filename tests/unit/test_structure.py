"""The structure the code keeps: one unit of work per request, a domain that reads no clock but
the kit's own, blueprints that do not reach into each other's views."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "dalia_site"
ROUTES = sorted(PACKAGE.glob("*/routes.py"))
DOMAIN = sorted((PACKAGE / "domain").glob("*.py"))


def calls(path: Path) -> list[str]:
    """Every call in a module, as dotted text (`db.session.commit`, `date.today`)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            found.append(ast.unparse(node.func))
    return found


def test_there_are_blueprints_and_domain_modules_to_check():
    assert len(ROUTES) >= 9 and len(DOMAIN) >= 15


@pytest.mark.parametrize("routes", ROUTES, ids=lambda p: p.parent.name)
def test_no_view_commits_or_rolls_back_itself(routes):
    """The request's unit of work (dalia_site/unit_of_work.py) commits or rolls back, once."""
    offending = [c for c in calls(routes) if re.search(r"\b(commit|rollback)$", c)]
    assert offending == []


@pytest.mark.parametrize("module", DOMAIN, ids=lambda p: p.stem)
def test_the_domain_never_reads_a_clock(module):
    """The domain takes `now`/`today` from its callers (views, commands, the demo), who read the
    one clock of dalia_site/clock.py in the site's timezone: never `date.today()` (the server's
    zone), `datetime.now()`, nor the kit's clock itself."""
    offending = [
        c
        for c in calls(module)
        if c in ("date.today", "datetime.now", "datetime.utcnow", "time.time", "utcnow")
        or c.endswith((".date.today", ".datetime.now", "clock.now", "clock.today", "time.monotonic"))
    ]
    assert offending == []
    # Nor does it import the clock's readers (the date range the kit accepts is fine).
    imported = [
        (node.module, alias.name)
        for node in ast.walk(ast.parse(module.read_text()))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    ]
    assert not [
        name
        for source, name in imported
        if (source == "dalia_site" and name == "clock")
        or (source == "dalia_site.clock" and name not in ("FIRST_DAY", "LAST_DAY", "within_range"))
    ]


@pytest.mark.parametrize("module", DOMAIN, ids=lambda p: p.stem)
def test_the_domain_does_not_depend_on_flask(module):
    imported = [
        node.module or ""
        for node in ast.walk(ast.parse(module.read_text()))
        if isinstance(node, ast.ImportFrom)
    ] + [
        alias.name
        for node in ast.walk(ast.parse(module.read_text()))
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    assert not [name for name in imported if name.split(".")[0] in ("flask", "flask_login", "flask_wtf")]


@pytest.mark.parametrize("routes", ROUTES, ids=lambda p: p.parent.name)
def test_a_blueprint_does_not_import_another_blueprints_views(routes):
    own = routes.parent.name
    imported = [
        node.module
        for node in ast.walk(ast.parse(routes.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module
    ]
    assert [m for m in imported if m.endswith(".routes") and m != f"dalia_site.{own}.routes"] == []
