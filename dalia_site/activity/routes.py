"""Activity figures: the page with its charts, the exports (CSV, JSON) and the printable report.

Aggregates only, never a patient's identity: the reporting role sees these and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Blueprint, Response, current_app, render_template, request

from dalia_site import clock
from dalia_site.access import current_staff, roles
from dalia_site.activity import charts
from dalia_site.activity.forms import PeriodForm
from dalia_site.domain import activity, centre
from dalia_site.extensions import db
from dalia_site.filters import site_zone
from dalia_site.htmx import render_page
from dalia_site.models.vocabulary import AppointmentKind, ReferralStatus, Role

bp = Blueprint("activity", __name__, url_prefix="/activite", template_folder="templates")

READERS = ("admin", "assistant", "reporting")


def _period(form: PeriodForm) -> activity.Period | None:
    """The period asked for (default: the twelve months to today), or None with the form's
    errors set."""
    if not form.validate():
        return None
    last = form.last.data or clock.today(site_zone())
    try:
        period = activity.Period(form.first.data or activity.Period.year_to(last).first, last)
    except activity.PeriodError as error:
        form.first.errors = [*form.first.errors, str(error)]
        return None
    # The fields show the period shown, as the date picker writes it, whatever was typed.
    form.first.data, form.last.data = period.first, period.last
    form.first.raw_data = form.last.raw_data = None
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


def _figures(period: activity.Period) -> activity.Activity:
    """The figures of the period; each worker keeps the last few periods asked for (the page,
    its exports and its report), computed again only when the data changed."""
    cache = current_app.extensions.setdefault("dalia_activity", activity.FiguresCache())
    return cache.figures(db.session, period, site_zone(), centre.load(db.session).opening)


def _secrecy() -> int | None:
    """The small-count threshold the page applies: the reporting role's (statistical secrecy;
    the exports apply it for everyone), none for the centre's own staff."""
    if current_staff().role != Role.REPORTING:
        return None
    return int(current_app.config["SMALL_COUNT_THRESHOLD"])


def _people() -> Callable[[object], object]:
    """How the page shows a count of people: as is, or « < 5 » when small for the reporting role."""
    threshold = _secrecy()
    if threshold is None:
        return lambda value: value
    return lambda value: activity.secret(value, threshold)


def _context(form: PeriodForm, period: activity.Period | None) -> dict:
    figures = _figures(period) if period else None
    today = clock.today(site_zone())
    people = _people()
    return {
        "form": form,
        "period": period,
        "figures": figures,
        "people": people,
        "summary": activity.summary(figures, threshold=_secrecy()) if figures else [],
        "months_chart": charts.monthly(figures.monthly, people=people) if figures else None,
        "sources_chart": charts.sources(figures.referral_rows, people=people) if figures else None,
        "tables": charts.tables(figures, people) if figures else None,
        "kinds": AppointmentKind,
        "referral_statuses": ReferralStatus,
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


# Exports leave the site: their small counts of people are hidden for everyone.
@bp.route("/export.csv")
@roles(*READERS)
def export_csv():
    threshold = current_app.config["SMALL_COUNT_THRESHOLD"]
    return _export(
        "csv", "text/csv; charset=utf-8", lambda f, site: activity.as_secret_csv(f, site, threshold)
    )


@bp.route("/export.json")
@roles(*READERS)
def export_json():
    threshold = current_app.config["SMALL_COUNT_THRESHOLD"]
    return _export("json", "application/json", lambda f, site: activity.as_secret_json(f, site, threshold))
