"""Migration 0017 on a copy of an existing site (SQLite and PostgreSQL): the referrals stored
before it have no reminder channel chosen at intake (proposed at acceptance, as before), a new one
keeps the choice, and a value outside the vocabulary is refused by the database."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from dalia_site import database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_backend(request) -> str:
    return request.param


INSERT = (
    "INSERT INTO referral (channel, status, reason, received_at, referrer_name, referrer_profession, "
    "referrer_phone, referrer_email, decline_reason, orientation_detail, last_name, first_names, "
    "birth_name, birth_date, sex, phone, email, address, postcode, commune, ald, ald_label, gp_status, "
    "gp_name{extra}) VALUES ('direct', 'new', '', CURRENT_TIMESTAMP, '', '', '', '', '', '', :name, "
    "'Jeanne', '', '1950-01-01', 'F', '', '', '', '11000', '', 'yes', '', 'none', ''{value})"
)


def test_0017_adds_the_intake_reminder_channel_empty_for_referrals_from_before(site_dir):
    with database.open_site(site_dir) as site:
        database.downgrade(site.engine, "0016")
        with site.engine.begin() as connection:
            connection.execute(text(INSERT.format(extra="", value="")), {"name": "Avant"})
        database.upgrade(site.engine)
        with site.engine.begin() as connection:
            connection.execute(
                text(INSERT.format(extra=", reminder_channel", value=", 'sms'")), {"name": "Apres"}
            )
            rows = connection.execute(
                text("SELECT last_name, reminder_channel FROM referral ORDER BY last_name")
            ).all()
        assert [tuple(row) for row in rows] == [("Apres", "sms"), ("Avant", None)]
        with pytest.raises(IntegrityError), site.engine.begin() as connection:
            connection.execute(
                text(INSERT.format(extra=", reminder_channel", value=", 'fax'")), {"name": "Refuse"}
            )
        database.downgrade(site.engine, "0016")
        with site.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM referral")).scalar_one() == 2
