"""The report's waiting list at a period's end: « Liste d'attente »'s patients already waiting then,
counted, with the median of how long they have waited — read from the list's index (the one or
two in its middle), on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from statistics import median

from dalia_site.domain import worklists
from tests.unit.test_activity import PARIS, db_backend, session  # noqa: F401 (fixtures)
from tests.unit.test_worklist_rules import NOW, referred


def waits_at_the_end(db_session, days_ago: int) -> tuple[int, float | None]:
    end = NOW - timedelta(days=days_ago)
    figures = worklists.pathway_figures(db_session, end - timedelta(days=365), end, PARIS)
    return figures.waiting, figures.median_wait_days


def test_the_waiting_list_at_a_period_s_end_counts_who_waited_then_and_their_median_wait(session):  # noqa: F811
    """Five put on the list 100, 70, 40, 25 and 10 days ago: at today's end all five wait (median:
    the middle one's 40 days, counted to the end's local date); a period ended 30 days ago saw three
    of them (median 70 − 30 = 40 days); 50 days ago, two (the mean of the middle two: 35 days);
    a period ended before anyone waited shows none."""
    put_on = [100, 70, 40, 25, 10]
    for n, days in enumerate(put_on):
        referred(session, f"Attente{n}", "waiting_list", NOW - timedelta(days=days))
    session.flush()
    end_day = (NOW - timedelta(microseconds=1)).astimezone(PARIS).date()

    def expected(days_ago: int) -> tuple[int, float | None]:
        end = NOW - timedelta(days=days_ago)
        waited = [
            (end_day - timedelta(days=days_ago) - (NOW - timedelta(days=d)).astimezone(PARIS).date()).days
            for d in put_on
            if NOW - timedelta(days=d) <= end - timedelta(microseconds=1)
        ]
        return len(waited), (median(waited) if waited else None)

    assert waits_at_the_end(session, 0) == expected(0) == (5, 40)
    assert waits_at_the_end(session, 30) == expected(30) == (3, 40)
    assert waits_at_the_end(session, 50) == expected(50) == (2, 35)
    assert waits_at_the_end(session, 200) == (0, None)
    one_left = referred(session, "Accepte", "waiting_list", NOW - timedelta(days=55))
    one_left.status = "follow_up"  # taken off the list since: not on it, not counted
    session.flush()
    assert waits_at_the_end(session, 0) == (5, 40)
