"""Roster forms: they parse dates and times; the rules are in domain/roster."""

from typing import Any

from wtforms import BooleanField, SelectField, StringField, TelField, TimeField
from wtforms.validators import Optional

from dalia_site.forms import DateField, Form, Marked, choices, strip
from dalia_site.models.roster import WEEKDAYS
from dalia_site.models.vocabulary import DoctorStatus, Profession, Team

# Keyword arguments of a free-text field (`**TEXT`).
TEXT: dict[str, Any] = {"filters": [strip]}
HALF_DAYS = choices([("matin", "Matin"), ("apres-midi", "Après-midi"), ("autre", "Autre horaire")])


class MemberForm(Form):
    name = StringField("Nom et prénom", validators=[Marked()], **TEXT)
    profession = SelectField(
        "Profession", choices=choices(Profession.choices()), validators=[Marked()], validate_choice=False
    )
    team = SelectField("Équipe", choices=choices(Team.choices()), validate_choice=False)
    doctor_status = SelectField(
        "Statut (médecins)", choices=choices([("", "—"), *DoctorStatus.choices()]), validate_choice=False
    )
    rpps = StringField(
        "N° RPPS",
        **TEXT,
        description="11 chiffres (médecins, infirmières)",
        render_kw={"inputmode": "numeric"},
    )
    phone = TelField("Téléphone", **TEXT)
    email = StringField("E-mail", **TEXT)
    staff_user_id = SelectField(
        "Compte sur le site",
        choices=[],
        validate_choice=False,
        description="Pour que la personne gère ses propres vacations.",
    )

    def values(self) -> dict:
        return {
            k: self[k].data for k in ("name", "profession", "team", "doctor_status", "rpps", "phone", "email")
        }


class TimesMixin:
    half_day = SelectField("Créneau", choices=HALF_DAYS, validate_choice=False)
    start = TimeField("Début (si autre horaire)", validators=[Optional()])
    end = TimeField("Fin (si autre horaire)", validators=[Optional()])


class ShiftForm(TimesMixin, Form):
    day = DateField("Date", validators=[Marked()])
    note = StringField("Remarque (facultatif)", **TEXT)
    exceptional = BooleanField(
        "Ouverture exceptionnelle",
        description="Un jour férié, une fermeture ou hors des heures d'ouverture : le centre ouvre "
        "alors pour cette vacation.",
    )


class PatternForm(TimesMixin, Form):
    weekday = SelectField(
        "Chaque", choices=choices((str(i), d) for i, d in enumerate(WEEKDAYS)), validate_choice=False
    )
    valid_from = DateField("À partir du", validators=[Marked()])
    valid_until = DateField("Jusqu'au (facultatif)", validators=[Optional()])


class ExceptionForm(Form):
    day = DateField("Absent·e à partir du", validators=[Marked()])
    until = DateField(
        "Jusqu'au (facultatif)",
        validators=[Optional()],
        description="Pour des congés : les jours de vacation de la période.",
    )
    reason = StringField("Motif (facultatif)", **TEXT, description="Ex. congés, formation")
