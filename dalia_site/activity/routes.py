"""Activity figures: the page with its charts, the exports (CSV, JSON) and the printable report.

Aggregates only, never a patient's identity: the reporting role sees these and nothing else.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, current_app, render_template, request
from sqlalchemy import func, select

from dalia_site.access import roles
from dalia_site.activity import charts
from dalia_site.activity.forms import PeriodForm
from dalia_site.domain import activity
from dalia_site.extensions import db
from dalia_site.filters import site_zone
from dalia_site.htmx import render_page
from dalia_site.models import Appointment, AuditEvent, Referral, RosterSession
from dalia_site.models.patients import REFERRAL_STATUSES
from dalia_site.models.types import utcnow

bp = Blueprint("activity", __name__, url_prefix="/activite", template_folder="templates")

READERS = ("admin", "assistant", "reporting")


def _period(form: PeriodForm) -> activity.Period | None:
    """The period asked for (default: the twelve months to today), or None with the form's
    errors set."""
    if not form.validate():
        return None
    last = form.au.data or utcnow().astimezone(site_zone()).date()
    try:
        period = activity.Period(form.du.data or activity.Period.year_to(last).first, last)
    except activity.PeriodError as error:
        form.du.errors = [*form.du.errors, str(error)]
        return None
    # The fields show the period shown, as the date picker writes it, whatever was typed.
    form.du.data, form.au.data = period.first, period.last
    form.du.raw_data = form.au.raw_data = None
    return period


def _presets(today) -> list[tuple[str, activity.Period]]:
    this_month = today.replace(day=1)
    last_month_end = this_month - timedelta(days=1)
    return [
        ("12 derniers mois", activity.Period.year_to(today)),
        (f"Année {today.year} à ce jour", activity.Period(today.replace(month=1, day=1), today)),
        (
            f"Année {today.year - 1}",
            activity.Period(
                today.replace(year=today.year - 1, month=1, day=1),
                today.replace(year=today.year - 1, month=12, day=31),
            ),
        ),
        (
            activity.month_label(last_month_end).capitalize(),
            activity.Period(last_month_end.replace(day=1), last_month_end),
        ),
    ]


CACHED_PERIODS = 16


def _data_version() -> tuple:
    """Changes whenever the figures may: every write of the app leaves an audit event in its
    own transaction; the newest rows of the counted tables catch anything else."""
    newest = [
        select(func.max(model.id)).scalar_subquery()
        for model in (AuditEvent, Appointment, Referral, RosterSession)
    ]
    return tuple(db.session.execute(select(*newest)).one())


def _figures(period: activity.Period) -> activity.Activity:
    """The figures of the period, computed again only when the data changed since (each
    worker keeps the last few periods asked for: the page, its exports and its report)."""
    cache = current_app.extensions.setdefault("dalia_activity", {})
    key = (period, _data_version())
    figures = cache.pop(key, None) or activity.compute(db.session, period, site_zone())
    cache[key] = figures  # most recently used last
    while len(cache) > CACHED_PERIODS:
        cache.pop(next(iter(cache)))
    return figures


def _context(form: PeriodForm, period: activity.Period | None) -> dict:
    figures = _figures(period) if period else None
    today = utcnow().astimezone(site_zone()).date()
    return {
        "form": form,
        "period": period,
        "figures": figures,
        "summary": activity.summary(figures) if figures else [],
        "months_chart": charts.monthly(figures.monthly) if figures else None,
        "sources_chart": charts.sources(figures.referral_rows) if figures else None,
        "kinds": charts.KIND_SHORT,
        "referral_statuses": REFERRAL_STATUSES,
        "month_label": activity.month_label,
        "presets": _presets(today),
        "today": today,
    }


@bp.route("")
@roles(*READERS)
def index():
    form = PeriodForm(request.args)
    period = _period(form)
    response = render_page("activity/index.html", "activity", **_context(form, period))
    if period is None:
        response.status_code = 400
    return response


@bp.route("/rapport")
@roles(*READERS)
def report():
    """One printable page for the funders."""
    form = PeriodForm(request.args)
    period = _period(form)
    context = _context(form, period)
    return render_template("activity/report.html", **context), 200 if period else 400


def _export(extension: str, mimetype: str, body) -> Response:
    form = PeriodForm(request.args)
    period = _period(form)
    if period is None:
        errors = " ".join(e for field in form for e in field.errors)
        return Response(
            f"Période invalide : {errors}\n", status=400, content_type="text/plain; charset=utf-8"
        )
    site = current_app.config["SITE"]
    filename = f"activite-{site['slug']}-{period.first:%Y-%m-%d}-{period.last:%Y-%m-%d}.{extension}"
    return Response(
        body(_figures(period), site["name"]),
        content_type=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/export.csv")
@roles(*READERS)
def export_csv():
    return _export("csv", "text/csv; charset=utf-8", activity.as_csv)


@bp.route("/export.json")
@roles(*READERS)
def export_json():
    return _export("json", "application/json", activity.as_json)
