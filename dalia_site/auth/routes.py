"""Login, logout and the change of one's own password."""

from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import login_user, logout_user
from markupsafe import Markup
from sqlalchemy import select

from dalia_site import clock, unit_of_work
from dalia_site.access import ALL_STAFF, current_staff, logged_in_user, public, roles
from dalia_site.auth.forms import ChangePasswordForm, LoginForm, SecondFactorForm
from dalia_site.domain import accounts, audit, second_factor, sessions
from dalia_site.extensions import db, login_manager
from dalia_site.filters import site_zone
from dalia_site.models import StaffUser
from dalia_site.rate_limits import Limit, rate_limited

bp = Blueprint("auth", __name__, template_folder="templates")

LOGIN_FAILED = "Adresse e-mail ou mot de passe incorrect."
# Beyond the (account, address) throttling: one address trying many accounts is stopped too.
ADDRESS_LIMIT, ADDRESS_WINDOW = 60, timedelta(minutes=15)


@login_manager.user_loader
def load_user(token: str) -> StaffUser | None:
    """The account of the cookie's session token, while that session is valid (sessions.py)."""
    found = sessions.find(db.session, token, now=clock.now(), max_age=current_app.config["SESSION_MAX_AGE"])
    if found is None:
        return None
    g.staff_session_id = found[1]
    return found[0]


def _log_in(user: StaffUser) -> None:
    """This browser gets a new session of its own: a new random token in the cookie."""
    opened = sessions.open_session(
        db.session, user, request.remote_addr, request.user_agent.string or "", now=clock.now()
    )
    login_user(user)
    # The cookie names this browser's session, not the account: Flask-Login keeps what get_id()
    # gave, which is replaced here by the session's token.
    session["_user_id"] = opened.token
    g.staff_session_id = opened.id


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


def _start_session(user: StaffUser, next_page: str | None = None):
    """A fresh session (no fixation) for a login that is complete."""
    next_page = next_page or request.args.get("next")
    session.clear()
    _log_in(user)
    session.permanent = True
    session["last_seen"] = clock.now().isoformat()
    if user.must_change_password:
        flash("Choisissez votre mot de passe personnel avant de continuer.", "info")
        return redirect(url_for("auth.change_password"))
    return redirect(_safe_next(next_page))


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
            zone=site_zone(),
        )
        unit_of_work.keep()  # a failure is counted against its account, and traced
        if result.user is not None:
            if second_factor.asked(result.user, current_app.config["SECOND_FACTOR_FOR_ALL"]):
                _set_pending(result.user)
                if form.code.data and result.user.has_second_factor:
                    return _check_code(result.user, form.code.data, SecondFactorForm())
                return redirect(
                    url_for("auth.second_factor_page" if result.user.has_second_factor else "auth.enrol")
                )
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


# --- the second factor -----------------------------------------------------------------------

PENDING_KEY = "second_factor_pending"
PENDING_FOR = timedelta(minutes=5)  # between the password and the code
CODE_FAILED = "Code incorrect. Vérifiez l'heure de votre téléphone, ou utilisez un code de secours."


def _set_pending(user: StaffUser) -> None:
    """The password was right; the login waits for the second factor (not logged in yet)."""
    session.clear()
    session[PENDING_KEY] = {
        "token": user.session_token,
        "at": clock.now().isoformat(),
        "next": request.args.get("next") or "",
    }


def _pending_user() -> StaffUser | None:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    try:
        started = datetime.fromisoformat(pending["at"])
    except (KeyError, TypeError, ValueError):
        return None
    if clock.now() - started > PENDING_FOR:
        return None
    token = str(pending.get("token", ""))
    return db.session.scalar(
        select(StaffUser).where(StaffUser.session_token == token, StaffUser.active.is_(True))
    )


def _back_to_login():
    session.pop(PENDING_KEY, None)
    flash("Reconnectez-vous : la connexion en deux étapes a expiré ou n'a pas commencé.", "info")
    return redirect(url_for("auth.login"))


def _finish_second_factor(user: StaffUser):
    pending = session.get(PENDING_KEY) or {}
    accounts.complete_login(db.session, user, ip=request.remote_addr, now=clock.now())
    return _start_session(user, pending.get("next"))


def _check_code(user: StaffUser, code: str, form: SecondFactorForm):
    """Complete the login with `code`, or say why not: a wrong code counts as a failed login of
    this account from this address, and a throttled one is not even checked."""
    now = clock.now()
    wait = accounts.check_throttle(db.session, user.email, request.remote_addr, now=now)
    if wait is not None:
        minutes = max(1, round(wait.total_seconds() / 60))
        form.form_errors.append(
            f"Trop de tentatives de connexion. Réessayez dans {minutes} minute{'s' if minutes > 1 else ''}."
        )
        return render_template("auth/second_factor.html", form=form), 429
    if second_factor.verify(db.session, user, code, now=now):
        return _finish_second_factor(user)
    accounts.record_failure(db.session, user.email, user, request.remote_addr, now=now, zone=site_zone())
    audit.record(
        db.session,
        None,
        "auth.login_failed",
        "staff_user",
        user.id,
        f"Code de double authentification refusé pour le compte {user.email}",
        ip=request.remote_addr,
    )
    unit_of_work.keep()
    form.form_errors.append(CODE_FAILED)
    return render_template("auth/second_factor.html", form=form), 401


@bp.route("/connexion/code", methods=["GET", "POST"])
@public
@rate_limited(Limit("login", ADDRESS_LIMIT, ADDRESS_WINDOW), refused=_too_many_tries)
def second_factor_page():
    user = _pending_user()
    if user is None or not user.has_second_factor:
        return _back_to_login()
    form = SecondFactorForm()
    if form.validate_on_submit():
        return _check_code(user, form.code.data or "", form)
    return render_template("auth/second_factor.html", form=form), 400 if request.method == "POST" else 200


@bp.route("/connexion/activation", methods=["GET", "POST"])
@public
@rate_limited(Limit("login", ADDRESS_LIMIT, ADDRESS_WINDOW), refused=_too_many_tries)
def enrol():
    """First login of an account that must have a second factor: scan, type the first code, note
    the recovery codes."""
    user = _pending_user()
    if user is None or user.has_second_factor:
        return _back_to_login()
    second_factor.start_enrolment(user)
    unit_of_work.keep()  # the secret shown must be the one confirmed next
    form = SecondFactorForm()
    form.code.description = ""
    status = 200
    if form.validate_on_submit():
        codes = second_factor.confirm_enrolment(db.session, user, form.code.data or "", now=clock.now())
        if codes is not None:
            next_page = _safe_next((session.get(PENDING_KEY) or {}).get("next"))
            _finish_second_factor(user)
            return render_template("auth/recovery_codes.html", codes=codes, next_page=next_page)
        form.form_errors.append("Code incorrect : tapez le code que l'application affiche maintenant.")
        status = 422
    elif request.method == "POST":
        status = 422
    uri = second_factor.provisioning_uri(user, current_app.config["SITE"]["name"])
    return render_template(
        "auth/enrol.html",
        form=form,
        qr_svg=Markup(second_factor.qr_svg(uri)),  # noqa: S704  # segno's own SVG: no user text in it
        secret=second_factor.spaced_secret(user.totp_secret or ""),
    ), status


# --- « Mes sessions » ---------------------------------------------------------------------------


@bp.route("/mes-sessions")
@roles(*ALL_STAFF)
def my_sessions():
    user = current_staff()
    listed = sessions.active(db.session, user, now=clock.now(), max_age=current_app.config["SESSION_MAX_AGE"])
    return render_template(
        "auth/sessions.html",
        listed=listed,
        this_session=g.get("staff_session_id"),
        max_age=current_app.config["SESSION_MAX_AGE"],
    )


@bp.route("/mes-sessions/<int:session_id>/fermer", methods=["POST"])
@roles(*ALL_STAFF)
def end_session(session_id: int):
    if g.get("staff_session_id") == session_id:
        abort(400, description="Pour fermer cette session-ci, utilisez « Se déconnecter ».")
    if not sessions.end(db.session, current_staff(), session_id, now=clock.now()):
        abort(404)
    flash("Session fermée : ce navigateur devra se reconnecter.", "success")
    return redirect(url_for("auth.my_sessions"), 303)


@bp.route("/mes-sessions/fermer-les-autres", methods=["POST"])
@roles(*ALL_STAFF)
def end_other_sessions():
    this = g.get("staff_session_id")
    if this is None:
        abort(400)
    count = sessions.end_others(db.session, current_staff(), this, now=clock.now())
    flash(
        f"{count} autres sessions fermées." if count > 1 else f"{count} autre session fermée.",
        "success",
    )
    return redirect(url_for("auth.my_sessions"), 303)


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
            # The rotated token ended every session, this one too: this browser gets a new one.
            _log_in(user)
            flash("Votre mot de passe a été changé.", "success")
            return redirect(url_for("core.home"))
    elif request.method == "POST":
        status = 422
    return render_template("auth/change_password.html", form=form), status
