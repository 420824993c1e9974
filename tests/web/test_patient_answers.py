"""« Votre rendez-vous »: the patient's private page from a reminder (issue 17). Every state of
its token — unknown, open, confirmed, cancelled, past — and the rate limit; the cancellation goes
through the desk's own function and frees the slot."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dalia_site.domain import access, booking, referrals, reminders, rights
from dalia_site.extensions import db
from dalia_site.models import Appointment, AppointmentClinician, AuditEvent, Patient, TeamMember
from dalia_site.models.vocabulary import Purpose, ReminderChannel
from tests.conftest import csrf_from


def _booked(app, starts_at: datetime, last_name: str = "Durand", status: str = "booked") -> tuple[int, str]:
    """A patient with a mobile and an appointment at `starts_at`; (its id, a private token)."""
    with app.app_context():
        member = TeamMember(
            name="Dr Marc Test", profession="medecin", team="stable", doctor_status="retraite"
        )
        patient = Patient(
            last_name=last_name,
            first_names="Odile",
            birth_date=date(1950, 3, 15),
            sex="F",
            phone="+33612345678",
            postcode="11000",
            status="follow_up",
            reminder_channel="sms",
        )
        patient.search_text = referrals.patient_search_text(patient)
        db.session.add_all([member, patient])
        db.session.flush()
        appointment = Appointment(
            patient_id=patient.id,
            kind="doctor",
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=30),
            status=status,
            cancel_reason="Empêché" if status == "cancelled" else "",
        )
        appointment.clinicians = [AppointmentClinician(member_id=member.id)]
        db.session.add(appointment)
        db.session.flush()
        token = reminders.issue_link(db.session, appointment)
        db.session.commit()
        return appointment.id, token


def _answer(client, token: str, answer: str, **fields):
    page = client.get(f"/rdv/{token}")
    return client.post(
        f"/rdv/{token}",
        data={"csrf_token": csrf_from(page.get_data(as_text=True)), "answer": answer, **fields},
    )


def _appointment(app, appointment_id: int) -> Appointment:
    with app.app_context():
        return db.session.get(Appointment, appointment_id)


def _audit(app, action: str) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.summary).where(AuditEvent.action == action)))


def soon() -> datetime:
    return (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)


def test_the_page_shows_date_place_and_the_initial_only(app, client):
    _, token = _booked(app, soon(), last_name="Durand")
    page = client.get(f"/rdv/{token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Votre rendez-vous" in html and "au nom de <strong>D.</strong>" in html
    assert "Durand" not in html and "Odile" not in html  # the initial, never the name
    assert "Je confirme" in html and "Je ne pourrai pas venir" in html
    assert _audit(app, "patient_link.view")  # the patient's read is traced


@pytest.mark.parametrize("token", ["inconnu", "x" * 32, "x" * 300])
def test_an_unknown_token_is_a_404(client, token):
    assert client.get(f"/rdv/{token}").status_code == 404
    csrf = csrf_from(client.get("/connexion").get_data(as_text=True))
    assert client.post(f"/rdv/{token}", data={"csrf_token": csrf, "answer": "confirmer"}).status_code == 404


def test_the_patient_confirms(app, client):
    appointment_id, token = _booked(app, soon())
    answered = _answer(client, token, "confirmer")
    assert answered.status_code == 303
    page = client.get(f"/rdv/{token}").get_data(as_text=True)
    assert "Merci : votre venue est confirmée." in page
    assert _appointment(app, appointment_id).confirmed_by_patient_at is not None
    assert _audit(app, "patient_link.confirm") == [f"Rendez-vous n° {appointment_id} confirmé par le patient"]


def test_the_patient_cancels_through_the_desks_cancellation_and_is_told_to_call(app, client):
    appointment_id, token = _booked(app, soon())
    answered = _answer(client, token, "annuler", reason="Hospitalisée")
    assert answered.status_code == 303
    page = client.get(f"/rdv/{token}").get_data(as_text=True)
    assert "Appelez le centre pour en reprendre un" in page
    assert "Je confirme" not in page  # nothing more to answer
    cancelled = _appointment(app, appointment_id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_by_patient_at is not None
    assert cancelled.cancel_reason == "Annulé par le patient (lien du rappel) : Hospitalisée"
    # The desk's cancellation ran (its audit line): whatever hooks on it applies.
    assert _audit(app, "appointment.cancel") == [
        f"Rendez-vous n° {appointment_id} annulé : Annulé par le patient (lien du rappel) : Hospitalisée"
    ]
    with app.app_context():  # the clinician's time is free again
        start = cancelled.starts_at
        assert (
            booking.booked_in(
                db.session, cancelled_member(appointment_id), start, start + timedelta(minutes=30)
            )
            == []
        )


def cancelled_member(appointment_id: int) -> int:
    return db.session.scalar(
        select(AppointmentClinician.member_id).where(AppointmentClinician.appointment_id == appointment_id)
    )


def test_a_second_answer_after_cancelling_is_refused_cleanly(app, client):
    appointment_id, token = _booked(app, soon())
    assert _answer(client, token, "annuler").status_code == 303
    again = _answer(client, token, "confirmer")
    assert again.status_code == 409
    assert "Ce rendez-vous est déjà annulé" in again.get_data(as_text=True)
    assert _appointment(app, appointment_id).confirmed_by_patient_at is None


def test_after_the_visit_the_link_no_longer_answers(app, client):
    appointment_id, token = _booked(app, datetime.now(UTC) - timedelta(hours=2))
    page = client.get(f"/rdv/{token}")
    assert page.status_code == 200 and "Ce rendez-vous est passé" in page.get_data(as_text=True)
    refused = _answer(client, token, "annuler")
    assert refused.status_code == 409
    assert _appointment(app, appointment_id).status == "booked"


def test_a_cancelled_appointment_shows_as_cancelled(app, client):
    _, token = _booked(app, soon(), status="cancelled")
    html = client.get(f"/rdv/{token}").get_data(as_text=True)
    assert "Ce rendez-vous est annulé" in html and "Je confirme" not in html


def test_stop_ends_the_reminders(app, client):
    appointment_id, token = _booked(app, soon())
    assert _answer(client, token, "stop").status_code == 303
    page = client.get(f"/rdv/{token}").get_data(as_text=True)
    assert "Vous ne recevrez plus de rappels" in page
    assert "(STOP)" not in page  # nothing left to stop
    with app.app_context():
        patient = db.session.get(Patient, db.session.get(Appointment, appointment_id).patient_id)
        assert patient.reminder_channel == ReminderChannel.NONE
    assert _audit(app, "patient_link.stop")


def test_stop_is_the_patients_objection_to_reminders_on_the_file(app, client, as_role, auth):
    """STOP records the objection (rights.may, which the reminder selection asks): the file and the
    access document say what the patient refused, its history says when; staff cannot set a
    channel again without lifting the objection."""
    appointment_id, token = _booked(app, soon(), last_name="Stoppe")
    assert _answer(client, token, "stop").status_code == 303
    with app.app_context():
        patient = db.session.get(Patient, _appointment(app, appointment_id).patient_id)
        patient_id = patient.id
        assert patient.objects_to_reminders and not rights.may(patient, Purpose.REMINDERS)
        assert reminders.channel_for(patient, sms_ready=True) == ReminderChannel.NONE
        context = access.load(db.session, patient_id, ZoneInfo("Europe/Paris"))
        sections = {section.key: section for section in access.document(context)}
    assert (
        sections["information_et_oppositions"].rows[0][
            "Opposition — Rappels de rendez-vous par SMS ou e-mail"
        ]
        == "oui"
    )
    assert sorted((row["Champ"], row["Avant"], row["Après"]) for row in sections["rectifications"].rows) == [
        ("opposition aux rappels (SMS, e-mail)", "non", "oui — STOP du patient"),
        ("rappels", "SMS", "Aucun rappel"),
    ]
    assert _audit(app, "patient_link.stop") == [
        "Opposition aux rappels enregistrée : STOP du patient sur « Votre rendez-vous »"
    ]
    assert _answer(client, token, "stop").status_code == 303  # again: nothing more recorded
    assert len(_audit(app, "patient_link.stop")) == 1

    as_role("assistant")
    file = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert "<dt>Refus</dt>" in file and "<li><strong>Rappels de rendez-vous par SMS ou e-mail" in file
    refused = auth.post(f"/patients/{patient_id}/rappels", {"reminder_channel": "sms"})
    assert refused.status_code == 422
    assert "Le patient s&#39;est opposé aux rappels" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Patient, patient_id).reminder_channel == ReminderChannel.NONE


def test_a_reason_too_long_is_refused_and_nothing_changes(app, client):
    appointment_id, token = _booked(app, soon())
    refused = _answer(client, token, "annuler", reason="x" * 201)
    assert refused.status_code == 422
    assert "200 caractères au plus." in refused.get_data(as_text=True)
    assert _appointment(app, appointment_id).status == "booked"


def test_guessing_links_is_rate_limited(client):
    answers = [client.get(f"/rdv/devine-{n}").status_code for n in range(31)]
    assert answers[:30] == [404] * 30 and answers[30] == 429


def test_the_page_works_without_javascript_forms_post_and_redirect(app, client):
    _, token = _booked(app, soon())
    html = client.get(f"/rdv/{token}").get_data(as_text=True)
    assert html.count('<form method="post"') == 3  # confirm, cancel, stop: plain forms
    assert "hx-" not in html.split("<main", 1)[-1]


# --- The channel on the patient's file ---------------------------------------------------------


def test_the_file_shows_and_changes_the_reminder_channel(app, client, as_role, auth):
    as_role("assistant")
    appointment_id, _ = _booked(app, soon())
    patient_id = _appointment(app, appointment_id).patient_id
    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert "<dt>Rappels</dt><dd>SMS au 06 12 34 56 78" in page

    refused = auth.post(f"/patients/{patient_id}/rappels", {"reminder_channel": "email"})
    assert refused.status_code == 422
    assert "Un rappel par e-mail demande une adresse e-mail sur la fiche." in refused.get_data(as_text=True)

    stopped = auth.post(f"/patients/{patient_id}/rappels", {"reminder_channel": "none"})
    assert stopped.status_code == 303
    with app.app_context():
        assert db.session.get(Patient, patient_id).reminder_channel == ReminderChannel.NONE
    assert "Rappels : SMS → Aucun rappel" in " ".join(_audit(app, "patient.update"))


def test_a_clinician_sees_the_channel_but_cannot_change_it(app, client, as_role, auth):
    as_role("clinician")
    appointment_id, _ = _booked(app, soon())
    patient_id = _appointment(app, appointment_id).patient_id
    assert "<dt>Rappels</dt>" in client.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert auth.post(f"/patients/{patient_id}/rappels", {"reminder_channel": "none"}).status_code == 403


# --- The activity figures ----------------------------------------------------------------------


def test_the_figures_count_reminders_answers_and_no_shows_with_and_without_a_reminder(app, client):
    from zoneinfo import ZoneInfo

    from dalia_site.domain import activity
    from dalia_site.models import OutboundEmail

    paris = ZoneInfo("Europe/Paris")
    past = datetime.now(UTC) - timedelta(days=3)
    held, _ = _booked(app, past, last_name="Honore")
    missed, _ = _booked(app, past + timedelta(hours=1), last_name="Absent")
    unreminded, _ = _booked(app, past + timedelta(hours=2), last_name="Oublie")
    confirmed, confirm_token = _booked(app, soon(), last_name="Confirme")
    cancelled, cancel_token = _booked(app, soon() + timedelta(hours=1), last_name="Annule")
    assert _answer(client, confirm_token, "confirmer").status_code == 303
    assert _answer(client, cancel_token, "annuler").status_code == 303
    with app.app_context():
        for appointment_id, status in ((held, "honoured"), (missed, "no_show"), (unreminded, "no_show")):
            db.session.get(Appointment, appointment_id).status = status
        for appointment_id, channel in ((held, "sms"), (missed, "email")):
            db.session.add(
                OutboundEmail(
                    to="x",
                    subject="SMS",
                    body="rappel",
                    appointment_id=appointment_id,
                    channel=channel,
                    sent_at=past - timedelta(days=1),
                )
            )
        db.session.commit()
        today = datetime.now(paris).date()
        figures = activity.compute(
            db.session, activity.Period(today - timedelta(days=30), today + timedelta(days=5)), paris
        )
        exported = activity.as_dict(figures)
    assert (exported["reminders_sent"], exported["reminders_sent_by_channel"]) == (2, {"email": 1, "sms": 1})
    assert (exported["confirmed_by_patient"], exported["cancelled_by_patient"]) == (1, 1)
    assert exported["no_show_rate_with_reminder"] == 0.5  # one of the two reminded visits missed
    assert exported["no_show_rate_without_reminder"] == 1.0
    shown = dict(activity.summary(figures))
    assert shown["Rappels envoyés par SMS"] == "1" and shown["Non honorés sans rappel"] == "100 %"


# --- Nothing leaves silently: the admins' banner -------------------------------------------------


def _waiting_message(app, age: timedelta) -> None:
    from dalia_site.models import OutboundEmail

    with app.app_context():
        db.session.add(
            OutboundEmail(
                to="+33612345678",
                subject="SMS",
                body="rappel",
                channel="sms",
                created_at=datetime.now(UTC) - age,
                last_error="fournisseur SMS : plus de crédits SMS",
            )
        )
        db.session.commit()


def test_admins_see_a_banner_when_messages_have_waited_over_an_hour(app, client, as_role):
    as_role("admin")
    page = client.get("/admin/centre").get_data(as_text=True)
    assert 'hx-get="/admin/envois"' in page  # loaded once the page is shown
    assert "attendent d'être envoyés" not in client.get(
        "/admin/envois", headers={"HX-Request": "true"}
    ).get_data(as_text=True)

    _waiting_message(app, timedelta(hours=2))
    banner = client.get("/admin/envois", headers={"HX-Request": "true"})
    html = banner.get_data(as_text=True)
    assert "<html" not in html and "1 message(s) attendent d'être envoyés" in html
    assert "Aucun fournisseur SMS n'est réglé" in html and "Aucun serveur SMTP n'est réglé" in html
    full = client.get("/admin/envois").get_data(as_text=True)
    assert "fournisseur SMS : plus de crédits SMS" in full and "+33612345678" not in full


def test_a_message_waiting_a_few_minutes_raises_no_banner_where_a_server_is_set(app, client, as_role):
    as_role("admin")
    app.config["MAIL"]["host"] = "smtp.example.org"
    app.config["SMS"]["provider"] = "brevo"
    _waiting_message(app, timedelta(minutes=5))
    assert "attendent" not in client.get("/admin/envois", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )


@pytest.mark.parametrize("role", ["assistant", "clinician", "reporting"])
def test_only_admins_see_the_outbox(client, as_role, role):
    as_role(role)
    assert client.get("/admin/envois").status_code == 403
    assert 'hx-get="/admin/envois"' not in client.get("/mot-de-passe").get_data(as_text=True)


def test_the_convocation_carries_a_private_link_that_works(app, client, as_role):
    as_role("assistant")
    appointment_id, _ = _booked(app, soon())
    page = client.get(f"/rendez-vous/{appointment_id}/convocation").get_data(as_text=True)
    link = re.search(r'<a href="http://localhost/rdv/([^"]+)">', page)
    assert link and "<svg" in page  # the link, and its QR code for a phone
    client.post("/deconnexion", data={"csrf_token": csrf_from(page)})
    assert "Je confirme" in client.get(f"/rdv/{link.group(1)}").get_data(as_text=True)


def test_a_past_visits_convocation_has_no_link(app, client, as_role):
    as_role("assistant")
    appointment_id, _ = _booked(app, datetime.now(UTC) - timedelta(days=1))
    assert "/rdv/" not in client.get(f"/rendez-vous/{appointment_id}/convocation").get_data(as_text=True)
