"""Partner forms: each validator calls the domain rule, so inline checks and saves agree."""

from flask import current_app
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, EmailField, RadioField, SelectField, StringField, TelField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from dalia_site.auth.forms import REQUIRED
from dalia_site.domain import phones
from dalia_site.domain.partners import PartnerError, clean_email, normalise_finess, postcode_outside
from dalia_site.domain.text import InvalidValue, normalise_postcode
from dalia_site.forms import DateField, Form, Marked, choices, strip
from dalia_site.models.vocabulary import AcceptsPatients, PartnerCategory

CATEGORY_CHOICES = choices(PartnerCategory.choices())


def french_phone(form, field):
    try:
        phones.normalise(field.data or "", short=True)
    except InvalidValue as error:
        raise ValidationError(str(error)) from error


def email_address(form, field):
    try:
        clean_email(field.name, field.data or "")
    except PartnerError as error:
        raise ValidationError(str(error)) from error


class PartnerForm(Form):
    """Create and edit share this form (and its template, partners/form.html)."""

    name = StringField("Nom", validators=[DataRequired(REQUIRED), Length(max=200)])
    category = SelectField("Catégorie", choices=CATEGORY_CHOICES, validators=[DataRequired(REQUIRED)])
    address = StringField("Adresse", validators=[Optional(), Length(max=300)])
    postcode = StringField(
        "Code postal",
        validators=[Optional(), Length(max=10)],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    confirm_postcode = BooleanField(
        "Je confirme ce code postal hors du département",
        description="À cocher seulement pour un partenaire situé hors du département du site.",
    )
    commune = StringField("Commune", validators=[Optional(), Length(max=120)])
    phone = TelField(
        "Téléphone",
        validators=[french_phone],
        description="Ex. 05 65 36 73 87 ; numéros courts acceptés (15, 36 46…).",
    )
    email = EmailField("E-mail", filters=[strip], validators=[email_address])
    website = StringField("Site web", validators=[Optional(), Length(max=300)])
    opening_hours = StringField(
        "Horaires",
        validators=[Optional(), Length(max=200)],
        description="Ex. du lundi au vendredi, 8h30–18h30",
    )
    finess = StringField(
        "N° FINESS",
        validators=[Optional(), Length(max=12)],
        description="9 caractères, pour les établissements.",
    )
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=5000)])

    def validate_postcode(self, field):
        try:
            postcode = normalise_postcode(field.data or "")
        except InvalidValue as error:
            raise ValidationError(str(error)) from error
        departement = current_app.config["SITE"]["departement"]
        confirmed = self.confirm_postcode.data or postcode == self.stored_postcode
        if postcode_outside(postcode, departement) and not confirmed:
            self.needs_postcode_confirmation = True
            raise ValidationError(
                f"Ce code postal est hors du département du site ({departement}) : cochez la "
                "case « Je confirme ce code postal hors du département » si c'est bien voulu."
            )

    def validate_finess(self, field):
        try:
            normalise_finess(field.data or "")
        except PartnerError as error:
            raise ValidationError(str(error)) from error

    needs_postcode_confirmation = False
    # At edit, the postcode already on file was confirmed when it was entered (or came from the
    # territory template, like the ARS in Montpellier): only a new one asks again.
    stored_postcode = ""

    def values(self) -> dict[str, str]:
        return {
            name: self[name].data or ""
            for name in (
                "name",
                "category",
                "address",
                "postcode",
                "commune",
                "phone",
                "email",
                "website",
                "opening_hours",
                "finess",
                "notes",
            )
        }


class ContactForm(Form):
    name = StringField("Nom", validators=[Length(max=120)])
    # No Optional() here: it would stop the chain before validate_role runs on an empty role.
    role = StringField("Fonction", validators=[Length(max=120)])
    phone = TelField("Téléphone", validators=[french_phone])
    email = EmailField("E-mail", filters=[strip], validators=[email_address])

    def validate_role(self, field):
        if not (self.name.data or "").strip() and not (field.data or "").strip():
            raise ValidationError("Indiquez au moins le nom ou la fonction de la personne.")

    def values(self) -> dict[str, str]:
        return {name: self[name].data or "" for name in ("name", "role", "phone", "email")}


class ReferralLinkForm(Form):
    label = StringField(
        "Libellé (facultatif)",
        validators=[Optional(), Length(max=120)],
        description="Ex. « Urgences, poste de l'IDE d'orientation »",
    )


class ImportForm(Form):
    file = FileField(
        "Fichier CSV (UTF-8, séparateur « ; »)", validators=[FileRequired("Choisissez un fichier CSV.")]
    )


class AcceptsForm(Form):
    """A médecin généraliste: do they take new patients, checked on which day."""

    accepts_new_patients = RadioField(
        "Accepte de nouveaux patients",
        choices=choices(AcceptsPatients.choices()),
        validators=[Marked()],
        validate_choice=False,
    )
    accepts_checked_on = DateField("Vérifié le", validators=[Optional()])
