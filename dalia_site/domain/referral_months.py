"""What the activity figures count of the referrals received in each UTC month
(models/activity.ReferralMonth): how many from each kind of origin — the category of the partner
who sent them, or « direct » — with each decision. A period's referrals by origin and decision are
the sum of its whole UTC months and of the referrals of the days its local bounds cut off
(domain/activity.py): a few dozen rows a month, however many referrals a month holds.

The session keeps them: after each flush that adds, re-dates, decides, gives another sender to or
deletes a referral, or changes a partner's category — whoever wrote it — those months are written
again from the rows, by `refresh`, in the same transaction. A write that goes past the ORM (the
benchmark's bulk seed) calls `refresh` itself; migration 0028 filled existing sites.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Insert, String, bindparam, delete, event, func, insert, select, type_coerce
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, attributes

from dalia_site.database import hold_until_commit
from dalia_site.domain.kept import changed
from dalia_site.models import PartnerOrganisation, Referral
from dalia_site.models.activity import ReferralMonth
from dalia_site.models.types import UTCDateTime
from dalia_site.models.vocabulary import Channel

PENDING = "dalia_referral_months_pending"
DIRECT = Channel.DIRECT.value  # the origin of a referral no partner sent


def month_of(moment: datetime) -> date:
    """The first day of a moment's UTC month."""
    return moment.astimezone(UTC).date().replace(day=1)


def next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def origin() -> Any:
    """A referral's origin as the figures count it: its sender's category, or « direct »."""
    return func.coalesce(type_coerce(PartnerOrganisation.category, String()), DIRECT)


@functools.cache
def _of_month() -> Insert:
    """A month's rows from the referrals received in [:lo, :hi), built once."""
    kind = origin()
    counted = (
        select(bindparam("month", type_=ReferralMonth.month.type), kind, Referral.status, func.count())
        .select_from(Referral)
        .outerjoin(PartnerOrganisation, Referral.source_id == PartnerOrganisation.id)
        .where(
            Referral.received_at >= bindparam("lo", type_=UTCDateTime()),
            Referral.received_at < bindparam("hi", type_=UTCDateTime()),
        )
        .group_by(kind, Referral.status)
    )
    return insert(ReferralMonth).from_select(["month", "category", "status", "referrals"], counted)


def refresh(
    connection: Connection,
    months: Collection[date] | None = None,
    partners: Collection[int] = (),
    senders: Collection[int] = (),
) -> None:
    """Write again the rows of these UTC months (given by their first day) and of the months these
    `partners`' referrals came in (every month when `months` is None) from the referrals as the
    database holds them: two statements a month. `senders`: the partners whose referrals this
    transaction changed (their category is read while no other transaction changes it)."""
    received = select(type_coerce(Referral.received_at, UTCDateTime()))
    if months is None:
        connection.execute(delete(ReferralMonth))
        first, last = connection.execute(
            select(func.min(Referral.received_at), func.max(Referral.received_at))
        ).one()
        if first is None:
            return
        months, month = set(), month_of(first)
        while month <= month_of(last):
            months.add(month)
            month = next_month(month)
    hold_until_commit(connection, _PARTNER_LOCKS, {*partners, *senders})
    if partners:
        theirs = received.where(Referral.source_id.in_(sorted(partners))).distinct()
        months = {*months, *(month_of(moment) for moment in connection.execute(theirs).scalars())}
    hold_until_commit(connection, _MONTH_LOCKS, [month.toordinal() for month in months])
    for month in sorted(months):
        lo = datetime.combine(month, time(), tzinfo=UTC)
        hi = datetime.combine(next_month(month), time(), tzinfo=UTC)
        connection.execute(delete(ReferralMonth).where(ReferralMonth.month == month))
        connection.execute(_of_month(), {"month": month, "lo": lo, "hi": hi})


# A month's rows are written by one transaction at a time (database.hold_until_commit): two
# referrals received at once would otherwise both write the month's rows (the second failing on
# their key) or counts that miss the other's referral. And a partner's referrals are counted by
# one transaction at a time: a referral received from a partner whose category another
# transaction is changing would otherwise be counted under the old category in a month the other
# does not know of yet (the partners' locks are taken first, then the months', each in order).
_MONTH_LOCKS = 0x726D  # the lock space of referral_month's rows, by the month's ordinal
_PARTNER_LOCKS = 0x7270  # the lock space of a partner's referrals, by the partner's id


def _touched(session: Session) -> tuple[set[date], set[int], set[int]]:
    """The UTC months this flush may change, the partners whose category it changes (their
    referrals' months read once the flush has run), and the partners whose referrals it changes."""
    months: set[date] = set()
    partners: set[int] = set()
    senders: set[int | None] = set()
    for instance in (*session.new, *session.deleted):
        if isinstance(instance, Referral) and instance.received_at is not None:
            months.add(month_of(instance.received_at))
            senders.add(instance.source_id)
    for instance in session.dirty:
        if isinstance(instance, Referral) and changed(instance, "received_at", "status", "source_id"):
            moments = [instance.received_at, *attributes.get_history(instance, "received_at").deleted]
            months.update(month_of(moment) for moment in moments if moment is not None)
            senders.update([instance.source_id, *attributes.get_history(instance, "source_id").deleted])
        elif isinstance(instance, PartnerOrganisation) and changed(instance, "category"):
            partners.add(instance.id)
    return months, partners, {sender for sender in senders if sender is not None}


@event.listens_for(Session, "after_flush")
def _note_touched(session: Session, _context: Any) -> None:
    months, partners, senders = _touched(session)
    if months or partners:
        pending = session.info.setdefault(PENDING, (set(), set(), set()))
        pending[0].update(months)
        pending[1].update(partners)
        pending[2].update(senders)


@event.listens_for(Session, "after_flush_postexec")
def _refresh_touched(session: Session, _context: Any) -> None:
    pending = session.info.pop(PENDING, None)
    if pending is not None:
        refresh(session.connection(), *pending)
