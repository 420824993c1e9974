"""Login, logout and the change of one's own password."""

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import login_user, logout_user
from sqlalchemy import select

from dalia_site import clock, unit_of_work
from dalia_site.access import ALL_STAFF, current_staff, logged_in_user, public, roles
from dalia_site.auth.forms import ChangePasswordForm, LoginForm
from dalia_site.domain import accounts
from dalia_site.extensions import db, login_manager
from dalia_site.models import StaffUser
from dalia_site.rate_limits import Limit, rate_limited

bp = Blueprint("auth", __name__, template_folder="templates")

LOGIN_FAILED = "Adresse e-mail ou mot de passe incorrect."
# Beyond the (account, address) throttling: one address trying many accounts is stopped too.
ADDRESS_LIMIT, ADDRESS_WINDOW = 60, timedelta(minutes=15)


@login_manager.user_loader
def load_user(session_token: str) -> StaffUser | None:
    return db.session.scalar(
        select(StaffUser).where(StaffUser.session_token == session_token, StaffUser.active.is_(True))
    )


def _safe_next(target: str | None) -> str:
    """Only a path on this site, never another host (open redirect)."""
    if target:
        parts = urlsplit(target)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not target.startswith("//")
            and "\\" not in target
        ):
            return target
    return url_for("core.home")


def _too_many_tries():
    form = LoginForm()
    form.form_errors.append("Trop de tentatives depuis cette adresse. Réessayez plus tard.")
    return render_template("auth/login.html", form=form), 429


def _start_session(user: StaffUser):
    """A fresh session (no fixation) for a login that is complete."""
    session.clear()
    login_user(user)
    session.permanent = True
    session["last_seen"] = clock.now().isoformat()
    if user.must_change_password:
        flash("Choisissez votre mot de passe personnel avant de continuer.", "info")
        return redirect(url_for("auth.change_password"))
    return redirect(_safe_next(request.args.get("next")))


@bp.route("/connexion", methods=["GET", "POST"])
@public
@rate_limited(Limit("login", ADDRESS_LIMIT, ADDRESS_WINDOW), refused=_too_many_tries)
def login():
    if logged_in_user() is not None:
        return redirect(url_for("core.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        result = accounts.authenticate(
            db.session,
            form.email.data or "",
            form.password.data or "",
            ip=request.remote_addr,
            now=clock.now(),
        )
        unit_of_work.keep()  # a failure is counted against its account, and traced
        if result.user is not None:
            accounts.complete_login(db.session, result.user, ip=request.remote_addr, now=clock.now())
            return _start_session(result.user)
        if result.throttled and result.retry_after is not None:
            minutes = max(1, round(result.retry_after.total_seconds() / 60))
            form.form_errors.append(
                f"Trop de tentatives de connexion. Réessayez dans {minutes} minute"
                f"{'s' if minutes > 1 else ''}."
            )
            status = 429
        else:
            form.form_errors.append(LOGIN_FAILED)
            status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/deconnexion", methods=["POST"])
@roles(*ALL_STAFF)
def logout():
    accounts.end_session(db.session, current_staff(), ip=request.remote_addr)
    logout_user()
    session.clear()
    flash("Vous êtes déconnecté·e.", "success")
    return redirect(url_for("auth.login"))


@bp.route("/mot-de-passe", methods=["GET", "POST"])
@roles(*ALL_STAFF)
def change_password():
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = current_staff()
            accounts.change_own_password(
                db.session, user, form.current_password.data or "", form.new_password.data or ""
            )
        except accounts.AccountError as error:
            unit_of_work.discard()
            form.form_errors.append(str(error))
            status = 422
        else:
            # This session follows the rotated token; the user's other sessions are ended.
            login_user(user)
            flash("Votre mot de passe a été changé.", "success")
            return redirect(url_for("core.home"))
    elif request.method == "POST":
        status = 422
    return render_template("auth/change_password.html", form=form), status
