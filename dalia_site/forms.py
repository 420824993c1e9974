"""The base of every form: WTForms' own messages in French (dates, numbers, choices, CSRF)."""

from collections.abc import Iterable

from flask_wtf import FlaskForm
from wtforms.fields.choices import SelectChoice


class Form(FlaskForm):
    class Meta:
        locales = ("fr_FR", "fr")


def choices(pairs: Iterable[tuple[str, str]]) -> list[SelectChoice]:
    """(value, label) pairs as the options of a SelectField."""
    return [SelectChoice(value, label) for value, label in pairs]


def strip(value):
    """Filter for text fields: surrounding spaces typed or pasted are not part of the value."""
    return value.strip() if isinstance(value, str) else value
