"""Planner statistics: once `dalia optimize` (the nightly timer; migrations run the same analysis)
has looked at the data, the roster's query — some members' sessions over one week — goes
through the date index instead of reading every session of those members over ten years."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from sqlalchemy import event, select

from bench.seed import seed
from dalia_site.commands import cli
from dalia_site.domain import roster
from dalia_site.extensions import db
from dalia_site.models import TeamMember

WEDNESDAY = date(2026, 11, 25)


def roster_query(app, zone: ZoneInfo) -> tuple[str, object]:
    """The statement (and its parameters) that reads three doctors' sessions of a week."""
    captured = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if "FROM roster_session" in statement:
            captured.append((statement, parameters))

    with app.app_context():
        doctors = list(db.session.scalars(select(TeamMember.id).where(TeamMember.profession == "medecin")))
        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            roster.occurrences(
                db.session, WEDNESDAY, WEDNESDAY + timedelta(days=6), zone, member_ids=doctors[:3]
            )
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
    assert len(captured) == 1
    return captured[0]


def plan(app, statement: str, parameters) -> str:
    with app.app_context():
        connection = db.session.connection()
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            text = "\n".join(row[-1] for row in rows)
        else:
            text = "\n".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters))
        db.session.rollback()
    return text


def test_the_roster_query_uses_the_date_index_after_the_nightly_analysis(app, site_dir):
    zone = ZoneInfo(app.config["SITE"]["timezone"])
    with app.app_context():
        added = seed(zone, WEDNESDAY, scale=0.01, years=10)
    assert added["roster_session"] > 9000  # ten years of half-days
    statement, parameters = roster_query(app, zone)
    before = plan(app, statement, parameters)

    result = CliRunner().invoke(cli, ["optimize", site_dir.name, "--instances-dir", str(site_dir.parent)])
    assert result.exit_code == 0, result.output
    assert "statistiques à jour" in result.output

    with app.app_context():
        # Connections are replaced after an hour (pool_recycle): a new one reads the statistics.
        assert db.engine.pool._recycle == 3600
        db.engine.dispose()
    after = plan(app, statement, parameters)
    if str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        # Without statistics SQLite took the member index: every session of three doctors.
        assert "USING INDEX ix_roster_session_member_id" in before
        assert "USING INDEX ix_roster_session_span" in after
    else:
        assert "Seq Scan on roster_session" not in after
        assert "ix_roster_session_span" in after


def statements_of(app, client, path: str, marker: str) -> list[tuple[str, object]]:
    """The SELECT statements a page runs that contain `marker`, with their parameters."""
    captured = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().startswith("SELECT") and marker in statement:
            captured.append((statement, parameters))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", capture)
    try:
        assert client.get(path).status_code == 200
    finally:
        with app.app_context():
            event.remove(db.engine, "before_cursor_execute", capture)
    return captured


def test_the_queue_and_the_refusals_read_their_indexes_after_the_nightly_analysis(
    app, site_dir, client, as_role
):
    """Ten years of referrals analysed: the queue reads the pending ones in its order from the
    index by status and receipt (not every referral by receipt), and the activity figures' refusals
    by reason read the index of the declined alone (not each declined referral's row)."""
    zone = ZoneInfo(app.config["SITE"]["timezone"])
    with app.app_context():
        added = seed(zone, WEDNESDAY, scale=0.05, years=10)
    assert added["referral"] > 500
    result = CliRunner().invoke(cli, ["optimize", site_dir.name, "--instances-dir", str(site_dir.parent)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        db.engine.dispose()
    as_role("admin")
    queue = statements_of(app, client, "/adressages", "ORDER BY referral.received_at")
    refusals = statements_of(app, client, "/activite", "referral.decline_code")
    assert queue and refusals
    queue_plan = plan(app, *queue[0])
    refusals_plan = plan(app, *refusals[0])
    if str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        assert "ix_referral_status_received" in queue_plan and "SCAN referral" not in queue_plan
        assert "COVERING INDEX ix_referral_declined" in refusals_plan
    else:
        assert "Seq Scan on referral" not in queue_plan
        assert "Seq Scan on referral" not in refusals_plan
