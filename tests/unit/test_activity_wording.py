"""Issue 15: the activity figures in French — hours with their decimals, « 0 jour », « 1 jour »."""

from datetime import date

import pytest

from dalia_site.domain import activity
from dalia_site.domain.activity import Activity, Period, days_fr, hours_fr


@pytest.mark.parametrize(
    ("hours", "text"),
    [(1.25, "1,25 h"), (8.0, "8 h"), (0.0, "0 h"), (2.5, "2,5 h"), (1234.75, "1\u202f234,75 h")],
)
def test_hours_keep_their_decimals(hours, text):
    assert hours_fr(hours) == text


def test_hours_for_a_spreadsheet_have_no_thousands_separator():
    assert hours_fr(1234.5, group=False) == "1234,5 h"


@pytest.mark.parametrize(("days", "text"), [(0, "0 jour"), (1, "1 jour"), (1.5, "2 jours"), (25, "25 jours")])
def test_days_agree_with_their_number(days, text):
    assert days_fr(days) == text


def test_the_summary_shows_a_quarter_hour_next_to_patients_per_hour():
    figures = Activity(Period(date(2026, 3, 2), date(2026, 3, 2)), consultations=1, staffed_hours=1.25)
    figures.days_to_first_visit = [0]
    values = dict(activity.summary(figures))
    assert values["Heures de présence soignante"] == "1,25 h"
    assert values["Patients par heure de présence soignante"] == "0,8"
    assert values["Délai médian de l'adressage à la première consultation"] == "0 jour"
