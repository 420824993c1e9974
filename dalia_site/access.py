"""The one role guard of the site: deny by default.

Every view declares who may call it, with `@roles(...)` or `@public`. A before_request hook reads
that declaration; a view that declares nothing is refused to everyone (403), logged in or not.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Flask, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, logout_user

from dalia_site import clock
from dalia_site.htmx import is_htmx
from dalia_site.models.staff import StaffUser
from dalia_site.models.vocabulary import Role

ACCESS_ATTR = "dalia_access"
PUBLIC = "public"
ALL_STAFF = tuple(Role)
# Flask's own static view cannot carry an attribute; it is the only allowlisted endpoint by name.
PUBLIC_ENDPOINTS = frozenset({"static"})
# Reachable while a one-time password must still be replaced.
PASSWORD_CHANGE_ENDPOINTS = frozenset({"auth.change_password", "auth.logout"})


def logged_in_user() -> StaffUser | None:
    """The staff member of this request, or None when nobody is logged in."""
    user = current_user._get_current_object()
    return user if isinstance(user, StaffUser) and user.is_authenticated else None


def current_staff() -> StaffUser:
    """The staff member of this request, for views behind `@roles`: the guard has already refused
    anyone not logged in, so reaching here without a user is a bug, not a visitor."""
    user = logged_in_user()
    if user is None:
        abort(401)
    return user


def roles(*allowed: str) -> Callable:
    unknown = set(allowed) - set(Role)
    if unknown or not allowed:
        raise ValueError(f"unknown roles: {unknown or 'none given'}")

    def decorate(view: Callable) -> Callable:
        setattr(view, ACCESS_ATTR, frozenset(allowed))
        return view

    return decorate


def public(view: Callable) -> Callable:
    setattr(view, ACCESS_ATTR, PUBLIC)
    return view


def access_rule(app: Flask, endpoint: str) -> frozenset[str] | str | None:
    """PUBLIC, the set of roles allowed, or None when the view declared nothing."""
    if endpoint in PUBLIC_ENDPOINTS:
        return PUBLIC
    view = app.view_functions.get(endpoint)
    return getattr(view, ACCESS_ATTR, None)


def may_access(user, endpoint: str) -> bool:
    """Used by the navigation too, so a menu never shows a link its user would be refused."""
    rule = access_rule(current_app, endpoint)
    if rule == PUBLIC:
        return True
    if rule is None or not user.is_authenticated:
        return False
    if user.must_change_password and endpoint not in PASSWORD_CHANGE_ENDPOINTS:
        return False  # the guard sends them to choose a password first (no menu, no counts)
    return user.role in rule


def _login_required_response():
    login_url = url_for("auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None)
    if is_htmx():
        # An htmx swap must not put the login page inside a fragment: send the browser there.
        return "", 401, {"HX-Redirect": login_url}
    return redirect(login_url)


def _idle_expired() -> bool:
    last_seen = session.get("last_seen")
    now = clock.now()
    session["last_seen"] = now.isoformat()
    if last_seen is None:
        return False
    try:
        return now - datetime.fromisoformat(last_seen) > current_app.config["IDLE_TIMEOUT"]
    except (TypeError, ValueError):
        return True


def guard():
    """before_request: authenticate, enforce idle timeout and one-time passwords, check the role."""
    endpoint = request.endpoint
    if endpoint is None:  # no route matched: the 404 handler answers
        return None
    rule = access_rule(current_app, endpoint)
    if rule == PUBLIC:
        return None
    if rule is None:
        current_app.logger.error("endpoint %s declares no access rule: refused", endpoint)
        abort(403)
    user = logged_in_user()
    if user is None:
        return _login_required_response()
    if _idle_expired():
        logout_user()
        session.clear()
        flash("Votre session a expiré après une période d'inactivité. Reconnectez-vous.", "info")
        return _login_required_response()
    if user.must_change_password and endpoint not in PASSWORD_CHANGE_ENDPOINTS:
        if is_htmx():
            return "", 401, {"HX-Redirect": url_for("auth.change_password")}
        return redirect(url_for("auth.change_password"))
    if user.role not in rule:
        abort(403)
    return None
