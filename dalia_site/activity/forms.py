"""The period of the activity figures: a GET form (bookmarkable, no CSRF: it changes nothing)."""

from wtforms.validators import Optional

from dalia_site.forms import DateField, Form


class PeriodForm(Form):
    class Meta:
        csrf = False

    # In the URL as ?du=…&au=… (French, as the page's own words).
    first = DateField("Du", validators=[Optional()], name="du")
    last = DateField("Au", validators=[Optional()], name="au")
