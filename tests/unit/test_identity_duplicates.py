"""Issue 15: editing a patient's identity runs the duplicate check again (domain, no HTTP)."""

from datetime import date

import pytest
from sqlalchemy import select

from dalia_site.domain import patients
from dalia_site.domain.referrals import patient_search_text
from dalia_site.extensions import db
from dalia_site.models import AuditEvent, Patient

TODAY = date(2026, 11, 29)
ODILE = {
    "last_name": "Rouquette",
    "first_names": "Odile Marie",
    "birth_name": "Fabre",
    "birth_date": date(1950, 3, 15),
    "sex": "F",
    "phone": "",
    "email": "",
    "address": "",
    "postcode": "11000",
    "commune": "Carcassonne",
    "ald": "yes",
    "ald_label": "",
    "gp_status": "none",
    "gp_name": "",
}
PAUL = ODILE | {"last_name": "Rouzaud", "first_names": "Paul", "birth_name": "", "sex": "M"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_backend(request) -> str:
    return request.param


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


def add(session, identity: dict) -> Patient:
    patient = Patient(**identity)
    patient.search_text = patient_search_text(patient)
    session.add(patient)
    session.flush()
    return patient


def update(session, patient: Patient, values: dict, **kwargs) -> bool:
    return patients.update_identity(session, None, patient, values, None, False, TODAY, **kwargs)


def test_a_new_identity_that_matches_another_patient_is_refused(session):
    odile = add(session, ODILE)
    paul = add(session, PAUL)
    updates = session.scalar(select(AuditEvent.id).where(AuditEvent.action == "patient.update"))
    with pytest.raises(patients.PossibleDuplicate) as refused:
        update(session, paul, ODILE | {"last_name": "ROUQUETTE", "first_names": "odile"})
    assert refused.value.others == [odile]
    assert refused.value.field == "not_duplicate"
    assert "Un autre patient correspond à cette identité" in str(refused.value)
    assert paul.last_name == "Rouzaud"  # nothing changed
    assert session.scalar(select(AuditEvent.id).where(AuditEvent.action == "patient.update")) == updates


def test_the_staff_member_may_confirm_it_is_another_person(session):
    add(session, ODILE)
    paul = add(session, PAUL)
    assert update(session, paul, ODILE | {"first_names": "Odile"}, not_duplicate=True)
    assert (paul.last_name, paul.first_names) == ("Rouquette", "Odile")


def test_a_patient_is_not_their_own_duplicate(session):
    odile = add(session, ODILE)
    assert update(session, odile, ODILE | {"phone": "04 68 11 22 33"})
    assert update(session, odile, ODILE | {"first_names": "Odile"})  # renamed, still only herself


def test_a_change_that_leaves_the_identity_alone_is_not_checked(session):
    """Two records already alike (confirmed earlier): a new phone number does not ask again."""
    add(session, ODILE)
    twin = add(session, ODILE)
    assert update(session, twin, ODILE | {"phone": "04 68 11 22 33"})
