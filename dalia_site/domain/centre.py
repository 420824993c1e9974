"""The centre's operational settings: name as shown, address, phone, access notes, what to bring,
opening hours and visit lengths. One row, edited by the site's admin on the settings page
(audited); site.toml keeps only what the server needs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dalia_site.database import DbSession
from dalia_site.domain import audit
from dalia_site.domain.text import Collector, FieldError, normalise_phone
from dalia_site.models import CentreSettings, StaffUser
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
    # Appointment reminders (domain/reminders): two days and/or one day before the visit.
    remind_two_days_before: bool = False
    remind_day_before: bool = True

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
        return f"{days}, {_spoken(self.morning)} et {_spoken(self.afternoon)}"

    def missing(self) -> list[str]:
        """The settings still to fill in, in French, for `check` and the settings page."""
        return [label for field, label in NEEDED.items() if not getattr(self, field)]


def _spoken(hours: str) -> str:
    """« 08:30-12:30 » as people write it: « 8h30–12h30 »."""
    return "–".join(f"{int(part[:2])}h{part[3:5]}" for part in hours.split("-"))


def _row(session: DbSession) -> CentreSettings:
    row = session.get(CentreSettings, 1)
    if row is None:  # a database made before the settings existed, not yet upgraded
        row = CentreSettings(id=1)
        session.add(row)
        session.flush()
    return row


def load(session: DbSession) -> Centre:
    row = _row(session)
    return Centre(
        display_name=row.display_name,
        address=row.address,
        phone=row.phone,
        access_notes=row.access_notes,
        what_to_bring=row.what_to_bring,
        open_days=tuple(day for day in row.open_days.split(",") if day),
        morning=row.morning,
        afternoon=row.afternoon,
        first_minutes=row.first_minutes,
        doctor_minutes=row.doctor_minutes,
        nurse_minutes=row.nurse_minutes,
        remind_two_days_before=row.remind_two_days_before,
        remind_day_before=row.remind_day_before,
    )


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


def clean(values: Mapping[str, object]) -> dict[str, object]:
    """The settings as typed in the form, validated; FieldErrors lists every field at fault."""
    cleaned: dict[str, object] = {}
    with Collector() as check:
        for field in TEXT_LENGTHS:
            cleaned[field] = check(field, _text, values, field)
        raw_phone = str(values.get("phone") or "")
        cleaned["phone"] = check("phone", normalise_phone, raw_phone) if raw_phone.strip() else ""
        days = values.get("open_days") or []
        chosen = [days] if isinstance(days, str) else list(days) if isinstance(days, list | tuple) else []
        if not chosen or not set(chosen) <= set(WEEKDAYS):
            check.errors["open_days"] = "Cochez au moins un jour d'ouverture."
        cleaned["open_days"] = ",".join(day for day in WEEKDAYS if day in chosen)
        for field in ("morning", "afternoon"):
            cleaned[field] = check(field, _hours, values.get(field), field)
        for field in ("first_minutes", "doctor_minutes", "nurse_minutes"):
            cleaned[field] = check(field, _minutes, values.get(field), field)
        if "remind_day_before" in values:  # the page's reminder boxes (a form without them keeps them)
            cleaned["remind_two_days_before"] = bool(values.get("remind_two_days_before"))
            cleaned["remind_day_before"] = bool(values.get("remind_day_before"))
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
    here (a site provisioned or upgraded). True when copied now."""
    row = _row(session)
    if row.imported_at is not None:
        return False
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
