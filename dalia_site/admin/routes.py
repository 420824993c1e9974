"""Staff accounts and the audit log, for the site's admins."""

from datetime import datetime, time, timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from dalia_site import clock, unit_of_work
from dalia_site.access import current_staff, roles
from dalia_site.admin.forms import AuditFilterForm, CentreForm, ClosureForm, OneTimePasswordForm, StaffForm
from dalia_site.domain import accounts, audit, centre, mail, opening, second_factor
from dalia_site.extensions import db
from dalia_site.filters import site_zone
from dalia_site.forms import choices, parse_id, submit
from dalia_site.htmx import render_page
from dalia_site.listing import paginate_rows
from dalia_site.models import AuditEvent, StaffUser, TeamMember
from dalia_site.models.roster import WEEKDAYS
from dalia_site.models.vocabulary import Role

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")

AUDIT_PAGE_SIZE = 50
# The log's total is counted up to this many events (its first twenty pages): years of events
# are not read to show the newest.
AUDIT_COUNTED = 1000


def _staff_or_404(user_id: int) -> StaffUser:
    return db.get_or_404(StaffUser, user_id)


@bp.route("/comptes")
@roles("admin")
def staff_list():
    users = db.session.scalars(select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.name)).all()
    with_member = set(
        db.session.scalars(select(TeamMember.staff_user_id).where(TeamMember.staff_user_id.is_not(None)))
    )
    return render_template("admin/staff_list.html", users=users, with_member=with_member)


@bp.route("/comptes/nouveau", methods=["GET", "POST"])
@roles("admin")
def staff_create():
    form = StaffForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = accounts.create_staff(
                db.session,
                current_staff(),
                form.email.data or "",
                form.name.data or "",
                form.role.data,
                form.password.data or "",
            )
        except accounts.AccountError as error:
            unit_of_work.discard()
            form.form_errors.append(str(error))
            status = 422
        else:
            flash(f"Compte de {user.name} créé. Transmettez-lui le mot de passe provisoire.", "success")
            if user.role == Role.CLINICIAN:
                # One flow: a clinician has slots only through a team member, created next.
                return redirect(url_for("roster.member_create", compte=user.id), 303)
            return redirect(url_for("admin.staff_list"))
    elif request.method == "POST":
        status = 422
    return render_template("admin/staff_form.html", form=form, user=None), status


@bp.route("/comptes/<int:user_id>", methods=["GET", "POST"])
@roles("admin")
def staff_edit(user_id: int):
    user = _staff_or_404(user_id)
    form = StaffForm(obj=user).for_edit()
    status = 200
    if form.validate_on_submit():
        try:
            changed = accounts.update_staff(
                db.session, current_staff(), user, form.name.data, form.role.data, user.active
            )
        except accounts.AccountError as error:
            unit_of_work.discard()
            form.form_errors.append(str(error))
            status = 422
        else:
            flash("Compte mis à jour." if changed else "Aucune modification.", "success")
            return redirect(url_for("admin.staff_list"))
    elif request.method == "POST":
        status = 422
    return render_template(
        "admin/staff_form.html", form=form, user=user, password_form=OneTimePasswordForm(prefix="otp")
    ), status


@bp.route("/comptes/<int:user_id>/statut", methods=["POST"])
@roles("admin")
def staff_set_active(user_id: int):
    user = _staff_or_404(user_id)
    if request.form.get("active") not in ("0", "1"):
        abort(400)
    active = request.form.get("active") == "1"
    try:
        accounts.update_staff(db.session, current_staff(), user, user.name, user.role, active)
    except accounts.AccountError as error:
        unit_of_work.discard()
        flash(str(error), "error")
        return redirect(url_for("admin.staff_list"), 303)
    flash(f"Compte de {user.name} {'réactivé' if active else 'désactivé'}.", "success")
    return redirect(url_for("admin.staff_list"), 303)


@bp.route("/comptes/<int:user_id>/mot-de-passe", methods=["POST"])
@roles("admin")
def staff_one_time_password(user_id: int):
    user = _staff_or_404(user_id)
    password_form = OneTimePasswordForm(prefix="otp")
    if password_form.validate_on_submit():
        try:
            accounts.set_one_time_password(
                db.session, current_staff(), user, password_form.password.data or ""
            )
        except accounts.AccountError as error:
            unit_of_work.discard()
            password_form.password.errors = [*password_form.password.errors, str(error)]
        else:
            flash(
                f"Mot de passe provisoire défini pour {user.name} ; il devra le changer à sa "
                "prochaine connexion.",
                "success",
            )
            return redirect(url_for("admin.staff_list"), 303)
    form = StaffForm(obj=user).for_edit()
    return render_template("admin/staff_form.html", form=form, user=user, password_form=password_form), 422


@bp.route("/comptes/<int:user_id>/connexions", methods=["POST"])
@roles("admin")
def staff_clear_throttle(user_id: int):
    """The member may try to log in again at once, from any address (audited)."""
    user = _staff_or_404(user_id)
    accounts.clear_throttle(db.session, current_staff(), user)
    flash(f"Connexions de {user.name} débloquées : la personne peut réessayer tout de suite.", "success")
    return redirect(url_for("admin.staff_edit", user_id=user.id), 303)


@bp.route("/comptes/<int:user_id>/double-authentification", methods=["POST"])
@roles("admin")
def staff_reset_second_factor(user_id: int):
    """Phone lost: the member's second factor and recovery codes are removed, their sessions end;
    they enrol again at their next login (audited)."""
    user = _staff_or_404(user_id)
    second_factor.reset(db.session, current_staff(), user)
    flash(
        f"Double authentification de {user.name} réinitialisée : la personne l'activera de nouveau "
        "à sa prochaine connexion.",
        "success",
    )
    return redirect(url_for("admin.staff_edit", user_id=user.id), 303)


def _audit_query(form: AuditFilterForm):
    query = audit.journal()
    if form.actor.data:
        query = query.where(AuditEvent.actor_id == (parse_id(form.actor.data) or 0))
    if form.action.data:
        query = query.where(AuditEvent.action == form.action.data)
    if form.object_type.data:
        query = query.where(AuditEvent.object_type == form.object_type.data)
    zone = site_zone()
    if form.date_from.data:
        query = query.where(AuditEvent.at >= datetime.combine(form.date_from.data, time(), zone))
    if form.date_to.data:
        end = datetime.combine(form.date_to.data + timedelta(days=1), time(), zone)
        query = query.where(AuditEvent.at < end)
    return query


def _audit_filter_form() -> AuditFilterForm:
    form = AuditFilterForm(request.args)
    staff = db.session.execute(select(StaffUser.id, StaffUser.name).order_by(StaffUser.name)).all()
    form.actor.choices = choices([("", "Tous")] + [(str(i), name) for i, name in staff])
    actions = db.session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action))
    form.action.choices = choices([("", "Toutes")] + [(a, audit.action_label(a)) for a in actions])
    types = db.session.scalars(select(AuditEvent.object_type).distinct().order_by(AuditEvent.object_type))
    form.object_type.choices = choices([("", "Tous")] + [(t, audit.object_label(t)) for t in types])
    return form


@bp.route("/journal")
@roles("admin")
def audit_log():
    form = _audit_filter_form()
    if not form.validate():
        # Invalid filters are shown as errors; the log then shows nothing rather than everything.
        return render_page("admin/audit_log.html", "results", form=form, page=None), 400
    page = paginate_rows(_audit_query(form), AUDIT_PAGE_SIZE, AUDIT_COUNTED)
    return render_page("admin/audit_log.html", "results", form=form, page=page, actor_name=audit.actor_name)


@bp.route("/centre", methods=["GET", "POST"])
@roles("admin")
def centre_settings():
    """The centre's settings (name as shown, address, phone, access, hours, visit lengths),
    stored in the database and audited; site.toml keeps only what the server needs."""
    current = centre.load(db.session)
    if request.method == "GET":
        form = CentreForm(obj=current)
        return _centre_page(
            form,
            current,
            current.open_days,
            opening.format_half_days(current.opening.open_half_days).split(","),
        )
    form = CentreForm()
    open_days = request.form.getlist("open_days")
    # The page's grid of half-days (a form that only knows whole days sends open_days alone).
    halves = request.form.getlist("open_half_days") if "open_half_days_grid" in request.form else None
    ok, changed = submit(
        form, lambda: centre.update(db.session, current_staff(), form.values(open_days, halves))
    )
    if not ok:
        return _centre_page(form, current, tuple(open_days), halves or []), 422
    flash("Réglages du centre enregistrés." if changed else "Aucune modification.", "success")
    return redirect(url_for("admin.centre_settings"), 303)


def _centre_page(form: CentreForm, current: centre.Centre, open_days, open_half_days, closure_form=None):
    return render_template(
        "admin/centre.html",
        form=form,
        open_days=open_days,
        open_half_days=set(open_half_days),
        halves=opening.HALF_LABELS,
        centre=current,
        weekdays=WEEKDAYS,
        closure_form=closure_form or ClosureForm(prefix="fermeture"),
        today=clock.today(site_zone()),
    )


@bp.route("/centre/fermetures", methods=["POST"])
@roles("admin")
def closure_add():
    """A closure of the centre (a day or a period, with its reason): no sessions, no slots."""
    form = ClosureForm(prefix="fermeture")
    ok, added = submit(
        form,
        lambda: centre.add_closure(
            db.session,
            current_staff(),
            form.first_day.data,
            form.last_day.data,
            form.label.data or "",
            today=clock.today(site_zone()),
        ),
    )
    if not ok:
        current = centre.load(db.session)
        page = _centre_page(
            CentreForm(obj=current),
            current,
            current.open_days,
            opening.format_half_days(current.opening.open_half_days).split(","),
            closure_form=form,
        )
        return page, 422
    flash(f"Fermeture enregistrée : {added.label}.", "success")
    return redirect(url_for("admin.centre_settings", _anchor="fermetures"), 303)


@bp.route("/centre/fermetures/<int:closure_id>/lever", methods=["POST"])
@roles("admin")
def closure_remove(closure_id: int):
    if not centre.remove_closure(db.session, current_staff(), closure_id):
        abort(404)
    flash("Fermeture levée : ces jours sont de nouveau ouverts.", "success")
    return redirect(url_for("admin.centre_settings", _anchor="fermetures"), 303)


@bp.route("/envois")
@roles("admin")
def outbox():
    """What waits in the outbox (emails, SMS) and why; its banner block is what every admin page
    loads once it is shown (no query added to the pages themselves)."""
    status = mail.outbox_status(db.session, now=clock.now())
    config = current_app.config
    return render_page(
        "admin/outbox.html",
        "banner",
        status=status,
        smtp=bool(config["MAIL"].get("host")),
        sms_provider=bool(config["SMS"].get("provider")),
    )
