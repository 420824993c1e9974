"""The base of every form: WTForms' own messages in French (dates, numbers, choices, CSRF)."""

from collections.abc import Iterable
from typing import Any

import wtforms
from flask import abort, request
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # not in types-WTForms 3.2

from dalia_site.domain.text import has_bidi_control

NUL_MESSAGE = "La demande contient un caractère invalide (caractère nul) : retapez le texte."


BIDI_MESSAGE = (
    "La demande contient un caractère de contrôle d'écriture (sens du texte) qui peut masquer "
    "ce qui est affiché : retapez le texte sans le coller."
)


def _refused_text(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    if "\x00" in text:
        return NUL_MESSAGE
    if has_bidi_control(text):
        return BIDI_MESSAGE
    return None


def refuse_nul_characters():
    """Before every request: a NUL character in the query string or a form is never meant
    (PostgreSQL refuses it in text), whether a WTForms form or the view itself reads the value;
    nor a bidirectional control character (names and free text shown reordered: spoofing)."""
    for values in (request.args, request.form):
        for key, value in values.items(multi=True):
            for text in (key, value):
                if message := _refused_text(text):
                    abort(400, description=message)
    for upload in request.files.values():
        if message := _refused_text(upload.filename or ""):
            abort(400, description=message)


def _without_nul(value):
    """NUL characters are never meant (PostgreSQL refuses them in text): they are dropped."""
    return value.replace("\x00", "") if isinstance(value, str) else value


class Select(wtforms.widgets.Select):
    """WTForms' select with the same markup, its plain options written without a call to
    html_params each: a list of hundreds of partners costs a fraction of it. A field of plain
    choices (made by `choices`: text, no attributes, no group) has its options written in one
    pass — WTForms builds a choice object for each and checks it is selected through its
    coercion: 900 partners 2.35 → 1.06 ms."""

    def __call__(self, field, **kwargs):
        choices = field.choices
        if (
            self.multiple
            or field.coerce is not str
            or not isinstance(choices, list)
            or not all(map(_plain, choices))
        ):
            return super().__call__(field, **kwargs)
        field.choices = []  # the tag as WTForms writes it (its attributes), without the options
        try:
            tag = str(super().__call__(field, **kwargs))
        finally:
            field.choices = choices
        data = field.data
        options = "".join(
            [
                f'<option{" selected" if c.value == data else ""} value="{escape(c.value)}">'
                f"{escape(c.label or c.value)}</option>"
                for c in choices
            ]
        )
        return Markup(tag.replace("</select>", f"{options}</select>", 1))  # noqa: S704 (escaped)

    @classmethod
    def render_option(cls, choice, **kwargs):  # type: ignore[override]  # WTForms 3.3's (types-WTForms: 3.2's)
        if kwargs or choice.render_kw or not isinstance(choice.value, str):
            return super().render_option(choice, **kwargs)
        selected = " selected" if choice.selected else ""  # an f-string: Markup's % costs 2.7×
        value, label = escape(choice.value), escape(choice.label or choice.value)
        return Markup(f'<option{selected} value="{value}">{label}</option>')  # noqa: S704 (both escaped)


def _plain(choice: Any) -> bool:
    """A choice as `choices` makes it: a text value and label, no attributes, no group."""
    return (
        type(choice) is SelectChoice
        and type(choice.value) is str
        and type(choice.label) is str
        and not choice.render_kw
        and choice.optgroup is None
    )


class Form(FlaskForm):
    class Meta:
        locales = ("fr_FR", "fr")

        def bind_field(self, form, unbound_field, options):
            filters = [*unbound_field.kwargs.get("filters", ()), _without_nul]
            return unbound_field.bind(form=form, filters=filters, **options)


def choices(pairs: Iterable[tuple[str, str]]) -> list[SelectChoice]:
    """(value, label) pairs as the options of a SelectField."""
    return [SelectChoice(value, label) for value, label in pairs]


def strip(value):
    """Filter for text fields: surrounding spaces typed or pasted are not part of the value."""
    return value.strip() if isinstance(value, str) else value


class Marked:
    """Marks a field as required for display (the asterisk) while the rule itself lives in
    domain/: the message shown is the domain's, never a second copy of it."""

    field_flags = {"required": True}

    def __call__(self, form, field):
        return None


def attach_errors(form, errors: dict[str, str]) -> None:
    """Show domain messages under their fields (or above the form for fields it lacks); a field
    the form already refused (e.g. a date it could not read) keeps its own message."""
    for field, message in errors.items():
        if field in form:
            if not form[field].errors:
                form[field].errors = [*form[field].errors, message]
        else:
            form.form_errors.append(message)


def submit(form, action):
    """Validate a posted form, then run `action` (one domain call) in the request's unit of work.

    Returns (True, result): the change is committed with the response. Or (False, None): the form
    refused the values (the action did not run) or the domain refused the change (what it wrote
    is rolled back); every message is attached to its field. Nothing is half-written.
    """
    from dalia_site import unit_of_work
    from dalia_site.domain.text import FieldError, FieldErrors

    if not form.validate():
        unit_of_work.keep()  # nothing was changed; the page that says why may be traced
        return False, None
    try:
        result = action()
    except FieldErrors as error:
        unit_of_work.discard()
        attach_errors(form, error.errors)
        return False, None
    except FieldError as error:
        unit_of_work.discard()
        attach_errors(form, {error.field: str(error)})
        return False, None
    return True, result


def parse_id(raw: object) -> int | None:
    """An id typed in a form or a query string: ASCII digits within the database's integers,
    else None (never an exception, never an overflow)."""
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return None
    value = int(raw)
    return value if 0 < value < 2**31 else None


class DateField(wtforms.DateField):
    """A date typed as the browser's date picker sends it (2026-11-22) or as people write it
    (22/11/2026), with a French message that says which format is expected."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("format", ["%Y-%m-%d", "%d/%m/%Y"])
        kwargs.setdefault("invalid_value_message", "Date invalide : jj/mm/aaaa attendu (ex. 22/11/2026).")
        super().__init__(label, validators, **kwargs)


class SmallIntegerField(wtforms.IntegerField):
    """A number of a few digits (years, counts): anything longer is refused as not a number, in
    French, before a range check could meet an integer too large to compare (a 500-digit value
    made NumberRange raise OverflowError: a 500)."""

    MAX_DIGITS = 9

    def process_formdata(self, valuelist):
        if valuelist and len(str(valuelist[0]).strip()) > self.MAX_DIGITS:
            self.data = None
            raise ValueError("Indiquez un nombre entier (ex. 3).")
        super().process_formdata(valuelist)

    def pre_validate(self, form):
        if self.process_errors:  # not a number: that one message, no range check of nothing
            raise wtforms.validators.StopValidation()
