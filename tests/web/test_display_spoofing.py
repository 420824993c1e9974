"""Display spoofing (issue 19): bidirectional control characters (U+202A–U+202E, U+2066–U+2069)
reorder what is shown after them — « Dupont\u202eeniraM » reads as another name. They are refused
in names and free text like NUL: a French message, 400, nothing written."""

import html

import pytest
from sqlalchemy import func, select

from dalia_site.extensions import db
from dalia_site.models import PartnerImport, PartnerOrganisation
from tests.conftest import ADMIN_EMAIL
from tests.web.test_partners import NEW_PARTNER, csv_file, csv_row, upload

CONTROLS = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("control", CONTROLS)
def test_a_partner_name_with_a_bidi_control_is_refused(app, auth, control):
    assert auth.login(ADMIN_EMAIL).status_code == 302
    before = count(app, PartnerOrganisation)
    response = auth.post("/annuaire/nouveau", NEW_PARTNER | {"name": f"Pharmacie{control}emôD ud"})
    assert response.status_code == 400
    assert "caractère de contrôle d'écriture" in html.unescape(response.get_data(as_text=True))
    assert count(app, PartnerOrganisation) == before


def test_free_text_and_search_with_a_bidi_control_are_refused(app, auth):
    assert auth.login(ADMIN_EMAIL).status_code == 302
    assert auth.client.get("/patients?q=Dupont\u202e").status_code == 400
    before = count(app, PartnerOrganisation)
    response = auth.post("/annuaire/nouveau", NEW_PARTNER | {"notes": "Appeler le matin \u2067Mme X\u2069"})
    assert response.status_code == 400
    assert count(app, PartnerOrganisation) == before


def test_a_directory_import_with_a_bidi_control_is_refused_whole(app, auth):
    assert auth.login(ADMIN_EMAIL).status_code == 302
    before = count(app, PartnerOrganisation)
    response = upload(auth, csv_file(csv_row(nom="Pharmacie\u202eemôD ud", categorie="Pharmacie")))
    assert response.status_code == 422
    assert "caractère de contrôle d'écriture" in html.unescape(response.get_data(as_text=True))
    assert count(app, PartnerOrganisation) == before
    assert count(app, PartnerImport) == 0
