"""Chart geometry for server-rendered SVG: the template draws what these functions measure.

Plain numbers in, rectangles and ticks out; no chart library and no script in the page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from dalia_site.domain.activity import month_label
from dalia_site.models.vocabulary import AppointmentKind


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


def _as_is(value: int) -> object:
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
    bars = []
    for index, (first, counts) in enumerate(months):
        y: float = height - bottom
        for kind in AppointmentKind:
            h = counts[kind] / scale_max * plot_height
            y -= h
            if counts[kind]:
                bars.append(
                    Bar(
                        round(left + index * slot + slot * 0.15, 1),
                        round(y, 1),
                        round(slot * 0.7, 1),
                        round(h, 1),
                        kind,
                        f"{month_label(first)} : {people(counts[kind])} {kind.short_label.lower()}",
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
    return Chart(width, height, bars, ticks, labels)


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
    return Chart(width, height, bars, [], labels)
