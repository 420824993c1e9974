"""Charts for server-rendered SVG, and the cells of the tables that follow them.

Plain numbers in, rectangles and ticks out, with their marks written once as SVG (the template
holds each chart's element, title and description); no chart library and no script in the page.
A page shows some 700 counts and coordinates: written here in one pass, each text escaped once,
rather than by as many template expressions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

from dalia_site.domain.activity import Activity, month_label
from dalia_site.models.vocabulary import AppointmentKind, ReferralStatus, RefusalReason

# The columns, in the order of the tables' heads (iterating an Enum class is slow: once here).
KINDS, STATUSES = tuple(AppointmentKind), tuple(ReferralStatus)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str
    value: str = ""


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


def nice_step(maximum: float, steps: int = 4) -> int:
    """A round gridline step (1, 2, 5, 10, 20, 50…) giving about `steps` lines up to `maximum`."""
    raw = max(maximum / steps, 1)
    magnitude = 10 ** (len(str(int(raw))) - 1)
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[Tick]  # value gridlines
    labels: list[Tick]  # category labels
    marks: Markup = Markup("")  # the above as SVG elements, for the template to put in its <svg>


def _as_is(value: object) -> object:
    return value


def monthly(
    months: list[tuple[date, dict[str, int]]],
    width: int = 720,
    height: int = 260,
    people: Callable[[int], object] = _as_is,
) -> Chart:
    """Consultations per month, stacked by kind (first visits at the bottom). `people` writes a
    count in titles and on the scale (« < 5 » for the reporting role: statistical secrecy)."""
    left, bottom, top = 44, 28, 10
    plot_height = height - bottom - top
    top_value = max([sum(c.values()) for _, c in months] + [1])
    step = nice_step(top_value)
    scale_max = -(-top_value // step) * step
    slot = (width - left) / max(len(months), 1)
    kinds = [(kind, kind.short_label.lower()) for kind in KINDS]
    bar_width = round(slot * 0.7, 1)
    bars = []
    for index, (first, counts) in enumerate(months):
        x, month = round(left + index * slot + slot * 0.15, 1), month_label(first)
        y: float = height - bottom
        for kind, kind_label in kinds:
            count = counts[kind]
            h = count / scale_max * plot_height
            y -= h
            if count:
                bars.append(
                    Bar(
                        x,
                        round(y, 1),
                        bar_width,
                        round(h, 1),
                        kind,
                        f"{month} : {people(count)} {kind_label}",
                    )
                )
    ticks = [
        Tick(round(height - bottom - v / scale_max * plot_height, 1), str(people(v)))
        for v in range(0, scale_max + 1, step)
    ]
    labels = [
        Tick(round(left + (i + 0.5) * slot, 1), month_label(first).split()[0])
        for i, (first, _) in enumerate(months)
    ]
    marks = _svg(
        [
            f'<line class="grid" x1="40" x2="{width}" y1="{t.position}" y2="{t.position}"/>{NEXT}'
            f'<text class="axis" x="36" y="{t.position + 4}" text-anchor="end">{escape(t.label)}</text>'
            for t in ticks
        ],
        [_rect(bar) for bar in bars],
        [
            f'<text class="axis" x="{t.position}" y="{height - 8}" text-anchor="middle">'
            f"{escape(t.label)}</text>"
            for t in labels
        ],
    )
    return Chart(width, height, bars, ticks, labels, marks)


def sources(
    rows: list[tuple[str, str, dict[str, int], int]],
    width: int = 720,
    row_height: int = 26,
    people: Callable[[int], object] = _as_is,
) -> Chart:
    """Referrals by who sent them: one horizontal bar per source, largest first."""
    left, right = 190, 50
    height = max(len(rows), 1) * row_height + 8
    top_value = max([total for *_, total in rows] + [1])
    bars = [
        Bar(
            left,
            i * row_height + 4,
            round((width - left - right) * total / top_value, 1),
            row_height - 8,
            "source",
            f"{label} : {people(total)}",
            str(people(total)),
        )
        for i, (_, label, _, total) in enumerate(rows)
    ]
    labels = [Tick(i * row_height + row_height / 2 + 4, label) for i, (_, label, _, _) in enumerate(rows)]
    marks = _svg(
        [
            f'<text class="axis" x="182" y="{t.position}" text-anchor="end">{escape(t.label)}</text>'
            for t in labels
        ],
        [
            f"{_rect(bar)}{NEXT}"
            f'<text class="axis" x="{bar.x + bar.width + 6}" y="{bar.y + bar.height - 5}">'
            f"{escape(bar.value)}</text>"
            for bar in bars
        ],
    )
    return Chart(width, height, bars, [], labels, marks)


# The marks are laid out line by line as the template's loops wrote them (the page stayed byte
# for byte the same when they moved here): each on its own line within the <svg>.
NEXT = "\n    "


def _svg(*groups: list[str]) -> Markup:
    """The groups of marks (gridlines, bars, labels), their texts already escaped."""
    return Markup(NEXT.join(["".join([f"{NEXT}{mark}{NEXT}" for mark in group]) for group in groups]))  # noqa: S704


def _rect(bar: Bar) -> str:
    return (
        f'<rect class="bar bar-{bar.css}" x="{bar.x}" y="{bar.y}" width="{bar.width}" height="{bar.height}">'
        f"<title>{escape(bar.title)}</title></rect>"
    )


# --- The tables: the charts' figures, and the refusals ---------------------------------------------


def cells(counts: Iterable[object], people: Callable[[object], object] = _as_is) -> Markup:
    """A table row's data cells: each count as `people` writes it (« < 5 » is text, escaped)."""
    return Markup(  # noqa: S704  # texts escaped
        "".join([f"<td>{escape(v) if isinstance(v, str) else v}</td>" for v in map(people, counts)])
    )


@dataclass(frozen=True)
class Tables:
    """The figures' tables row by row: (row heading, its data cells)."""

    months: list[tuple[str, Markup]]  # each kind, then the month's total
    origins: list[tuple[str, Markup]]  # each decision, then the origin's total
    origins_total: Markup  # each decision's total, then all the referrals
    refusals: list[tuple[str, Markup]]  # each reason's count


def tables(figures: Activity, people: Callable[[object], object] = _as_is) -> Tables:
    """The tables of `figures`, their counts as `people` writes them (see monthly)."""
    return Tables(
        months=[
            (
                month_label(first),
                cells([*[counts[kind] for kind in KINDS], sum(counts.values())], people),
            )
            for first, counts in figures.monthly
        ],
        origins=[
            (label, cells([*[counts[status] for status in STATUSES], total], people))
            for _, label, counts, total in figures.referral_rows
        ],
        origins_total=cells([*figures.referrals_by_status.values(), figures.referrals_received], people),
        refusals=[
            (reason.label, cells([figures.pathway.refusal_reasons[reason]], people))
            for reason in RefusalReason
        ],
    )
