"""The agenda's visits in words (issue 22): each visit of the day's columns and of the week's days
worded once here, from the plain rows of `agenda.visits_between`, rather than by a few filter
calls each in the templates (which cost more than the query)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from dalia_site.domain import desk
from dalia_site.domain.agenda import Visit
from dalia_site.filters import clock_time
from dalia_site.models.patients import full_name


def _hours(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """« 09h00–09h30 »"""
    return f"{clock_time(start.astimezone(zone))}–{clock_time(end.astimezone(zone))}"


class DayLine(NamedTuple):
    """A visit in a clinician's column of the day agenda, in words."""

    status: str  # its CSS class: « booked »
    hours: str  # « 09h00–09h30 »
    patient_id: int
    name: str  # « DUPONT Marie »
    about: str  # « Suivi infirmier (sans rendez-vous) — honoré »


def day_lines(visits: Iterable[Visit], zone: ZoneInfo) -> dict[int, list[DayLine]]:
    """Each clinician's visits of the day (by member id), worded once."""
    lines: dict[int, list[DayLine]] = {}
    for visit in visits:
        walk_in = " (sans rendez-vous)" if visit.walk_in else ""
        line = DayLine(
            visit.status,
            _hours(visit.starts_at, visit.ends_at, zone),
            visit.patient_id,
            full_name(visit.last_name, visit.first_names),
            f"{visit.kind.label}{walk_in} — {visit.status.label.lower()}",
        )
        for member_id in visit.member_ids:
            lines.setdefault(member_id, []).append(line)
    return lines


class WeekLine(NamedTuple):
    """A visit in its day of the week agenda, in words."""

    status: str  # its CSS class
    time: str  # « 09h00 »
    text: str  # « DUPONT Marie — suivi infirmier avec Claire Roux (réservé) »


def week_lines(visits: Iterable[Visit], days: Iterable[date], zone: ZoneInfo) -> dict[date, list[WeekLine]]:
    """The visits of each of `days` (every day a key), worded once."""
    lines: dict[date, list[WeekLine]] = {day: [] for day in days}
    for visit in visits:
        start = visit.starts_at.astimezone(zone)
        who = " et ".join(visit.clinicians)
        lines[start.date()].append(
            WeekLine(
                visit.status,
                clock_time(start),
                f"{full_name(visit.last_name, visit.first_names)} — {visit.kind.label.lower()} avec {who} "
                f"({visit.status.label.lower()})",
            )
        )
    return lines


class DayColumn(NamedTuple):
    """A clinician's column of the day agenda, in words."""

    id: int
    name: str
    profession: str  # its label
    sessions: str  # « Vacations : 08h30–12h30, 13h30–17h30 »
    visits: list[DayLine]


def day_columns(columns: Iterable[desk.Column], visits: Iterable[Visit], zone: ZoneInfo) -> list[DayColumn]:
    """The columns of the clinicians on duty (`desk.columns`, in their order) with their visits."""
    lines = day_lines(visits, zone)
    return [
        DayColumn(
            column.member.id,
            column.member.name,
            column.member.profession_label,
            f"Vacation{'s' if len(column.spans) > 1 else ''} : "
            + ", ".join(_hours(o.starts_at, o.ends_at, zone) for o in column.spans),
            lines.get(column.member.id, []),
        )
        for column in columns
    ]
