"""Partner rules without HTTP: phone numbers, postcodes, search folding, CSV neutralisation."""

import pytest

from dalia_site.domain import partners, phones
from dalia_site.domain.partners import PartnerError, clean_organisation, postcode_outside
from dalia_site.domain.spreadsheet import neutralise
from dalia_site.domain.text import (
    PHONE_MESSAGE,
    InvalidValue,
    fold,
    format_phone,
    normalise_phone,
    normalise_postcode,
)


@pytest.mark.parametrize(
    "raw, stored",
    [
        ("05 65 36 73 87", "0565367387"),
        ("05.65.36.73.87", "0565367387"),
        ("05 65 367 387", "0565367387"),
        ("+33 5 65 36 73 87", "0565367387"),
        ("+33 (0)5 65 36 73 87", "0565367387"),
        ("0033565367387", "0565367387"),
        ("07-56-00-68-14", "0756006814"),
        ("36 46", "3646"),
        ("116 117", "116117"),
        ("15", "15"),
        ("", ""),
    ],
)
def test_french_phone_numbers_are_stored_as_digits(raw, stored):
    assert normalise_phone(raw) == stored


@pytest.mark.parametrize(
    "raw",
    ["05 65", "0565367387 1", "00 00 00 00 00", "+44 20 7946 0958", "05 65 36 73 8a", "1234567890", "12"],
)
def test_invalid_phone_numbers_are_refused_with_the_french_message(raw):
    with pytest.raises(InvalidValue) as error:
        normalise_phone(raw)
    assert str(error.value) == PHONE_MESSAGE


@pytest.mark.parametrize(
    "stored, shown",
    [
        ("0565367387", "05 65 36 73 87"),
        ("116117", "116 117"),
        ("3646", "36 46"),
        ("15", "15"),
    ],
)
def test_phone_numbers_are_shown_in_pairs(stored, shown):
    assert format_phone(stored) == shown


@pytest.mark.parametrize("raw, expected", [("12000", "12000"), (" 09 000 ", "09000"), ("", "")])
def test_postcodes_are_five_digits(raw, expected):
    assert normalise_postcode(raw) == expected


@pytest.mark.parametrize("raw", ["1200", "120000", "AB123", "00100"])
def test_bad_postcodes_are_refused(raw):
    with pytest.raises(InvalidValue, match="Code postal invalide : 5 chiffres attendus"):
        normalise_postcode(raw)


@pytest.mark.parametrize(
    "postcode, departement, outside",
    [
        ("12000", "12", False),
        ("11000", "12", True),
        ("09000", "09", False),
        ("", "12", False),
        ("20000", "2A", False),
        ("97400", "974", False),
        ("97400", "971", True),
    ],
)
def test_postcode_outside_the_sites_departement(postcode, departement, outside):
    assert postcode_outside(postcode, departement) is outside


def test_search_folding_ignores_accents_case_and_punctuation():
    assert fold("Hôpital Saint-Éloi — CŒUR") == "hopital saint eloi coeur"
    assert fold("  L'Isle-Jourdain ") == "l isle jourdain"


def test_clean_organisation_normalises_and_names_the_bad_field():
    cleaned = clean_organisation(
        {
            "name": " CPAM de l'Aveyron ",
            "category": "cpam",
            "phone": "36 46",
            "email": "Contact@CPAM.fr",
            "postcode": "12000",
            "finess": "12 0780 061",
        }
    )
    assert cleaned["name"] == "CPAM de l'Aveyron"
    assert cleaned["phone"] == "3646" and cleaned["email"] == "contact@cpam.fr"
    assert cleaned["finess"] == "120780061"
    for field, value, message in (
        ("category", "banque", "Catégorie inconnue"),
        ("finess", "1207", "Numéro FINESS invalide"),
        ("email", "pas-un-email", "Adresse e-mail invalide"),
        ("website", "pas un site", "Adresse de site web invalide"),
        ("name", "", "Le nom est obligatoire."),
    ):
        values = {"name": "X", "category": "cpam", field: value}
        with pytest.raises(PartnerError) as error:
            clean_organisation(values)
        assert error.value.field == field and message in str(error.value)


@pytest.mark.parametrize(
    "cell, exported",
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+33 5 65", "'+33 5 65"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("CPAM", "CPAM"),
        ("05 65 36 73 87", "05 65 36 73 87"),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(cell, exported):
    assert neutralise(cell) == exported


# --- Issue 17: the directory's phones in E.164 through domain/phones, as the patients' ----------


@pytest.mark.parametrize(
    "raw, stored, shown",
    [
        ("05 65 36 73 87", "+33565367387", "05 65 36 73 87"),
        ("+33 5 65 36 73 87", "+33565367387", "05 65 36 73 87"),
        ("0033 5 65 36 73 87", "+33565367387", "05 65 36 73 87"),
        ("06.12.34.56.78", "+33612345678", "06 12 34 56 78"),
        ("+32 2 555 12 12", "+3225551212", "+32 2 555 12 12"),  # abroad: international format
        ("36 46", "3646", "36 46"),  # a service's short number has no E.164 form
        ("116 117", "116117", "116 117"),
        ("15", "15", "15"),
    ],
)
def test_partner_phones_are_stored_in_e164_and_shown_in_french(raw, stored, shown):
    organisation = clean_organisation({"name": "CPAM", "category": "cpam", "phone": raw})
    person = partners.clean_contact({"name": "Mme Roux", "phone": raw})
    assert organisation["phone"] == person["phone"] == stored
    assert format_phone(stored) == shown


@pytest.mark.parametrize("raw", ["05 65", "00 00 00 00 00", "05 65 36 73 8a", "1234567890", "+3646"])
def test_a_bad_partner_phone_names_the_field_with_the_french_message(raw):
    for clean in (clean_organisation, partners.clean_contact):
        with pytest.raises(PartnerError) as error:
            clean({"name": "CPAM", "category": "cpam", "phone": raw})
        assert error.value.field == "phone"
        assert str(error.value) == phones.SHORT_MESSAGE
