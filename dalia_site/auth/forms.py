from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from dalia_site.forms import Form, strip

REQUIRED = "Ce champ est obligatoire."


class LoginForm(Form):
    email = EmailField(
        "Adresse e-mail",
        filters=[strip],
        validators=[DataRequired(REQUIRED), Length(max=254)],
        render_kw={"autocomplete": "username", "autofocus": True},
    )
    password = PasswordField(
        "Mot de passe",
        validators=[DataRequired(REQUIRED), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )


class ChangePasswordForm(Form):
    current_password = PasswordField(
        "Mot de passe actuel",
        validators=[DataRequired(REQUIRED), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        "Nouveau mot de passe",
        validators=[DataRequired(REQUIRED), Length(max=200)],
        description=(
            "Au moins 14 caractères, ou 12 avec majuscule, minuscule, chiffre et symbole ; "
            "une phrase de quelques mots est idéale."
        ),
        render_kw={"autocomplete": "new-password"},
    )
    confirm_password = PasswordField(
        "Confirmez le nouveau mot de passe",
        validators=[
            DataRequired(REQUIRED),
            EqualTo("new_password", "Les deux mots de passe ne sont pas identiques."),
        ],
        render_kw={"autocomplete": "new-password"},
    )
