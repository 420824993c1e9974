"""Statistical secrecy of the activity figures (issue 19): the reporting role's page and every
export show a count of 1 to 4 people as « < 5 » (threshold: [security] small_count_threshold), so
that a short period does not single out a patient. Admins and assistants see the page exact."""

import json

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
    assert data["staffed_hours"] == 8 and data["patients_per_hour"] == 0.5
    rows = csv_rows(client.get("/activite/export.csv", query_string=centre.query))
    values = {row[0]: row[1] for row in rows if len(row) >= 2}
    assert values["Patients reçus"] == "< 5"
    assert ["DAC", "< 5", "< 5", "0", "0", "< 5"] in rows


def test_the_threshold_is_a_site_setting(make_app, make_user, centre):  # noqa: F811
    app = make_app(small_count_threshold=3)  # the same site, its site.toml edited
    client = app.test_client()
    AuthActions(client).login_as(make_user("reporting"))
    data = json.loads(body(client.get("/activite/export.json", query_string=centre.query)))
    assert data["patients_received"] == "< 3"  # 2
    assert data["consultations"] == 4
