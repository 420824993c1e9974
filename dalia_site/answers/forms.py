from wtforms import HiddenField, TextAreaField
from wtforms.validators import AnyOf, Length, Optional

from dalia_site.forms import Form, strip

ANSWERS = ("confirmer", "annuler", "stop")


class AnswerForm(Form):
    """The patient's answer on « Votre rendez-vous »: the button pressed, and an optional reason
    when they cannot come (its length is the domain's rule too)."""

    answer = HiddenField(validators=[AnyOf(ANSWERS, message="Réponse inconnue.")])
    reason = TextAreaField(
        "Motif (facultatif)",
        description="Inutile de donner des détails médicaux.",
        filters=[strip],
        validators=[Optional(), Length(max=200, message="200 caractères au plus.")],
        render_kw={"rows": 2, "maxlength": 200},
    )
