from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from dalia_site.auth.forms import REQUIRED
from dalia_site.clock import FIRST_DAY, LAST_DAY, within_range
from dalia_site.domain.text import InvalidValue, normalise_email
from dalia_site.forms import DateField, Form, choices, strip
from dalia_site.models.vocabulary import Role


def email_address(form, field):
    """The domain's rule for an email address, so the form and `create-user` agree."""
    try:
        normalise_email(field.data or "")
    except InvalidValue as error:
        raise ValidationError(str(error)) from error


# No role is chosen for the admin: the list starts on a blank, never on « Administrateur·rice ».
ROLE_CHOICES = choices([("", "— choisir un rôle —"), *Role.choices()])
ONE_TIME_HELP = (
    "Au moins 12 caractères. Communiquez-le de vive voix : la personne devra le "
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
    actor = SelectField("Par", choices=[], validators=[Optional()])
    action = SelectField("Action", choices=[], validators=[Optional()])
    object_type = SelectField("Objet", choices=[], validators=[Optional()])
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
