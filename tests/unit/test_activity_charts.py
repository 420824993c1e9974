"""The activity page's charts and tables as a reader meets them: each chart's marks (bars with
their titles, the scale, the labels) and each table's cells, small counts hidden for the reporting
role and every text escaped (the marks are read back as SVG: an unescaped « < 5 » would not parse)."""

from __future__ import annotations

from datetime import date
from xml.etree import ElementTree

from dalia_site.activity import charts
from dalia_site.domain import activity
from dalia_site.domain.worklists import PathwayFigures
from dalia_site.models.vocabulary import RefusalReason


def hidden_below_5(value: object) -> object:
    """How the page writes a count for the reporting role."""
    return activity.secret(value, 5)


def drawn(chart: charts.Chart) -> ElementTree.Element:
    return ElementTree.fromstring(f"<svg>{chart.marks}</svg>")  # noqa: S314  # our own markup


def read(cells: str) -> list[str]:
    return [cell.text or "" for cell in ElementTree.fromstring(f"<tr>{cells}</tr>")]  # noqa: S314


def test_each_bar_of_the_months_chart_names_its_month_kind_and_count_small_ones_hidden():
    months = [
        (date(2027, 1, 1), {"first": 2, "doctor": 12, "nurse": 0}),
        (date(2027, 2, 1), {"first": 0, "doctor": 0, "nurse": 0}),
        (date(2027, 3, 1), {"first": 6, "doctor": 3, "nurse": 9}),
    ]
    chart = charts.monthly(months, people=hidden_below_5)

    svg = drawn(chart)

    bars = svg.findall("rect")
    assert [bar.findtext("title") for bar in bars] == [
        "janv. 2027 : < 5 premières consultations",
        "janv. 2027 : 12 consultations médecin",
        "mars 2027 : 6 premières consultations",
        "mars 2027 : < 5 consultations médecin",
        "mars 2027 : 9 consultations infirmières",
    ]
    assert [bar.get("class") for bar in bars] == [
        "bar bar-first",
        "bar bar-doctor",
        "bar bar-first",
        "bar bar-doctor",
        "bar bar-nurse",
    ]
    assert [tuple(float(bar.get(a, "")) for a in ("x", "y", "width", "height")) for bar in bars] == [
        (bar.x, bar.y, bar.width, bar.height) for bar in chart.bars
    ]
    # The scale (0 to 20 by 5, one gridline each), then the months under their bars.
    assert [text.text for text in svg.findall("text")] == [
        "0",
        "5",
        "10",
        "15",
        "20",
        "janv.",
        "févr.",
        "mars",
    ]
    assert len(svg.findall("line")) == 5


def test_each_origin_of_the_sources_chart_shows_its_name_bar_and_count_beside_it():
    rows = [("dac", "DAC", {}, 12), ("autre", "Réseau <Santé> & Cie", {}, 3)]
    chart = charts.sources(rows, people=hidden_below_5)

    svg = drawn(chart)

    assert [bar.findtext("title") for bar in svg.findall("rect")] == [
        "DAC : 12",
        "Réseau <Santé> & Cie : < 5",
    ]
    texts = svg.findall("text")
    assert [text.text for text in texts] == ["DAC", "Réseau <Santé> & Cie", "12", "< 5"]
    for bar, count in zip(chart.bars, texts[2:], strict=True):  # each count just past its bar's end
        assert float(count.get("x", "")) == bar.x + bar.width + 6


def test_the_tables_give_each_row_its_counts_small_ones_hidden_for_the_reporting_role():
    figures = activity.Activity(
        period=activity.Period(date(2027, 1, 1), date(2027, 2, 28)),
        monthly=[
            (date(2027, 1, 1), {"first": 2, "doctor": 12, "nurse": 7}),
            (date(2027, 2, 1), {"first": 0, "doctor": 0, "nurse": 0}),
        ],
        referrals={
            "pharmacie": {"new": 0, "accepted": 3, "waiting_list": 0, "declined": 0},
            "dac": {"new": 1, "accepted": 9, "waiting_list": 0, "declined": 6},
        },
        pathway=PathwayFigures(
            dict.fromkeys(RefusalReason, 0) | {RefusalReason.OUT_OF_AREA: 4, RefusalReason.DAC: 2}, [], 0, []
        ),
    )

    hidden = charts.tables(figures, hidden_below_5)
    exact = charts.tables(figures)

    assert [(month, read(cells)) for month, cells in hidden.months] == [
        ("janv. 2027", ["< 5", "12", "7", "21"]),  # each kind, then the month's total
        ("févr. 2027", ["0", "0", "0", "0"]),
    ]
    assert [(month, read(cells)) for month, cells in exact.months][0] == (
        "janv. 2027",
        ["2", "12", "7", "21"],
    )
    assert [(origin, read(cells)) for origin, cells in hidden.origins] == [
        ("DAC", ["< 5", "9", "0", "6", "16"]),  # the largest first; each decision, then the total
        ("Pharmacie", ["0", "< 5", "0", "0", "< 5"]),
    ]
    assert read(hidden.origins_total) == ["< 5", "12", "0", "6", "19"]
    assert [(reason, read(cells)) for reason, cells in hidden.refusals] == [
        ("Hors territoire", ["< 5"]),
        ("Pas d'ALD", ["0"]),
        ("A déjà un médecin traitant", ["0"]),
        ("Relève de l'urgence / du SAS", ["0"]),
        ("Relève du DAC", ["< 5"]),
        ("Autre", ["0"]),
    ]
