"""The period of the activity figures: a GET form (bookmarkable, no CSRF: it changes nothing)."""

from wtforms.validators import Optional

from dalia_site.forms import DateField, Form


class PeriodForm(Form):
    class Meta:
        csrf = False

    du = DateField("Du", validators=[Optional()])
    au = DateField("Au", validators=[Optional()])
