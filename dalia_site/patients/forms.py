"""The follow-up page's forms: the plan, a step of the search for a médecin traitant. They parse;
the rules and their messages are domain/follow_up's."""

from wtforms import BooleanField, RadioField, SelectField, SelectMultipleField, StringField
from wtforms.validators import Optional
from wtforms.widgets import CheckboxInput, ListWidget

from dalia_site.forms import DateField, Form, Marked, Select, choices, strip
from dalia_site.models.vocabulary import AzaleeProtocol, GpAnswer, PreferredNurse


class PlanForm(Form):
    """The centre's side of the plan de santé, recorded at the pair's first visit."""

    cadence_weeks = StringField(
        "Semaines entre deux visites",
        validators=[Marked()],
        filters=[strip],
        render_kw={"inputmode": "numeric"},
        description="La liste « À recontacter » compte le retard à partir de ce délai.",
    )
    preferred_nurse = RadioField(
        "Infirmière du suivi",
        choices=choices(PreferredNurse.choices()),
        validators=[Marked()],
        validate_choice=False,
    )
    azalee_protocols = SelectMultipleField(
        "Protocoles Azalée",
        choices=choices(AzaleeProtocol.choices()),
        validate_choice=False,
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
        description="Avec l'infirmière Azalée seulement.",
    )
    etp = BooleanField("Éducation thérapeutique (ETP) proposée")
    gp_search_started = BooleanField("Recherche d'un médecin traitant engagée")

    def values(self) -> dict[str, object]:
        return {name: field.data for name, field in self._fields.items() if name != "csrf_token"}


class GpStepForm(Form):
    partner_id = SelectField(
        "Médecin généraliste contacté",
        choices=[],
        validators=[Marked()],
        validate_choice=False,
        widget=Select(),
    )
    contacted_on = DateField("Contacté le", validators=[Optional()])
    answer = RadioField(
        "Réponse",
        choices=choices(GpAnswer.choices()),
        validators=[Marked()],
        validate_choice=False,
        default=GpAnswer.PENDING.value,
    )
