"""Issue 17, on a real database without HTTP: every acceptance of a referral — the decision form,
the waiting list's « accepter », any caller of referrals.decide — needs a way to reach the patient
(a phone, an email or an address, or explicitly through the referrer who left a contact)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from dalia_site.domain import referrals, worklists
from dalia_site.domain.text import FieldError, FieldErrors
from dalia_site.extensions import db
from dalia_site.models.vocabulary import PatientStatus, ReminderChannel

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
IDENTITY = {
    "last_name": "Sansmoyen",
    "first_names": "Martine",
    "birth_date": date(1950, 1, 1),
    "sex": "F",
    "postcode": "11000",
    "ald": "yes",
    "gp_status": "none",
}
REFERRER = {"referrer_name": "Mme Infirmière", "referrer_phone": "04 68 11 22 33"}


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


def received(session, identity=None, referrer=None, when=NOW - timedelta(days=3), reminder_channel=None):
    return referrals.receive(
        session,
        None,
        "phone",
        IDENTITY | (identity or {}),
        REFERRER if referrer is None else referrer,
        "Suivi à organiser.",
        now=when,
        today=when.date(),
        reminder_channel=reminder_channel,
    )


def test_accepting_without_any_way_to_reach_the_patient_is_refused_whoever_calls(session):
    referral = received(session)
    with pytest.raises(FieldError) as refused:
        referrals.decide(session, None, referral, "accepted", now=NOW)  # no reach given at all
    assert refused.value.field == "reach" and "moyen de joindre le patient" in str(refused.value)
    patient = referrals.decide(session, None, referral, "accepted", now=NOW, reach={"via_referrer": True})
    assert patient.status == PatientStatus.FOLLOW_UP and patient.reachable_via_referrer


def test_through_the_referrer_needs_the_referrers_contact(session):
    referral = received(session, referrer={"referrer_name": "Dr Sansnumero"})
    with pytest.raises(FieldError, match="Le référent n'a laissé ni téléphone ni e-mail"):
        referrals.decide(session, None, referral, "accepted", now=NOW, reach={"via_referrer": True})


@pytest.mark.parametrize(
    "contact", [{"phone": "06 12 34 56 78"}, {"email": "m@exemple.fr"}, {"address": "3 rue Haute"}]
)
def test_a_phone_an_email_or_an_address_is_enough(session, contact):
    patient = referrals.decide(session, None, received(session, contact), "accepted", now=NOW)
    assert patient.status == PatientStatus.FOLLOW_UP and not patient.reachable_via_referrer


def test_the_waiting_list_accepts_only_a_reachable_patient(session):
    waiting = referrals.decide(session, None, received(session), "waiting_list", now=NOW)
    assert waiting.status == PatientStatus.WAITING_LIST  # the waiting list itself asks nothing
    with pytest.raises(FieldError) as refused:
        worklists.accept_from_waiting_list(session, None, waiting, now=NOW + timedelta(days=1))
    assert refused.value.field == "reach" and "complétez sa fiche" in str(refused.value)
    assert waiting.status == PatientStatus.WAITING_LIST
    session.rollback()

    waiting = referrals.decide(
        session,
        None,
        received(session, {"last_name": "Joignable", "phone": "06 12 34 56 78"}),
        "waiting_list",
        now=NOW,
    )
    worklists.accept_from_waiting_list(session, None, waiting, now=NOW + timedelta(days=1))
    assert waiting.status == PatientStatus.FOLLOW_UP
    assert waiting.reminder_channel == ReminderChannel.SMS


# --- The reminder channel asked at intake, carried to the patient at acceptance -----------------


@pytest.mark.parametrize(
    ("asked", "contact", "patient_channel"),
    [
        ("", {"phone": "06 12 34 56 78"}, ReminderChannel.SMS),  # left empty: the proposal
        ("", {"phone": "04 68 11 22 33", "email": "m@exemple.fr"}, ReminderChannel.EMAIL),
        ("email", {"phone": "06 12 34 56 78", "email": "m@exemple.fr"}, ReminderChannel.EMAIL),
        ("none", {"phone": "06 12 34 56 78"}, ReminderChannel.NONE),  # « aucun rappel » kept
        ("sms", {"phone": "06 12 34 56 78"}, ReminderChannel.SMS),
    ],
)
def test_the_channel_chosen_at_intake_is_carried_to_the_patient(session, asked, contact, patient_channel):
    referral = received(session, contact, reminder_channel=asked)
    assert referral.reminder_channel == (ReminderChannel(asked) if asked else None)
    patient = referrals.decide(session, None, referral, "accepted", now=NOW)
    assert patient.reminder_channel == patient_channel


@pytest.mark.parametrize(
    ("asked", "contact", "message"),
    [
        ("sms", {"phone": "04 68 11 22 33"}, "Un SMS demande un numéro de portable (06, 07) ci-dessus."),
        ("email", {"phone": "06 12 34 56 78"}, "Un rappel par e-mail demande une adresse e-mail ci-dessus."),
        ("fax", {"phone": "06 12 34 56 78"}, "Choisissez SMS, e-mail ou aucun rappel."),
    ],
)
def test_a_channel_that_cannot_reach_the_patient_is_refused_at_intake(session, asked, contact, message):
    with pytest.raises(FieldErrors) as refused:
        received(session, contact, reminder_channel=asked)
    assert refused.value.errors == {"reminder_channel": message}


def test_a_phone_given_at_acceptance_keeps_the_no_reminder_chosen_at_intake(session):
    referral = received(session, reminder_channel="none")
    patient = referrals.decide(
        session, None, referral, "accepted", now=NOW, reach={"phone": "06 12 34 56 78"}
    )
    assert (patient.phone, patient.reminder_channel) == ("+33612345678", ReminderChannel.NONE)
