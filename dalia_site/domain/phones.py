"""People's phone numbers (patients, referrers): read in any French way of writing them, stored in
E.164 (« +33612345678 ») with Google's libphonenumber rules, shown in the French national format.

A mobile is recognised as such: an SMS reminder goes only to a mobile.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from dalia_site.domain.text import InvalidValue

REGION = "FR"
MESSAGE = "Numéro de téléphone invalide (ex. 06 12 34 56 78 ou +33 6 12 34 56 78)."
# Types an SMS can reach: a mobile, and numbers libphonenumber cannot tell from one.
_MOBILE = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
# The ranges ARCEP keeps for fiction (films, books… and the demo's invented people): never given
# to anyone, unknown to libphonenumber, accepted here; 06 39 98 is the mobile one.
FICTION = ("+3319900", "+3326191", "+3335301", "+3346571", "+3353649", "+3363998")
FICTION_MOBILE = "+3363998"


def normalise(raw: str) -> str:
    """'06 12 34 56 78', '+33 6 12 34 56 78', '0033612345678', '06.12.34.56.78' ->
    '+33612345678'; a number abroad needs its + and country code; '' stays ''."""
    text = raw.strip()
    if not text:
        return ""
    if any(c.isalpha() for c in text):
        raise InvalidValue(MESSAGE)
    try:
        number = phonenumbers.parse(text, REGION)
    except NumberParseException:
        raise InvalidValue(MESSAGE) from None
    stored = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(number) and not _fiction(stored):
        raise InvalidValue(MESSAGE)
    return stored


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
