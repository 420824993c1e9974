"""templates, sites, check, backup / restore and upgrade, as URPS staff run them."""

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask_migrate import downgrade
from sqlalchemy import inspect, select, text

from dalia_site import MIGRATIONS_DIR, clock, create_app, create_dev_app, database
from dalia_site.clock import clock_at
from dalia_site.commands import cli
from dalia_site.domain import accounts
from dalia_site.extensions import db
from dalia_site.models import StaffUser
from dalia_site.provisioning.maintenance import head_revision

PASSWORD = "mot de passe des tests CLI"
TERRITORIES = {
    "aveyron": "12",
    "lozere": "48",
    "ariege": "09",
    "tarn-et-garonne": "82",
    "carcassonne": "11",
    "centre-tarn": "81",
}


def run(*args, env=None):
    return CliRunner().invoke(
        cli, [str(a) for a in args], env={"DALIA_ADMIN_PASSWORD": PASSWORD, **(env or {})}
    )


@pytest.fixture
def instances(tmp_path):
    return tmp_path / "instances"


def new_site(instances: Path, template: str, *extra) -> Path:
    result = run("new-site", template, "--instances-dir", instances, *extra)
    assert result.exit_code == 0, result.output
    return instances / (extra[1] if extra[:1] == ("--slug",) else template)


def snapshot(folder: Path) -> dict[str, list[tuple]]:
    """Every row of every table, to compare two states of a site's data."""
    app = create_app(folder)
    with app.app_context():
        tables = sorted(inspect(db.engine).get_table_names())
        rows = {
            t: sorted(
                map(tuple, db.session.execute(text(f'SELECT * FROM "{t}"')).all()),  # noqa: S608
                key=repr,
            )
            for t in tables
        }
        db.engine.dispose()
    return rows


def change_data(folder: Path) -> None:
    app = create_app(folder)
    with app.app_context():
        accounts.create_staff(db.session, None, "apres@centre.fr", "Après", "assistant", "provisoire-123456")
        db.session.execute(text("UPDATE partner_organisation SET phone = '0565367387'"))
        db.session.commit()
        db.engine.dispose()


def test_templates_lists_the_six_territories_with_their_departement():
    result = run("templates")
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert set(lines) == set(TERRITORIES)
    for slug, departement in TERRITORIES.items():
        assert f" {departement} " in lines[slug]


@pytest.mark.parametrize("template", sorted(TERRITORIES))
def test_every_template_gives_a_site_whose_admin_can_log_in(instances, template):
    folder = new_site(instances, template)
    app = create_app(folder)
    with app.app_context():
        assert accounts.authenticate(
            db.session, f"admin@{template}.invalid", PASSWORD, now=clock.now(), zone=UTC
        ).ok
        assert app.config["SITE"]["departement"] == TERRITORIES[template]
        names = db.session.scalars(text("SELECT name FROM partner_organisation")).all()
        db.session.rollback()
        db.engine.dispose()
    assert "URPS Médecins Libéraux d'Occitanie" in names
    assert "Agence Régionale de Santé Occitanie" in names
    assert any(name.startswith("CPAM ") for name in names)


def test_sites_lists_schema_version_patients_and_last_backup(instances):
    new_site(instances, "aveyron")
    new_site(instances, "lozere")
    run("backup", "lozere", "--instances-dir", instances)
    result = run("sites", "--instances-dir", instances)
    assert result.exit_code == 0
    aveyron, lozere = (line for line in result.output.splitlines()[1:])
    assert aveyron.startswith("aveyron") and "(à jour)" in aveyron and "jamais" in aveyron
    assert lozere.startswith("lozere") and "jamais" not in lozere


def test_check_lists_the_contact_details_to_complete(instances):
    new_site(instances, "carcassonne")
    result = run("check", "carcassonne", "--instances-dir", instances)
    assert "à compléter  Agence Régionale de Santé Occitanie : téléphone, e-mail à compléter" in result.output
    assert "CPAM de l'Aude : téléphone, e-mail, adresse, commune à compléter" in result.output
    # Contacts that the source documents give are not listed
    assert "Laure MAURY" not in result.output and "Sandrine DUVAL" not in result.output
    # A new site has no mail server nor SMS provider yet: its reminders could not leave (issue 17).
    assert result.exit_code == 1
    assert "ni serveur SMTP ([mail] de site.toml) ni fournisseur SMS ([sms])" in result.stderr


def test_check_reports_a_broken_site_toml_in_one_line(instances):
    folder = new_site(instances, "aveyron")
    toml = folder / "site.toml"
    toml.write_text(toml.read_text().replace('departement = "12"', 'departement = "XII"'))
    result = run("check", "aveyron", "--instances-dir", instances)
    assert result.exit_code == 1
    assert "[site] departement doit être un numéro de département" in result.stderr


def test_backup_then_restore_gives_back_identical_data(instances):
    folder = new_site(instances, "aveyron")
    before = snapshot(folder)
    backup = run("backup", "aveyron", "--instances-dir", instances)
    assert backup.exit_code == 0
    path = Path(backup.output.split("Sauvegarde : ")[1].strip())
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    change_data(folder)
    assert snapshot(folder) != before
    restored = run("restore", "aveyron", path, "--instances-dir", instances)
    assert restored.exit_code == 0, restored.output
    assert snapshot(folder) == before
    assert any("avant-restauration" in p.name for p in (folder / "backups").iterdir())


def test_restore_refuses_a_backup_of_another_site(instances):
    new_site(instances, "aveyron")
    lozere = new_site(instances, "lozere")
    before = snapshot(lozere)
    path = instances / "aveyron.sqlite3"
    assert run("backup", "aveyron", "--out", path, "--instances-dir", instances).exit_code == 0
    result = run("restore", "lozere", path, "--instances-dir", instances)
    assert result.exit_code == 1
    assert "sauvegarde du site 'aveyron', pas de 'lozere' : restauration refusée" in result.stderr
    assert snapshot(lozere) == before


def test_restore_refuses_a_file_that_is_no_backup(instances, tmp_path):
    new_site(instances, "aveyron")
    junk = tmp_path / "notes.txt"
    junk.write_text("pas une sauvegarde")
    result = run("restore", "aveyron", junk, "--instances-dir", instances)
    assert result.exit_code == 1 and "ni une sauvegarde SQLite ni un export pg_dump" in result.stderr


def test_backup_keep_prunes_the_oldest_dated_backups(instances):
    folder = new_site(instances, "aveyron")
    for stamp in ("20260101-020000", "20260102-020000", "20260103-020000"):
        (folder / "backups" / f"aveyron-{stamp}.sqlite3").write_bytes(b"old")
    result = run("backup", "aveyron", "--keep", "2", "--instances-dir", instances)
    assert result.exit_code == 0
    names = sorted(p.name for p in (folder / "backups").iterdir())
    assert len(names) == 2 and names[0] == "aveyron-20260103-020000.sqlite3"


def downgrade_to_first_revision(folder: Path) -> None:
    """Through Flask-Migrate, as a developer's `flask db downgrade` does."""
    app = create_dev_app(folder)
    with app.app_context():
        downgrade(directory=str(MIGRATIONS_DIR), revision="0001")
        db.engine.dispose()


def test_upgrade_all_backs_up_migrates_and_survives_a_broken_site(instances):
    behind = [new_site(instances, t) for t in ("aveyron", "lozere")]
    downgrade_to_first_revision(behind[0])
    with database.open_site(behind[1]) as site:  # and through plain Alembic, without Flask
        database.downgrade(site.engine, "0001")
        assert database.current_revision(site.engine) == "0001"
    new_site(instances, "ariege")  # already up to date
    broken = new_site(instances, "carcassonne")
    (broken / "dalia.sqlite3").write_bytes(b"ceci n'est pas une base SQLite" * 100)

    result = run("upgrade", "--all", "--instances-dir", instances)
    assert result.exit_code == 1
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if line[:2] in ("ok", "ÉC")}
    head = head_revision()
    assert f"0001 → {head}" in lines["aveyron"] and f"0001 → {head}" in lines["lozere"]
    assert "déjà à jour" in lines["ariege"]
    assert lines["carcassonne"].startswith("ÉCHEC")
    assert result.stdout.splitlines()[-1] == "3 site(s) à jour, 1 en échec"
    for folder in behind:
        assert list((folder / "backups").glob(f"{folder.name}-*.sqlite3"))
        app = create_app(folder)
        with app.app_context():
            assert "site_identity" in inspect(db.engine).get_table_names()
            db.engine.dispose()


def test_a_backup_is_named_by_the_site_s_clock_not_the_server_s(instances):
    new_site(instances, "aveyron")
    with clock_at(datetime(2026, 7, 1, 22, 30, tzinfo=UTC)):  # 2 July, 00:30 in Europe/Paris
        result = run("backup", "aveyron", "--instances-dir", instances)
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("aveyron-20260702-003000.sqlite3")


def test_report_all_speaks_one_language_the_keys_of_report_slug(instances):
    for template in ("aveyron", "lozere"):
        new_site(instances, template)
    period = ("--from", "2026-01-01", "--to", "2026-03-31")
    one = json.loads(
        run("report", "aveyron", "--format", "json", *period, "--instances-dir", instances).stdout
    )
    result = run("report", "--all", "--format", "json", *period, "--instances-dir", instances)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["site"] for row in rows] == ["aveyron", "lozere"]
    assert rows[0]["period"] == one["period"] == {"from": "2026-01-01", "to": "2026-03-31"}
    assert set(rows[0]) <= set(one)
    assert {"patients_received", "consultations", "no_show_rate", "patients_given_gp"} <= set(rows[0])
    pathway = ("refusal_reasons", "waiting_list", "overdue_follow_ups", "gp_found", "gp_found_median_days")
    assert {key: rows[0][key] for key in pathway} == {key: one[key] for key in pathway}
    assert rows[0]["waiting_list"] == {"count": 0, "median_wait_days": None}
    table = run("report", "--all", "--format", "csv", *period, "--instances-dir", instances).stdout
    header, *lines = csv.reader(io.StringIO(table.lstrip("\ufeff")), delimiter=";")
    assert header[:4] == ["site", "from", "to", "patients_received"]
    # An object's figures are columns of their own: « waiting_list.count », « refusal_reasons.no_ald »…
    flat = {
        f"{k}.{sub}" if isinstance(v, dict) else k
        for k, v in rows[0].items()
        for sub in (v if isinstance(v, dict) else [k])
    }
    assert set(header) - {"from", "to"} == flat - {"period.from", "period.to"}
    assert {"waiting_list.count", "refusal_reasons.no_ald", "gp_found_median_days"} <= set(header)
    assert lines[0][:4] == ["aveyron", "2026-01-01", "2026-03-31", "0"]


def test_upgrade_needs_a_site_or_all(instances):
    result = run("upgrade", "--instances-dir", instances)
    assert result.exit_code == 1 and "indiquez un site ou --all" in result.stderr


@pytest.mark.postgres
def test_postgresql_backup_restore_round_trip_with_pg_dump(instances, pg_server):
    pg_server.sql("CREATE DATABASE dalia_backup_pg")
    folder = new_site(instances, "aveyron", "--database-url", pg_server.url("dalia_backup_pg"))
    before = snapshot(folder)
    backup = run("backup", "aveyron", "--instances-dir", instances)
    assert backup.exit_code == 0, backup.output
    path = Path(backup.output.split("Sauvegarde : ")[1].strip())
    assert path.suffix == ".pgdump"
    change_data(folder)
    restored = run("restore", "aveyron", path, "--instances-dir", instances)
    assert restored.exit_code == 0, restored.output
    assert snapshot(folder) == before
    app = create_app(folder)
    with app.app_context():
        assert db.session.scalar(select(StaffUser.email).where(StaffUser.email == "apres@centre.fr")) is None
        db.engine.dispose()
