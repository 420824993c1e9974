"""Patient and partner search go through an index (FTS5 trigram on SQLite, pg_trgm on PostgreSQL),
kept in step with the rows however they are written: the ORM, a bulk insert, an update, a delete."""

import html
import re
from datetime import date

import pytest
from sqlalchemy import delete, func, insert, select, text, update

from dalia_site.domain import partners, patients, search
from dalia_site.domain.search import all_words
from dalia_site.domain.text import fold
from dalia_site.extensions import db
from dalia_site.models import PartnerOrganisation, Patient


def listed(response) -> list[str]:
    return re.findall(r'<a href="/patients/\d+">(.*?)</a>', html.unescape(response.get_data(as_text=True)))


def identity(last_name: str, first_names: str, born: date) -> dict:
    return {
        "last_name": last_name,
        "first_names": first_names,
        "birth_name": "",
        "birth_date": born,
        "sex": "F",
        "postcode": "11000",
        "commune": "Carcassonne",
        "ald": "yes",
        "gp_status": "none",
        "status": "follow_up",
        "search_text": fold(f"{last_name} {first_names} {born:%d/%m/%Y} {born:%Y-%m-%d}"),
    }


def plan(statement) -> str:
    """The database's plan for `statement` (PostgreSQL told to avoid a scan where an index can do:
    on a table of a few rows it would rightly prefer reading them all)."""
    connection = db.session.connection()
    compiled = statement.compile(connection)
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {compiled}",
            compiled.positiontup and tuple(compiled.params[name] for name in compiled.positiontup),
        )
        return "\n".join(row[-1] for row in rows)
    connection.execute(text("SET LOCAL enable_seqscan = off"))
    rows = connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params)
    return "\n".join(row[0] for row in rows)


def many_rows() -> None:
    """Ten thousand patients and partners, and the planner's statistics on them: how a site
    looks after some years (on a handful of rows, reading them all is the right plan)."""
    names = ("Azéma", "Bonnafous", "Cabrol", "Delmas", "Escande", "Fabre", "Garric", "Huc")
    db.session.execute(
        insert(Patient),
        [identity(f"{names[n % 8]}{n}", "Anne", date(1940 + n % 50, 1 + n % 12, 1)) for n in range(10_000)],
    )
    db.session.execute(
        insert(PartnerOrganisation),
        [
            {
                "name": f"Cabinet {n}",
                "category": "pharmacie",
                "commune": "Limoux",
                "postcode": "11300",
                "active": True,
                "search_text": fold(f"Cabinet {n} Limoux 11300 {names[n % 8]}"),
            }
            for n in range(10_000)
        ],
    )
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()


def test_patient_search_reads_the_index_not_every_row(app):
    with app.app_context():
        many_rows()
        shown = plan(patients.search("azema1000 anne"))
        if db.engine.dialect.name == "sqlite":
            assert "SEARCH patient USING INTEGER PRIMARY KEY" in shown
            assert "patient_search VIRTUAL TABLE" in shown and not re.search(r"SCAN patient$", shown, re.M)
        else:
            assert "ix_patient_search_text_trigram" in shown and "Seq Scan on patient" not in shown


def test_partner_search_reads_the_index_not_every_row(app):
    with app.app_context():
        many_rows()
        shown = plan(select(PartnerOrganisation).where(*partners.search_filter("cabinet 9999")))
        if db.engine.dialect.name == "sqlite":
            assert "partner_organisation_search VIRTUAL TABLE" in shown
            assert not re.search(r"SCAN partner_organisation$", shown, re.M)
        else:
            assert "ix_partner_organisation_search_text_trigram" in shown


def test_the_index_follows_bulk_inserts_renames_and_deletions(app, client, as_role):
    """Rows written in bulk (as a data load does), renamed, or deleted are found as they are now."""
    with app.app_context():
        db.session.execute(
            insert(Patient),
            [
                identity("Cassagnol", "Maïté", date(1961, 4, 2)),
                identity("Escande", "Joséphine", date(1944, 11, 30)),
            ],
        )
        db.session.commit()
    as_role("assistant")
    assert listed(client.get("/patients?q=maite cassag")) == ["CASSAGNOL Maïté"]
    assert listed(client.get("/patients?q=JOSEPHINE")) == ["ESCANDE Joséphine"]
    with app.app_context():
        escande = db.session.scalar(select(Patient).where(Patient.last_name == "Escande"))
        escande.last_name = "Bonnafous"
        escande.search_text = fold(f"Bonnafous Joséphine {escande.birth_date:%d/%m/%Y}")
        db.session.execute(delete(Patient).where(Patient.last_name == "Cassagnol"))
        db.session.commit()
    assert listed(client.get("/patients?q=escande")) == []
    assert listed(client.get("/patients?q=bonnafous")) == ["BONNAFOUS Joséphine"]
    assert listed(client.get("/patients?q=cassagnol")) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ro ma", ["ROUQUETTE Marthe"]),  # words of two letters: compared row by row
        ("ma rouq", ["ROUQUETTE Marthe"]),  # a short word with a long one
        ("uquet", ["ROUQUETTE Marthe"]),  # inside a name, not only its start
        ("1953", ["ROUQUETTE Marthe"]),
        ("100%", []),  # LIKE's wildcards are plain characters
        ("r_uquette", []),
    ],
)
def test_short_words_and_wildcards_search_as_before(app, client, as_role, query, expected):
    with app.app_context():
        db.session.execute(insert(Patient), [identity("Rouquette", "Marthe", date(1953, 6, 8))])
        db.session.commit()
    as_role("clinician")
    assert listed(client.get("/patients", query_string={"q": query})) == expected


def test_a_partner_renamed_is_found_by_its_new_name(app, client, as_role):
    with app.app_context():
        db.session.execute(
            update(PartnerOrganisation)
            .where(PartnerOrganisation.name == "Carcassonne Agglo")
            .values(search_text=fold("Communauté Lauragais collectivité"))
        )
        db.session.commit()
    as_role("assistant")
    body = client.get("/annuaire?q=lauragais").get_data(as_text=True)
    assert "Carcassonne Agglo" in body
    assert "Carcassonne Agglo" not in client.get("/annuaire?q=agglo").get_data(as_text=True)


def test_the_patient_list_reads_a_page_in_name_order_from_the_index(app):
    """Without a search, a page of the list is the first rows of the name index, not a sort of
    every patient (which grows with them)."""
    with app.app_context():
        many_rows()
        shown = plan(patients.search("").limit(25))
        if db.engine.dialect.name == "sqlite":
            assert "ix_patient_name_order" in shown and "TEMP B-TREE" not in shown
        else:
            assert "ix_patient_name_order" in shown and "Sort" not in shown


@pytest.mark.parametrize(
    ("page", "counted"),
    [
        (1, ("Plus de 500 patients", "Page 1 sur plus de 20")),
        (2, ("Plus de 1000 patients", "Page 2 sur plus de 40")),
        (30, ("1250 patients", "Page 30 sur 50")),
    ],
)
def test_a_name_many_patients_share_lists_every_match_in_name_order(app, client, as_role, page, counted):
    """One patient in eight is an Azéma: each page lists the same patients, in the same order, as
    every match sorted by name — whichever way the database reads them. SQLite's index counts
    them up to twenty times the page's last row (« plus de 500 » on page 1: a search narrows,
    and counting stays the same cost whatever the patients); PostgreSQL counts them all."""
    with app.app_context():
        many_rows()
        matches = db.session.scalars(patients.search("azema")).all()
        expected = [f"/patients/{p.id}" for p in matches[(page - 1) * 25 : page * 25]]
        dialect = db.engine.dialect.name
    as_role("assistant")
    response = client.get(f"/patients?q=AZÉMA&page={page}")
    shown = re.findall(r'<a href="(/patients/\d+)">', response.get_data(as_text=True))
    assert len(matches) == 1250 and len(expected) == 25
    assert shown == expected
    text = html.unescape(response.get_data(as_text=True))
    if dialect != "sqlite":
        counted = ("1250 patients", f"Page {page} sur 50")
    assert all(said in text for said in counted), counted


def test_a_common_name_is_read_in_name_order_a_rare_one_from_its_matches(app):
    """The first page of a name many patients share is read along the name index (no sort of
    every match, which grows with them); a rare name's few matches are read, then sorted."""
    with app.app_context():
        many_rows()
        common = search.matches(db.session, "patient", "azema", 25)
        rare = search.matches(db.session, "patient", "azema1000", 25)
        if db.engine.dialect.name != "sqlite":
            assert common.total is None  # PostgreSQL counts through its own index on the rows
            return
        assert common == (None, True, 500) and rare == (1, False, 500)  # counted up to 20 × 25
        in_order = all_words(Patient.id, Patient.search_text, "azema", in_order=True)
        by_name = (func.lower(Patient.last_name), func.lower(Patient.first_names), Patient.id)
        shown = plan(select(Patient).where(*in_order).order_by(*by_name).limit(25))
        assert "ix_patient_name_order" in shown and "TEMP B-TREE" not in shown
