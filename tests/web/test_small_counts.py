"""Statistical secrecy of the activity figures (issue 19): the reporting role's page and every
export show a count of 1 to 4 people as « < 5 » (threshold: [security] small_count_threshold), so
that a short period does not single out a patient. Admins and assistants see the page exact."""

import csv
import io
import json
import re

from click.testing import CliRunner

from dalia_site.commands import cli
from tests.conftest import AuthActions
from tests.web.test_activity import body, centre, csv_rows, figures  # noqa: F401  (centre: the fixture)
from tests.web.test_headers_sessions import make_app  # noqa: F401  (the fixture)


def test_the_reporting_role_sees_small_counts_as_less_than_5(client, as_role, centre):  # noqa: F811
    as_role("reporting")
    page = figures(client.get("/activite", query_string=centre.query))
    assert page["Patients reçus"] == "< 5"  # 2 patients
    assert page["Consultations"] == "< 5"  # 4 consultations
    assert page["Heures de présence soignante"] == "8 h"  # hours are not people
    html = client.get("/activite", query_string=centre.query).get_data(as_text=True)
    assert "<td>&lt; 5</td>" in html  # the tables too (referrals by origin…)
    assert "DAC : &lt; 5" in html and "DAC : 2" not in html  # and the charts' bars
    report = figures(client.get("/activite/rapport", query_string=centre.query))
    assert report["Patients reçus"] == "< 5"


def test_an_admin_sees_the_page_exact_but_not_the_exports(client, as_role, centre):  # noqa: F811
    as_role("admin")
    page = figures(client.get("/activite", query_string=centre.query))
    assert page["Patients reçus"] == "2"
    data = json.loads(body(client.get("/activite/export.json", query_string=centre.query)))
    assert data["patients_received"] == "< 5" and data["no_shows"] == "< 5"
    assert data["referrals_by_decision"] == {
        "new": "< 5",
        "accepted": "< 5",
        "waiting_list": 0,
        "declined": 0,
    }
    assert data["staffed_hours"] == 8
    # 4 consultations in 8 h: the rate would give the hidden count back, so it is masked too.
    assert data["patients_per_hour"] == "masqué (< 5)"
    rows = csv_rows(client.get("/activite/export.csv", query_string=centre.query))
    values = {row[0]: row[1] for row in rows if len(row) >= 2}
    assert values["Patients reçus"] == "< 5"
    assert values["Taux de rendez-vous non honorés"] == "masqué (< 5)"
    assert ["DAC", "< 5", "< 5", "0", "0", "< 5"] in rows


def test_the_threshold_is_a_site_setting(make_app, make_user, centre):  # noqa: F811
    app = make_app(small_count_threshold=3)  # the same site, its site.toml edited
    client = app.test_client()
    AuthActions(client).login_as(make_user("reporting"))
    data = json.loads(body(client.get("/activite/export.json", query_string=centre.query)))
    assert data["patients_received"] == "< 3"  # 2
    assert data["consultations"] == 4


MASKED = "masqué (< 5)"
RATES = {
    # label on the page / in the CSV and text report -> key in the JSON
    "Patients par heure de présence soignante": "patients_per_hour",  # 4 consultations / 8 h
    "Patients venus directement (sans adressage)": "direct_access_share",  # 1 of 2 patients
    "Taux de rendez-vous non honorés": "no_show_rate",  # 1 no-show of 4 booked visits
}


def test_rates_computed_from_hidden_counts_are_masked_on_the_page_and_in_the_exports(
    client,
    as_role,
    centre,  # noqa: F811
):
    """1 no-show of 4 visits shown as 25 % gives the hidden counts back: the rates made of a
    count of 1 to 4 people are masked wherever the count is (one rule: activity.masked_rates)."""
    as_role("reporting")
    page = figures(client.get("/activite", query_string=centre.query))
    report = figures(client.get("/activite/rapport", query_string=centre.query))
    data = json.loads(body(client.get("/activite/export.json", query_string=centre.query)))
    rows = csv_rows(client.get("/activite/export.csv", query_string=centre.query))
    values = {row[0]: row[1] for row in rows if len(row) >= 2}
    for label, key in RATES.items():
        assert page[label] == report[label] == values[label] == data[key] == MASKED, label
    assert "25 %" not in body(client.get("/activite", query_string=centre.query))


def test_the_centres_staff_still_see_the_rates_exact_on_the_page(client, as_role, centre):  # noqa: F811
    as_role("assistant")
    page = figures(client.get("/activite", query_string=centre.query))
    assert page["Taux de rendez-vous non honorés"] == "25 %"
    assert page["Patients venus directement (sans adressage)"] == "50 %"


def test_the_command_line_report_hides_small_counts_and_their_rates(app, site_dir, centre):  # noqa: F811
    """`dalia report SLUG` (text, CSV, JSON) and `report --all` (text, CSV, JSON) show what the
    web exports show: « < 5 » for 1 to 4 people, the rates made of them masked."""
    first, last = centre.first, centre.last
    period = ["--from", f"{first:%Y-%m-%d}", "--to", f"{last:%Y-%m-%d}"]
    where = ["--instances-dir", str(site_dir.parent)]

    def report(*args: str) -> str:
        result = CliRunner().invoke(cli, ["report", *args, *period, *where])
        assert result.exit_code == 0, result.output
        return result.output

    text = report("test")
    assert re.search(r"Patients reçus +< 5\n", text) and re.search(r"Consultations +< 5\n", text)
    assert re.search(r"Taux de rendez-vous non honorés +masqué \(< 5\)\n", text)
    assert "DAC : < 5 (acceptés < 5" in text
    assert "25 %" not in text and "50 %" not in text
    sheet = list(csv.reader(io.StringIO(report("test", "--format", "csv").lstrip("\ufeff")), delimiter=";"))
    values = {row[0]: row[1] for row in sheet if len(row) >= 2}
    assert values["Patients reçus"] == "< 5"
    assert all(values[label] == MASKED for label in RATES)
    data = json.loads(report("test", "--format", "json"))
    assert data["patients_received"] == data["no_shows"] == "< 5"
    assert all(data[key] == MASKED for key in RATES.values())
    line = report("--all")
    assert "< 5 patients reçus, < 5 consultations, masqué (< 5) patients/heure" in line
    assert "25 %" not in line
    (row,) = json.loads(report("--all", "--format", "json"))
    assert row["patients_received"] == "< 5" and row["no_show_rate"] == MASKED
    table = list(csv.reader(io.StringIO(report("--all", "--format", "csv").lstrip("\ufeff")), delimiter=";"))
    named = dict(zip(table[0], table[1], strict=True))
    assert named["patients_received"] == "< 5" and named["no_show_rate"] == MASKED
