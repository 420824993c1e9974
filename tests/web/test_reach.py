"""Issue 17: « Accepter » on the waiting list refuses a patient nobody can reach (the rule of
referrals.decide), with the French message and nothing changed; with a phone on the file it
accepts."""

from __future__ import annotations

from datetime import date

from dalia_site import clock
from dalia_site.domain import referrals
from dalia_site.extensions import db
from dalia_site.models import Patient
from dalia_site.models.vocabulary import PatientStatus


def waiting_patient(app, last_name: str, phone: str = "") -> int:
    with app.app_context():
        referral = referrals.receive(
            db.session,
            None,
            "phone",
            {
                "last_name": last_name,
                "first_names": "Jeanne",
                "birth_date": date(1948, 5, 2),
                "sex": "F",
                "postcode": "11000",
                "ald": "yes",
                "gp_status": "none",
                "phone": phone,
            },
            {"referrer_name": "Mme Infirmière"},
            "Suivi à organiser.",
            now=clock.now(),
            today=date.today(),
        )
        patient = referrals.decide(db.session, None, referral, "waiting_list", now=clock.now())
        db.session.commit()
        return patient.id


def status(app, patient_id: int) -> str:
    with app.app_context():
        return db.session.get(Patient, patient_id).status


def test_the_waiting_list_cannot_accept_a_patient_nobody_can_reach(app, as_role, auth):
    as_role("assistant")
    unreachable = waiting_patient(app, "Injoignable")
    refused = auth.post(f"/listes/liste-d-attente/{unreachable}/accepter", {})
    assert refused.status_code == 422
    assert "il faut un moyen de joindre le patient : complétez sa fiche" in refused.get_data(as_text=True)
    assert status(app, unreachable) == PatientStatus.WAITING_LIST

    reachable = waiting_patient(app, "Joignable", phone="06 12 34 56 78")
    assert auth.post(f"/listes/liste-d-attente/{reachable}/accepter", {}).status_code == 303
    assert status(app, reachable) == PatientStatus.FOLLOW_UP
