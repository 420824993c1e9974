"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
_hasher = PasswordHasher()
# Verified against when the email is unknown, so that a login takes as long either way.
_DUMMY_HASH = _hasher.hash("dalia-dummy-password-for-timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problems(password: str, email: str = "", name: str = "") -> list[str]:
    """French messages for what is wrong with a new password; empty when it is acceptable."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Le mot de passe doit contenir au moins {MIN_LENGTH} caractères.")
    lowered = password.lower()
    if email and (lowered == email.lower() or lowered == email.lower().split("@")[0]):
        problems.append("Le mot de passe ne doit pas reprendre l'adresse e-mail.")
    if name and lowered.replace(" ", "") == name.lower().replace(" ", ""):
        problems.append("Le mot de passe ne doit pas reprendre le nom.")
    if password and len(set(password)) < 4:
        problems.append("Le mot de passe est trop répétitif.")
    return problems
