"""Patients: identity changes, status, DAC handover, and the trail of who saw and changed what."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Select, bindparam, func, select
from sqlalchemy.orm import joinedload

from dalia_site.database import DbSession
from dalia_site.domain import audit, rights
from dalia_site.domain import search as search_index
from dalia_site.domain.booking import FileVisit
from dalia_site.domain.referrals import (
    FIELD_LABELS,
    clean_identity,
    find_duplicates,
    patient_search_text,
)
from dalia_site.domain.search import all_words
from dalia_site.domain.text import FieldError, format_phone
from dalia_site.models import PartnerOrganisation, Patient, Referral, StaffUser, TeamMember
from dalia_site.models.vocabulary import (
    CLINICIANS,
    AppointmentStatus,
    PatientStatus,
    Profession,
    Purpose,
    ReferralStatus,
    Vocabulary,
)

# Statuses staff set by hand; the others follow from triage decisions.
MANUAL_STATUSES = (PatientStatus.FOLLOW_UP, PatientStatus.GP_FOUND, PatientStatus.DISCHARGED)


def search(words: str, statuses: Iterable[str] = (), in_order: bool = False) -> Select[Patient]:
    """Patients whose name or birth date hold every word typed (accents and case aside), in
    one of `statuses` when given, by name: the patient search and the desk's walk-in search.
    `in_order`: the words match many patients (search.worth_reading_in_order)."""
    query = select(Patient).where(*all_words(Patient.id, Patient.search_text, words, in_order))
    if statuses:
        query = query.where(Patient.status.in_(list(statuses)))
    return query.order_by(func.lower(Patient.last_name), func.lower(Patient.first_names), Patient.id)


def listed(
    session: DbSession, words: str, statuses: list[str], last: int
) -> tuple[Select[Patient], search_index.Matches]:
    """The patient list's search, read as cheaply as it can be for a page ending at row `last`:
    the query, and what the search index counted (Matches.known 0: count the rows). The index
    counts every status: with a status asked, the rows are counted."""
    found = (
        search_index.Matches(None, False)
        if statuses
        else search_index.matches(session, "patient", words, last)
    )
    return search(words, statuses, found.in_order), found


def first_found(session: DbSession, words: str, statuses: list[str], most: int) -> list[Patient]:
    """The first `most` patients of a search in `statuses`, by name (the desk's walk-in search: it
    narrows, it does not page): along the name index when the words match many patients — the
    index's count of every status is the guide, as for the list's page."""
    found = search_index.matches(session, "patient", words, most)
    return list(session.scalars(search(words, statuses, found.in_order).limit(most)))


# The referrals a patient's file shows, with their source and who decided (joined in its query).
WITH_REFERRALS = (
    joinedload(Patient.referrals).joinedload(Referral.source),
    joinedload(Patient.referrals).joinedload(Referral.decided_by),
)


_FIND = select(Patient).where(Patient.id == bindparam("patient_id")).options(*WITH_REFERRALS)  # built once


def find(session: DbSession, patient_id: int) -> Patient | None:
    """The patient with the referrals their page shows (one query), or None."""
    return session.execute(_FIND, {"patient_id": patient_id}).unique().scalar_one_or_none()


def record_view(session: DbSession, actor: StaffUser | None, patient_id: int, what: str = "fiche") -> None:
    """Every read of a patient's identity leaves a trace with the reader's name."""
    audit.record(session, actor, "patient.view", "patient", patient_id, f"Consultation : {what}")


def record_list_view(
    session: DbSession, actor: StaffUser | None, patient_ids: Iterable[int], what: str
) -> None:
    """A list that shows identities (search results, agenda, queue) is traced too: one event
    naming the patients' numbers, never their names."""
    ids = sorted(set(patient_ids))
    if ids:
        audit.record(
            session,
            actor,
            "patient.list_view",
            "patient",
            None,
            f"{what} : patients n° {', '.join(map(str, ids))}",
        )


def _shown(field: str, value: object) -> object:
    if field == "phone" and isinstance(value, str):  # as the file shows it (history of changes)
        return format_phone(value)
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, Vocabulary):
        return value.label
    return value


class PossibleDuplicate(FieldError):
    """The new identity is probably another patient's: the staff member checks, then confirms."""

    def __init__(self, others: list[Patient]):
        who = "D'autres patients correspondent" if len(others) > 1 else "Un autre patient correspond"
        super().__init__(
            "not_duplicate",
            f"{who} à cette "
            "identité : vérifiez qu'il ne s'agit pas de la même personne. Si ce n'est pas elle, cochez "
            "« Ce n'est pas la même personne » et enregistrez à nouveau.",
        )
        self.others = others


IDENTITY_KEYS = ("last_name", "first_names", "birth_name", "birth_date")


def identity_duplicates(session: DbSession, patient: Patient, cleaned: Mapping[str, object]) -> list[Patient]:
    """Other patients who are probably the person `cleaned` describes (one query)."""
    candidate = Patient(**{key: cleaned[key] for key in IDENTITY_KEYS})
    return [other for other in find_duplicates(session, candidate) if other.id != patient.id]


def update_identity(
    session: DbSession,
    actor: StaffUser | None,
    patient: Patient,
    values: Mapping[str, object],
    informed_on: date | None,
    objected: bool,
    today: date,
    not_duplicate: bool = False,
    objections: Mapping[Purpose, bool] | None = None,
) -> bool:
    """Change a patient's identity. A change of name or birth date runs the duplicate check again:
    PossibleDuplicate unless the staff member confirmed it is not the same person. `objections`
    (what the patient refused, by purpose; `objected` is the DAC's) are kept as they are when not
    given. Each field changed joins the file's rectification history, values included."""
    cleaned = clean_identity(values, today)
    if informed_on is not None and informed_on > today:
        raise FieldError("informed_on", "La date d'information ne peut pas être dans le futur.")
    renamed = any(cleaned[key] != getattr(patient, key) for key in IDENTITY_KEYS)
    if renamed and not not_duplicate:
        with session.no_autoflush:
            others = identity_duplicates(session, patient, cleaned)
        if others:
            raise PossibleDuplicate(others)
    cleaned |= {"informed_on": informed_on, "objected": objected}
    for purpose, refused in (objections or {}).items():
        cleaned[rights.OBJECTION_FIELDS[Purpose(purpose)]] = bool(refused)
    labels = FIELD_LABELS | {"informed_on": "informé le"} | rights.OBJECTION_LABELS
    before = {labels[f]: _shown(f, getattr(patient, f)) for f in cleaned}
    after = {labels[f]: _shown(f, v) for f, v in cleaned.items()}
    changes = audit.describe_changes(before, after)
    if not changes:
        return False
    for field, value in cleaned.items():
        setattr(patient, field, value)
    patient.search_text = patient_search_text(patient)
    # The trail names the fields, not their values: identity stays in the patient's record, and
    # in its rectification history (erased with it).
    changed = [f for f in before if before[f] != after[f]]
    rights.record_rectifications(session, actor, patient, {f: (before[f], after[f]) for f in changed})
    audit.record(session, actor, "patient.update", "patient", patient.id, f"Modifié : {', '.join(changed)}")
    return True


def change_status(
    session: DbSession, actor: StaffUser | None, patient: Patient, status: PatientStatus, why: str = ""
) -> None:
    """The patient's new status, with its trace (« statut : En suivi → Sorti (why) »)."""
    audit.record(
        session,
        actor,
        "patient.status",
        "patient",
        patient.id,
        f"statut : {patient.status_label} → {status.label}" + (f" ({why})" if why else ""),
    )
    patient.status = status


def set_status(
    session: DbSession, actor: StaffUser | None, patient: Patient, status: str, *, now: datetime
) -> None:
    if status == patient.status:  # the control shows the current status: kept as it is
        return
    if status not in MANUAL_STATUSES:
        raise FieldError("status", "Ce statut ne se choisit pas à la main.")
    status = PatientStatus(status)
    change_status(session, actor, patient, status)
    if status == PatientStatus.GP_FOUND:
        patient.gp_found_at = now
    elif status == PatientStatus.FOLLOW_UP:  # set back by hand: the médecin traitant was not found after all
        patient.gp_found_at = None


_TERRITORY_DAC = (  # built once
    select(
        PartnerOrganisation.id,
        PartnerOrganisation.name,
        PartnerOrganisation.phone,
        PartnerOrganisation.opening_hours,
    )
    .where(PartnerOrganisation.category == "dac", PartnerOrganisation.active.is_(True))
    .order_by(PartnerOrganisation.id)
    .limit(1)
)


def territory_dac(session: DbSession) -> Row[*tuple[Any, ...]] | None:
    """The DAC of the site's territory, from the partner directory: (id, name, phone,
    opening_hours), or None."""
    return session.execute(_TERRITORY_DAC).first()


@dataclass(frozen=True, slots=True)
class Clinician:
    """An active clinician as the patient page offers them (walk-in visit, slot picker)."""

    id: int
    name: str
    profession: Profession
    # The team member's own properties, read from the row's profession.
    profession_label = TeamMember.profession_label
    is_doctor = TeamMember.is_doctor
    is_nurse = TeamMember.is_nurse


_CLINICIANS = (  # built once
    select(TeamMember.id, TeamMember.name, TeamMember.profession)
    .where(TeamMember.active.is_(True), TeamMember.profession.in_(CLINICIANS))
    .order_by(func.lower(TeamMember.name))
)


def clinicians(session: DbSession) -> list[Clinician]:
    """The active clinicians, by name (one query)."""
    return [Clinician(*row) for row in session.execute(_CLINICIANS)]


def record_dac_handover(
    session: DbSession,
    actor: StaffUser | None,
    patient: Patient,
    on: date | None,
    patient_informed: bool,
    gp_informed: bool,
    today: date,
) -> None:
    """Handover of a complex situation to the DAC: the patient must have been told (they may
    object), and the médecin traitant too when there is one."""
    if patient.dac_handover_on is not None:
        raise FieldError(
            "handover_on", f"Transmission déjà enregistrée le {patient.dac_handover_on:%d/%m/%Y}."
        )
    if on is None:
        raise FieldError("handover_on", "Indiquez la date de la transmission (jj/mm/aaaa).")
    if on > today:
        raise FieldError("handover_on", "La date de transmission ne peut pas être dans le futur.")
    if not patient_informed:
        raise FieldError(
            "patient_informed",
            "Le patient doit être informé de la transmission au DAC (il peut s'y opposer).",
        )
    if patient.has_gp and not gp_informed:
        raise FieldError("gp_informed", "Le médecin traitant doit être informé de la transmission.")
    if not rights.may(patient, Purpose.DAC):
        raise FieldError(
            "patient_informed",
            "Le patient s'est opposé au partage de ses données : pas de transmission au DAC.",
        )
    patient.dac_handover_on = on
    patient.dac_patient_informed = True
    patient.dac_gp_informed = gp_informed
    audit.record(
        session,
        actor,
        "patient.dac_handover",
        "patient",
        patient.id,
        f"Transmission au DAC le {on:%d/%m/%Y} (patient informé"
        + (", médecin traitant informé)" if gp_informed else ")"),
    )


# What a timeline line is about: the page marks each kind in its own way.
REFERRAL, DECISION, VISIT, NO_SHOW, CANCELLED, STATUS, DAC = (
    "referral",
    "decision",
    "visit",
    "no_show",
    "cancelled",
    "status",
    "dac",
)


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime  # aware; for a day without a time (the DAC handover), the end of that day
    kind: str
    text: str
    dated_only: bool = False  # the row holds a day, not a time: shown without an hour


def _with_whom(appointment: FileVisit) -> str:
    return " et ".join(f"{name} ({profession.in_sentence})" for name, profession in appointment.clinicians)


def _referral_entries(referral: Referral) -> list[TimelineEntry]:
    if referral.source is not None:
        received = f"Adressage reçu de {referral.source.name} ({referral.channel.label.lower()})"
    else:
        received = f"Venue directe au centre ({referral.channel.label.lower()})"
    if referral.referrer_name:
        received += f", par {referral.referrer_name}"
    entries = [TimelineEntry(referral.received_at, REFERRAL, received)]
    if referral.decided_at is None or referral.status == ReferralStatus.NEW:
        return entries
    who = f" par {referral.decided_by.name}" if referral.decided_by is not None else ""
    if referral.status == ReferralStatus.ACCEPTED:
        decision = f"Adressage accepté{who} : patient en suivi"
    elif referral.status == ReferralStatus.WAITING_LIST:
        decision = f"Patient mis en liste d'attente{who}"
    else:
        decision = f"Adressage non retenu{who}"
        reason = referral.decline_code.label if referral.decline_code else ""
        if referral.decline_reason:
            reason = f"{reason} ({referral.decline_reason})" if reason else referral.decline_reason
        if reason:
            decision += f" : {reason}"
        if referral.orientation is not None:
            towards = referral.orientation_detail or referral.orientation.label
            decision += f" — orienté vers {towards}"
    return entries + [TimelineEntry(referral.decided_at, DECISION, decision)]


def _visit_entry(appointment: FileVisit) -> TimelineEntry:
    what = appointment.kind.label + (" sans rendez-vous" if appointment.walk_in else "")
    whom = _with_whom(appointment)
    with_whom = f" avec {whom}" if whom else ""
    status = appointment.status
    if status == AppointmentStatus.NO_SHOW:
        return TimelineEntry(appointment.starts_at, NO_SHOW, f"Non venu : {what.lower()}{with_whom}")
    if status == AppointmentStatus.CANCELLED:
        reason = f" ({appointment.cancel_reason})" if appointment.cancel_reason else ""
        return TimelineEntry(appointment.starts_at, CANCELLED, f"Annulé : {what.lower()}{with_whom}{reason}")
    if status == AppointmentStatus.BOOKED:  # over, not yet marked
        return TimelineEntry(
            appointment.starts_at, VISIT, f"{what}{with_whom} — à marquer (honoré ou non venu)"
        )
    return TimelineEntry(appointment.starts_at, VISIT, f"{what}{with_whom}")


def visit_line(appointment: FileVisit) -> str:
    """A past visit as the patient page lists it after its date: what, with whom, how it went
    (« Consultation médecin avec Anne Roux : honoré »), why it was cancelled or left the
    alternation. Worded here once per visit rather than piece by piece in the page."""
    line = appointment.kind.label + (" (sans rendez-vous)" if appointment.walk_in else "")
    line += f" avec {appointment.names} : {appointment.status.label.lower()}"
    if appointment.cancel_reason:
        line += f" ({appointment.cancel_reason})"
    if appointment.override_reason:
        line += f" — hors alternance : {appointment.override_reason}"
    return line


def timeline(
    patient: Patient, appointments: Iterable[FileVisit], now: datetime, zone: ZoneInfo
) -> list[TimelineEntry]:
    """The patient's path in plain French, oldest first, from the rows themselves (referrals
    with their source and decider loaded, appointments with their clinicians): referrals and
    decisions, visits held, missed or cancelled, the médecin traitant found, the exit, the DAC
    handover. Appointments still to come are not history: the page lists them apart."""
    entries: list[TimelineEntry] = []
    for referral in patient.referrals:
        entries += _referral_entries(referral)
    entries += [_visit_entry(a) for a in appointments if a.starts_at <= now]
    if patient.gp_found_at is not None:
        gp = f" : {patient.gp_name}" if patient.gp_name else ""
        entries.append(TimelineEntry(patient.gp_found_at, STATUS, f"Médecin traitant trouvé{gp}"))
    if patient.status == PatientStatus.DISCHARGED:
        # The row keeps no date of its own for the exit: its last change is the closest one.
        entries.append(TimelineEntry(patient.updated_at, STATUS, "Sortie du suivi (statut « Sorti »)"))
    if patient.dac_handover_on is not None:
        informed = "patient informé" + (", médecin traitant informé" if patient.dac_gp_informed else "")
        end_of_day = datetime.combine(patient.dac_handover_on, time.max, tzinfo=zone)
        entries.append(
            TimelineEntry(end_of_day, DAC, f"Situation transmise au DAC ({informed})", dated_only=True)
        )
    return sorted(entries, key=lambda entry: entry.at)
