"""Private link tokens (a partner's referral form, a member's calendar feed): shown once, stored
only as their SHA-256."""

import hashlib
import secrets


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """(token to show once, hash to store)."""
    token = secrets.token_urlsafe(24)
    return token, token_hash(token)
