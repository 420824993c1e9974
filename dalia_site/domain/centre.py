"""The centre's operational settings: name as shown, address, phone, access notes, what to bring,
opening hours and visit lengths. One row, edited by the site's admin on the settings page
(audited); site.toml keeps only what the server needs."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, inspect, select
from sqlalchemy.orm import joinedload

from dalia_site.database import DbSession
from dalia_site.domain import audit, opening
from dalia_site.domain.text import Collector, FieldError, normalise_phone
from dalia_site.models import CentreSettings, Closure, StaffUser
from dalia_site.models.booking import MAX_VISIT_MINUTES
from dalia_site.models.roster import WEEKDAYS

HOURS = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")
SHORTEST_VISIT = 10
MULTILINE = ("access_notes", "what_to_bring")
TEXT_LENGTHS = {"display_name": 150, "address": 300, "access_notes": 1000, "what_to_bring": 1000}
# What `check` and the settings page list while it is empty.
NEEDED = {
    "display_name": "nom affiché",
    "address": "adresse",
    "phone": "téléphone",
    "access_notes": "accès (transports, stationnement, étage)",
}


@dataclass(frozen=True)
class Centre:
    display_name: str
    address: str
    phone: str
    access_notes: str
    what_to_bring: str
    open_days: tuple[str, ...]
    morning: str
    afternoon: str
    first_minutes: int
    doctor_minutes: int
    nurse_minutes: int
    open_half_days: frozenset[tuple[int, str]] = frozenset()
    give_back_days: int = 7
    departement: str = ""
    closures: tuple[opening.ClosedSpan, ...] = ()
    # Appointment reminders (domain/reminders): two days and/or one day before the visit.
    remind_two_days_before: bool = False
    remind_day_before: bool = True
    # « Non venus » (domain/worklists): a patient who missed this many visits is flagged.
    no_show_flag_after: int = 3

    @property
    def opening(self) -> opening.Opening:
        """Open half-days, their hours, holidays and closures, as roster, booking and the desk read them."""
        return opening.Opening(
            self.open_half_days or opening.parse_half_days("", self.open_days),
            self.morning,
            self.afternoon,
            self.departement,
            self.closures,
            self.give_back_days,
        )

    @property
    def hours(self) -> dict[str, Any]:
        """Opening hours as the roster's coverage reads them."""
        return {"open_days": list(self.open_days), "morning": self.morning, "afternoon": self.afternoon}

    @property
    def visits(self) -> dict[str, Any]:
        """Visit lengths and what the convocation tells, as booking reads them."""
        return {
            "first_minutes": self.first_minutes,
            "doctor_minutes": self.doctor_minutes,
            "nurse_minutes": self.nurse_minutes,
            "address": self.address,
            "what_to_bring": self.what_to_bring,
        }

    @property
    def opening_text(self) -> str:
        """The opening hours as a sentence (« du lundi au vendredi, 8h30–12h30 et 13h30–17h30 »)."""
        indexes = [WEEKDAYS.index(day) for day in self.open_days if day in WEEKDAYS]
        if not indexes:
            return ""
        if len(indexes) > 2 and indexes == list(range(indexes[0], indexes[-1] + 1)):
            days = f"du {WEEKDAYS[indexes[0]]} au {WEEKDAYS[indexes[-1]]}"
        elif len(indexes) == 1:
            days = f"le {WEEKDAYS[indexes[0]]}"
        else:
            names = [WEEKDAYS[i] for i in indexes]
            days = f"les {', '.join(names[:-1])} et {names[-1]}"
        halves = self.opening.open_half_days
        shut = [
            f"le {WEEKDAYS[d]} {opening.HALF_LABELS[h]}"
            for d in indexes
            for h in opening.HALVES
            if (d, h) not in halves
        ]
        closed = f" (fermé {', '.join(shut)})" if shut else ""
        return f"{days}, {_spoken(self.morning)} et {_spoken(self.afternoon)}{closed}"

    def missing(self) -> list[str]:
        """The settings still to fill in, in French, for `check` and the settings page."""
        return [label for field, label in NEEDED.items() if not getattr(self, field)]


def _spoken(hours: str) -> str:
    """« 08:30-12:30 » as people write it: « 8h30–12h30 »."""
    return "–".join(f"{int(part[:2])}h{part[3:5]}" for part in hours.split("-"))


def _row(session: DbSession) -> CentreSettings:
    # The closures come in the same query (a join): pages that read the settings stay at one.
    row = session.get(CentreSettings, 1, options=[joinedload(CentreSettings.closures)])
    if row is not None and "closures" in inspect(row).unloaded:  # read earlier without them
        session.refresh(row, ["closures"])
    if row is None:  # a database made before the settings existed, not yet upgraded
        row = CentreSettings(id=1)
        row.closures = []
        session.add(row)
        session.flush()
    return row


# What `load` reads of the settings, in Centre's order from display_name to departement.
_FIELDS = (
    "display_name",
    "address",
    "phone",
    "access_notes",
    "what_to_bring",
    "open_days",
    "morning",
    "afternoon",
    "first_minutes",
    "doctor_minutes",
    "nurse_minutes",
    "open_half_days",
    "give_back_days",
    "departement",
    "remind_two_days_before",
    "remind_day_before",
    "no_show_flag_after",
)


@functools.cache
def _load_statement() -> Select[*tuple[Any, ...]]:
    """The settings and their closures, one row per closure (one row without any): plain
    columns, built once — nearly every page reads them."""
    return (
        select(
            *(getattr(CentreSettings, name) for name in _FIELDS),
            Closure.id,
            Closure.first_day,
            Closure.last_day,
            Closure.label,
        )
        .outerjoin(Closure, Closure.settings_id == CentreSettings.id)
        .where(CentreSettings.id == 1)
        .order_by(Closure.first_day, Closure.id)
    )


def load(session: DbSession) -> Centre:
    rows = session.execute(_load_statement()).all()
    if not rows:  # a database made before the settings existed, not yet upgraded
        _row(session)
        rows = session.execute(_load_statement()).all()
    values = dict(zip(_FIELDS, rows[0], strict=False))
    open_days = values["open_days"].split(",")
    values["open_days"] = tuple(day for day in open_days if day)
    values["open_half_days"] = opening.parse_half_days(values["open_half_days"], open_days)
    spans = (row[len(_FIELDS) :] for row in rows)
    closures = tuple(opening.ClosedSpan(*span) for span in spans if span[0] is not None)
    return Centre(**values, closures=closures)


def _text(values: Mapping[str, object], field: str) -> str:
    raw = str(values.get(field) or "")
    if field in MULTILINE:  # kept as lines: the convocation prints them so
        value = "\n".join(" ".join(line.split()) for line in raw.splitlines()).strip()
    else:
        value = " ".join(raw.split())
    if len(value) > TEXT_LENGTHS[field]:
        raise FieldError(field, f"{TEXT_LENGTHS[field]} caractères au plus.")
    return value


def _hours(value: object, field: str) -> str:
    text = "".join(str(value or "").split()).replace("h", ":")
    match = HOURS.fullmatch(text)
    if match is None or match.group(1, 2) >= match.group(3, 4):
        raise FieldError(field, "Horaires invalides : début et fin au format 08:30-12:30, dans l'ordre.")
    return text


def _minutes(value: object, field: str) -> int:
    try:
        minutes = int(str(value))
    except ValueError:
        raise FieldError(field, "Durée en minutes attendue (ex. 30).") from None
    if not SHORTEST_VISIT <= minutes <= MAX_VISIT_MINUTES or minutes % 5:
        raise FieldError(
            field, f"Durée entre {SHORTEST_VISIT} et {MAX_VISIT_MINUTES} minutes, par pas de 5 minutes."
        )
    return minutes


def _ticked(value: object) -> list[str]:
    """Checkbox values; (weekday, half) pairs as Centre.open_half_days holds them read as such."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, set | frozenset) and all(isinstance(v, tuple) for v in value):
        return opening.format_half_days(value).split(",") if value else []
    return [str(v) for v in value] if isinstance(value, list | tuple | set | frozenset) else []


def _opening_days(days: object, halves: object) -> dict[str, str]:
    """The half-days ticked on the page's grid (the open days follow), or, from a form that only
    knows whole days, both halves of each day ticked."""
    if halves is None:
        chosen = _ticked(days)
        if not chosen or not set(chosen) <= set(WEEKDAYS):
            raise FieldError("open_days", "Cochez au moins un jour d'ouverture.")
        pairs = opening.parse_half_days("", chosen)
    else:
        ticked = set(_ticked(halves))
        pairs = opening.parse_half_days(",".join(ticked), ()) if ticked else frozenset()
        if len(pairs) != len(ticked):
            raise FieldError("open_half_days", "Demi-journée inconnue.")
        if not pairs:
            raise FieldError("open_half_days", "Cochez au moins une demi-journée d'ouverture.")
    open_days = ",".join(day for index, day in enumerate(WEEKDAYS) if any(d == index for d, _ in pairs))
    return {"open_days": open_days, "open_half_days": opening.format_half_days(pairs)}


def _give_back(value: object) -> int:
    try:
        days = int(str(value))
    except ValueError:
        raise FieldError("give_back_days", "Nombre de jours attendu (ex. 7).") from None
    if not 0 <= days <= 60:
        raise FieldError("give_back_days", "Entre 0 et 60 jours.")
    return days


def _no_show_flag(value: object) -> int:
    try:
        missed = int(str(value))
    except ValueError:
        raise FieldError("no_show_flag_after", "Nombre de rendez-vous manqués attendu (ex. 3).") from None
    if not 1 <= missed <= 20:
        raise FieldError("no_show_flag_after", "Entre 1 et 20 rendez-vous manqués.")
    return missed


def clean(values: Mapping[str, object]) -> dict[str, object]:
    """The settings as typed in the form, validated; FieldErrors lists every field at fault."""
    cleaned: dict[str, object] = {}
    with Collector() as check:
        for field in TEXT_LENGTHS:
            cleaned[field] = check(field, _text, values, field)
        raw_phone = str(values.get("phone") or "")
        cleaned["phone"] = check("phone", normalise_phone, raw_phone) if raw_phone.strip() else ""
        cleaned |= (
            check("open_half_days", _opening_days, values.get("open_days"), values.get("open_half_days"))
            or {}
        )
        if values.get("give_back_days") not in (None, ""):  # a form without it keeps the delay
            cleaned["give_back_days"] = check("give_back_days", _give_back, values.get("give_back_days"))
        if values.get("no_show_flag_after") not in (None, ""):  # a form without it keeps the setting
            cleaned["no_show_flag_after"] = check(
                "no_show_flag_after", _no_show_flag, values.get("no_show_flag_after")
            )
        if "remind_day_before" in values:  # the page's reminder boxes (a form without them keeps them)
            cleaned["remind_two_days_before"] = bool(values.get("remind_two_days_before"))
            cleaned["remind_day_before"] = bool(values.get("remind_day_before"))
        for field in ("morning", "afternoon"):
            cleaned[field] = check(field, _hours, values.get(field), field)
        for field in ("first_minutes", "doctor_minutes", "nurse_minutes"):
            cleaned[field] = check(field, _minutes, values.get(field), field)
    if str(cleaned["morning"])[6:] > str(cleaned["afternoon"])[:5]:
        raise FieldError("afternoon", "L'après-midi commence après la fin de la matinée.")
    return cleaned


def update(session: DbSession, actor: StaffUser | None, values: Mapping[str, object]) -> bool:
    """Save the settings page; audited with what changed. False when nothing did."""
    cleaned = clean(values)
    row = _row(session)
    before = {field: getattr(row, field) for field in cleaned}
    for field, value in cleaned.items():
        setattr(row, field, value)
    changes = audit.describe_changes(before, cleaned)
    if not changes:
        return False
    audit.record(session, actor, "centre.update", "centre", 1, f"Réglages du centre : {changes}")
    return True


def import_site_toml(session: DbSession, settings: Mapping[str, Mapping[str, object]], now: datetime) -> bool:
    """Once per site: the name, hours and visit settings that site.toml held before they moved
    here (a site provisioned or upgraded); and each time, the département. True when something
    was copied now."""
    row = _row(session)
    # The département follows site.toml at every upgrade (which public holidays apply).
    changed = sync_departement(session, str(settings.get("site", {}).get("departement") or ""))
    if row.imported_at is not None:
        return changed
    site, hours, visits = settings.get("site", {}), settings.get("hours", {}), settings.get("visits", {})
    row.display_name = row.display_name or str(site.get("name") or "")
    open_days = hours.get("open_days")
    if isinstance(open_days, list | tuple) and open_days:
        row.open_days = ",".join(day for day in WEEKDAYS if day in open_days)
    for field in ("morning", "afternoon"):
        if isinstance(hours.get(field), str):
            setattr(row, field, hours[field])
    for field in ("first_minutes", "doctor_minutes", "nurse_minutes"):
        if isinstance(visits.get(field), int):
            setattr(row, field, visits[field])
    for field in ("address", "what_to_bring"):
        if isinstance(visits.get(field), str) and visits[field]:
            setattr(row, field, visits[field])
    row.imported_at = now
    return True


# --- Closures and the département (issue 18) -------------------------------------------------------

LONGEST_CLOSURE = 366  # days


def add_closure(
    session: DbSession,
    actor: StaffUser | None,
    first_day: date | None,
    last_day: date | None,
    label: str,
    *,
    today: date,
) -> Closure:
    """A closure entered by the admin (one day, or a range: « fermeture estivale »): no sessions,
    no slots and no coverage alert on those days. Refused in the past or overlapping another."""
    label = " ".join(label.split())
    with Collector() as check:
        if first_day is None:
            check.errors["first_day"] = "Indiquez le premier jour (jj/mm/aaaa)."
        if not label:
            check.errors["label"] = "Indiquez la raison (ex. fermeture estivale)."
        elif len(label) > 120:
            check.errors["label"] = "120 caractères au plus."
    assert first_day is not None  # checked above
    last_day = last_day or first_day
    if last_day < first_day:
        raise FieldError("last_day", "Le dernier jour doit suivre le premier.")
    if first_day < today:
        raise FieldError("first_day", "Une fermeture se note pour aujourd'hui ou plus tard.")
    if (last_day - first_day).days >= LONGEST_CLOSURE or first_day > date(today.year + 3, 12, 31):
        raise FieldError("last_day", "Une fermeture d'un an au plus, dans les trois ans à venir.")
    row = _row(session)
    for other in row.closures:
        if other.first_day <= last_day and first_day <= other.last_day:
            raise FieldError(
                "first_day",
                f"Ces dates croisent la fermeture « {other.label} » "
                f"({_period(other.first_day, other.last_day)}).",
            )
    closure = Closure(first_day=first_day, last_day=last_day, label=label)
    row.closures.append(closure)
    session.flush()
    audit.record(
        session,
        actor,
        "centre.closure_add",
        "centre",
        1,
        f"Fermeture {_period(first_day, last_day)} : {label}",
    )
    return closure


def remove_closure(session: DbSession, actor: StaffUser | None, closure_id: int) -> bool:
    """The closure is lifted (the days open again); False when there was none."""
    row = _row(session)
    closure = next((c for c in row.closures if c.id == closure_id), None)
    if closure is None:
        return False
    row.closures.remove(closure)
    audit.record(
        session,
        actor,
        "centre.closure_remove",
        "centre",
        1,
        f"Fermeture {_period(closure.first_day, closure.last_day)} levée : {closure.label}",
    )
    return True


def _period(first: date, last: date) -> str:
    return f"le {first:%d/%m/%Y}" if first == last else f"du {first:%d/%m/%Y} au {last:%d/%m/%Y}"


def sync_departement(session: DbSession, departement: str) -> bool:
    """The département of site.toml, copied at new-site and each upgrade (which public holidays
    apply). True when it changed."""
    row = _row(session)
    if row.departement == departement:
        return False
    row.departement = departement
    return True
