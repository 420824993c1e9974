"""Issue 17 in a real browser: a patient opens the private link of their reminder on a 390 px
phone, says they cannot come, and is told to call to rebook; at the front desk the cancellation
is counted and the doctor's slot is free again.

The live site is shared by every browser test: this one adds its own doctor, session and patient
(names no other journey uses), and removes them afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete

from dalia_site import clock
from dalia_site.domain import referrals, reminders
from dalia_site.extensions import db
from dalia_site.models import (
    Appointment,
    AppointmentClinician,
    CentreSettings,
    Patient,
    Shift,
    TeamMember,
)
from tests.browser.conftest import STAFF, check_page, checked, follow, frozen, log_in

PARIS = ZoneInfo("Europe/Paris")
DOCTOR = "Dr Lucie Rappel"
MOMENT = datetime(2026, 12, 2, 10, 7, tzinfo=PARIS)  # a Wednesday, no holiday, no closure
ALL_DAYS = "lundi,mardi,mercredi,jeudi,vendredi,samedi,dimanche"


@pytest.fixture
def reminded(live_app) -> Iterator[dict]:
    """Later today: the doctor's session and a patient with only a mobile booked in it. The live
    site answers as if it were MOMENT (a working morning), whatever the hour the suite runs: run
    late in the evening, « later today » would be tomorrow, which the desk does not show."""
    start = MOMENT + timedelta(minutes=38)  # 10h45
    original = live_app.wsgi_app
    live_app.wsgi_app = frozen(original, MOMENT)
    try:
        yield from _reminded(live_app, start)
    finally:
        live_app.wsgi_app = original


def _reminded(live_app, start: datetime) -> Iterator[dict]:
    with clock.clock_at(MOMENT), live_app.app_context():
        settings = db.session.get_one(CentreSettings, 1)
        open_days, settings.open_days = settings.open_days, ALL_DAYS
        doctor = TeamMember(name=DOCTOR, profession="medecin", team="stable", doctor_status="salarie")
        db.session.add(doctor)
        db.session.flush()
        db.session.add(
            Shift(
                member_id=doctor.id,
                starts_at=start - timedelta(minutes=30),
                ends_at=start + timedelta(hours=1),
            )
        )
        patient = Patient(
            last_name="Mobilenseul",
            first_names="Yvette",
            birth_date=date(1944, 6, 6),
            sex="F",
            phone="+33639981717",
            postcode="11000",
            status="follow_up",
            reminder_channel="sms",
        )
        patient.search_text = referrals.patient_search_text(patient)
        db.session.add(patient)
        db.session.flush()
        appointment = Appointment(
            patient_id=patient.id, kind="doctor", starts_at=start, ends_at=start + timedelta(minutes=30)
        )
        appointment.clinicians = [AppointmentClinician(member_id=doctor.id)]
        db.session.add(appointment)
        db.session.flush()
        token = reminders.issue_link(db.session, appointment)
        db.session.commit()
        ids = {"appointment": appointment.id, "patient": patient.id, "doctor": doctor.id}
    yield {"token": token, "start": start, **ids}
    with live_app.app_context():  # the cancelled visit stays, as on any site; the session goes
        appointment = db.session.get_one(Appointment, ids["appointment"])
        if appointment.status == "booked":
            appointment.status, appointment.cancel_reason = "cancelled", "Fin du test"
        db.session.execute(delete(Shift).where(Shift.member_id == ids["doctor"]))
        db.session.get_one(TeamMember, ids["doctor"]).active = False
        db.session.get_one(CentreSettings, 1).open_days = open_days
        db.session.commit()


def free_slot(page: Page, start: datetime):
    return page.locator(".desk-free li", has_text=f"{start:%Hh%M} · {DOCTOR}")


def test_a_patient_cancels_from_a_phone_and_the_desk_sees_the_slot_free(
    page: Page, new_context, base_url, reminded
):
    log_in(page, STAFF["assistant"].email)
    expect(page.locator("#desk-counts div", has_text="Annulés").locator("dd")).to_have_text("0")
    expect(free_slot(page, reminded["start"])).to_have_count(0)  # booked: not free

    # The patient's phone: a context of its own (no staff session), axe served as for the others.
    phone_checks = checked(new_context(viewport={"width": 390, "height": 844}), base_url)
    phone = next(phone_checks)
    try:
        patient = phone.new_page()
        patient.goto(f"/rdv/{reminded['token']}")
        expect(patient.get_by_role("heading", level=1)).to_have_text("Votre rendez-vous")
        expect(patient.get_by_text(f"à {reminded['start']:%Hh%M}")).to_be_visible()
        expect(patient.get_by_text(re.compile("Mobilenseul"))).to_have_count(0)  # the initial only
        check_page(patient)
        assert patient.evaluate("() => document.documentElement.scrollWidth") <= 390
        patient.get_by_label("Motif (facultatif)").fill("Rendez-vous chez le kiné")
        follow(patient, patient.get_by_role("button", name="Je ne pourrai pas venir"))
        expect(
            patient.get_by_text("Votre rendez-vous est annulé. Appelez le centre pour en reprendre un.")
        ).to_be_visible()
        expect(patient.get_by_role("button", name="Je confirme")).to_have_count(0)
        check_page(patient)
        assert patient.evaluate("() => document.documentElement.scrollWidth") <= 390
    finally:
        phone_checks.close()

    page.reload()
    cancelled = page.locator("#desk-counts div", has_text="Annulés").locator("dd")
    expect(cancelled).to_contain_text("1")
    expect(cancelled).to_contain_text("dont 1 par le patient")
    expect(free_slot(page, reminded["start"])).to_have_count(1)  # the slot is free again
