"""When the centre is open: its opening per half-day, the French public holidays (from the
maintained `holidays` library, with Alsace-Moselle's two more days where the département keeps
them) and the closures its admin enters. Roster, booking, the desk and the planning all read one
`Opening`, built from the centre settings (domain/centre.py)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time

import holidays

from dalia_site.models.roster import WEEKDAYS

HALVES = ("matin", "apres-midi")  # codes (form values, URLs)
HALF_LABELS = {"matin": "matin", "apres-midi": "après-midi"}
# Moselle (57) keeps Good Friday and Saint Stephen's Day; Bas-Rhin and Haut-Rhin (67, 68) too.
ALSACE_MOSELLE = {"57": "57", "67": "6AE", "68": "6AE"}


@functools.cache
def _year_holidays(subdivision: str | None, year: int) -> dict[date, str]:
    found = holidays.country_holidays("FR", subdiv=subdivision, years=year, language="fr")
    return dict(found.items())


def public_holidays(departement: str, first: date, last: date) -> dict[date, str]:
    """The public holidays of [first, last] in this département, with their French names."""
    subdivision = ALSACE_MOSELLE.get(departement)
    found: dict[date, str] = {}
    for year in range(first.year, last.year + 1):
        found |= {d: name for d, name in _year_holidays(subdivision, year).items() if first <= d <= last}
    return found


def half_code(value: str) -> str:
    """« après-midi » or « apres-midi » → the code."""
    return "apres-midi" if value.replace("è", "e") == "apres-midi" else "matin"


def hours_range(value: str) -> tuple[time, time]:
    start, end = value.split("-")
    return time.fromisoformat(start), time.fromisoformat(end)


def parse_half_days(text: str, open_days: Iterable[str]) -> frozenset[tuple[int, str]]:
    """The stored "lundi-matin,lundi-apres-midi,…" as (weekday, half) pairs; empty text: both
    halves of every open day (a site set up before half-days could differ)."""
    if not text:
        return frozenset((WEEKDAYS.index(d), h) for d in open_days if d in WEEKDAYS for h in HALVES)
    pairs = set()
    for item in text.split(","):
        day, _, half = item.partition("-")
        if day in WEEKDAYS and half in HALVES:
            pairs.add((WEEKDAYS.index(day), half))
    return frozenset(pairs)


def format_half_days(pairs: Iterable[tuple[int, str]]) -> str:
    return ",".join(f"{WEEKDAYS[d]}-{h}" for d, h in sorted(pairs, key=lambda p: (p[0], HALVES.index(p[1]))))


@dataclass(frozen=True)
class ClosedSpan:
    id: int
    first_day: date
    last_day: date
    label: str


@dataclass(frozen=True)
class Opening:
    """The centre's opening: open half-days of the week, their hours, closures and holidays."""

    open_half_days: frozenset[tuple[int, str]]
    morning: str
    afternoon: str
    departement: str = ""
    closures: tuple[ClosedSpan, ...] = ()
    give_back_days: int = 7

    def window(self, half: str) -> tuple[time, time]:
        return hours_range(self.morning if half == "matin" else self.afternoon)

    def holiday(self, day: date) -> str | None:
        return public_holidays(self.departement, day, day).get(day)

    def closure(self, day: date) -> ClosedSpan | None:
        return next((c for c in self.closures if c.first_day <= day <= c.last_day), None)

    def closed_reason(self, day: date) -> str | None:
        """« férié — Noël » or « fermé — fermeture estivale » on a closed day, else None."""
        if name := self.holiday(day):
            return f"férié — {name}"
        if span := self.closure(day):
            return f"fermé — {span.label}"
        return None

    def closed_days(self, first: date, last: date) -> dict[date, str]:
        """Every closed day of [first, last] with its reason (holidays first)."""
        found = {
            day: f"fermé — {c.label}"
            for c in self.closures
            for day in _days(max(first, c.first_day), min(last, c.last_day))
        }
        found |= {
            day: f"férié — {name}" for day, name in public_holidays(self.departement, first, last).items()
        }
        return found

    def half_is_open(self, day: date, half: str) -> bool:
        """Open to patients by the weekly hours (closures aside)."""
        return (day.weekday(), half) in self.open_half_days

    def is_open(self, day: date, half: str) -> bool:
        return self.half_is_open(day, half) and self.closed_reason(day) is None

    def day_hours_text(self, weekday: int) -> str:
        """« le matin (8h30–12h30) » / « le matin et l'après-midi » / « fermé »."""
        halves = [h for h in HALVES if (weekday, h) in self.open_half_days]
        if not halves:
            return "fermé toute la journée"
        parts = [f"{'le matin' if h == 'matin' else 'l’après-midi'} ({_spoken(self, h)})" for h in halves]
        return "ouvert " + " et ".join(parts)

    def refusal(self, day: date, start: time, end: time) -> str | None:
        """Why a session from `start` to `end` on `day` cannot be planned (closed day, or outside
        the open half-days' hours); None when it fits."""
        if reason := self.closed_reason(day):
            return (
                f"Le centre est fermé le {day:%d/%m/%Y} ({reason}) : cochez « ouverture "
                "exceptionnelle » pour l'ouvrir ce jour-là."
            )
        touched = [h for h in HALVES if start < self.window(h)[1] and self.window(h)[0] < end]
        fits = (
            bool(touched)
            and all(self.half_is_open(day, h) for h in touched)
            and start >= self.window(touched[0])[0]
            and end <= self.window(touched[-1])[1]
        )
        if fits:
            return None
        return (
            f"Hors des heures d'ouverture : le {WEEKDAYS[day.weekday()]}, le centre est "
            f"{self.day_hours_text(day.weekday())}. Cochez « ouverture exceptionnelle » pour "
            "ouvrir quand même."
        )


def _spoken(opening: Opening, half: str) -> str:
    start, end = opening.window(half)
    return f"{start.hour}h{start.minute:02d}–{end.hour}h{end.minute:02d}"


def _days(first: date, last: date) -> list[date]:
    return [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]
