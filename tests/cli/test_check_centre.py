"""`dalia check` names the centre settings still empty; a new site's site.toml keeps only what
the server needs, the opening hours and visit lengths being in the database."""

import tomllib

from click.testing import CliRunner

from dalia_site import database
from dalia_site.commands import cli
from dalia_site.domain import centre

PASSWORD = "mot de passe des tests CLI"
FILLED = {
    "display_name": "Centre DALIA du Bassin Carcassonnais",
    "address": "12 rue Aimé Ramond, 11000 Carcassonne",
    "phone": "04 68 11 22 33",
    "access_notes": "Bus ligne 2, arrêt Gambetta. Rez-de-chaussée.",
    "what_to_bring": "Carte Vitale",
    "open_days": ["lundi", "mardi", "jeudi"],
    "morning": "08:30-12:30",
    "afternoon": "13:30-17:30",
    "first_minutes": "60",
    "doctor_minutes": "30",
    "nurse_minutes": "30",
}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"DALIA_ADMIN_PASSWORD": PASSWORD})


def test_check_names_the_empty_centre_settings_until_the_admin_fills_them(tmp_path):
    instances = tmp_path / "instances"
    assert run("new-site", "carcassonne", "--instances-dir", instances).exit_code == 0
    folder = instances / "carcassonne"

    settings = tomllib.loads((folder / "site.toml").read_text(encoding="utf-8"))
    assert "hours" not in settings and "visits" not in settings
    with database.open_site(folder) as site:
        stored = centre.load(site.session)
    # The template's defaults are in the database from the start.
    assert stored.hours == {
        "open_days": ["lundi", "mardi", "mercredi", "jeudi", "vendredi"],
        "morning": "08:30-12:30",
        "afternoon": "13:30-17:30",
    }
    assert (stored.first_minutes, stored.doctor_minutes, stored.nurse_minutes) == (60, 30, 30)

    result = run("check", "carcassonne", "--instances-dir", instances)
    assert result.exit_code == 1  # no mail server nor SMS provider yet (issue 17)
    listed = [line for line in result.output.splitlines() if "réglages du centre" in line]
    assert listed == [
        f"à compléter  réglages du centre : {what} à compléter (page « Réglages du centre »)"
        for what in ("adresse", "téléphone", "accès (transports, stationnement, étage)")
    ]

    with database.open_site(folder) as site:
        assert centre.update(site.session, None, FILLED)
        site.session.commit()
    result = run("check", "carcassonne", "--instances-dir", instances)
    assert result.exit_code == 1  # no mail server nor SMS provider yet (issue 17)
    assert "réglages du centre" not in result.output


def test_the_demo_centre_has_its_contact_details_for_the_convocations(demo):
    instances, _ = demo
    with database.open_site(instances / "demo") as site:
        stored = centre.load(site.session)
    assert stored.missing() == []
    assert (stored.address, stored.phone) == ("1 place de la Démonstration, 11000 Carcassonne", "0465710000")
