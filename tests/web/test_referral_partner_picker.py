"""« Partenaire qui adresse » on the new referral form: the assistant types a few letters and picks
the partner among the directory's matches (htmx, or the form sent without JavaScript); the page
never lists the whole directory (issue 22: it grew with it)."""

import html
import re

import pytest
from sqlalchemy import select

from dalia_site.domain import partners
from dalia_site.extensions import db
from dalia_site.models import PartnerOrganisation
from tests.conftest import ROLES
from tests.web.test_referrals import (
    DAC,
    FORM,
    all_referrals,
    field_error,
    make_referral,
    org_id,
    page_text,
    stored,
)

CPAM = "CPAM de l'Aude"
NEW = "/adressages/nouveau"
HTMX = {"HX-Request": "true"}
DIRECT = "Accès direct (sans partenaire)"
NOTHING_RECORDED = (
    "Rien n'a été enregistré : choisissez ci-dessous le partenaire qui adresse parmi ceux trouvés, "
    "puis enregistrez (ou videz la recherche pour un accès direct)."
)
RADIO = re.compile(
    r'<input type="radio" name="source_id" id="([\w-]+)" value="(\d*)"( checked)?> '
    r'<label for="\1">(.*?)</label>',
    re.S,
)


def offered(response) -> list[tuple[str, bool]]:
    """The choices of « Partenaire qui adresse »: (label as read, ticked)."""
    return [
        (re.sub(r"<[^>]+>", "", html.unescape(label)), bool(checked))
        for _, _, checked, label in RADIO.findall(response.get_data(as_text=True))
    ]


def names(response) -> list[str]:
    """The partners offered, by name (without their category and commune)."""
    return [label.split(" (")[0] for label, _ in offered(response)[1:]]


def status(response) -> str:
    found = re.search(r'<p class="help" role="status">(.*?)</p>', response.get_data(as_text=True), re.S)
    return html.unescape(found.group(1)) if found else ""


def search(client, text: str, **also):
    """What htmx asks as the assistant types in the search field."""
    return client.get(NEW, query_string={"source_search": text, **also}, headers=HTMX)


def add_partners(app, count: int, name: str) -> None:
    with app.app_context():
        for n in range(count):
            partners.create_organisation(
                db.session, None, {"name": f"{name} n° {n + 1}", "category": "pharmacie", "commune": "Limoux"}
            )
        db.session.commit()


def archive(app, name: str) -> int:
    with app.app_context():
        organisation = db.session.scalar(select(PartnerOrganisation).where(PartnerOrganisation.name == name))
        partners.set_archived(db.session, None, organisation, True)
        db.session.commit()
        return organisation.id


def test_the_form_lists_no_partner_until_one_is_searched(client, as_role):
    as_role("assistant")
    page = client.get(NEW)
    assert page.status_code == 200
    assert offered(page) == [(DIRECT, True)]
    assert DAC not in page_text(page) and CPAM not in page_text(page)
    assert '<label for="source_search">Rechercher le partenaire</label>' in page.get_data(as_text=True)


def test_a_few_letters_show_the_matching_partners_accents_and_case_ignored(client, as_role):
    as_role("assistant")
    response = search(client, "dac AUDÉ")
    assert response.status_code == 200
    assert "<html" not in response.get_data(as_text=True)  # the choices alone, for htmx to swap in
    assert names(response) == [DAC]
    assert offered(response)[0] == (DIRECT, True)  # nothing picked yet: a direct access
    assert status(response) == "1 partenaire trouvé pour « dac AUDÉ »."
    # The commune of a partner finds it too.
    # A town or a kind of partner finds them too, with them on each choice.
    assert ("Centre hospitalier de Carcassonne (Hôpital / clinique, Carcassonne)", False) in offered(
        search(client, "carcassonne")
    )
    assert "Centre hospitalier de Carcassonne" in names(search(client, "hopital"))
    assert status(search(client, "zzzz")) == "Aucun partenaire actif ne correspond à « zzzz »."
    assert status(search(client, "d")) == "Tapez au moins 2 lettres pour chercher un partenaire."
    assert names(search(client, "d")) == []


def test_ten_partners_at_most_are_offered_and_archived_ones_never(app, client, as_role):
    as_role("assistant")
    add_partners(app, 12, "Pharmacie de l'Épi")
    response = search(client, "pharmacie epi")
    assert names(response) == [f"Pharmacie de l'Épi n° {n}" for n in (1, 10, 11, 12, 2, 3, 4, 5, 6, 7)]
    assert status(response) == (
        "Plus de 10 partenaires pour « pharmacie epi » : les 10 premiers par nom, précisez la recherche."
    )
    archive(app, "Pharmacie de l'Épi n° 12")
    assert "Pharmacie de l'Épi n° 12" not in names(search(client, "epi 12"))


@pytest.mark.parametrize("role", ROLES)
def test_only_the_staff_who_record_referrals_may_search_partners(app, client, as_role, role):
    as_role(role)
    response = search(client, "aude")
    if role in ("admin", "assistant"):
        assert response.status_code == 200 and DAC in names(response)
    else:
        assert response.status_code == 403
        assert DAC not in response.get_data(as_text=True)


def test_anonymous_cannot_search_partners(client):
    response = search(client, "aude")
    assert response.status_code == 401
    assert DAC not in response.get_data(as_text=True)


def test_a_search_finds_partners_only_never_a_patient(app, client, as_role):
    as_role("assistant")
    make_referral(app)  # Odile Rouquette, referred by the DAC
    response = search(client, "rouquette")
    assert names(response) == []
    assert "Rouquette" not in response.get_data(as_text=True)


def test_without_javascript_a_search_sent_shows_the_matches_and_records_nothing(app, auth, as_role):
    as_role("assistant")
    before = stored(app)
    response = auth.post(NEW, FORM | {"channel": "phone", "source_id": "", "source_search": "dac aude"})
    assert response.status_code == 200
    assert NOTHING_RECORDED in page_text(response)
    assert names(response) == [DAC]
    body = response.get_data(as_text=True)
    assert 'value="Rouquette"' in body and 'value="dac aude"' in body  # what was typed is kept
    assert stored(app) == before

    dac = org_id(app, DAC)
    picked = FORM | {
        "channel": "phone",
        "source_id": str(dac),
        "source_search": "dac aude",
        "source_shown": "dac aude",
    }
    recorded = auth.post(NEW, picked)
    assert recorded.status_code == 303
    (referral,) = all_referrals(app)
    assert (referral.source_id, referral.channel) == (dac, "phone")


def test_a_new_search_after_a_choice_shows_its_matches_before_recording(app, auth, as_role):
    """Without JavaScript the matches of a new search are not on the page yet: the choice made
    before stays ticked, the new matches are offered, nothing is recorded."""
    as_role("assistant")
    dac = org_id(app, DAC)
    sent = FORM | {"channel": "phone", "source_id": str(dac), "source_search": "cpam", "source_shown": "dac"}
    response = auth.post(NEW, sent)
    assert response.status_code == 200 and NOTHING_RECORDED in page_text(response)
    assert names(response) == [DAC, CPAM]
    assert [ticked for _, ticked in offered(response)] == [False, True, False]
    assert all_referrals(app) == []


def test_matches_shown_but_none_picked_are_not_taken_for_a_direct_access(app, auth, as_role):
    """The partner was searched and its matches shown, but none was picked: the form asks for
    it rather than recording a direct access. Emptying the search records one."""
    as_role("assistant")
    sent = FORM | {"channel": "phone", "source_id": "", "source_search": "dac", "source_shown": "dac"}
    response = auth.post(NEW, sent)
    assert response.status_code == 200 and NOTHING_RECORDED in page_text(response)
    assert all_referrals(app) == []
    recorded = auth.post(NEW, sent | {"source_search": ""})
    assert recorded.status_code == 303
    (referral,) = all_referrals(app)
    assert (referral.source_id, referral.channel) == (None, "direct")


def test_an_archived_partner_is_refused_and_the_form_keeps_what_was_typed(app, auth, as_role):
    as_role("assistant")
    cpam = archive(app, CPAM)
    response = auth.post(NEW, FORM | {"channel": "phone", "source_id": str(cpam)})
    assert response.status_code == 422
    assert field_error(response, "source_id") == "Partenaire inconnu ou archivé."
    assert 'value="Rouquette"' in response.get_data(as_text=True)
    assert CPAM not in names(response) and not any(ticked for _, ticked in offered(response))
    assert all_referrals(app) == []


def test_a_refused_form_keeps_the_chosen_partner_and_the_search(app, auth, as_role):
    as_role("assistant")
    dac = org_id(app, DAC)
    sent = FORM | {"channel": "phone", "source_id": str(dac), "source_search": "aude", "source_shown": "aude"}
    response = auth.post(NEW, sent | {"postcode": "ABCDE"})
    assert response.status_code == 422
    assert field_error(response, "postcode")
    assert offered(response)[:2] == [(DIRECT, False), (f"{DAC} (DAC)", True)]
    assert CPAM in names(response)  # the matches of the search are offered again
    assert 'id="source_search" name="source_search" value="aude"' in response.get_data(as_text=True)
    assert all_referrals(app) == []


def test_the_form_opened_for_a_partner_has_it_chosen(app, client, as_role):
    as_role("assistant")
    dac = org_id(app, DAC)
    page = client.get(NEW, query_string={"source_id": str(dac)})
    assert page.status_code == 200
    assert offered(page) == [(DIRECT, False), (f"{DAC} (DAC)", True)]


@pytest.mark.parametrize("role", ROLES)
def test_a_partners_page_leads_to_a_referral_from_it_for_who_records_them(app, client, as_role, role):
    """On an active partner's page, the staff who record referrals find « Enregistrer un adressage
    de ce partenaire », which opens the form with that partner chosen; others do not see it."""
    as_role(role)
    dac = org_id(app, DAC)
    page = client.get(f"/annuaire/{dac}").get_data(as_text=True)
    link = re.search(r'<a href="([^"]+)">Enregistrer un adressage de ce partenaire</a>', page)
    if role not in ("admin", "assistant"):
        assert link is None
        return
    assert link is not None
    form = client.get(html.unescape(link.group(1)))
    assert offered(form) == [(DIRECT, False), (f"{DAC} (DAC)", True)]


def test_an_archived_partners_page_offers_no_referral_from_it(app, client, as_role):
    as_role("assistant")
    dac = archive(app, DAC)
    assert "Enregistrer un adressage" not in client.get(f"/annuaire/{dac}").get_data(as_text=True)
