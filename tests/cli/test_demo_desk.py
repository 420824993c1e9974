"""The demo shows today's desk: the site `dalia demo` builds opens, for its assistant, on a real
working day — the day's visits with doctors and nurses, the counts, the referrals waiting for
triage, and today's free slots when the centre is open today (on a closed day, the next open day).

The session's demo site is shared read-only: this test opens a copy of its folder (logging in and
reading patients leave traces)."""

import re
import shutil
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from dalia_site import clock, create_app
from dalia_site.extensions import db
from dalia_site.models import Appointment, Referral
from dalia_site.models.vocabulary import AppointmentStatus, ReferralStatus
from tests.conftest import AuthActions

pytestmark = pytest.mark.xdist_group("demo")  # the demo is built once, in that worker
DAY_HEADING = re.compile(r"<h2[^>]*>(?:Aujourd&#39;hui, )?\w+ (\d\d/\d\d/\d{4})</h2>")


def test_the_demo_opens_on_a_working_day_of_the_desk(demo, tmp_path):
    instances, result = demo
    shutil.copytree(instances / "demo", tmp_path / "demo")
    email, password = next(
        line.split()[1:] for line in result.stdout.splitlines() if line.split()[:1] == ["assistant"]
    )
    app = create_app(tmp_path / "demo")
    zone = ZoneInfo(app.config["SITE"]["timezone"])
    client = app.test_client()
    assert AuthActions(client).login(email, password).status_code == 302
    response = client.get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200

    # The day shown: today, or the next open day when the centre is closed today.
    today = clock.today(zone)
    shown = datetime.strptime(DAY_HEADING.search(page).group(1), "%d/%m/%Y").date()
    assert today <= shown <= today + timedelta(days=3)
    with app.app_context():
        start = datetime.combine(shown, time(), tzinfo=zone)
        of_day = select(Appointment).where(
            Appointment.starts_at >= start,
            Appointment.starts_at < start + timedelta(days=1),
            Appointment.status != AppointmentStatus.CANCELLED,
        )
        visits = db.session.scalars(of_day).all()
        waiting = db.session.scalar(
            select(func.count()).select_from(Referral).where(Referral.status == ReferralStatus.NEW)
        )
        kinds = {a.kind for a in visits}
        db.engine.dispose()

    # The day's visits, with doctors and nurses, each on the grid and counted.
    counts = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", page))
    assert int(counts["Attendus"]) == len(visits) >= 5
    assert page.count('<div id="rdv-') == len(visits)
    assert "nurse" in kinds and kinds & {"doctor", "first"}
    columns = re.findall(r'<th scope="col"[^>]*>([^<]+)<br>', page)
    assert columns[0].startswith("Dr ") and not columns[-1].startswith("Dr "), columns  # doctors, then nurses
    # Referrals received in the last days still wait for triage.
    assert waiting >= 1
    assert f"{waiting} adressage{'s' if waiting > 1 else ''} en attente de tri" in page
    # Free slots for a walk-in are today's only: shown when the centre is open today; at 10:00 on
    # the day shown, the assistant finds some, each leading to the walk-in page.
    assert ("Créneaux libres aujourd'hui" in page) == (shown == today)
    with clock.clock_at(datetime.combine(shown, time(10), tzinfo=zone)):
        assert AuthActions(client).login(email, password).status_code == 302  # a session of that day
        morning = client.get("/").get_data(as_text=True)
        free = morning[morning.index("Créneaux libres aujourd'hui") : morning.index("Adressages à trier")]
        links = re.findall(r'<a href="(/bureau/creneau/[^"]+)">\d\dh\d\d · ', free)
        assert links, free
        walk_in = client.get(links[0])
        assert walk_in.status_code == 200
        title = r"<h1>(Consultation sans rendez-vous|Créneau libre) à \d\dh\d\d avec [^<]+</h1>"
        assert re.search(title, walk_in.get_data(as_text=True))
