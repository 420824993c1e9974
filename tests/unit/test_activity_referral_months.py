"""The referrals by origin and decision of a period, which the activity figures sum from each UTC
month's kept counts (domain/referral_months.py) and the referrals of the days its local bounds cut
off: right after any change of a referral or of a partner's category, whoever writes it, they are
what the referrals themselves give — on SQLite and on PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from dalia_site.domain import activity, referral_months
from dalia_site.models import PartnerOrganisation, Referral
from dalia_site.models.activity import ReferralMonth
from tests.unit.test_activity import (  # noqa: F401 (fixtures)
    PARIS,
    db_backend,
    decide,
    partner,
    receive,
    session,
)
from tests.unit.test_activity_visits import at_once

PERIODS = [
    activity.Period(date(2027, 2, 1), date(2027, 4, 30)),  # whole local months: UTC cuts an hour
    activity.Period(date(2027, 2, 10), date(2027, 5, 20)),  # whole months between two cut ends
    activity.Period(date(2027, 3, 27), date(2027, 3, 29)),  # the clock changes on the 28th
    activity.Period(date(2027, 3, 1), date(2027, 3, 1)),  # a day at a month's edge
    activity.Period(date(2026, 12, 15), date(2027, 6, 15)),
]


def worked_out(db_session, period: activity.Period) -> dict[str, dict[str, int]]:
    """The referrals received in the period by their sender's category (or direct) and decision,
    from the referrals themselves."""
    start, end = period.bounds(PARIS)
    categories = {p.id: str(p.category) for p in db_session.scalars(select(PartnerOrganisation))}
    counted = Counter(
        (categories[r.source_id] if r.source_id else "direct", str(r.status))
        for r in db_session.scalars(select(Referral))
        if start <= r.received_at < end
    )
    figures: dict[str, dict[str, int]] = {}
    for (origin, status), n in counted.items():
        figures.setdefault(origin, {})[status] = n
    return figures


def shown(db_session, period: activity.Period) -> dict[str, dict[str, int]]:
    figures = activity.compute(db_session, period, PARIS).referrals
    return {
        origin: {str(status): n for status, n in counts.items() if n}
        for origin, counts in figures.items()
        if any(counts.values())
    }


def test_the_months_follow_every_change_of_referrals_and_partners(session):  # noqa: F811 (the fixture)
    """Referrals received (direct or from a partner, at any hour: the local and UTC month edges
    differ by an hour or two), decided, re-dated across months, given to another sender, deleted;
    a partner's category changed: the stored months are what the referrals give, and so are the
    figures of periods cut anywhere."""
    rng = random.Random(28)  # noqa: S311 (a reproducible sequence of changes, not a secret)
    senders = [
        partner(session, name, category) for name, category in (("CPTS Nord", "cpts"), ("DAC 12", "dac"))
    ]
    origin = datetime(2026, 12, 1, tzinfo=PARIS)

    def moment() -> datetime:
        # Near a month's edge half the time, at any hour.
        if rng.randrange(2):
            first = date(2027, rng.randrange(1, 7), 1)
            return datetime(first.year, first.month, 1, tzinfo=PARIS) + timedelta(hours=rng.randrange(-3, 3))
        return origin + timedelta(days=rng.randrange(0, 200), hours=rng.randrange(0, 24))

    seen, done = set(), set()
    for step in range(90):
        received = list(session.scalars(select(Referral)))
        action = rng.randrange(6) if received else 0
        if action == 0:
            source = rng.choice([None, *senders])
            receive(session, moment(), f"Adresse{step}", date(1950, 1, 1) + timedelta(days=step), source)
        elif action == 1:
            open_ones = [r for r in received if r.status == "new"]
            if open_ones:
                decision = rng.choice(["accepted", "waiting_list", "declined"])
                details = (
                    {"decline_code": "out_of_area", "orientation": "sas"} if decision == "declined" else {}
                )
                decide(session, moment(), rng.choice(open_ones), decision, **details)
        elif action == 2:
            rng.choice(received).received_at = moment()
        elif action == 3:
            sent = [r for r in received if r.source_id is not None]
            if sent:
                chosen = rng.choice(sent)
                chosen.source_id = senders[0].id if chosen.source_id == senders[1].id else senders[1].id
        elif action == 4:
            rng.choice(senders).category = rng.choice(["cpts", "dac", "sas", "pharmacie"])
        else:
            gone = rng.choice([r for r in received if r.patient_id is None] or received)
            if gone.patient_id is None:
                session.delete(gone)
        session.flush()
        done.add(action)
        stored = {tuple(map(str, row)) for row in session.execute(select(ReferralMonth.__table__))}
        referral_months.refresh(session.connection())
        afresh = {tuple(map(str, row)) for row in session.execute(select(ReferralMonth.__table__))}
        assert stored == afresh, (step, action)
        for period in PERIODS:
            assert shown(session, period) == worked_out(session, period), (step, action, period)
        seen.add(repr(shown(session, PERIODS[4])))
    assert done == set(range(6))
    assert len(seen) >= 20  # the changes moved the figures


def test_referrals_of_one_month_received_by_two_transactions_at_once_are_both_counted(app, session):  # noqa: F811
    """Two referrals of the same month come in at the same moment (the secretariat's form, a
    partner's): the second transaction waits for the first one's month (PostgreSQL: its lock;
    SQLite: its one writer), then counts both — neither fails on the month's row, neither loses
    the other's referral."""
    session.commit()
    morning = datetime(2027, 3, 10, 9, tzinfo=PARIS)

    failures = at_once(
        app,
        session,
        lambda s: receive(s, morning, "Astruc", date(1950, 1, 1)),
        lambda s: receive(s, morning + timedelta(hours=2), "Bonnafous", date(1951, 2, 2)),
    )

    assert failures == []
    month = session.scalars(
        select(ReferralMonth).where(
            ReferralMonth.month == date(2027, 3, 1), ReferralMonth.category == "direct"
        )
    ).one()
    assert month.referrals == 2


def kept_rows(db_session) -> dict[tuple[object, ...], int]:
    return {(m.month, m.category, m.status): m.referrals for m in db_session.scalars(select(ReferralMonth))}


@pytest.mark.parametrize("first", ["category", "referral"])
def test_a_category_changed_while_a_referral_of_its_partner_comes_in_counts_it_under_the_new_one(
    app,
    session,  # noqa: F811
    first,
):
    """A partner's category changed (« CPTS » to « DAC ») while a referral of theirs comes in, in
    a month they had none in yet, in either order: the month counts it under the new category — a
    recount of the referrals gives the same rows (PostgreSQL: the partner's referrals are counted
    by one transaction at a time; SQLite: its one writer)."""
    sender = partner(session, "CPTS du Lot", "cpts")
    receive(session, datetime(2027, 1, 10, 9, tzinfo=PARIS), "Ancien", date(1940, 1, 1), sender)
    session.commit()
    sender_id = sender.id

    def change(db_session) -> None:
        db_session.get(PartnerOrganisation, sender_id).category = "dac"
        db_session.flush()

    def intake(db_session) -> None:
        source = db_session.get(PartnerOrganisation, sender_id)
        receive(db_session, datetime(2027, 3, 10, 9, tzinfo=PARIS), "Nouveau", date(1950, 1, 1), source)

    steps = (change, intake) if first == "category" else (intake, change)
    assert at_once(app, session, *steps) == []
    session.expire_all()
    stored = kept_rows(session)
    referral_months.refresh(session.connection())
    assert stored == kept_rows(session)
    assert stored[date(2027, 3, 1), "dac", "new"] == 1
    session.rollback()
