"""Migration 0015 on a copy of an existing site (SQLite and PostgreSQL): the partner directory's
phones stored as ten digits before it are rewritten in E.164, short numbers and unreadable values
are kept as they were — and `dalia check`'s list names the unreadable ones."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dalia_site import database
from dalia_site.domain.partners import missing_details


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_backend(request) -> str:
    return request.param


# phone stored before 0015 -> after
ORGANISATIONS = [
    ("0565367387", "+33565367387"),
    ("0639981234", "+33639981234"),  # ARCEP's fiction range, unknown to libphonenumber: kept
    ("3646", "3646"),  # a short number has no E.164 form
    ("116117", "116117"),
    ("12", "12"),  # unreadable: kept, listed by dalia check
    ("", ""),
]


def test_0015_rewrites_partner_phones_in_e164_and_keeps_what_it_cannot_read(site_dir):
    with database.open_site(site_dir) as site:
        database.downgrade(site.engine, "0014")
        with site.engine.begin() as connection:
            for number, (phone, _) in enumerate(ORGANISATIONS):
                org_id = connection.execute(
                    text(
                        "INSERT INTO partner_organisation (name, category, address, postcode, commune, "
                        "phone, email, website, opening_hours, notes, active, search_text, created_at, "
                        "updated_at) VALUES (:name, 'pharmacie', '1 rue Haute', '11000', 'Carcassonne', "
                        ":phone, 'contact@exemple.fr', '', '', '', true, '', CURRENT_TIMESTAMP, "
                        "CURRENT_TIMESTAMP) RETURNING id"
                    ),
                    {"name": f"Migree {number}", "phone": phone},
                ).scalar_one()
                connection.execute(
                    text(
                        "INSERT INTO partner_contact (organisation_id, name, role, phone, email) "
                        "VALUES (:org, :name, 'pharmacien', :phone, '')"
                    ),
                    {"org": org_id, "name": f"Personne {number}", "phone": phone or "0468112233"},
                )
        database.upgrade(site.engine)
        with site.engine.connect() as connection:
            organisations = connection.execute(
                text("SELECT phone FROM partner_organisation WHERE name LIKE 'Migree%' ORDER BY name")
            ).scalars()
            people = connection.execute(
                text("SELECT phone FROM partner_contact WHERE name LIKE 'Personne%' ORDER BY name")
            ).scalars()
            assert list(organisations) == [after for _, after in ORGANISATIONS]
            assert list(people) == [after for _, after in ORGANISATIONS[:-1]] + ["+33468112233"]
        lines = missing_details(site.session)
        assert "Migree 4 : téléphone illisible « 12 » à corriger" in lines
        assert "Migree 4 / Personne 4 : téléphone illisible « 12 » à corriger" in lines
        assert not [line for line in lines if "illisible" in line and "Migree 4" not in line]
        database.downgrade(site.engine, "0014")
        with site.engine.connect() as connection:
            back = connection.execute(
                text("SELECT phone FROM partner_organisation WHERE name LIKE 'Migree%' ORDER BY name")
            ).scalars()
            assert list(back) == ["0565367387", "0639981234", "3646", "116117", "12", ""]
