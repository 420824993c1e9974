"""Backups that can leave the server: encrypted with age (Debian package `age`) before a byte of
them is written, for the public key of site.toml's [backup] age_recipient.

The private key never lives on the server: `dalia restore SLUG FILE --identity KEYFILE` is given
it for the time of a restore, and the decrypted copy lives in a private folder of the site (0700)
only while it is restored.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

AGE_MAGIC = b"age-encryption.org/v1"
SUFFIX = ".age"


class BackupCryptoError(Exception):
    """Encryption or decryption that failed; the message is one French line."""


def _age() -> str:
    found = shutil.which("age")
    if not found:
        raise BackupCryptoError("age introuvable : apt-get install age (sauvegardes chiffrées)")
    return found


def is_encrypted(path: Path) -> bool:
    with open(path, "rb") as file:
        return file.read(len(AGE_MAGIC)) == AGE_MAGIC


def _check(result: subprocess.CompletedProcess, what: str) -> None:
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines() or ["erreur inconnue"]
        raise BackupCryptoError(f"{what} : {message[-1]}")


def encrypt_sqlite(database: Path, recipient: str, target: Path) -> None:
    """A consistent copy of the SQLite database (backup API, into memory), encrypted into target."""
    source = sqlite3.connect(database)
    memory = sqlite3.connect(":memory:")
    try:
        source.backup(memory)
        plain = memory.serialize()
    finally:
        memory.close()
        source.close()
    result = subprocess.run(
        [_age(), "--encrypt", "--recipient", recipient, "--output", str(target)],
        input=plain,
        capture_output=True,
        timeout=3600,
    )
    _check(result, "chiffrement de la sauvegarde (age)")


def encrypt_pg_dump(command: list[str], env: dict[str, str], recipient: str, target: Path) -> None:
    """pg_dump's output piped into age: the plain dump never touches the disk."""
    dump = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert dump.stdout is not None  # noqa: S101 - stdout=PIPE
    try:
        result = subprocess.run(
            [_age(), "--encrypt", "--recipient", recipient, "--output", str(target)],
            stdin=dump.stdout,
            capture_output=True,
            timeout=3600,
        )
    finally:
        dump.stdout.close()
        dump_errors = dump.stderr.read() if dump.stderr else b""
        dump.wait(timeout=3600)
    if dump.returncode != 0:
        lines = dump_errors.decode(errors="replace").strip().splitlines() or ["erreur inconnue"]
        raise BackupCryptoError(f"pg_dump : {lines[-1]}")
    _check(result, "chiffrement de la sauvegarde (age)")


@contextmanager
def decrypted(backup: Path, identity: Path | None, scratch_parent: Path) -> Iterator[Path]:
    """The backup itself if it is not encrypted; otherwise its decrypted copy, in a private
    folder of `scratch_parent` removed on the way out."""
    if not is_encrypted(backup):
        yield backup
        return
    if identity is None:
        raise BackupCryptoError(
            f"{backup.name} est chiffrée (age) : donnez la clé privée avec --identity FICHIER"
        )
    with tempfile.TemporaryDirectory(dir=scratch_parent, prefix=".restauration-") as scratch:
        plain = Path(scratch) / backup.name.removesuffix(SUFFIX)
        result = subprocess.run(
            [_age(), "--decrypt", "--identity", str(identity), "--output", str(plain), str(backup)],
            capture_output=True,
            timeout=3600,
        )
        _check(result, f"déchiffrement de {backup.name}")
        yield plain
