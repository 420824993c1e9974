"""Referrals: the partner's private form (public), staff entry, the triage queue and screen."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from types import SimpleNamespace
from typing import NamedTuple

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    get_template_attribute,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup
from sqlalchemy import ColumnElement, Row, bindparam, func, select
from sqlalchemy.orm import joinedload

from dalia_site import clock
from dalia_site.access import current_staff, public, roles
from dalia_site.database import column_rows
from dalia_site.domain import audit, eligibility, partners, patients, referrals
from dalia_site.domain.text import FieldError
from dalia_site.extensions import db
from dalia_site.filters import ID_MARK, site_zone
from dalia_site.forms import choices, parse_id, submit
from dalia_site.htmx import render_block, render_page, wants_fragment
from dalia_site.listing import paginate
from dalia_site.models import PartnerOrganisation, PartnerReferralLink, Patient, Referral
from dalia_site.models.vocabulary import Channel, Orientation, ReferralStatus
from dalia_site.rate_limits import Limit, rate_limited
from dalia_site.referrals.forms import (
    DecisionForm,
    PublicReferralForm,
    StaffReferralForm,
)

bp = Blueprint("referrals", __name__, template_folder="templates")

TRIAGE = ("admin", "assistant", "clinician")
INTAKE = ("admin", "assistant")
PAGE_SIZE = 25
# Words that travel in URLs and forms (French, as the rest of the URLs).
ANY_STATUS = "tous"  # the queue's filter: every status
NEW_PATIENT = "nouveau"  # triage: the referral is nobody already known
# The public form: per link and per address, over an hour. A burst beyond gets a 429.
LINK_LIMIT, ADDRESS_LIMIT, LIMIT_WINDOW = 20, 30, timedelta(hours=1)


def _site_name() -> str:
    return current_app.config["SITE"]["name"]


# --- The partner's private link (public, write-only) ------------------------------------------


def _usable_link(token: str) -> PartnerReferralLink | None:
    """The link behind `token` if a partner may refer through it, read once per request (the
    rate limits and the view all ask)."""
    if "referral_link" not in g:
        g.referral_link = partners.usable_referral_link(db.session, token, now=clock.now())
    link: PartnerReferralLink | None = g.referral_link
    return link


def _address_counted(token: str) -> str | None:
    """Every try at an unknown link counts against the address (guessing links); on a working
    link, only sending the form does."""
    return request.remote_addr if request.method == "POST" or _usable_link(token) is None else None


def _link_counted(token: str) -> str | None:
    link = _usable_link(token)
    return str(link.id) if link is not None else None


@bp.route("/adressage/<token>", methods=["GET", "POST"])
@public
@rate_limited(
    Limit("link", LINK_LIMIT, LIMIT_WINDOW, key=_link_counted),
    Limit("ip", ADDRESS_LIMIT, LIMIT_WINDOW, key=_address_counted, methods=frozenset({"GET", "POST"})),
)
def partner_form(token: str):
    link = _usable_link(token)
    if link is None:
        return render_template("referrals/public_invalid.html"), 404
    organisation = db.session.get(PartnerOrganisation, link.organisation_id)
    form = PublicReferralForm()
    if request.method == "GET":
        return render_template("referrals/public_form.html", form=form, organisation=organisation)
    ok, referral = submit(
        form,
        lambda: referrals.receive(
            db.session,
            None,
            "link",
            form.identity(),
            form.referrer(),
            form.reason.data or "",
            source=organisation,
            link=link,
            site_name=_site_name(),
            today=clock.today(site_zone()),
            now=clock.now(),
        ),
    )
    if not ok:
        return render_template("referrals/public_form.html", form=form, organisation=organisation), 422
    # Only the reference is shown back: nothing of what was stored is read again.
    return render_template("referrals/public_done.html", reference=referral.reference), 201


# --- Staff: entry, queue, triage --------------------------------------------------------------


# The partner who refers is searched in the directory (its indexed search) and picked among a
# few matches: the page never lists the whole directory.
SHOWN_PARTNERS = 10
SHORTEST_PARTNER_SEARCH = 2
MAX_SEARCH = 100
# A partner as the picker shows it: plain columns.
_PICKED = (
    PartnerOrganisation.id,
    PartnerOrganisation.name,
    PartnerOrganisation.category,
    PartnerOrganisation.commune,
)
_ACTIVE_PARTNER = select(*_PICKED).where(
    PartnerOrganisation.id == bindparam("partner_id"), PartnerOrganisation.active.is_(True)
)


class PartnerPicker(NamedTuple):
    """The « Partenaire qui adresse » field: the search typed; the id of the partner chosen (if
    one could be read), `direct` when none was sent; the partners to choose from: the one chosen
    first if it is an active partner, then the `found` matches by name, `more` if others matched."""

    search: str
    chosen: int | None
    direct: bool
    partners: list[Row]
    found: int
    more: bool

    @property
    def too_short(self) -> bool:
        return 0 < len(self.search) < SHORTEST_PARTNER_SEARCH


def _picker(search: str, chosen: str) -> PartnerPicker:
    search = search.strip()[:MAX_SEARCH]
    chosen_id = parse_id(chosen)
    shown = list(column_rows(db.session, _ACTIVE_PARTNER, {"partner_id": chosen_id})) if chosen_id else []
    found: Sequence[Row] = []
    if len(search) >= SHORTEST_PARTNER_SEARCH:
        found = column_rows(
            db.session,
            select(*_PICKED)
            .where(
                PartnerOrganisation.active.is_(True),
                PartnerOrganisation.id != (chosen_id or 0),
                *partners.search_filter(search),
            )
            .order_by(func.lower(PartnerOrganisation.name), PartnerOrganisation.id)
            .limit(SHOWN_PARTNERS + 1),
        )
    matches = found[:SHOWN_PARTNERS]
    return PartnerPicker(
        search, chosen_id, not chosen, shown + list(matches), len(matches), len(found) > SHOWN_PARTNERS
    )


@bp.route("/adressages/nouveau", methods=["GET", "POST"])
@roles(*INTAKE)
def create():
    """The form; an htmx request with a search gets the partners to choose from (the form's
    `source_choices` block). Sent with a search whose matches it does not show yet, or without
    a partner picked among them, it shows them: nothing is recorded."""
    form = StaffReferralForm()
    if request.method == "GET":
        picker = _picker(request.args.get("source_search", ""), request.args.get("source_id", ""))
        return render_page("referrals/form.html", "source_choices", form=form, picker=picker)
    raw_source = form.source_id.data or ""
    picker = _picker(form.source_search.data or "", raw_source)
    if picker.search and (not raw_source or picker.search != (form.source_shown.data or "")[:MAX_SEARCH]):
        return render_template("referrals/form.html", form=form, picker=picker, choosing=True)
    ok, referral = submit(
        form,
        lambda: referrals.receive(
            db.session,
            current_staff(),
            form.channel.data or "",
            form.identity(),
            form.referrer(),
            form.reason.data or "",
            source=referrals.referring_partner(db.session, parse_id(raw_source) or 0 if raw_source else None),
            site_name=_site_name(),
            today=clock.today(site_zone()),
            now=clock.now(),
            reminder_channel=form.reminder_channel.data or "",
        ),
    )
    if ok:
        flash(f"Adressage {referral.reference} enregistré.", "success")
        return redirect(url_for("referrals.show", referral_id=referral.id), 303)
    return render_template("referrals/form.html", form=form, picker=picker), 422


def _queue_filters():
    status = request.args.get("statut", "new")
    status = status if ReferralStatus.has(status) or status == ANY_STATUS else ReferralStatus.NEW
    source = request.args.get("source", "")
    return status, source


def _queue_query(status: str, source: str):
    query = select(Referral).options(joinedload(Referral.source))
    if status != ANY_STATUS:
        query = query.where(Referral.status == status)
    if source == Channel.DIRECT:
        query = query.where(Referral.channel == Channel.DIRECT)
    elif parse_id(source):
        query = query.where(Referral.source_id == parse_id(source))
    return query.order_by(Referral.received_at.desc(), Referral.id.desc())


def _sources_in(status: str, source: str) -> list:
    """The partners whose referrals are in this list (and the one filtered on): the filter
    offers the origins that exist here, not the whole directory."""
    listed: ColumnElement[bool]
    if status == ANY_STATUS:  # every partner who ever referred: one index seek per partner
        listed = select(Referral.id).where(Referral.source_id == PartnerOrganisation.id).exists()
    else:  # the few referrals of one open status (or the many of a closed one), by the status index
        listed = PartnerOrganisation.id.in_(
            select(Referral.source_id).where(Referral.source_id.is_not(None), Referral.status == status)
        )
    rows = db.session.execute(
        select(PartnerOrganisation.id, PartnerOrganisation.name)
        .where(listed | (PartnerOrganisation.id == (parse_id(source) or 0)))
        .order_by(func.lower(PartnerOrganisation.name))
    ).all()
    return choices((str(i), n) for i, n in rows)


def _queue_context():
    status, source = _queue_filters()
    page = paginate(_queue_query(status, source), PAGE_SIZE)
    context = {"page": page, "status": status, "source": source, "decision_form": DecisionForm()}
    if wants_fragment():  # the rows alone: no counters, no filter
        return context
    return context | {
        "counts": referrals.status_counts(db.session),
        "counted_up_to": referrals.COUNTED_UP_TO,
        "statuses": ReferralStatus,
        "sources": _sources_in(status, source),
    }


@bp.route("/adressages")
@roles(*TRIAGE)
def queue():
    context = _queue_context()
    response = render_page("referrals/queue.html", "rows", **context)
    # The queue shows the identities carried by the referrals: the reading is traced.
    shown = [r.id for r in context["page"].items]
    if shown:
        audit.record(
            db.session,
            current_staff(),
            "referral.list_view",
            "referral",
            None,
            f"File des adressages : n° {', '.join(map(str, shown))}",
        )
    return response


@bp.route("/adressages/compteurs")
@roles(*TRIAGE)
def counters():
    """The counters block of the queue, refreshed by htmx after each inline decision."""
    status, source = _queue_filters()
    return render_block(
        "referrals/queue.html",
        "counters",
        counts=referrals.status_counts(db.session),
        counted_up_to=referrals.COUNTED_UP_TO,
        status=status,
        source=source,
        statuses=ReferralStatus,
    )


def _referral_or_404(referral_id: int, fresh: bool = False) -> Referral:
    """The referral with what its pages show; `fresh`: read again as the database now has it
    (after a decision, with what it changed)."""
    referral = db.session.scalar(
        select(Referral)
        .execution_options(populate_existing=fresh)
        .where(Referral.id == referral_id)
        .options(
            joinedload(Referral.source),
            joinedload(Referral.patient),
            joinedload(Referral.decided_by),
            joinedload(Referral.orientation_partner),
        )
    )
    if referral is None:
        abort(404)
    return referral


def _duplicates(referral: Referral) -> list[Patient]:
    """The patients the referral may be about, while it is attached to none."""
    return referrals.find_duplicates(db.session, referral) if referral.patient_id is None else []


def _show(
    referral: Referral,
    status: int = 200,
    decision_form: DecisionForm | None = None,
    duplicates: list[Patient] | None = None,
):
    territory = current_app.config["SITE_SETTINGS"]["territory"]
    return render_template(
        "referrals/show.html",
        referral=referral,
        duplicates=_duplicates(referral) if duplicates is None else duplicates,
        checklist=eligibility.checklist(referral, territory),
        decision_form=decision_form or DecisionForm(),
    ), status


@bp.route("/adressages/<int:referral_id>")
@roles(*TRIAGE)
def show(referral_id: int):
    referral = _referral_or_404(referral_id)
    duplicates = _duplicates(referral)
    response = _show(referral, duplicates=duplicates)
    audit.record(
        db.session,
        current_staff(),
        "referral.view",
        "referral",
        referral.id,
        f"Consultation de l'adressage {referral.reference}",
    )
    if referral.patient_id:
        patients.record_view(
            db.session, current_staff(), referral.patient_id, f"adressage {referral.reference}"
        )
    patients.record_list_view(
        db.session,
        current_staff(),
        [p.id for p in duplicates],
        f"doublons possibles de l'adressage {referral.reference}",
    )
    return response


@bp.route("/adressages/<int:referral_id>/rattacher", methods=["POST"])
@roles(*TRIAGE)
def attach(referral_id: int):
    """The assistant confirms (or rules out) that the referral is about an existing patient."""
    referral = _referral_or_404(referral_id)
    chosen = request.form.get("patient_id", "")
    patient = None
    if chosen != NEW_PATIENT:
        patient = db.session.get(Patient, parse_id(chosen) or 0)
        if patient is None:
            abort(400)
    try:
        referrals.resolve_identity(db.session, current_staff(), referral, patient)
    except referrals.NotADuplicate as error:
        abort(400, description=str(error))
    except FieldError as error:
        flash(str(error), "error")
        return redirect(url_for("referrals.show", referral_id=referral_id), 303)
    flash(
        "Nouveau patient créé pour cet adressage."
        if patient is None
        else "Adressage rattaché au patient existant.",
        "success",
    )
    return redirect(url_for("referrals.show", referral_id=referral_id), 303)


# A queue row's decision forms (referrals/_decision.html's decision_forms, inline) are the same
# markup for every row of a status — and of a patient the referral gives a way to reach, or none
# and no referrer's contact — but for the referral's number and reference: the macro renders them
# once per request and kind of row, with marks where those go, then each row's are put in (twenty
# rows, two renderings). A row whose forms show more (errors, the referrer's contact) is rendered
# on its own.
REFERENCE_MARK = "RÉFÉRENCE-DE-L-ADRESSAGE"


@bp.app_template_global()
def decision_cell(referral: Referral, form: DecisionForm) -> Markup:
    forms = get_template_attribute("referrals/_decision.html", "decision_forms")
    reachable = bool(referral.phone or referral.email or referral.address)
    if form.errors or (not reachable and (referral.referrer_phone or referral.referrer_email)):
        alone: Markup = forms(referral, form, inline=True)
        return alone
    cells = g.setdefault("_decision_cells", {})
    cell = cells.get((referral.status, reachable))
    if cell is None:
        marked = SimpleNamespace(
            id=int(ID_MARK),
            reference=REFERENCE_MARK,
            status=referral.status,
            phone="1" if reachable else "",
            email="",
            address="",
            referrer_phone="",
            referrer_email="",
        )
        cell = cells[referral.status, reachable] = forms(marked, form, inline=True)
    # Markup's replace escapes what it puts in.
    filled: Markup = cell.replace(ID_MARK, str(referral.id)).replace(REFERENCE_MARK, referral.reference)
    return filled


@bp.route("/adressages/<int:referral_id>/refus")
@roles(*TRIAGE)
def refusal(referral_id: int):
    """The refusal form of a referral of the queue, fetched when its « Refuser » is opened."""
    referral = db.session.get(Referral, referral_id) or abort(404)
    if not referral.decidable:
        abort(409, description="Cet adressage a déjà été décidé : rechargez la file des adressages.")
    return render_template("referrals/_refusal.html", referral=referral, form=DecisionForm())


@bp.route("/adressages/<int:referral_id>/decision", methods=["POST"])
@roles(*TRIAGE)
def decide(referral_id: int):
    referral = _referral_or_404(referral_id)
    decision = request.form.get("decision", "")
    form = DecisionForm()
    partner = None
    if form.orientation.data == Orientation.PARTNER and form.orientation_partner.data:
        partner = db.session.scalar(
            select(PartnerOrganisation).where(
                PartnerOrganisation.name == form.orientation_partner.data,
                PartnerOrganisation.active.is_(True),
            )
        )
    ok, _ = submit(
        form,
        lambda: referrals.decide(
            db.session,
            current_staff(),
            referral,
            decision,
            form.decline_reason.data or "",
            form.orientation.data or None,
            partner,
            form.orientation_detail.data or "",
            site_name=_site_name(),
            decline_code=form.decline_code.data or None,
            reach=form.reach(),
            now=clock.now(),
        ),
    )
    if wants_fragment():
        # Inline in the queue: the row comes back updated (or with the messages), and the
        # counters are told to refresh themselves.
        response = render_block(
            "referrals/queue.html",
            "row",
            referral=_referral_or_404(referral_id, fresh=True),
            decision_form=form,
            inline_errors=not ok,
        )
        return response, (200 if ok else 422), {"HX-Trigger": "referrals-changed"}
    if not ok:
        return _show(_referral_or_404(referral_id), 422, decision_form=form)
    flash(f"Adressage {referral.reference} : {referral.status_label.lower()}.", "success")
    return redirect(url_for("referrals.show", referral_id=referral_id), 303)
