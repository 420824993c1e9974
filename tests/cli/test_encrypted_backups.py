"""Backups that can leave the server: with an age public key in site.toml, every backup is
encrypted before it is written; restore decrypts it with the private key given on the command line."""

import subprocess

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from dalia_site.commands import cli
from dalia_site.database import open_site
from dalia_site.models import StaffUser
from dalia_site.provisioning.crypto import AGE_MAGIC
from dalia_site.provisioning.maintenance import PGDUMP_MAGIC, SQLITE_MAGIC


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def keypair(folder, name="cle"):
    """(private key file, public key) from age-keygen, as the URPS would make them off the server."""
    private = folder / f"{name}.txt"
    subprocess.run(["age-keygen", "-o", str(private)], check=True, capture_output=True)
    public = subprocess.run(
        ["age-keygen", "-y", str(private)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return private, public


def staff_count(site_dir) -> int:
    with open_site(site_dir) as site:
        return site.session.scalar(select(func.count()).select_from(StaffUser))


@pytest.fixture
def encrypting_site(site_dir, tmp_path):
    private, public = keypair(tmp_path)
    toml = site_dir / "site.toml"
    toml.write_text(toml.read_text().replace('age_recipient = ""', f'age_recipient = "{public}"'))
    return site_dir, private


@pytest.mark.parametrize("db_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_an_encrypted_backup_is_restored_with_the_private_key_only(encrypting_site, tmp_path, db_backend):
    site_dir, private = encrypting_site
    instances = site_dir.parent
    before = staff_count(site_dir)
    made = run("backup", "test", "--instances-dir", instances)
    assert made.exit_code == 0, made.output
    backups = [p for p in (site_dir / "backups").iterdir()]
    assert len(backups) == 1 and backups[0].name.endswith(".age")  # and no plain copy beside it
    backup = backups[0]
    content = backup.read_bytes()
    assert content.startswith(AGE_MAGIC)
    assert SQLITE_MAGIC not in content and PGDUMP_MAGIC not in content and b"site_identity" not in content
    assert oct(backup.stat().st_mode & 0o777) == "0o600"

    added = run(
        "create-user", "test", "apres@test.dalia.invalid", "--role", "assistant", "--instances-dir", instances
    )
    assert added.exit_code == 0 and staff_count(site_dir) == before + 1

    without = run("restore", "test", backup, "--instances-dir", instances)
    assert without.exit_code == 1 and "--identity" in without.stderr
    wrong, _ = keypair(tmp_path, "autre")
    refused = run("restore", "test", backup, "--identity", wrong, "--instances-dir", instances)
    assert refused.exit_code == 1 and "déchiffrement" in refused.stderr
    assert staff_count(site_dir) == before + 1  # nothing restored with the wrong key

    restored = run("restore", "test", backup, "--identity", private, "--instances-dir", instances)
    assert restored.exit_code == 0, restored.output
    assert staff_count(site_dir) == before
    # The copy saved before the restore is encrypted too; no decrypted file is left behind.
    files = sorted(
        p.name
        for p in site_dir.rglob("*")
        if p.is_file() and ("backups" in p.parts or ".restauration" in str(p))
    )
    assert all(name.endswith(".age") for name in files), files
    assert any("avant-restauration" in name for name in files)


def test_a_public_key_that_is_not_an_age_key_is_refused_in_one_line(site_dir):
    toml = site_dir / "site.toml"
    toml.write_text(toml.read_text().replace('age_recipient = ""', 'age_recipient = "ssh-rsa AAAA"'))
    result = run("backup", "test", "--instances-dir", site_dir.parent)
    assert result.exit_code == 1
    assert "age_recipient doit être une clé publique age" in result.stderr
    assert list((site_dir / "backups").iterdir()) == []
