"""Template filters and globals: French dates and times in the site's timezone, navigation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from dalia_site.access import logged_in_user, may_access
from dalia_site.domain.audit import action_label, object_label
from dalia_site.domain.text import format_phone
from dalia_site.listing import page_url
from dalia_site.models.vocabulary import TEMPLATE_GLOBALS

# The main navigation, in order; each entry shows only to users its endpoint lets in.
NAVIGATION = (
    ("core.home", "Accueil"),
    ("referrals.queue", "Adressages"),
    ("patients.index", "Patients"),
    ("worklists.recall", "À recontacter"),
    ("worklists.waiting", "Liste d'attente"),
    ("worklists.no_shows", "Non venus"),
    ("booking.day", "Agenda"),
    ("roster.week", "Planning"),
    ("partners.index", "Annuaire"),
    ("activity.index", "Activité"),
    ("admin.staff_list", "Comptes"),
    ("admin.centre_settings", "Réglages du centre"),
    ("admin.audit_log", "Journal d'audit"),
    ("admin.outbox", "Envois"),
    ("rights.personal_data", "Données personnelles"),
)
NAV_ENDPOINTS = frozenset(endpoint for endpoint, _ in NAVIGATION)


# Navigation links that show a count (worklists.counts fills them in once the page is loaded).
NAV_COUNTS = {
    "worklists.recall": "nav-a-recontacter",
    "worklists.waiting": "nav-liste-d-attente",
    "worklists.no_shows": "nav-non-venus",
}


# An id no row has (the largest a route takes, BoundedInt): the mark row_url replaces.
ID_MARK = str(2**31 - 1)


def urls_of(endpoint: str, key: str, mark: str = ID_MARK, **fixed: Any) -> Callable[[object], str]:
    """url_for(endpoint, key=value, **fixed) for many values: the route built once, with `mark`
    (a value no row has, valid for the route) where the value goes, then each value put there."""
    values: dict[str, Any] = {**fixed, key: mark}
    url = url_for(endpoint, **values)
    return lambda value: url.replace(mark, str(value))


def row_url(endpoint: str, **ids: int) -> str:
    """url_for for the rows of a list, `ids` holding the one id that changes from row to row
    (row_url('patients.show', patient_id=12)): the route is built once per request and endpoint,
    then each row's id put in its place — fifty rows, one build instead of fifty."""
    ((key, value),) = ids.items()
    built = g.setdefault("_row_urls", {})
    url = built.get((endpoint, key))
    if url is None:
        url = built[(endpoint, key)] = urls_of(endpoint, key)
    return url(int(value))


def site_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["SITE"]["timezone"])


def local(value: datetime) -> datetime:
    return value.astimezone(site_zone())


# The filters below run for every date of every row: plain arithmetic, no strftime.


def _day(value: date) -> str:
    return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"


def clock_time(value: datetime) -> str:
    """A local time as the pages write it: « 09h15 »."""
    return f"{value.hour:02d}h{value.minute:02d}"


def date_fr(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local(value)
    return _day(value)


def time_fr(value: datetime | None) -> str:
    if value is None:
        return ""
    return clock_time(local(value))


def datetime_fr(value: datetime | None) -> str:
    if value is None:
        return ""
    value = local(value)
    return f"{_day(value)} à {clock_time(value)}"


def _navigation():
    """The links the user's role lets in: the same for every page of a role, so worked out
    once per role (and whether a new password is due) for the app's life."""
    user = logged_in_user()
    if user is None:
        return []
    known = current_app.extensions.setdefault("dalia_navigation", {})
    key = (user.role, bool(user.must_change_password))
    links = known.get(key)
    if links is None:
        links = known[key] = [(end, label) for end, label in NAVIGATION if may_access(user, end)]
    return links


def _navigation_html() -> Markup:
    """The main navigation's links as base.html shows them: the same for every request of a role
    on a page (and mount point), so rendered once for each and reused."""
    user = logged_in_user()
    if user is None:
        return Markup("")
    page = request.endpoint if request.endpoint in NAV_ENDPOINTS else None
    key = (user.role, bool(user.must_change_password), page, request.script_root)
    known = current_app.extensions.setdefault("dalia_navigation_html", {})
    html = known.get(key)
    if html is None:
        rendered = render_template(
            "_navigation.html", links=_navigation(), current=page, counts=may_access(user, "worklists.counts")
        )
        html = known[key] = Markup(rendered)  # noqa: S704  # an autoescaped template's output
    return html


def init_app(app: Flask) -> None:
    app.add_template_filter(date_fr)
    app.add_template_filter(time_fr)
    app.add_template_filter(datetime_fr)
    app.add_template_filter(format_phone, "phone")
    app.add_template_filter(action_label)
    app.add_template_filter(object_label)
    app.add_template_global(_navigation, "navigation")
    app.add_template_global(_navigation_html, "navigation_html")
    app.add_template_global(NAV_COUNTS.get, "nav_count_id")
    app.add_template_global(page_url)
    app.add_template_global(row_url)
    app.add_template_global(lambda endpoint: may_access(current_user, endpoint), "can")
    app.add_template_global(lambda: app.config["SITE"], "site")
    app.jinja_env.globals.update(TEMPLATE_GLOBALS)  # AppointmentStatus.BOOKED… and their labels
