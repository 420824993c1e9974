"""The partner directory as a CSV file for French Excel (UTF-8 with BOM, `;`), and back.

Export, edit in a spreadsheet, import: rows with an id update that organisation, rows without one
create a new organisation. An import is planned first (every line checked) and applied only when
no line has an error, in one transaction.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, delete, select, type_coerce
from sqlalchemy.orm import selectinload

from dalia_site.database import DbSession, column_rows
from dalia_site.domain import audit
from dalia_site.domain.partners import (
    ORGANISATION_FIELDS,
    PartnerError,
    clean_organisation,
    create_organisation,
    postcode_outside,
    set_archived,
    update_organisation,
)
from dalia_site.domain.spreadsheet import csv_text, unneutralise
from dalia_site.domain.text import fold, format_phone, has_bidi_control
from dalia_site.models import StaffUser
from dalia_site.models.partners import PartnerImport, PartnerOrganisation
from dalia_site.models.vocabulary import PartnerCategory

COLUMNS = (
    "id",
    "nom",
    "categorie",
    "adresse",
    "code_postal",
    "commune",
    "telephone",
    "email",
    "site_web",
    "horaires",
    "finess",
    "notes",
    "archive",
)
COLUMN_FIELDS = dict(zip(COLUMNS[1:12], ORGANISATION_FIELDS, strict=True))
FIELD_COLUMNS = {v: k for k, v in COLUMN_FIELDS.items()}
MAX_BYTES = 2 * 1024 * 1024
# Never meant in a CSV, and PostgreSQL refuses it in text.
NUL_IN_FILE = (
    "Le fichier contient un caractère invalide (caractère nul) : réenregistrez-le en "
    "« CSV UTF-8 » depuis votre tableur."
)
# Reorders what is displayed after it (a name shown as another): never meant in the directory.
BIDI_IN_FILE = (
    "Le fichier contient un caractère de contrôle d'écriture (sens du texte, U+202A–U+202E ou "
    "U+2066–U+2069) : retirez-le avant d'importer."
)
_CATEGORY_BY_FOLDED = {fold(c.label): c for c in PartnerCategory} | {fold(c): c for c in PartnerCategory}


# The directory as the export writes it, read as columns (hundreds of rows: no entity each), the
# category as its stored code (labelled from a dict: no vocabulary member made per row).
_EXPORTED = select(
    PartnerOrganisation.id,
    PartnerOrganisation.name,
    type_coerce(PartnerOrganisation.category, String),
    PartnerOrganisation.address,
    PartnerOrganisation.postcode,
    PartnerOrganisation.commune,
    PartnerOrganisation.phone,
    PartnerOrganisation.email,
    PartnerOrganisation.website,
    PartnerOrganisation.opening_hours,
    PartnerOrganisation.finess,
    PartnerOrganisation.notes,
    PartnerOrganisation.active,
).order_by(PartnerOrganisation.name, PartnerOrganisation.id)


_CATEGORY_LABELS = {category.value: category.label for category in PartnerCategory}


def export_csv(session: DbSession) -> str:
    """Every organisation of the directory, archived ones included, by name."""
    return csv_text([COLUMNS, *(_line(row) for row in column_rows(session, _EXPORTED))])


def _line(row: Sequence[Any]) -> list[object]:
    (
        org_id,
        name,
        category,
        address,
        postcode,
        commune,
        phone,
        email,
        website,
        hours,
        finess,
        notes,
        active,
    ) = row
    return [
        org_id,
        name,
        _CATEGORY_LABELS[category],
        address,
        postcode,
        commune,
        format_phone(phone),
        email,
        website,
        hours,
        finess or "",
        notes,
        "oui" if not active else "non",
    ]


@dataclass(frozen=True)
class LineError:
    line: int
    column: str
    message: str


@dataclass
class ImportPlan:
    creates: list[tuple[int, dict[str, object], bool]] = field(default_factory=list)  # line, values, archived
    updates: list[tuple[int, int, dict[str, object], bool]] = field(
        default_factory=list
    )  # line, id, values, archived
    errors: list[LineError] = field(default_factory=list)
    # Accepted but worth a look before confirming (e.g. a postcode outside the département).
    warnings: list[LineError] = field(default_factory=list)
    unchanged: int = 0
    # (id, last change) of every organisation the file names: a change since the preview
    # (by a colleague, say) makes the confirmation refuse rather than overwrite it.
    baseline: list[tuple[int, str]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors and bool(self.creates or self.updates or self.unchanged)


def decode(data: bytes) -> str:
    """The text of an uploaded file, or PartnerError with what to do about it."""
    if len(data) > MAX_BYTES:
        size = f"{len(data) / 1_048_576:.1f}".replace(".", ",")
        raise PartnerError(
            "fichier", f"Fichier trop volumineux ({size} Mo) : {MAX_BYTES // 1_048_576} Mo au plus."
        )
    if not data.strip(b"\xef\xbb\xbf \r\n\t"):
        raise PartnerError("fichier", "Le fichier est vide.")
    if b"\x00" in data:
        raise PartnerError("fichier", NUL_IN_FILE)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PartnerError(
            "fichier",
            "Le fichier n'est pas encodé en UTF-8 (octet illisible à la position "
            f"{error.start}). Dans Excel : « Enregistrer sous » → « CSV UTF-8 (délimité par des "
            "points-virgules) ».",
        ) from error


def _archived(value: str) -> bool | None:
    folded = fold(value)
    if folded in ("", "non", "n", "0", "false", "faux"):
        return False
    if folded in ("oui", "o", "1", "true", "vrai"):
        return True
    return None


def plan_import(session: DbSession, text: str, departement: str = "") -> ImportPlan:
    """Check every line; nothing is written."""
    plan = ImportPlan()
    if "\x00" in text:
        plan.errors.append(LineError(0, "", NUL_IN_FILE))
        return plan
    if has_bidi_control(text):
        plan.errors.append(LineError(0, "", BIDI_IN_FILE))
        return plan
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    except csv.Error as error:
        plan.errors.append(LineError(0, "", f"Fichier CSV illisible : {error}."))
        return plan
    if not rows:
        plan.errors.append(LineError(1, "", "Le fichier est vide."))
        return plan
    header = [fold(cell).replace(" ", "_") for cell in rows[0]]
    if header != list(COLUMNS):
        missing = [c for c in COLUMNS if c not in header]
        extra = [c for c in rows[0] if fold(c).replace(" ", "_") not in COLUMNS]
        detail = []
        if missing:
            detail.append(f"manquantes : {', '.join(missing)}")
        if extra:
            detail.append(f"inconnues : {', '.join(extra)}")
        if not detail:
            detail.append("ordre différent")
        plan.errors.append(
            LineError(1, "", f"Colonnes attendues : {';'.join(COLUMNS)} ({' ; '.join(detail)}).")
        )
        return plan
    existing = {org.id: org for org in session.scalars(select(PartnerOrganisation))}
    seen_ids: dict[int, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(COLUMNS):
            plan.errors.append(LineError(number, "", f"{len(row)} colonnes au lieu de {len(COLUMNS)}."))
            continue
        cells = dict(zip(COLUMNS, (unneutralise(cell.strip()) for cell in row), strict=True))
        values = {COLUMN_FIELDS[c]: cells[c] for c in COLUMN_FIELDS}
        category = _CATEGORY_BY_FOLDED.get(fold(values["category"]))
        if category is None:
            plan.errors.append(
                LineError(
                    number,
                    "categorie",
                    f"Catégorie inconnue : {values['category']!r} (ex. CPTS, DAC, Pharmacie).",
                )
            )
            continue
        values["category"] = category
        archived = _archived(cells["archive"])
        if archived is None:
            plan.errors.append(LineError(number, "archive", "Valeur attendue : oui ou non."))
            continue
        try:
            cleaned = clean_organisation(values)
        except PartnerError as error:
            plan.errors.append(LineError(number, FIELD_COLUMNS.get(error.field, error.field), str(error)))
            continue
        raw_id = cells["id"]
        numeric = re.fullmatch(r"[0-9]{1,9}", raw_id) is not None
        known = existing.get(int(raw_id)) if numeric else None
        postcode = cleaned["postcode"]
        if (
            departement
            and isinstance(postcode, str)
            and postcode_outside(postcode, departement)
            and (known is None or known.postcode != cleaned["postcode"])
        ):
            plan.warnings.append(
                LineError(
                    number,
                    "code_postal",
                    f"{cleaned['postcode']} est hors du département du site ({departement}).",
                )
            )
        if not raw_id:
            plan.creates.append((number, cleaned, archived))
            continue
        if known is None:
            plan.errors.append(
                LineError(number, "id", f"Aucun partenaire n° {raw_id} : laissez l'id vide pour en créer un.")
            )
            continue
        org_id = int(raw_id)
        if org_id in seen_ids:
            plan.errors.append(LineError(number, "id", f"Id {org_id} déjà présent ligne {seen_ids[org_id]}."))
            continue
        seen_ids[org_id] = number
        org = existing[org_id]
        same = all(getattr(org, f) == cleaned[f] for f in ORGANISATION_FIELDS) and org.active == (
            not archived
        )
        if same:
            plan.unchanged += 1
        else:
            plan.updates.append((number, org_id, cleaned, archived))
    plan.baseline = sorted((org_id, existing[org_id].updated_at.isoformat()) for org_id in seen_ids)
    if not plan.errors and not (plan.creates or plan.updates or plan.unchanged):
        plan.errors.append(LineError(2, "", "Le fichier ne contient aucune ligne de partenaire."))
    return plan


def digest(plan: ImportPlan) -> str:
    """What the admin saw in the preview: a confirmation applies exactly that, or nothing."""
    seen = (plan.creates, plan.updates, plan.unchanged, plan.baseline)
    return hashlib.sha256(repr(seen).encode()).hexdigest()


def stage_import(
    session: DbSession, actor: StaffUser, filename: str, text: str, departement: str
) -> tuple[ImportPlan, PartnerImport | None]:
    """Plan an upload; a valid one waits (in the database) for the admin's confirmation."""
    plan = plan_import(session, text, departement)
    if not plan.valid:
        return plan, None
    # Older uploads of this admin that were never confirmed are dropped.
    session.execute(delete(PartnerImport).where(PartnerImport.created_by_id == actor.id))
    pending = PartnerImport(
        created_by_id=actor.id, filename=filename[:255], content=text, digest=digest(plan)
    )
    session.add(pending)
    session.flush()
    return plan, pending


def confirm_import(
    session: DbSession, actor: StaffUser | None, pending: PartnerImport, departement: str
) -> tuple[ImportPlan, bool]:
    """Apply a staged upload if the directory has not changed since its preview.

    Returns the plan as it stands now and whether it was applied; the caller commits.
    """
    plan = plan_import(session, pending.content, departement)
    if not plan.valid or digest(plan) != pending.digest:
        return plan, False
    apply_import(session, actor, plan, pending.filename)
    session.delete(pending)
    return plan, True


def apply_import(session: DbSession, actor: StaffUser | None, plan: ImportPlan, filename: str = "") -> None:
    """Write a valid plan; the caller commits (all of it or nothing)."""
    if plan.errors:
        raise ValueError("an import with errors is never applied")
    for _, values, archived in plan.creates:
        set_archived(session, actor, create_organisation(session, actor, values), archived)
    # One query for the organisations to update and their people (their search text needs them).
    ids = [org_id for _, org_id, _, _ in plan.updates]
    organisations = {
        org.id: org
        for org in session.scalars(
            select(PartnerOrganisation)
            .where(PartnerOrganisation.id.in_(ids))
            .options(selectinload(PartnerOrganisation.contacts))
        )
    }
    for _, org_id, values, archived in plan.updates:
        org = organisations[org_id]
        update_organisation(session, actor, org, values)
        set_archived(session, actor, org, archived)
    audit.record(
        session,
        actor,
        "partner.import",
        "partner_organisation",
        None,
        f"Import CSV {filename} : {len(plan.creates)} créé(s), {len(plan.updates)} "
        f"modifié(s), {plan.unchanged} inchangé(s)",
    )
