from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from dalia_site.auth.forms import REQUIRED
from dalia_site.clock import FIRST_DAY, LAST_DAY, within_range
from dalia_site.domain.text import InvalidValue, normalise_email
from dalia_site.forms import DateField, Form, Select, choices, strip
from dalia_site.models.vocabulary import AppointmentKind, Role


def email_address(form, field):
    """The domain's rule for an email address, so the form and `create-user` agree."""
    try:
        normalise_email(field.data or "")
    except InvalidValue as error:
        raise ValidationError(str(error)) from error


# No role is chosen for the admin: the list starts on a blank, never on « Administrateur·rice ».
ROLE_CHOICES = choices([("", "— choisir un rôle —"), *Role.choices()])
ONE_TIME_HELP = (
    "Au moins 14 caractères (ou 12 avec majuscule, minuscule, chiffre et symbole), difficile "
    "à deviner. Communiquez-le de vive voix : la personne devra le "
    "remplacer à sa première connexion."
)


class StaffForm(Form):
    """Create and edit share this form; the email is only set at creation."""

    name = StringField("Nom et prénom", validators=[DataRequired(REQUIRED), Length(max=120)])
    email = EmailField("Adresse e-mail", filters=[strip], validators=[DataRequired(REQUIRED), email_address])
    role = SelectField("Rôle", choices=ROLE_CHOICES, validators=[DataRequired(REQUIRED)])
    password = PasswordField(
        "Mot de passe provisoire",
        description=ONE_TIME_HELP,
        validators=[DataRequired(REQUIRED), Length(max=200)],
        render_kw={"autocomplete": "new-password"},
    )

    def for_edit(self):
        """At edit, email and password are not part of the form (the password has its own)."""
        del self.email
        del self.password
        return self


class OneTimePasswordForm(Form):
    password = PasswordField(
        "Mot de passe provisoire",
        description=ONE_TIME_HELP,
        validators=[DataRequired(REQUIRED), Length(max=200)],
        render_kw={"autocomplete": "new-password"},
    )


class AuditFilterForm(Form):
    """Filters of the audit log, read from the query string (GET, so no CSRF token)."""

    class Meta:
        csrf = False

    # Choices are loaded from the database before validation: anything else is refused.
    actor = SelectField("Par", choices=[], validators=[Optional()], widget=Select())
    action = SelectField("Action", choices=[], validators=[Optional()], widget=Select())
    object_type = SelectField("Objet", choices=[], validators=[Optional()], widget=Select())
    date_from = DateField("Du", validators=[Optional()])
    date_to = DateField("Au", validators=[Optional()])

    def validate_date_from(self, field):
        _within_reason(field)

    def validate_date_to(self, field):
        _within_reason(field)


def _within_reason(field):
    if field.data and not within_range(field.data):
        raise ValidationError(
            f"Date hors des limites du journal ({FIRST_DAY:%d/%m/%Y} – {LAST_DAY:%d/%m/%Y})."
        )


NUMERIC = {"inputmode": "numeric"}


class CentreForm(Form):
    """The centre's settings page. Every rule (lengths, phone, hours, visit lengths) is the
    domain's (centre.clean): its messages are shown under the fields."""

    display_name = StringField(
        "Nom du centre (tel qu'affiché)", description="Sur les pages et les convocations.", filters=[strip]
    )
    address = StringField("Adresse", description="Numéro, rue, code postal et commune.", filters=[strip])
    phone = StringField(
        "Téléphone", description="Pour prévenir le centre (ex. 04 68 11 22 33).", filters=[strip]
    )
    access_notes = TextAreaField(
        "Accès", description="Transports, stationnement, étage, accessibilité.", render_kw={"rows": 3}
    )
    what_to_bring = TextAreaField("À apporter", render_kw={"rows": 3})
    morning = StringField("Matin", description="Ex. 08:30-12:30.", filters=[strip])
    afternoon = StringField("Après-midi", description="Ex. 13:30-17:30.", filters=[strip])
    first_minutes = StringField(f"{AppointmentKind.FIRST.label}, en minutes", render_kw=NUMERIC)
    doctor_minutes = StringField(f"{AppointmentKind.DOCTOR.label}, en minutes", render_kw=NUMERIC)
    nurse_minutes = StringField(f"{AppointmentKind.NURSE.label}, en minutes", render_kw=NUMERIC)
    give_back_days = StringField(
        "Rendre une demi-journée prise : jusqu'à combien de jours avant",
        description="Un·e bénévole qui a pris une demi-journée ouverte peut la rendre jusqu'à ce délai.",
        render_kw=NUMERIC,
    )
    no_show_flag_after = StringField(
        "Signaler un patient après combien de rendez-vous manqués",
        description="La liste « Non venus » et le dossier signalent le patient à partir de ce nombre.",
        render_kw=NUMERIC,
    )
    remind_two_days_before = BooleanField("Deux jours avant (J-2)")
    remind_day_before = BooleanField("La veille (J-1)")

    def values(self, open_days: list[str], open_half_days: list[str] | None = None) -> dict[str, object]:
        """What the domain validates: the fields, and the open days (or half-days) ticked."""
        halves = {} if open_half_days is None else {"open_half_days": open_half_days}
        return (
            {name: field.data for name, field in self._fields.items() if name != "csrf_token"}
            | {"open_days": open_days}
            | halves
        )


class ClosureForm(Form):
    """A closure of the centre (one day or a period), on the settings page."""

    first_day = DateField("Premier jour", validators=[Optional()])
    last_day = DateField(
        "Dernier jour (facultatif)", validators=[Optional()], description="Pour une période."
    )
    label = StringField(
        "Raison", filters=[strip], description="Ex. fermeture estivale, formation de l'équipe"
    )
