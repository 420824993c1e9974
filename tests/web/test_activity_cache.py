"""The activity figures are kept while nothing they count changes: a patient view, the agenda or
the queue (which write audit events of reads) leave them cached; a visit marked, a booking, a
referral or a roster change shows at once."""

from contextlib import contextmanager

from sqlalchemy import event, func, insert, inspect, select

from dalia_site import database
from dalia_site.domain import activity, audit
from dalia_site.extensions import db
from dalia_site.models import Appointment, AuditEvent
from dalia_site.models.audit import WRITES
from tests.web.test_activity import EXPECTED_FIGURES, centre, figures  # noqa: F401  (centre: the fixture)


@contextmanager
def statements(app):
    """The SQL statements run within the block."""
    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def computed(seen: list[str]) -> bool:
    """Whether the figures were computed (their patients received read the held visits), not
    cached. (The roster's days may be kept by the worker: they change with the roster only.)"""
    return any("held_visit" in statement for statement in seen)


def test_a_patient_view_or_the_queue_leaves_the_figures_cached(app, client, as_role, centre):  # noqa: F811
    as_role("admin")
    with statements(app) as seen:
        assert figures(client.get("/activite", query_string=centre.query)) == EXPECTED_FIGURES
    assert computed(seen)
    for page in (f"/patients/{centre.patient_ids[0]}", "/adressages", "/patients?q=rouquette"):
        assert client.get(page).status_code == 200
        with statements(app) as seen:
            assert figures(client.get("/activite", query_string=centre.query)) == EXPECTED_FIGURES
        assert not computed(seen), page


def test_a_visit_marked_changes_the_figures_at_once(app, client, as_role, centre):  # noqa: F811
    as_role("admin")
    assert figures(client.get("/activite", query_string=centre.query))["Consultations"] == "4"
    with app.app_context():
        visit = db.session.scalars(
            select(Appointment).where(Appointment.walk_in.is_(False), Appointment.status == "honoured")
        ).first()
        visit.status = "no_show"
        audit.record(db.session, None, "appointment.mark", "patient", visit.patient_id, "Non venu")
        db.session.commit()
    with statements(app) as seen:
        shown = figures(client.get("/activite", query_string=centre.query))
    assert computed(seen)
    assert shown["Consultations"] == "3"
    assert shown["Taux de rendez-vous non honorés"] == "50 %"


def indexes(engine) -> set[str]:
    return {index["name"] for index in inspect(engine).get_indexes("audit_event")}


def test_the_newest_write_is_one_step_back_however_many_reads_follow_it(app, client, as_role, centre):  # noqa: F811
    """The cache's key after a day of patient views: the newest write found along its partial
    index (migration 0023), not by reading the views back one by one; a write after them moves
    it. The index goes and comes back with the migration."""
    as_role("admin")
    with app.app_context():
        session = db.session
        written = session.scalar(select(func.max(AuditEvent.id)).where(WRITES))
        session.execute(
            insert(AuditEvent),
            [{"action": "patient.view", "object_type": "patient", "object_id": str(n)} for n in range(3000)],
        )
        session.commit()
        key = activity.FiguresCache.data_version(session)
        assert key[0] == written
        statement = str(activity._data_version().compile(db.engine, compile_kwargs={"literal_binds": True}))
        connection = session.connection()
        if connection.dialect.name == "sqlite":
            shown = " ".join(row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement))
            assert (
                "USING INDEX ix_audit_event_write" in shown
                or "USING COVERING INDEX ix_audit_event_write" in shown
            )
        else:
            shown = " ".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement))
            assert "ix_audit_event_write" in shown
        session.rollback()
        audit.record(session, None, "appointment.mark", "patient", "1", "Non venu")
        session.commit()
        assert activity.FiguresCache.data_version(session)[0] > written
        session.commit()  # (PostgreSQL: the migration waits for no reader of the table)
        database.downgrade(db.engine, "0022")
        assert "ix_audit_event_write" not in {
            index["name"] for index in inspect(db.engine).get_indexes("audit_event")
        }
        database.upgrade(db.engine)
        assert "ix_audit_event_write" in {
            index["name"] for index in inspect(db.engine).get_indexes("audit_event")
        }
