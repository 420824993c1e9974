"""Referral and identity forms. They parse (dates, choices); the rules are in domain/referrals."""

from typing import Any

from wtforms import (
    BooleanField,
    EmailField,
    RadioField,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.validators import Optional

from dalia_site.domain.referrals import IDENTITY_FIELDS
from dalia_site.forms import DateField, Form, Marked, Select, choices, strip
from dalia_site.models.vocabulary import (
    Ald,
    Channel,
    GpStatus,
    Orientation,
    RefusalReason,
    ReminderChannel,
    Sex,
)

# Keyword arguments of a free-text field (`**TEXT`).
TEXT: dict[str, Any] = {"filters": [strip]}


class IdentityForm(Form):
    """The patient's identity: the same fields for a partner, an assistant and the patient page."""

    last_name = StringField("Nom d'usage", validators=[Marked()], **TEXT, render_kw={"autocomplete": "off"})
    first_names = StringField("Prénom(s)", validators=[Marked()], **TEXT, render_kw={"autocomplete": "off"})
    birth_name = StringField("Nom de naissance (si différent)", **TEXT)
    birth_date = DateField("Date de naissance", validators=[Marked()], description="jj/mm/aaaa")
    sex = RadioField("Sexe", choices=choices(Sex.choices()), validators=[Marked()], validate_choice=False)
    phone = TelField("Téléphone du patient", **TEXT)
    email = EmailField("E-mail du patient (facultatif)", **TEXT)
    address = StringField("Adresse", **TEXT)
    postcode = StringField("Code postal", validators=[Marked()], **TEXT, render_kw={"inputmode": "numeric"})
    commune = StringField("Commune", **TEXT)
    ald = RadioField(
        "Affection de longue durée (ALD)",
        choices=choices(Ald.choices()),
        validators=[Marked()],
        validate_choice=False,
    )
    ald_label = StringField(
        "ALD, en quelques mots (facultatif)",
        **TEXT,
        description="Ex. « diabète de type 2 » — pas de compte rendu médical.",
    )
    gp_status = RadioField(
        "Médecin traitant",
        choices=choices(GpStatus.choices()),
        validators=[Marked()],
        validate_choice=False,
    )
    gp_name = StringField("Nom du médecin traitant", **TEXT)

    def identity(self) -> dict:
        return {name: self[name].data for name in IDENTITY_FIELDS}


class PublicReferralForm(IdentityForm):
    referrer_name = StringField("Votre nom", validators=[Marked()], **TEXT)
    referrer_profession = StringField(
        "Votre profession", **TEXT, description="Ex. infirmière libérale, pharmacien, urgentiste"
    )
    referrer_phone = TelField("Votre téléphone", **TEXT)
    referrer_email = EmailField(
        "Votre e-mail",
        **TEXT,
        description="Pour recevoir l'accusé de réception puis la décision "
        "(par référence, sans donnée du patient).",
    )
    reason = TextAreaField(
        "Motif de l'adressage",
        validators=[Marked()],
        **TEXT,
        description="En quelques lignes (1 000 caractères au plus), sans compte rendu médical.",
    )

    def referrer(self) -> dict:
        return {
            name: self[name].data
            for name in ("referrer_name", "referrer_profession", "referrer_phone", "referrer_email")
        }


STAFF_CHANNELS = Channel.choices(c for c in Channel if c != Channel.LINK)


class StaffReferralForm(PublicReferralForm):
    """An assistant records a referral received by phone, mail or fax, or a direct access."""

    channel = SelectField("Reçu par", choices=choices(STAFF_CHANNELS), validate_choice=False)
    # The partner is searched, then picked among a few matches (templates/referrals/form.html
    # writes the radio buttons): never a list of the whole directory.
    source_id = StringField(
        "Partenaire qui adresse",
        **TEXT,
        description="Laissez « Accès direct » si le patient est venu de lui-même.",
    )
    source_search = StringField("Rechercher le partenaire", **TEXT)
    # The search whose matches the form shows: another one typed asks for its matches first.
    source_shown = StringField(**TEXT)
    reminder_channel = SelectField(
        "Rappels de rendez-vous",
        choices=choices(
            [("", "Proposé automatiquement (SMS à un portable, sinon e-mail)"), *ReminderChannel.choices()]
        ),
        validate_choice=False,
        description="Ce que le patient préfère, s'il a été joint ; sinon proposé à l'acceptation.",
    )


class PatientForm(IdentityForm):
    informed_on = DateField("Informé(e) de l'usage de ses données le", validators=[Optional()])
    objected = BooleanField("S'est opposé(e) au partage de ses données avec le DAC")
    objects_to_reminders = BooleanField("Refuse les rappels de rendez-vous (SMS, e-mail)")
    objects_to_gp_search = BooleanField("Refuse d'être contacté(e) pour la recherche d'un médecin traitant")
    # Shown only when the new identity matches another patient (domain/patients.PossibleDuplicate).
    not_duplicate = BooleanField("Ce n'est pas la même personne")


class DecisionForm(Form):
    decline_code = SelectField(
        "Motif du refus",
        choices=choices([("", "— choisir —"), *RefusalReason.choices()]),
        validate_choice=False,
    )
    decline_reason = TextAreaField("Précision (obligatoire pour « Autre »)", **TEXT)
    orientation = SelectField(
        "Orientation proposée",
        choices=choices([("", "— choisir —"), *Orientation.choices()]),
        validate_choice=False,
    )
    orientation_partner = StringField("Partenaire (annuaire)", **TEXT, render_kw={"list": "partenaires"})
    orientation_detail = StringField("Précision", **TEXT)
    # Accepting asks for a way to reach the patient when the referral gave none (issue 17).
    phone = TelField("Téléphone du patient", **TEXT)
    email = EmailField("E-mail du patient", **TEXT)
    via_referrer = BooleanField("Joignable par le référent (ses coordonnées sont sur l'adressage)")

    def reach(self) -> dict[str, object]:
        return {"phone": self.phone.data, "email": self.email.data, "via_referrer": self.via_referrer.data}


class StatusForm(Form):
    status = SelectField("Nouveau statut", choices=[], validate_choice=False, widget=Select())


class ReminderChannelForm(Form):
    """The patient's reminder channel on their file (domain/reminders.set_channel checks it)."""

    reminder_channel = SelectField(
        "Rappels de rendez-vous",
        choices=choices(ReminderChannel.choices()),
        validate_choice=False,
        widget=Select(),
    )


class DacHandoverForm(Form):
    handover_on = DateField("Date de la transmission", validators=[Marked()])
    patient_informed = BooleanField("Le patient a été informé (il peut s'y opposer)")
    gp_informed = BooleanField("Le médecin traitant a été informé")
