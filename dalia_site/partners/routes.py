"""The partner directory: search, organisations and their people, CSV, private referral links."""

from __future__ import annotations

import re
from collections.abc import Sequence

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from dalia_site import clock, unit_of_work
from dalia_site.access import current_staff, may_access, roles
from dalia_site.domain import partner_csv, partners
from dalia_site.domain.text import format_phone
from dalia_site.extensions import db
from dalia_site.filters import site_zone
from dalia_site.forms import parse_id, submit
from dalia_site.htmx import render_block, render_page, wants_fragment
from dalia_site.listing import paginate, public_url
from dalia_site.models import PartnerContact, PartnerImport, PartnerOrganisation, PartnerReferralLink
from dalia_site.models.vocabulary import PartnerCategory
from dalia_site.partners.forms import (
    AcceptsForm,
    ContactForm,
    ImportForm,
    PartnerForm,
    ReferralLinkForm,
)

bp = Blueprint("partners", __name__, url_prefix="/annuaire", template_folder="templates")

READERS = ("admin", "assistant", "clinician")
EDITORS = ("admin", "assistant")
SUGGESTIONS = 15
PAGE_SIZE = 25


def _organisation_or_404(org_id: int) -> PartnerOrganisation:
    return db.get_or_404(PartnerOrganisation, org_id)


@bp.route("")
@roles(*READERS)
def index():
    q = request.args.get("q", "").strip()[:100]
    category = request.args.get("categorie", "")
    archived = request.args.get("archives") == "1"
    page = paginate(partners.listed(q, category, archived), PAGE_SIZE)
    return render_page(
        "partners/index.html",
        "results",
        page=page,
        people=partners.people_named(db.session, [row.id for row in page.items]),
        q=q,
        category=category,
        archived=archived,
        categories=PartnerCategory,
    )


@bp.route("/suggestions")
@roles(*READERS)
def suggestions():
    """Names for a partner field's suggestions, as the user types (htmx fills its datalist):
    a few matches rather than the whole directory in every page."""
    q = request.args.get("orientation_partner", "").strip()[:100]
    names: Sequence[str] = []
    if len(q) >= 2:
        names = db.session.scalars(
            select(PartnerOrganisation.name)
            .where(PartnerOrganisation.active.is_(True), *partners.search_filter(q))
            .order_by(func.lower(PartnerOrganisation.name))
            .limit(SUGGESTIONS)
        ).all()
    return render_template("partners/_suggestions.html", names=names)


def _load_with_contacts(org_id: int) -> PartnerOrganisation:
    organisation = db.session.scalar(
        select(PartnerOrganisation)
        .where(PartnerOrganisation.id == org_id)
        .options(selectinload(PartnerOrganisation.contacts))
    )
    if organisation is None:
        abort(404)
    return organisation


def _links(org_id: int) -> Sequence[PartnerReferralLink]:
    return db.session.scalars(
        select(PartnerReferralLink)
        .where(PartnerReferralLink.organisation_id == org_id)
        .options(joinedload(PartnerReferralLink.created_by))
        .order_by(PartnerReferralLink.revoked_at.is_not(None), PartnerReferralLink.created_at.desc())
    ).all()


def _show(
    organisation,
    status=200,
    contact_form=None,
    link_form=None,
    new_link_url=None,
    edit_contact=None,
    accepts_form=None,
):
    can_edit = may_access(current_staff(), "partners.edit")
    if accepts_form is None:
        accepts_form = AcceptsForm(prefix="mg")
        accepts_form.accepts_new_patients.data = organisation.accepts_new_patients or "to_check"
        accepts_form.accepts_checked_on.data = clock.today(site_zone())
    return render_template(
        "partners/show.html",
        organisation=organisation,
        accepts_form=accepts_form,
        can_edit=can_edit,
        links=_links(organisation.id) if can_edit else [],
        contact_form=contact_form or ContactForm(prefix="contact"),
        link_form=link_form or ReferralLinkForm(prefix="lien"),
        new_link_url=new_link_url,
        edit_contact=edit_contact,
        now=clock.now(),
    ), status


@bp.route("/<int:org_id>")
@roles(*READERS)
def show(org_id: int):
    return _show(_load_with_contacts(org_id))


def _apply(form, change, *target):
    """The shared submit() (validate, then one domain call; refused, its messages on their
    fields), with the form's values and the current user."""
    return submit(form, lambda: change(db.session, current_staff(), *target, form.values()))


def _save(form: PartnerForm, organisation: PartnerOrganisation | None):
    if organisation is None:
        ok, organisation = _apply(form, partners.create_organisation)
        message = f"Partenaire « {organisation.name} » ajouté." if ok else ""
    else:
        ok, changed = _apply(form, partners.update_organisation, organisation)
        message = "Fiche mise à jour." if changed else "Aucune modification."
    if not ok:
        return None
    flash(message, "success")
    return redirect(url_for("partners.show", org_id=organisation.id), 303)


@bp.route("/nouveau", methods=["GET", "POST"])
@roles(*EDITORS)
def create():
    form = PartnerForm()
    if request.method == "POST":
        return _save(form, None) or (render_template("partners/form.html", form=form, organisation=None), 422)
    return render_template("partners/form.html", form=form, organisation=None)


@bp.route("/<int:org_id>/modifier", methods=["GET", "POST"])
@roles(*EDITORS)
def edit(org_id: int):
    organisation = _organisation_or_404(org_id)
    form = PartnerForm(obj=organisation)
    form.stored_postcode = organisation.postcode
    if request.method == "GET" and organisation.phone:
        form.phone.data = format_phone(organisation.phone)
    if request.method == "POST":
        return _save(form, organisation) or (
            render_template("partners/form.html", form=form, organisation=organisation),
            422,
        )
    return render_template("partners/form.html", form=form, organisation=organisation)


@bp.route("/valider/<kind>/<field>", methods=["POST"])
@roles(*EDITORS)
def validate_field(kind: str, field: str):
    """Inline validation: the same form validators, answered with just the field's message."""
    form: PartnerForm | ContactForm
    if kind == "partenaire" and field in ("phone", "email", "postcode", "finess"):
        form = PartnerForm()
        organisation = db.session.get(PartnerOrganisation, parse_id(request.args.get("fiche")) or 0)
        form.stored_postcode = organisation.postcode if organisation else ""
    elif kind == "personne" and field in ("phone", "email"):
        prefix = request.args.get("prefixe", "")
        if not re.fullmatch(r"contact|personne-[0-9]{1,9}", prefix):
            abort(404)
        form = ContactForm(prefix=prefix)
    else:
        abort(404)
    form.validate()
    response = Response(render_template("_field_error.html", field=form[field]))
    response.vary.add("HX-Request")
    return response


@bp.route("/<int:org_id>/nouveaux-patients", methods=["POST"])
@roles(*EDITORS)
def gp_acceptance(org_id: int):
    """A médecin généraliste: takes new patients or not, checked on a day (audited)."""
    organisation = _load_with_contacts(org_id)
    form = AcceptsForm(prefix="mg")
    ok, _ = submit(
        form,
        lambda: partners.set_accepts_new_patients(
            db.session,
            current_staff(),
            organisation,
            form.accepts_new_patients.data,
            form.accepts_checked_on.data,
            today=clock.today(site_zone()),
        ),
    )
    if not ok:
        return _show(_load_with_contacts(org_id), 422, accepts_form=form)
    flash(f"{organisation.name} : nouveaux patients — {organisation.accepts_label.lower()}.", "success")
    return redirect(url_for("partners.show", org_id=org_id), 303)


@bp.route("/<int:org_id>/archiver", methods=["POST"])
@roles(*EDITORS)
def archive(org_id: int):
    organisation = _organisation_or_404(org_id)
    archived = request.form.get("archived") == "1"
    partners.set_archived(db.session, current_staff(), organisation, archived)
    flash(f"« {organisation.name} » {'archivé' if archived else 'rétabli'}.", "success")
    return redirect(url_for("partners.show", org_id=org_id), 303)


@bp.route("/<int:org_id>/personnes", methods=["POST"])
@roles(*EDITORS)
def add_contact(org_id: int):
    organisation = _organisation_or_404(org_id)
    form = ContactForm(prefix="contact")
    if _apply(form, partners.add_contact, organisation)[0]:
        flash("Personne ajoutée.", "success")
        return redirect(url_for("partners.show", org_id=org_id, _anchor="personnes"), 303)
    return _show(_load_with_contacts(org_id), 422, contact_form=form)


def _contact_or_404(org_id: int, contact_id: int) -> PartnerContact:
    contact = db.session.get(PartnerContact, contact_id)
    if contact is None or contact.organisation_id != org_id:
        abort(404)
    return contact


@bp.route("/<int:org_id>/personnes/<int:contact_id>", methods=["GET", "POST"])
@roles(*EDITORS)
def edit_contact(org_id: int, contact_id: int):
    contact = _contact_or_404(org_id, contact_id)
    form = ContactForm(prefix=f"personne-{contact_id}", obj=contact)
    if request.method == "GET" and contact.phone:
        form.phone.data = format_phone(contact.phone)
    ok, changed = (
        _apply(form, partners.update_contact, contact) if request.method == "POST" else (False, None)
    )
    if ok:
        flash("Coordonnées mises à jour." if changed else "Aucune modification.", "success")
        return redirect(url_for("partners.show", org_id=org_id, _anchor="personnes"), 303)
    status = 422 if request.method == "POST" else 200
    return _show(_load_with_contacts(org_id), status, edit_contact=(contact_id, form))


@bp.route("/<int:org_id>/personnes/<int:contact_id>/supprimer", methods=["POST"])
@roles(*EDITORS)
def delete_contact(org_id: int, contact_id: int):
    contact = _contact_or_404(org_id, contact_id)
    who = contact.name or contact.role
    partners.delete_contact(db.session, current_staff(), contact)
    if wants_fragment():
        # The people section comes back without the row, and says who was removed.
        return render_block(
            "partners/show.html",
            "people",
            removed=who,
            organisation=_load_with_contacts(org_id),
            can_edit=True,
            contact_form=ContactForm(prefix="contact"),
            edit_contact=None,
        )
    flash("Personne retirée de la fiche.", "success")
    return redirect(url_for("partners.show", org_id=org_id, _anchor="personnes"), 303)


@bp.route("/<int:org_id>/liens", methods=["POST"])
@roles(*EDITORS)
def create_link(org_id: int):
    organisation = _load_with_contacts(org_id)
    form = ReferralLinkForm(prefix="lien")
    if not form.validate_on_submit():
        return _show(organisation, 422, link_form=form)
    try:
        _, token = partners.create_referral_link(
            db.session, current_staff(), organisation, form.label.data or ""
        )
    except partners.PartnerError as error:
        unit_of_work.discard()
        form.label.errors = [str(error)]
        return _show(_load_with_contacts(org_id), 422, link_form=form)
    # Shown once, in this response only: never stored in clear, never put in a flash cookie.
    return _show(organisation, 201, new_link_url=public_url("referrals.partner_form", token=token))


@bp.route("/<int:org_id>/liens/<int:link_id>/revoquer", methods=["POST"])
@roles(*EDITORS)
def revoke_link(org_id: int, link_id: int):
    link = db.session.get(PartnerReferralLink, link_id)
    if link is None or link.organisation_id != org_id:
        abort(404)
    partners.revoke_referral_link(db.session, current_staff(), link, now=clock.now())
    flash(f"Lien n° {link.id} révoqué : il n'ouvre plus le formulaire.", "success")
    return redirect(url_for("partners.show", org_id=org_id, _anchor="liens"), 303)


@bp.route("/<int:org_id>/liens/<int:link_id>/renouveler", methods=["POST"])
@roles(*EDITORS)
def renew_link(org_id: int, link_id: int):
    link = db.session.get(PartnerReferralLink, link_id)
    if link is None or link.organisation_id != org_id:
        abort(404)
    try:
        partners.renew_referral_link(db.session, current_staff(), link, now=clock.now())
    except partners.PartnerError as error:
        unit_of_work.discard()
        flash(str(error), "error")
        return redirect(url_for("partners.show", org_id=org_id, _anchor="liens"), 303)
    flash(f"Lien n° {link.id} renouvelé : il fonctionne jusqu'au {link.expires_at:%d/%m/%Y}.", "success")
    return redirect(url_for("partners.show", org_id=org_id, _anchor="liens"), 303)


@bp.route("/export.csv")
@roles(*EDITORS)
def export():
    filename = f"annuaire-{clock.today(site_zone()):%Y-%m-%d}.csv"
    return Response(
        partner_csv.export_csv(db.session),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _departement() -> str:
    return current_app.config["SITE"]["departement"]


@bp.route("/import", methods=["GET", "POST"])
@roles("admin")
def import_upload():
    form = ImportForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("partners/import.html", form=form, plan=None), status
    upload = form.file.data
    try:
        text = partner_csv.decode(upload.read())
    except partners.PartnerError as error:
        form.file.errors = [str(error)]
        return render_template("partners/import.html", form=form, plan=None), 422
    filename = (upload.filename or "")[:255]
    plan, pending = partner_csv.stage_import(db.session, current_staff(), filename, text, _departement())
    return render_template(
        "partners/import.html", form=form, plan=plan, pending=pending, filename=filename
    ), 200 if plan.valid else 422


@bp.route("/import/<int:import_id>/confirmer", methods=["POST"])
@roles("admin")
def import_confirm(import_id: int):
    pending = db.session.get(PartnerImport, import_id)
    if pending is None or pending.created_by_id != current_staff().id:
        abort(404)
    plan, applied = partner_csv.confirm_import(db.session, current_staff(), pending, _departement())
    if not applied:
        # The directory changed since the preview: nothing is applied, the new plan is shown.
        flash(
            "L'annuaire a changé depuis l'aperçu : rien n'a été importé. Vérifiez le nouvel "
            "aperçu et renvoyez le fichier.",
            "error",
        )
        return render_template(
            "partners/import.html", form=ImportForm(), plan=plan, pending=None, filename=pending.filename
        ), 409
    flash(
        f"Import terminé : {len(plan.creates)} partenaire(s) créé(s), {len(plan.updates)} "
        f"modifié(s), {plan.unchanged} inchangé(s).",
        "success",
    )
    return redirect(url_for("partners.index"), 303)
