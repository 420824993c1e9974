"""One unit of work per request: a page is shown only with its trace written, a refused change
writes nothing but the trace of the page that says why, a failure acknowledges nothing."""

from sqlalchemy import func, select, text

from dalia_site.extensions import db
from dalia_site.models import AuditEvent, Patient, RateLimitHit
from tests.web.test_patients import make_patient, snapshot


def views_of(app, patient_id: int) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "patient.view", AuditEvent.object_id == str(patient_id))
        )


def test_a_refused_status_change_writes_nothing_but_the_trace_of_the_page_shown(app, auth, as_role):
    patient_id = make_patient(app)
    as_role("clinician")
    before = snapshot(app, patient_id)
    response = auth.post(f"/patients/{patient_id}/statut", {"status": "n'importe quoi"})
    assert response.status_code == 422
    assert "ROUQUETTE" in response.get_data(as_text=True).upper()  # the file is shown again
    assert snapshot(app, patient_id) == before
    assert views_of(app, patient_id) == 1  # and its reading is traced like any other


def test_a_page_whose_trace_cannot_be_written_is_not_shown(app, client, as_role, db_backend):
    """No trace, no page: the patient page's trace is written once the page is rendered, before
    it leaves; when that write fails the patient's name never leaves, and the error page that
    replaces the page still carries the security headers (the unit of work runs before them)."""
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as served: the 500 page, not the traceback
    patient_id = make_patient(app)
    as_role("assistant")
    with app.app_context():
        if db_backend == "sqlite":
            db.session.execute(
                text(
                    "CREATE TRIGGER no_trace BEFORE INSERT ON audit_event "
                    "BEGIN SELECT RAISE(ABORT, 'disque plein'); END"
                )
            )
        else:
            db.session.execute(
                text(
                    "CREATE FUNCTION no_trace() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'disque plein'; END $$ LANGUAGE plpgsql"
                )
            )
            db.session.execute(
                text(
                    "CREATE TRIGGER no_trace BEFORE INSERT ON audit_event "
                    "FOR EACH ROW EXECUTE FUNCTION no_trace()"
                )
            )
        db.session.commit()
    response = client.get(f"/patients/{patient_id}")
    assert response.status_code >= 500
    assert "ROUQUETTE" not in response.get_data(as_text=True).upper()
    assert "Content-Security-Policy" in response.headers


def test_a_refused_booking_of_a_patient_not_in_follow_up_leaves_no_appointment(app, auth, as_role):
    patient_id = make_patient(app, status="referred")
    as_role("assistant")
    with app.app_context():
        before = db.session.execute(text("SELECT count(*) FROM appointment")).scalar()
    response = auth.post(
        f"/patients/{patient_id}/rendez-vous",
        {"kind": "doctor", "start": "2027-02-01T10:00:00+01:00", "members": "1"},
    )
    assert response.status_code in (409, 422)
    with app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM appointment")).scalar() == before
        assert db.session.get(Patient, patient_id).status == "referred"


def test_failed_logins_are_counted_although_each_is_refused(app, auth, make_user):
    """The rate limit of an address counts requests the view then refuses (401)."""
    user = make_user("assistant")
    for _ in range(3):
        assert auth.login(user.email, "pas le bon mot de passe").status_code == 401
    with app.app_context():
        hits = db.session.scalar(
            select(func.count()).select_from(RateLimitHit).where(RateLimitHit.key.like("login:%"))
        )
    assert hits == 3
