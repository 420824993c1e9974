"""Migration 0009 on a copy of an existing site (SQLite and PostgreSQL): the phone numbers stored
before it are rewritten in E.164 (a value it cannot read stays as it was), and each patient's
reminder channel starts as SMS to a mobile, else email, else none."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from dalia_site import database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_backend(request) -> str:
    return request.param


PATIENTS = [
    # (phone, email) stored before 0009 -> (phone, reminder channel) after
    (("0612345678", ""), ("+33612345678", "sms")),
    (("0639981234", "a@example.org"), ("+33639981234", "sms")),  # ARCEP's fiction range: a mobile
    (("0468112233", "b@example.org"), ("+33468112233", "email")),
    (("0468112233", ""), ("+33468112233", "none")),
    (("", ""), ("", "none")),
    (("12", ""), ("12", "none")),  # unreadable: kept for staff to correct
]


def test_0009_rewrites_stored_phones_in_e164_and_sets_the_reminder_channel(site_dir):
    with database.open_site(site_dir) as site:
        database.downgrade(site.engine, "0008")
        with site.engine.begin() as connection:
            for number, ((phone, email), _) in enumerate(PATIENTS):
                connection.execute(
                    text(
                        "INSERT INTO patient (status, informed_on, objected, objects_to_reminders, "
                        "objects_to_gp_search, dac_patient_informed, dac_gp_informed, search_text, "
                        "created_at, updated_at, last_name, first_names, birth_name, birth_date, sex, "
                        "phone, email, address, postcode, commune, ald, ald_label, gp_status, gp_name) "
                        "VALUES ('follow_up', NULL, false, false, false, false, false, '', "
                        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :name, 'Jeanne', '', :born, 'F', :phone, "
                        ":email, '', '11000', 'Carcassonne', 'yes', '', 'none', '')"
                    ),
                    {
                        "name": f"Migree{number}",
                        "born": date(1950, 1, 1 + number),
                        "phone": phone,
                        "email": email,
                    },
                )
        database.upgrade(site.engine)
        with site.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT phone, reminder_channel FROM patient "
                    "WHERE last_name LIKE 'Migree%' ORDER BY last_name"
                )
            ).all()
    assert [tuple(row) for row in rows] == [after for _, after in PATIENTS]
