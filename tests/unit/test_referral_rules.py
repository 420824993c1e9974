"""Referral rules without HTTP: eligibility, duplicate matching, identity validation."""

from datetime import date
from types import SimpleNamespace

import pytest

from dalia_site.domain.eligibility import MET, NOT_MET, UNKNOWN, checklist
from dalia_site.domain.referrals import clean_identity, clean_referrer, name_key, same_person
from dalia_site.domain.text import FieldErrors

TERRITORY = {"postcode_prefixes": ["11"], "communes": ["Limoux"]}
TODAY = date(2026, 11, 25)


def person(**fields):
    values = {
        "last_name": "Dupont",
        "first_names": "Marie",
        "birth_name": "",
        "birth_date": date(1950, 3, 15),
        "postcode": "11000",
        "commune": "Carcassonne",
        "ald": "yes",
        "ald_label": "diabète",
        "gp_status": "none",
        "gp_name": "",
    } | fields
    return SimpleNamespace(**values)


def states(identity) -> list[str]:
    return [c.state for c in checklist(identity, TERRITORY)]


def test_an_eligible_patient_meets_all_three_criteria():
    assert states(person()) == [MET, MET, MET]
    # A commune of the site's list counts, whatever its case, even without a postcode
    assert states(person(postcode="", commune="limoux")) == [MET, MET, MET]


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"postcode": "12000", "commune": "Rodez"}, [NOT_MET, MET, MET]),
        ({"postcode": "", "commune": ""}, [UNKNOWN, MET, MET]),
        ({"ald": "unknown"}, [MET, UNKNOWN, MET]),
        ({"ald": "no"}, [MET, NOT_MET, MET]),
        ({"gp_status": "has", "gp_name": "Dr Martin"}, [MET, MET, NOT_MET]),
    ],
)
def test_each_criterion_can_be_met_not_met_or_unknown(fields, expected):
    assert states(person(**fields)) == expected


@pytest.mark.parametrize(
    "a, b",
    [
        (
            person(last_name="Saint-Étienne", first_names="Jean-Pierre"),
            person(last_name="SAINT ETIENNE", first_names="jean pierre"),
        ),
        (person(last_name="Martin", birth_name="Dupont"), person(last_name="Dupont")),
        (person(first_names="Marie Claire"), person(first_names="MARIE")),
        (person(last_name="Lefèvre"), person(last_name="lefevre")),
    ],
)
def test_same_person_ignores_accents_case_hyphens_and_married_names(a, b):
    assert same_person(a, b) and same_person(b, a)


@pytest.mark.parametrize(
    "a, b",
    [
        (person(), person(birth_date=date(1950, 3, 16))),
        (person(), person(first_names="Marc")),
        (person(), person(last_name="Durand")),
    ],
)
def test_different_people_are_not_matched(a, b):
    assert not same_person(a, b)


def test_name_key_drops_accents_case_hyphens_and_spaces():
    assert name_key(" Saint-Jean d'Angély ") == name_key("SAINT JEAN D ANGELY") == "saintjeandangely"


VALID = {
    "last_name": " Dupont ",
    "first_names": "Marie",
    "birth_date": date(1950, 3, 15),
    "sex": "F",
    "postcode": "11 000",
    "ald": "yes",
    "gp_status": "has",
    "gp_name": "",
    "phone": "+33 5 65 36 73 87",
    "email": "Marie@Example.org",
}


def test_a_valid_identity_is_normalised():
    cleaned = clean_identity(VALID, TODAY)
    assert cleaned["last_name"] == "Dupont" and cleaned["postcode"] == "11000"
    assert cleaned["phone"] == "+33565367387" and cleaned["email"] == "marie@example.org"  # E.164


def test_every_bad_field_is_reported_at_once():
    bad = VALID | {
        "last_name": "",
        "birth_date": date(1899, 12, 31),
        "sex": "?",
        "postcode": "1100",
        "phone": "05 65",
        "email": "pas un e-mail",
    }
    with pytest.raises(FieldErrors) as error:
        clean_identity(bad, TODAY)
    assert error.value.errors == {
        "last_name": "Le nom est obligatoire.",
        "birth_date": "La date de naissance doit être postérieure à 1900.",
        "sex": "Indiquez le sexe.",
        "postcode": "Code postal invalide : 5 chiffres attendus (ex. 12000).",
        "phone": "Numéro de téléphone invalide (ex. 06 12 34 56 78 ou +33 6 12 34 56 78).",
        "email": "Adresse e-mail invalide (ex. contact@cpts.fr).",
    }


@pytest.mark.parametrize(
    "birth_date, message",
    [
        (date(2026, 11, 26), "La date de naissance ne peut pas être dans le futur."),
        (None, "La date de naissance est obligatoire (jj/mm/aaaa)."),
    ],
)
def test_birth_date_bounds(birth_date, message):
    with pytest.raises(FieldErrors) as error:
        clean_identity(VALID | {"birth_date": birth_date}, TODAY)
    assert error.value.errors == {"birth_date": message}


def test_a_patient_needs_a_postcode_or_a_commune():
    with pytest.raises(FieldErrors) as error:
        clean_identity(VALID | {"postcode": "", "commune": ""}, TODAY)
    assert error.value.errors == {"postcode": "Indiquez le code postal ou la commune du patient."}
    assert clean_identity(VALID | {"postcode": "", "commune": "Limoux"}, TODAY)["commune"] == "Limoux"


def test_a_referrer_must_be_reachable_except_for_direct_access():
    with pytest.raises(FieldErrors) as error:
        clean_referrer({"referrer_name": "IDE Martin"}, required=True)
    assert error.value.errors == {"referrer_phone": "Indiquez un téléphone ou un e-mail pour vous joindre."}
    assert clean_referrer({}, required=False)["referrer_name"] == ""
