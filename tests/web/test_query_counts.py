"""Every page reads the database a fixed, small number of times (at most 8 statements, login
and audit trail included), whatever the amount of data: the same count for a small centre and
for one with ten times more patients, appointments, referrals, partners and sessions.

The pages are bench/pages.py's list (the benchmark uses it too); the data come from the
benchmark's seeder (bench/seed.py), scaled down.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bench.pages import page_ids, pages
from bench.queries import page_queries
from bench.seed import seed
from dalia_site.models import StaffUser

MAX_QUERIES = 8


def count_queries(app, client, admin: StaffUser) -> dict[str, int]:
    """Statements of every page of bench/pages.py's list (the benchmark's pages among them)."""
    return page_queries(app, client, pages(page_ids(app, admin.id)))


@pytest.fixture
def admin_client(app, client, make_user, auth):
    admin = make_user("admin")
    auth.login_as(admin)
    return admin


def test_every_page_reads_the_database_at_most_8_times_whatever_the_data_size(app, client, admin_client):
    zone = ZoneInfo(app.config["SITE"]["timezone"])
    today = datetime.now(zone).date()
    with app.app_context():
        seed(zone, today, seed_value=1, scale=0.002, years=2)
    small = count_queries(app, client, admin_client)
    with app.app_context():
        added = seed(zone, today, seed_value=2, scale=0.02, years=2)
    assert added["patient"] == 200 and added["appointment"] >= 400
    large = count_queries(app, client, admin_client)
    too_many = {label: n for label, n in large.items() if n > MAX_QUERIES}
    assert not too_many, f"pages above {MAX_QUERIES} queries: {too_many}"
    grew = {label: (small[label], large[label]) for label in small if small[label] != large[label]}
    assert not grew, f"query counts that grew with the data: {grew}"
