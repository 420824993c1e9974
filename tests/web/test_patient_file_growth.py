"""The patient file does not slow down as its readings pile up: every view leaves an audit event,
and the file's « Parcours » is built from the referrals and visits, never read back from them."""

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import event, insert

from dalia_site.extensions import db
from dalia_site.models import AuditEvent, Patient
from tests.web.test_search_index import identity


def test_thousands_of_views_are_not_read_back_by_the_patient_page(app, client, as_role):
    with app.app_context():
        patient_id = db.session.scalar(
            insert(Patient).returning(Patient.id), [identity("Sarda", "Huguette", date(1950, 1, 2))]
        )
        start = datetime(2020, 1, 6, 9, tzinfo=UTC)
        db.session.execute(
            insert(AuditEvent),
            [
                {
                    "at": start + timedelta(hours=n),
                    "actor_id": None,
                    "action": "patient.view",
                    "object_type": "patient",
                    "object_id": str(patient_id),
                    "summary": "Consultation : fiche",
                }
                for n in range(3000)
            ],
        )
        db.session.commit()
        engine = db.engine
    as_role("clinician")
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(f"/patients/{patient_id}")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 200
    assert "SARDA Huguette" in response.get_data(as_text=True)
    reads = [s for s in statements if "audit_event" in s and not s.lstrip().startswith("INSERT")]
    assert reads == []  # the view is written (one INSERT), never read back
    assert "Consultation : fiche" not in response.get_data(as_text=True)
