"""Every closed list the site stores — statuses, kinds, professions, roles, categories — with the
French words the pages show for them. One place: the CHECK constraints, the forms' choices, the
templates and the charts all read them from here.

The stored values are the members' values (English codes, or French ones where the data always had
them): changing one needs a migration, changing a label does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Self

from sqlalchemy import String, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapper
from sqlalchemy.types import TypeDecorator


class Vocabulary(StrEnum):
    """A stored code with its French label (and, where a chart needs one, a shorter label)."""

    label: str
    short_label: str

    def __new__(cls, value: str, *labels: str) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = labels[0]
        member.short_label = labels[-1]
        return member

    @classmethod
    def has(cls, value: object) -> bool:
        """`value` is the code of a member (a `str in Enum` test raises before Python 3.12)."""
        return value in cls._value2member_map_

    @classmethod
    def choices(cls, members: Iterable[Self] | None = None) -> list[tuple[str, str]]:
        """(code, label) pairs for a form's select or radio field, in declaration order."""
        return [(m.value, m.label) for m in (cls if members is None else members)]


def one_of(column: str, vocabulary: type[Vocabulary]) -> str:
    """SQL text of a CHECK constraint: `column` takes one of the codes of `vocabulary`."""
    return f"{column} IN ({', '.join(repr(m.value) for m in vocabulary)})"


class VocabularyType(TypeDecorator[Vocabulary]):
    """A VARCHAR column that gives back members of its vocabulary (the schema sees a plain VARCHAR)."""

    impl = String
    cache_ok = True

    def __init__(self, vocabulary: type[Vocabulary], length: int) -> None:
        super().__init__(length)
        self.vocabulary = vocabulary

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Vocabulary | None:
        return None if value is None else self.vocabulary(value)


@event.listens_for(Mapper, "mapper_configured")
def _members_on_assignment(mapper: Mapper[Any], class_: type) -> None:
    """`member.profession = "medecin"` stores Profession.MEDECIN, as a load would: an object's
    attribute is a member from the start, not only once read back. An unknown code is left as
    it is, for the CHECK constraint to refuse."""
    for prop in mapper.column_attrs:
        column_type = prop.columns[0].type
        if isinstance(column_type, VocabularyType):
            event.listen(getattr(class_, prop.key), "set", _coercer(column_type.vocabulary), retval=True)


def _coercer(vocabulary: type[Vocabulary]) -> Any:
    def coerce(target: object, value: object, oldvalue: object, initiator: object) -> object:
        return vocabulary(str(value)) if vocabulary.has(value) else value

    return coerce


# --- Appointments -------------------------------------------------------------------------------


class AppointmentKind(Vocabulary):
    FIRST = "first", "Première consultation (médecin et infirmière)", "Premières consultations"
    DOCTOR = "doctor", "Consultation médecin", "Consultations médecin"
    NURSE = "nurse", "Consultation infirmière", "Consultations infirmières"


class AppointmentStatus(Vocabulary):
    BOOKED = "booked", "Prévu"
    HONOURED = "honoured", "Honoré"
    NO_SHOW = "no_show", "Non venu"
    CANCELLED = "cancelled", "Annulé"


# --- Patients and referrals ---------------------------------------------------------------------


class Sex(Vocabulary):
    F = "F", "Femme"
    M = "M", "Homme"
    X = "X", "Autre / non précisé"

    def agree(self, word: str) -> str:
        """A participle agreed with the sex: « née », « né »; « né(e) » when it is not stated."""
        return {"F": f"{word}e", "M": word}.get(self.value, f"{word}(e)")

    @property
    def born(self) -> str:
        return self.agree("né")


class Ald(Vocabulary):
    YES = "yes", "Oui"
    UNKNOWN = "unknown", "Ne sait pas"
    NO = "no", "Non"


class GpStatus(Vocabulary):
    NONE = "none", "Pas de médecin traitant"
    HAS = "has", "A un médecin traitant"


class PatientStatus(Vocabulary):
    REFERRED = "referred", "Adressé"
    WAITING_LIST = "waiting_list", "Liste d'attente"
    FOLLOW_UP = "follow_up", "En suivi"
    GP_FOUND = "gp_found", "Médecin traitant trouvé"
    DISCHARGED = "discharged", "Sorti"
    DECLINED = "declined", "Non retenu"


class ReferralStatus(Vocabulary):
    NEW = "new", "Nouveau"
    ACCEPTED = "accepted", "Accepté"
    WAITING_LIST = "waiting_list", "Liste d'attente"
    DECLINED = "declined", "Refusé"

    @property
    def is_open(self) -> bool:
        """A decision can still be taken (or the waiting list left)."""
        return self in (ReferralStatus.NEW, ReferralStatus.WAITING_LIST)


class Purpose(Vocabulary):
    """What the centre may do with a patient's data only if they did not object (RGPD art. 21):
    the file records each refusal, and domain/rights.may() is the one check."""

    DAC = "dac", "Partage de sa situation avec le DAC"
    REMINDERS = "reminders", "Rappels de rendez-vous par SMS ou e-mail"
    GP_SEARCH = "gp_search", "Être contacté(e) pour la recherche d'un médecin traitant"


# What triage may decide: every status but the one a referral arrives with.
DECISIONS = (ReferralStatus.ACCEPTED, ReferralStatus.WAITING_LIST, ReferralStatus.DECLINED)


class ReminderChannel(Vocabulary):
    """How a patient wants to be reminded of their appointments (« aucun »: no reminder). Their
    STOP is their objection to reminders (domain/rights.may), which reminders ask first."""

    SMS = "sms", "SMS"
    EMAIL = "email", "E-mail"
    NONE = "none", "Aucun rappel"


class MessageChannel(Vocabulary):
    """How a message of the outbox leaves: email (SMTP) or SMS (the site's provider)."""

    EMAIL = "email", "E-mail"
    SMS = "sms", "SMS"


class Channel(Vocabulary):
    """How a referral reached the centre."""

    LINK = "link", "Lien partenaire"
    PHONE = "phone", "Téléphone"
    MAIL = "mail", "Courrier / e-mail"
    FAX = "fax", "Fax"
    DIRECT = "direct", "Accès direct"


class Orientation(Vocabulary):
    """Where a declined patient was sent."""

    SAS = "sas", "SAS (soins non programmés)"
    DAC = "dac", "DAC (situation complexe)"
    PARTNER = "partner", "Un partenaire de l'annuaire"
    OTHER = "other", "Autre"


# --- Follow-up: the plan, recalls, the médecin traitant pathway (organisational only) ---------


class RefusalReason(Vocabulary):
    """Why a referral was declined: a closed list the funders' report counts."""

    OUT_OF_AREA = "out_of_area", "Hors territoire"
    NO_ALD = "no_ald", "Pas d'ALD"
    HAS_GP = "has_gp", "A déjà un médecin traitant"
    URGENT = "urgent", "Relève de l'urgence / du SAS"
    DAC = "dac", "Relève du DAC"
    OTHER = "other", "Autre"


class PreferredNurse(Vocabulary):
    """Which nurse the plan puts the patient's nurse visits with."""

    AZALEE = "azalee", "Infirmière Azalée"
    IPA = "ipa", "IPA"
    OTHER = "other", "Autre infirmière"


class AzaleeProtocol(Vocabulary):
    DIABETES = "diabetes", "Diabète de type 2"
    CARDIOVASCULAR = "cardiovascular", "Risque cardiovasculaire"
    COPD = "copd", "BPCO"
    COGNITIVE = "cognitive", "Troubles cognitifs"
    SMOKING = "smoking", "Sevrage tabagique"


class ContactOutcome(Vocabulary):
    """What came of calling a patient back (« À recontacter », « Non venus »)."""

    REACHED = "reached", "Appelé"
    MESSAGE = "message", "Message laissé"
    UNREACHABLE = "unreachable", "Injoignable"
    STOPS = "stops", "Ne souhaite plus venir"


class AcceptsPatients(Vocabulary):
    """Whether a médecin généraliste of the directory takes new patients."""

    YES = "yes", "Oui"
    NO = "no", "Non"
    TO_CHECK = "to_check", "À vérifier"


class GpAnswer(Vocabulary):
    """A step of the search for a médecin traitant: what the GP contacted answered."""

    PENDING = "pending", "En attente de réponse"
    ACCEPTS = "accepts", "Accepte le patient"
    DECLINES = "declines", "Refuse"


class OfferStatus(Vocabulary):
    """A slot freed by a cancellation, offered to the waiting list first (until booked again)."""

    OPEN = "open", "À proposer"
    DISMISSED = "dismissed", "Retiré"


# --- Partners -----------------------------------------------------------------------------------


class PartnerCategory(Vocabulary):
    CPTS = "cpts", "CPTS"
    DAC = "dac", "DAC"
    SAS = "sas", "SAS"
    SAMU_URGENCES = "samu_urgences", "SAMU / urgences"
    HOPITAL_CLINIQUE = "hopital_clinique", "Hôpital / clinique"
    CPAM = "cpam", "CPAM"
    ARS = "ars", "ARS"
    CDOM = "cdom", "CDOM"
    COLLECTIVITE = "collectivite", "Collectivité"
    MSP_ESP = "msp_esp", "MSP / ESP"
    PHARMACIE = "pharmacie", "Pharmacie"
    INFIRMIERS_LIBERAUX = "infirmiers_liberaux", "Infirmiers libéraux"
    EHPAD = "ehpad", "EHPAD"
    MEDECIN_GENERALISTE = "medecin_generaliste", "Médecin généraliste"
    AUTRE = "autre", "Autre"


# --- The team -----------------------------------------------------------------------------------


class Profession(Vocabulary):
    MEDECIN = "medecin", "Médecin"
    IPA = "ipa", "Infirmière en pratique avancée (IPA)"
    INFIRMIER_AZALEE = "infirmier_azalee", "Infirmière Azalée"
    INFIRMIER = "infirmier", "Infirmière"
    ASSISTANT_MEDICAL = "assistant_medical", "Assistante médicale"
    SECRETARIAT = "secretariat", "Secrétariat"
    COORDINATION = "coordination", "Coordination"

    @property
    def in_sentence(self) -> str:
        """The label inside a sentence (« Laure Carrière (infirmière en pratique avancée (IPA)) »):
        its first letter in lower case, acronyms kept."""
        return self.label[:1].lower() + self.label[1:]

    @property
    def is_doctor(self) -> bool:
        return self in DOCTORS

    @property
    def is_nurse(self) -> bool:
        return self in NURSES

    @property
    def is_clinician(self) -> bool:
        """Sees patients (and has an RPPS number)."""
        return self in CLINICIANS


DOCTORS = (Profession.MEDECIN,)
NURSES = (Profession.IPA, Profession.INFIRMIER_AZALEE, Profession.INFIRMIER)
ASSISTANTS = (Profession.ASSISTANT_MEDICAL,)
CLINICIANS = DOCTORS + NURSES


class Team(Vocabulary):
    FLEXIBLE = "flexible", "Équipe flexible"
    STABLE = "stable", "Équipe stable"


class DoctorStatus(Vocabulary):
    RETRAITE = "retraite", "Retraité·e"
    REMPLACANT = "remplacant", "Remplaçant·e"
    SASPAS = "saspas", "SASPAS"
    INTERNE = "interne", "Interne"
    SALARIE = "salarie", "Salarié·e"
    INSTALLE = "installe", "Installé·e"

    @property
    def is_junior(self) -> bool:
        """Needs a senior doctor on the same half-day."""
        return self in (DoctorStatus.INTERNE, DoctorStatus.SASPAS)


# --- Staff accounts -----------------------------------------------------------------------------


class Role(Vocabulary):
    ADMIN = "admin", "Administrateur·rice"
    ASSISTANT = "assistant", "Assistant·e médical·e / secrétariat"
    CLINICIAN = "clinician", "Soignant·e (médecin, IPA, infirmière)"
    REPORTING = "reporting", "Suivi de l'activité (URPS, ARS, CPAM)"


# What templates may name (`AppointmentStatus.BOOKED`, `Profession`…): registered as Jinja globals.
TEMPLATE_GLOBALS: dict[str, type[Vocabulary]] = {
    v.__name__: v
    for v in (
        AppointmentKind,
        AppointmentStatus,
        PatientStatus,
        ReferralStatus,
        Channel,
        Orientation,
        RefusalReason,
        PreferredNurse,
        AzaleeProtocol,
        ContactOutcome,
        AcceptsPatients,
        GpAnswer,
        Purpose,
        ReminderChannel,
        PartnerCategory,
        Profession,
        Team,
        DoctorStatus,
        Role,
    )
}
