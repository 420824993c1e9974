"""People's phone numbers (patients, referrers): read in any French way of writing them, stored in
E.164 (« +33612345678 ») with Google's libphonenumber rules, shown in the French national format.

A mobile is recognised as such: an SMS reminder goes only to a mobile.
"""

from __future__ import annotations

import functools

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType, shortnumberinfo

from dalia_site.domain.text import InvalidValue

REGION = "FR"
MESSAGE = "Numéro de téléphone invalide (ex. 06 12 34 56 78 ou +33 6 12 34 56 78)."
SHORT_MESSAGE = (
    "Numéro de téléphone invalide (ex. 05 65 36 73 87, +33 5 65 36 73 87 ou un numéro court : 3646)."
)
# Types an SMS can reach: a mobile, and numbers libphonenumber cannot tell from one.
_MOBILE = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
# The ranges ARCEP keeps for fiction (films, books… and the demo's invented people): never given
# to anyone, unknown to libphonenumber, accepted here; 06 39 98 is the mobile one.
FICTION = ("+3319900", "+3326191", "+3335301", "+3346571", "+3353649", "+3363998")
FICTION_MOBILE = "+3363998"


def normalise(raw: str, *, short: bool = False) -> str:
    """'06 12 34 56 78', '+33 6 12 34 56 78', '0033612345678', '06.12.34.56.78' ->
    '+33612345678'; a number abroad needs its + and country code; '' stays ''. With `short` (the
    partner directory), a French short number a service publishes — 15, 112, 3646, 116 117 — is
    accepted and kept as its digits ('3646'): it has no E.164 form."""
    text = raw.strip()
    if not text:
        return ""
    if any(c.isalpha() for c in text):
        raise InvalidValue(SHORT_MESSAGE if short else MESSAGE)
    try:
        number = phonenumbers.parse(text, REGION)
    except NumberParseException:
        raise InvalidValue(SHORT_MESSAGE if short else MESSAGE) from None
    stored = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if phonenumbers.is_valid_number(number) or _fiction(stored):
        return stored
    if (
        short
        and not text.startswith("+")
        and shortnumberinfo.is_valid_short_number_for_region(number, REGION)
    ):
        return str(number.national_number)
    raise InvalidValue(SHORT_MESSAGE if short else MESSAGE)


def is_stored_form(value: str, *, short: bool = False) -> bool:
    """`value` is as `normalise` stores it (E.164, or a short number's digits with `short`):
    False for a number kept as it was because it could not be read (`dalia check` lists them)."""
    try:
        return normalise(value, short=short) == value
    except InvalidValue:
        return False


def _fiction(stored: str) -> bool:
    return len(stored) == 12 and stored.startswith(FICTION)


def _parsed(stored: str) -> phonenumbers.PhoneNumber | None:
    if not stored.startswith("+"):
        return None
    try:
        return phonenumbers.parse(stored, REGION)
    except NumberParseException:
        return None


def is_mobile(stored: str) -> bool:
    """A stored (E.164) number that can receive an SMS."""
    if _fiction(stored):
        return stored.startswith(FICTION_MOBILE)
    number = _parsed(stored)
    return number is not None and phonenumbers.number_type(number) in _MOBILE


@functools.lru_cache(maxsize=4096)  # a list shows a number a row, on every request
def display(stored: str) -> str:
    """'+33612345678' -> '06 12 34 56 78'; a number abroad in its international format; a
    value from before E.164 (or a short number) as it is."""
    number = _parsed(stored)
    if number is None:
        return stored
    if number.country_code == 33 and _fiction(stored):  # libphonenumber groups only what it knows
        national = "0" + stored[3:]
        return " ".join(national[i : i + 2] for i in range(0, 10, 2))
    if number.country_code == 33:
        return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
