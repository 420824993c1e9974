"""Forms of patients' rights: the erasure on request, the retention periods."""

from wtforms import TextAreaField
from wtforms.validators import NumberRange

from dalia_site.forms import Form, Marked, SmallIntegerField


class ErasureForm(Form):
    reason = TextAreaField("Motif (demande du patient : date, canal, justification)", validators=[Marked()])


class RetentionForm(Form):
    inactive_years = SmallIntegerField(
        "Patient sans rendez-vous ni adressage : conserver (années)",
        validators=[NumberRange(1, 20, "Entre 1 et 20 ans.")],
    )
    declined_years = SmallIntegerField(
        "Adressage non retenu : conserver après la décision (années)",
        validators=[NumberRange(1, 20, "Entre 1 et 20 ans.")],
    )
