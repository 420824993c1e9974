"""French text rules used across capabilities: phone numbers, postcodes, search folding."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, TypeVar

import email_validator
from email_validator import EmailNotValidError, validate_email

from dalia_site.models.vocabulary import Vocabulary

V = TypeVar("V", bound=Vocabulary)
T = TypeVar("T")

# « .invalid » (RFC 2606) is where the kit's own demo and test accounts live: reserved so that no
# mail is ever delivered there, it is accepted like any domain (email-validator's documented switch).
if "invalid" in email_validator.SPECIAL_USE_DOMAIN_NAMES:
    email_validator.SPECIAL_USE_DOMAIN_NAMES.remove("invalid")
EMAIL_MESSAGE = "Adresse e-mail invalide (ex. contact@cpts.fr)."
PHONE_MESSAGE = "Numéro de téléphone invalide : 10 chiffres attendus (ex. 05 65 36 73 87)."
POSTCODE_MESSAGE = "Code postal invalide : 5 chiffres attendus (ex. 12000)."
# Short numbers a partner may publish: 15, 112, 3646 (Assurance Maladie), 116 117 (SAS)…
_SHORT_NUMBER = re.compile(r"^(1[5-9]|11[0-9]|3\d{3}|116\d{3})$")


# Bidirectional controls (U+202A–U+202E, U+2066–U+2069) reorder what is shown after them: a name
# typed with one can display as another (« Trojan Source »). Refused like NUL, never stored.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def has_bidi_control(value: str) -> bool:
    return not BIDI_CONTROLS.isdisjoint(value)


class InvalidValue(ValueError):
    """A value a user typed that cannot be accepted; the message is French and shown as is."""


class FieldError(InvalidValue):
    """An invalid value of a named form field: `field` says where to show the message."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class FieldErrors(InvalidValue):
    """Several invalid fields at once: {field: French message}, to show each under its field."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(" ".join(errors.values()))
        self.errors = errors


class Collector:
    """Runs each field's check and gathers the messages, so a form shows all its errors at once.

    with Collector() as check:
        cleaned["postcode"] = check("postcode", normalise_postcode, raw)
    """

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def __call__(self, field: str, function: Callable[..., T], *args: Any) -> T | None:
        try:
            return function(*args)
        except FieldErrors as error:
            self.errors.update(error.errors)
        except FieldError as error:
            self.errors.setdefault(error.field, str(error))
        except InvalidValue as error:
            self.errors.setdefault(field, str(error))
        return None

    def __enter__(self) -> Collector:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if exc_type is None and self.errors:
            raise FieldErrors(self.errors)
        return False


def choice(field: str, value: object, allowed: type[V], message: str) -> V:
    """The member of `allowed` whose code is `value`, else FieldError(field, message)."""
    if not allowed.has(value):
        raise FieldError(field, message)
    return allowed(str(value))


def contains_all_words(column: Any, query: str) -> list[Any]:
    """SQL conditions: every word of `query`, folded, is in `column` (a folded search text)."""
    return [column.contains(word, autoescape=True) for word in fold(query).split()]


def normalise_phone(raw: str) -> str:
    """'05 65 36 73 87', '+33 5 65 36 73 87', '05.65.367.387' -> '0565367387'; '' stays ''."""
    text = raw.strip()
    if not text:
        return ""
    if re.search(r"[^\d\s.\-+()/]", text):
        raise InvalidValue(PHONE_MESSAGE)
    digits = re.sub(r"\D", "", text)
    if text.startswith("+33") or digits.startswith("0033"):
        digits = "0" + digits[4 if digits.startswith("0033") else 2 :].lstrip("0")
    elif text.startswith("+"):
        raise InvalidValue(PHONE_MESSAGE)
    if len(digits) == 10 and digits[0] == "0" and digits[1] != "0":
        return digits
    if _SHORT_NUMBER.match(digits):
        return digits
    raise InvalidValue(PHONE_MESSAGE)


def format_phone(stored: str) -> str:
    """'0565367387' -> '05 65 36 73 87'; '116117' -> '116 117'; '3646' -> '36 46'; a person's
    number in E.164 ('+33612345678') -> '06 12 34 56 78' (domain.phones)."""
    if stored.startswith("+"):
        from dalia_site.domain.phones import display  # phones reads this module's InvalidValue

        return display(stored)
    if len(stored) == 10:
        return " ".join(stored[i : i + 2] for i in range(0, 10, 2))
    if len(stored) == 6:
        return f"{stored[:3]} {stored[3:]}"
    if len(stored) == 4:
        return f"{stored[:2]} {stored[2:]}"
    return stored


def email_key(raw: str) -> str:
    """How emails are compared: '  Marie@Example.ORG ' -> 'marie@example.org'. Never refuses
    anything: a login or its throttling looks up whatever was typed."""
    return raw.strip().lower()


def normalise_email(raw: str) -> str:
    """An email to store (staff, partners, patients, referrers): its `email_key`, refused unless
    email-validator reads it as one plain address; '' stays ''.

    A regular expression let `a,b@evil.invalid` or `x<attacker@evil.invalid>.fr` through, which
    smtplib then sent to two recipients."""
    value = email_key(raw)
    if not value:
        return ""
    if len(value) > 254:
        raise InvalidValue(EMAIL_MESSAGE)
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise InvalidValue(EMAIL_MESSAGE) from error
    return checked.normalized.lower()


def normalise_postcode(raw: str) -> str:
    text = re.sub(r"\s", "", raw)
    if not text:
        return ""
    if not re.fullmatch(r"\d{5}", text) or text.startswith("00"):
        raise InvalidValue(POSTCODE_MESSAGE)
    return text


def postcode_departement(postcode: str) -> str:
    """The département part of a postcode: "12000" -> "12"; Corsica gives "20", DOM "971"…"""
    if postcode.startswith("97"):
        return postcode[:3]
    return postcode[:2]


def fold(text: str) -> str:
    """Lowercase, accents removed, punctuation as spaces: what search compares."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", bare.lower().replace("œ", "oe")).split())
