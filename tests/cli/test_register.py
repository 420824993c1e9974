"""`dalia register SLUG`: the site's entry in the register of processing, as Markdown, from its
real configuration (site.toml's security and backups, the centre settings' retention periods)."""

from click.testing import CliRunner

from dalia_site.commands import cli
from dalia_site.database import open_site
from dalia_site.models import CentreSettings

AGE_KEY = "age1" + "q" * 58


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_the_register_of_a_provisioned_site_says_what_it_really_does(site_dir):
    instances = site_dir.parent
    result = run("register", "test", "--instances-dir", instances)
    assert result.exit_code == 0, result.output
    text = result.output
    assert text.startswith("# Registre des traitements — DALIA Bassin Carcassonnais")
    for heading in (
        "## Responsable du traitement",
        "## Finalités",
        "## Base légale",
        "## Personnes concernées",
        "## Catégories de données",
        "## Destinataires",
        "## Durées de conservation",
        "## Mesures de sécurité",
        "## Droits des personnes",
    ):
        assert heading in text
    assert "porté par la CPTS du Bassin Carcassonnais" in text
    assert "Laure MAURY" in text  # the URPS contacts of the partner directory
    assert "Patient sans rendez-vous ni adressage depuis 3 ans" in text
    assert "Adressage non retenu : 1 an après la décision" in text
    assert "Sauvegardes : supprimées après 365 jours" in text
    assert "Connexion chiffrée (TLS, HTTPS) : non — à configurer" in text
    assert "Sauvegardes chiffrées (age) : non — à configurer" in text
    assert "Base de données : SQLite, propre à ce site" in text
    assert (
        "Second facteur d'authentification : exigé pour les administrateurs, au choix pour les autres ; "
        "activé sur 1 des 1 compte(s) actif(s)"
    ) in text

    # Change the configuration: the register follows it.
    with open_site(site_dir) as site:
        row = site.session.get(CentreSettings, 1)
        row.retention_inactive_years, row.retention_declined_years = 5, 2
        site.session.commit()
    toml = site_dir / "site.toml"
    settings = toml.read_text().replace("https = false", "https = true")
    settings = settings.replace("second_factor_for_all = false", "second_factor_for_all = true")
    toml.write_text(settings.replace('age_recipient = ""', f'age_recipient = "{AGE_KEY}"'))
    out = instances / "registre.md"
    result = run("register", "test", "--out", out, "--instances-dir", instances)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "depuis 5 ans" in text and "2 ans après la décision" in text
    assert "Sauvegardes : supprimées après 730 jours" in text
    assert "Connexion chiffrée (TLS, HTTPS) : oui" in text
    assert "Sauvegardes chiffrées (age) : oui" in text
    assert "Second facteur d'authentification : exigé pour tous les comptes" in text


def test_an_unknown_site_is_one_clear_line(tmp_path):
    result = CliRunner().invoke(cli, ["register", "nowhere", "--instances-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "site inconnu : 'nowhere'" in result.output
