"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

from collections.abc import Iterable

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


# Words a French user reaches for first, given to zxcvbn (whose dictionaries are English) as
# context: « Motdepasse2026 » meets the length rule but is among the first guesses.
FRENCH_WORDS = (
    "motdepasse",
    "azerty",
    "azertyuiop",
    "soleil",
    "bonjour",
    "bonsoir",
    "chocolat",
    "doudou",
    "loulou",
    "marseille",
    "toulouse",
    "carcassonne",
    "occitanie",
    "france",
    "amour",
    "jetaime",
    "coucou",
    "secret",
    "medecin",
    "docteur",
    "infirmiere",
    "sante",
    "hopital",
    "patient",
    "cabinet",
    "dalia",
    "urps",
    "cpts",
    "admin",
    "administrateur",
    "connexion",
    "bienvenue",
)
MIN_SCORE = 3  # zxcvbn: 3 = « safely unguessable: moderate protection from offline attacks »


def meets_cnil_rule(password: str) -> bool:
    """CNIL 2022 (délibération 2022-100): 12 characters with upper, lower, digit and symbol,
    or 14 characters of any kind."""
    if len(password) >= 14:
        return True
    kinds = (
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    )
    return len(password) >= MIN_LENGTH and all(kinds)


def _context(email: str, name: str, context: Iterable[str]) -> list[str]:
    words = [*FRENCH_WORDS, *context, email, email.split("@")[0], *email.split("@")[0].split(".")]
    words += name.split() + [name.replace(" ", "")]
    return [w.lower() for w in words if w and len(w) >= 3]


def password_problems(
    password: str, email: str = "", name: str = "", context: Iterable[str] = ()
) -> list[str]:
    """French messages for what is wrong with a new password; empty when it is acceptable.

    `context` holds the site's names (slug, name as shown): a password built on them is guessed early.
    """
    problems = []
    if not meets_cnil_rule(password):
        problems.append(
            f"Le mot de passe doit contenir au moins {MIN_LENGTH} caractères dont une majuscule, "
            "une minuscule, un chiffre et un symbole, ou au moins 14 caractères de tout type."
        )
    lowered = password.lower()
    if email and (lowered == email.lower() or lowered == email.lower().split("@")[0]):
        problems.append("Le mot de passe ne doit pas reprendre l'adresse e-mail.")
    if name and lowered.replace(" ", "") == name.lower().replace(" ", ""):
        problems.append("Le mot de passe ne doit pas reprendre le nom.")
    if password and len(set(password)) < 4:
        problems.append("Le mot de passe est trop répétitif.")
    if not problems and password:
        # zxcvbn's dictionaries weigh 12 MB: loaded when someone chooses a password, not by every
        # process that serves pages.
        from zxcvbn import zxcvbn  # type: ignore[import-untyped]

        # zxcvbn refuses more than 72 characters (a ValueError): its first 72 are judged.
        result = zxcvbn(password[:72], user_inputs=_context(email, name, context))
        if result["score"] < MIN_SCORE:
            problems.append(
                "Ce mot de passe est trop facile à deviner (mot courant, suite de clavier, "
                "nom, date ou année) : allongez-le, une phrase de quelques mots est idéale."
            )
    return problems
