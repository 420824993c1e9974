from wtforms import EmailField, PasswordField, StringField
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
    # Not shown: the code page asks for it. A client that knows it will be asked (a script, the
    # tests) may send it with the password; it is checked and throttled the same way.
    code = StringField(filters=[strip], validators=[Length(max=20)])


class SecondFactorForm(Form):
    code = StringField(
        "Code à 6 chiffres de l'application",
        filters=[strip],
        validators=[DataRequired(REQUIRED), Length(max=20)],
        description="Ou l'un de vos codes de secours (ex. abcd-efgh-jkmn).",
        render_kw={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"},
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
