"""The partner directory ("annuaire"): search, organisations and their people, referral links, CSV.

The provisioned site comes from the "carcassonne" template (département 11): its directory starts
with the twelve organisations of instance_templates/_common/partners.toml and
instance_templates/carcassonne/territory.toml.
"""

import csv
import hashlib
import html
import io
import re

import pytest
from sqlalchemy import delete, func, select

from dalia_site import clock
from dalia_site.domain import partners, phones
from dalia_site.domain.text import POSTCODE_MESSAGE
from dalia_site.extensions import db
from dalia_site.models import (
    AuditEvent,
    PartnerContact,
    PartnerImport,
    PartnerOrganisation,
    PartnerReferralLink,
)
from tests.conftest import ADMIN_EMAIL, AuthActions

BOM = "\ufeff"
HEADER = "id;nom;categorie;adresse;code_postal;commune;telephone;email;site_web;horaires;finess;notes;archive"
CPAM = "CPAM de l'Aude"
URPS = "URPS Médecins Libéraux d'Occitanie"
ARS = "Agence Régionale de Santé Occitanie"
CDOM = "Conseil départemental de l'Ordre des médecins de l'Aude"
IN_CARCASSONNE = {
    "CPTS du Bassin Carcassonnais",
    "Carcassonne Agglo",
    "Centre hospitalier de Carcassonne",
    "Centre médical DALIA du Bassin Carcassonnais",
}
PROVISIONED = 12
NEW_PARTNER = {
    "name": "Pharmacie du Dôme",
    "category": "pharmacie",
    "address": "12 rue de Verdun",
    "postcode": "11000",
    "commune": "Carcassonne",
    "phone": "+33 5 65 36 73 87",
    "email": "Contact@Pharmacie-Dome.fr",
    "website": "www.pharmacie-dome.fr",
    "opening_hours": "du lundi au samedi, 9h-19h",
    "finess": "110780061",
    "notes": "",
}
OUTSIDE_MESSAGE = (
    "Ce code postal est hors du département du site (11) : cochez la case "
    "« Je confirme ce code postal hors du département » si c'est bien voulu."
)


# --- helpers ------------------------------------------------------------------------------------


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def table_rows(response) -> list[str]:
    """The rows of the first table body of the page, unescaped."""
    match = re.search(r"<tbody>(.*?)</tbody>", response.get_data(as_text=True), re.S)
    return [html.unescape(r) for r in re.findall(r"<tr.*?</tr>", match.group(1), re.S)] if match else []


def table_rows_of(response, section: str) -> list[str]:
    """The body rows of the table in <section id=section>."""
    match = re.search(
        rf'<section id="{section}".*?<tbody>(.*?)</tbody>', response.get_data(as_text=True), re.S
    )
    return [html.unescape(r) for r in re.findall(r"<tr.*?</tr>", match.group(1), re.S)] if match else []


def listed(response) -> set[str]:
    """The names of the partners in the results table."""
    return {re.search(r'<a href="/annuaire/\d+">(.*?)</a>', row).group(1) for row in table_rows(response)}


def org_id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(select(PartnerOrganisation.id).where(PartnerOrganisation.name == name))


def organisation(app, name: str) -> PartnerOrganisation | None:
    with app.app_context():
        org = db.session.scalar(select(PartnerOrganisation).where(PartnerOrganisation.name == name))
        if org is not None:
            db.session.expunge(org)
        return org


def events(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        return db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).all()


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def snapshot(app) -> list[tuple]:
    """Every row of partner_organisation, every column: what an import must leave untouched."""
    table = PartnerOrganisation.__table__
    with app.app_context():
        return [tuple(row) for row in db.session.execute(select(table).order_by(table.c.id))]


def field_error(response, field: str) -> str:
    match = re.search(
        rf'<p class="error" id="{field}-erreur"[^>]*>(.*?)</p>', response.get_data(as_text=True), re.S
    )
    return html.unescape(match.group(1)) if match else ""


def line_errors(response) -> list[tuple[int, str, str]]:
    """(line, column, message) from the import preview's error table."""
    return [
        (int(line), column, message)
        for line, column, message in re.findall(
            r"<tr><td>(\d+)</td><td>(.*?)</td><td>(.*?)</td></tr>", page_text(response)
        )
    ]


def edit_form_values(response) -> dict[str, str]:
    """What the browser would send from the edit form as rendered: inputs (ticked boxes only),
    the selected options, the textareas."""
    form = re.search(
        r'<form method="post" action="/annuaire/\d+/modifier".*?</form>',
        response.get_data(as_text=True),
        re.S,
    ).group(0)
    values = {}
    for tag in re.findall(r"<input\b[^>]*>", form):
        attrs = dict(re.findall(r'([\w-]+)(?:="([^"]*)")?', tag[len("<input") :]))
        if attrs.get("type") == "checkbox" and "checked" not in attrs:
            continue
        values[attrs["name"]] = html.unescape(attrs.get("value", ""))
    for name, options in re.findall(r'<select[^>]*name="(\w+)"[^>]*>(.*?)</select>', form, re.S):
        values[name] = re.search(r'<option selected value="([^"]*)"', options).group(1)
    for name, text in re.findall(r'<textarea[^>]*name="(\w+)"[^>]*>(.*?)</textarea>', form, re.S):
        values[name] = html.unescape(text.removeprefix("\r\n").removeprefix("\n"))
    return values


def csv_row(**cells) -> str:
    """One line of an import file; unnamed columns are empty, `archive` is "non"."""
    values = {column: "" for column in HEADER.split(";")} | {"archive": "non"} | cells
    return ";".join(values.values())


def csv_file(*lines: str, header: str = HEADER) -> bytes:
    return (BOM + "\r\n".join((header, *lines)) + "\r\n").encode()


def upload(auth, content: bytes, filename: str = "annuaire.csv"):
    return auth.post(
        "/annuaire/import", {"file": (io.BytesIO(content), filename)}, content_type="multipart/form-data"
    )


def pending_import_id(response) -> int:
    return int(
        re.search(r'action="/annuaire/import/(\d+)/confirmer"', response.get_data(as_text=True)).group(1)
    )


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix(BOM)), delimiter=";"))


@pytest.fixture
def admin(auth):
    """The site's first admin (user 1), logged in."""
    assert auth.login(ADMIN_EMAIL).status_code == 302
    return 1


# --- the list: search, filter, archives, pages, htmx --------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("potignon", {URPS}),  # a person's name, in lower case
        ("MÉDECINS", {URPS, CDOM}),  # capitals and accents ignored
        ("carcassonne", IN_CARCASSONNE),  # the commune
        ("Duval sandrine", {"Centre médical DALIA du Bassin Carcassonnais"}),  # every word, any order
        ("hôpital", {"Centre hospitalier de Carcassonne"}),  # the category's label
    ],
)
def test_search_ignores_accents_and_case(client, admin, query, expected):
    """Name, commune, category and people's names are searched, accents and case ignored."""
    response = client.get("/annuaire", query_string={"q": query})
    assert response.status_code == 200
    assert listed(response) == expected
    assert f"pour « {query} »" in page_text(response)


def test_a_search_without_match_says_so(client, admin):
    response = client.get("/annuaire?q=boulangerie")
    assert listed(response) == set()
    assert "Aucun partenaire ne correspond à « boulangerie »." in page_text(response)


def test_the_category_filter_keeps_one_category(client, admin):
    """Two collectivités among the twelve; combined with a search, one."""
    assert listed(client.get("/annuaire?categorie=collectivite")) == {
        "Carcassonne Agglo",
        "Conseil départemental de l'Aude",
    }
    assert listed(client.get("/annuaire?categorie=collectivite&q=carcassonne")) == {"Carcassonne Agglo"}
    assert len(listed(client.get("/annuaire?categorie=inconnue"))) == PROVISIONED


def test_the_page_works_without_javascript(client, admin):
    """A plain GET gets the whole page: the search form keeps its value, the results follow."""
    response = client.get("/annuaire?q=carcassonne&categorie=cpts")
    body = response.get_data(as_text=True)
    assert "<html" in body
    assert 'method="get" action="/annuaire"' in body
    assert 'name="q" value="carcassonne"' in body
    assert '<option value="cpts" selected>' in body
    assert listed(response) == {"CPTS du Bassin Carcassonnais"}
    assert "HX-Request" in response.headers["Vary"]


def test_an_htmx_search_gets_only_the_results(client, admin):
    """The search box swaps in the results table alone; caches keep page and fragment apart."""
    response = client.get("/annuaire?q=carcassonne", headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body
    assert "<form" not in body and 'id="partner-results"' not in body
    assert listed(response) == IN_CARCASSONNE
    assert "4 partenaires pour « carcassonne »" in page_text(response)
    assert "HX-Request" in response.headers["Vary"]


def test_the_list_has_twenty_five_partners_per_page(app, client, admin):
    """Thirty more partners make two pages; filters are kept in the page links; page 99 is a 404."""
    with app.app_context():
        for n in range(30):
            partners.create_organisation(
                db.session, None, {"name": f"Pharmacie n° {n + 1:02d}", "category": "pharmacie"}
            )
        db.session.commit()

    first = client.get("/annuaire")
    assert len(table_rows(first)) == 25
    text = page_text(first)
    assert f"{PROVISIONED + 30} partenaires" in text and "Page 1 sur 2" in text
    assert 'href="/annuaire?page=2"' in first.get_data(as_text=True)
    second = client.get("/annuaire?page=2")
    assert len(table_rows(second)) == PROVISIONED + 30 - 25
    assert "Page 2 sur 2" in page_text(second)

    filtered = client.get("/annuaire?categorie=pharmacie&page=2")
    assert listed(filtered) == {f"Pharmacie n° {n}" for n in range(26, 31)}
    assert 'href="/annuaire?categorie=pharmacie&amp;page=1"' in filtered.get_data(as_text=True)

    missing = client.get("/annuaire?page=99")
    assert missing.status_code == 404
    assert "Page introuvable" in page_text(missing)


def test_the_list_names_each_partners_people_under_its_name(app, client, admin):
    """By name, whoever was added first; someone known by their role alone adds no name; a
    partner with nobody shows no line of names."""
    with app.app_context():
        for name, people in (
            ("Pharmacie du Dôme", [("Zoé Arnaud", ""), ("", "Accueil"), ("Aline <b>Vidal</b>", "")]),
            ("Pharmacie des Halles", []),
        ):
            partners.create_organisation(
                db.session,
                None,
                {"name": name, "category": "pharmacie"},
                [{"name": person, "role": role, "email": "a@exemple.fr"} for person, role in people],
            )
        db.session.commit()

    rows = {
        re.search(r">([^<]*)</a>", row).group(1): row
        for row in table_rows(client.get("/annuaire?q=pharmacie"))
    }
    assert "<br><small>Aline <b>Vidal</b>, Zoé Arnaud</small>" in rows["Pharmacie du Dôme"]
    assert "<small>" not in rows["Pharmacie des Halles"]
    assert "&lt;b&gt;Vidal&lt;/b&gt;" in client.get("/annuaire?q=pharmacie").get_data(as_text=True)


def test_archiving_hides_a_partner_until_restored(app, client, auth, as_role):
    """An assistant archives: the list hides it unless "archives=1"; restoring brings it back."""
    as_role("assistant")
    cpam = org_id(app, CPAM)
    response = auth.post(f"/annuaire/{cpam}/archiver", {"archived": "1"})
    assert response.status_code == 303
    assert response.location == f"/annuaire/{cpam}"
    assert organisation(app, CPAM).active is False
    assert CPAM not in listed(client.get("/annuaire"))
    with_archives = client.get("/annuaire?archives=1")
    assert CPAM in listed(with_archives)
    assert f"{CPAM}</a> <small>(archivé)</small>" in page_text(with_archives)
    assert "Rétablir" in page_text(client.get(f"/annuaire/{cpam}"))

    auth.post(f"/annuaire/{cpam}/archiver", {"archived": "0"})
    assert organisation(app, CPAM).active is True
    assert CPAM in listed(client.get("/annuaire"))
    assert [
        (e.action, e.summary, e.object_id)
        for e in events(app, "partner.archive") + events(app, "partner.restore")
    ] == [
        ("partner.archive", f"{CPAM} : actif : oui → non", str(cpam)),
        ("partner.restore", f"{CPAM} : actif : non → oui", str(cpam)),
    ]


# --- creating and editing -----------------------------------------------------------------------


def test_a_new_partner_is_stored_normalised_and_shown_formatted(app, client, auth, as_role):
    """'+33 5 65 36 73 87' is stored +33565367387 (E.164) and read 05 65 36 73 87; the e-mail lowercased."""
    user = as_role("assistant")
    response = auth.post("/annuaire/nouveau", NEW_PARTNER)
    assert response.status_code == 303
    stored = organisation(app, "Pharmacie du Dôme")
    assert response.location == f"/annuaire/{stored.id}"
    assert (stored.phone, stored.email, stored.postcode, stored.finess, stored.category) == (
        "+33565367387",
        "contact@pharmacie-dome.fr",
        "11000",
        "110780061",
        "pharmacie",
    )

    text = page_text(client.get(response.location))
    assert "Partenaire « Pharmacie du Dôme » ajouté." in text
    assert '<a href="tel:+33565367387">05 65 36 73 87</a>' in text
    event = events(app, "partner.create")[-1]
    assert (event.actor_id, event.object_id) == (user.id, str(stored.id))
    assert event.summary.startswith(
        "Partenaire créé : nom : — → Pharmacie du Dôme ; catégorie : — → Pharmacie ; "
    )
    assert " ; téléphone : — → 05 65 36 73 87 ; " in event.summary


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phone", "05 65", phones.SHORT_MESSAGE),
        ("email", "contact@pharmacie", "Adresse e-mail invalide (ex. contact@cpts.fr)."),
        # Two recipients for smtplib, once accepted by a regular expression.
        ("email", "a,b@evil.invalid", "Adresse e-mail invalide (ex. contact@cpts.fr)."),
        ("email", "x<attacker@evil.invalid>.fr", "Adresse e-mail invalide (ex. contact@cpts.fr)."),
        ("postcode", "1200", POSTCODE_MESSAGE),
        ("finess", "12345", "Numéro FINESS invalide : 9 caractères (ex. 110780061)."),
        ("name", "  ", "Ce champ est obligatoire."),
    ],
)
def test_a_refused_partner_says_why_and_stores_nothing(app, auth, admin, field, value, message):
    """Each bad field gets its French message under it (422); nothing is stored or audited."""
    before = snapshot(app)
    response = auth.post("/annuaire/nouveau", NEW_PARTNER | {field: value})
    assert response.status_code == 422
    assert field_error(response, field) == message
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert snapshot(app) == before
    assert [e for e in events(app, "partner.create") if e.actor_id is not None] == []


def test_a_postcode_outside_the_departement_needs_confirmation(app, auth, admin):
    """12000 for a site in the Aude (11) is refused until the confirmation box is ticked."""
    outside = NEW_PARTNER | {"postcode": "12000", "commune": "Rodez"}
    refused = auth.post("/annuaire/nouveau", outside)
    assert refused.status_code == 422
    assert field_error(refused, "postcode") == OUTSIDE_MESSAGE
    assert "Je confirme ce code postal hors du département" in page_text(refused)
    assert organisation(app, "Pharmacie du Dôme") is None

    accepted = auth.post("/annuaire/nouveau", outside | {"confirm_postcode": "y"})
    assert accepted.status_code == 303
    assert organisation(app, "Pharmacie du Dôme").postcode == "12000"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phone", "05 65", phones.SHORT_MESSAGE),
        ("phone", "05 65 36 73 87", ""),
        ("postcode", "12000", OUTSIDE_MESSAGE),
    ],
)
def test_inline_validation_answers_just_the_fields_message(auth, admin, field, value, message):
    """POST /annuaire/valider/partenaire/<field> answers the <p> that replaces the one under the field."""
    response = auth.post(
        f"/annuaire/valider/partenaire/{field}", {field: value}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    body = html.unescape(response.get_data(as_text=True)).strip()
    assert body == f'<p class="error" id="{field}-erreur" aria-live="polite">{message}</p>'
    assert "HX-Request" in response.headers["Vary"]


def test_an_edit_is_audited_with_before_and_after(app, client, auth, admin):
    """Adding the CPAM's phone: the audit says 'téléphone : — → 05 65 36 73 87'; the form shows it back."""
    cpam = org_id(app, CPAM)
    response = auth.post(
        f"/annuaire/{cpam}/modifier", {"name": CPAM, "category": "cpam", "phone": "05 65 36 73 87"}
    )
    assert response.status_code == 303
    assert organisation(app, CPAM).phone == "+33565367387"
    assert "Fiche mise à jour." in page_text(client.get(f"/annuaire/{cpam}"))
    (event,) = events(app, "partner.update")
    assert (event.actor_id, event.object_id) == (admin, str(cpam))
    assert event.summary == f"{CPAM} : téléphone : — → 05 65 36 73 87"
    assert 'value="05 65 36 73 87"' in client.get(f"/annuaire/{cpam}/modifier").get_data(as_text=True)

    auth.post(
        f"/annuaire/{cpam}/modifier",
        {"name": CPAM, "category": "cpam", "phone": "0565367387", "commune": "Carcassonne"},
    )
    assert [e.summary for e in events(app, "partner.update")][1:] == [f"{CPAM} : commune : — → Carcassonne"]
    assert CPAM in listed(client.get("/annuaire?q=carcassonne"))


def test_a_partner_already_outside_the_departement_is_edited_without_reconfirming(app, client, auth, admin):
    """The ARS has been in Montpellier (34067) since provisioning: changing its phone through its
    edit form, sent as rendered, must not stumble on a postcode nobody touched."""
    ars = org_id(app, ARS)
    values = edit_form_values(client.get(f"/annuaire/{ars}/modifier"))
    assert values["postcode"] == "34067"
    response = auth.post(f"/annuaire/{ars}/modifier", values | {"phone": "04 67 07 20 07"})
    assert response.status_code == 303, field_error(response, "postcode")
    stored = organisation(app, ARS)
    assert (stored.phone, stored.postcode) == ("+33467072007", "34067")
    (event,) = events(app, "partner.update")
    assert event.summary == f"{ARS} : téléphone : — → 04 67 07 20 07"


# --- people at an organisation ------------------------------------------------------------------


def test_people_are_added_edited_and_removed_and_searched(app, client, auth, admin):
    """Each change is audited; the person's name finds the organisation, until removed."""
    cpam = org_id(app, CPAM)
    added = auth.post(
        f"/annuaire/{cpam}/personnes",
        {
            "contact-name": "Émilie Fabre",
            "contact-role": "Conseillère",
            "contact-phone": "04 68 11 22 33",
            "contact-email": "",
        },
    )
    assert added.status_code == 303
    assert added.location == f"/annuaire/{cpam}#personnes"
    with app.app_context():
        person = db.session.scalar(select(PartnerContact).where(PartnerContact.name == "Émilie Fabre"))
    assert (person.organisation_id, person.phone) == (cpam, "+33468112233")
    assert '<a href="tel:+33468112233">04 68 11 22 33</a>' in page_text(client.get(f"/annuaire/{cpam}"))
    assert listed(client.get("/annuaire?q=EMILIE")) == {CPAM}

    edited = auth.post(
        f"/annuaire/{cpam}/personnes/{person.id}",
        {
            f"personne-{person.id}-name": "Émilie Fabre",
            f"personne-{person.id}-role": "Conseillère santé",
            f"personne-{person.id}-phone": "04 68 11 22 33",
            f"personne-{person.id}-email": "",
        },
    )
    assert edited.status_code == 303
    assert listed(client.get("/annuaire?q=conseillere sante")) == {CPAM}

    removed = auth.post(f"/annuaire/{cpam}/personnes/{person.id}/supprimer", headers={"HX-Request": "true"})
    assert removed.status_code == 200
    section = removed.get_data(as_text=True)
    assert "<html" not in section and "Émilie Fabre a été retiré·e de la fiche." in section
    assert f'id="personne-{person.id}"' not in section
    assert count(app, PartnerContact) == 4
    assert listed(client.get("/annuaire?q=emilie")) == set()

    assert [
        (e.action, e.summary)
        for e in events(app, "partner.contact_create")
        + events(app, "partner.contact_update")
        + events(app, "partner.contact_delete")
    ] == [
        (
            "partner.contact_create",
            f"{CPAM} : personne ajoutée (nom : — → Émilie Fabre ; "
            "fonction : — → Conseillère ; téléphone : — → 04 68 11 22 33)",
        ),
        ("partner.contact_update", f"{CPAM} / Émilie Fabre : fonction : Conseillère → Conseillère santé"),
        (
            "partner.contact_delete",
            f"{CPAM} : personne retirée (nom : Émilie Fabre, "
            "fonction : Conseillère santé, téléphone : 04 68 11 22 33)",
        ),
    ]


def test_removing_a_person_without_htmx_redirects_to_the_page(app, auth, admin):
    urps = org_id(app, URPS)
    with app.app_context():
        potignon = db.session.scalar(
            select(PartnerContact.id).where(PartnerContact.name == "Mathilde POTIGNON")
        )
    response = auth.post(f"/annuaire/{urps}/personnes/{potignon}/supprimer")
    assert response.status_code == 303
    assert response.location == f"/annuaire/{urps}#personnes"
    with app.app_context():
        assert db.session.get(PartnerContact, potignon) is None


def test_a_person_of_another_organisation_is_a_404(app, client, auth, admin):
    """Laure MAURY works at the URPS: reached through another organisation's address, 404."""
    other = org_id(app, CPAM)
    with app.app_context():
        maury = db.session.scalar(select(PartnerContact).where(PartnerContact.name == "Laure MAURY"))
    base = f"/annuaire/{other}/personnes/{maury.id}"
    assert client.get(base).status_code == 404
    assert auth.post(base, {f"personne-{maury.id}-name": "Piratée"}).status_code == 404
    assert auth.post(f"{base}/supprimer").status_code == 404
    with app.app_context():
        assert db.session.get(PartnerContact, maury.id).name == "Laure MAURY"


# --- clinicians read, they do not write ---------------------------------------------------------


def test_a_clinician_reads_the_directory_without_edit_buttons(app, client, auth, as_role):
    """The page and its people are shown; no button to change them; every write is a 403."""
    as_role("clinician")
    urps = org_id(app, URPS)
    text = page_text(client.get(f"/annuaire/{urps}"))
    assert URPS in text and "Mathilde POTIGNON" in text and "07 57 76 89 10" in text
    for control in (
        "Modifier la fiche",
        "Archiver",
        "Ajouter une personne",
        "Retirer",
        "Liens d'adressage",
        "Créer un lien",
    ):
        assert control not in text, control
    index = page_text(client.get("/annuaire"))
    assert "Ajouter un partenaire" not in index and "Exporter" not in index

    before = snapshot(app)
    for path, data in (
        (f"/annuaire/{urps}/modifier", {"name": "Changé", "category": "autre"}),
        (f"/annuaire/{urps}/archiver", {"archived": "1"}),
        (f"/annuaire/{urps}/personnes", {"contact-name": "Intrus"}),
        (f"/annuaire/{urps}/liens", {"lien-label": "intrus"}),
        ("/annuaire/nouveau", NEW_PARTNER),
    ):
        assert auth.post(path, data).status_code == 403, path
    assert snapshot(app) == before
    assert count(app, PartnerContact) == 4 and count(app, PartnerReferralLink) == 0


# --- private referral links ---------------------------------------------------------------------


def test_a_referral_link_is_shown_once_stored_hashed_and_revocable(app, client, auth, admin):
    """The token appears in the 201 response only; the database keeps its sha256; revoked, it
    no longer finds its link."""
    cpam = org_id(app, CPAM)
    created = auth.post(f"/annuaire/{cpam}/liens", {"lien-label": "Urgences, IOA"})
    assert created.status_code == 201
    token = re.search(
        r'value="http://localhost/adressage/([A-Za-z0-9_-]{32})"', created.get_data(as_text=True)
    ).group(1)

    with app.app_context():
        (link,) = db.session.scalars(select(PartnerReferralLink)).all()
        assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
        columns = [str(getattr(link, c.key)) for c in PartnerReferralLink.__table__.columns]
        audited = db.session.scalars(select(AuditEvent.summary)).all()
        assert not [value for value in columns + audited if token in value]
        assert partners.find_referral_link(db.session, token, now=clock.now()).id == link.id

    page = client.get(f"/annuaire/{cpam}")
    assert token not in page.get_data(as_text=True)
    (row,) = table_rows_of(page, "liens")
    assert "Urgences, IOA" in row and "Actif" in row and "jamais" in row

    revoked = auth.post(f"/annuaire/{cpam}/liens/{link.id}/revoquer")
    assert revoked.status_code == 303
    assert revoked.location == f"/annuaire/{cpam}#liens"
    (row,) = table_rows_of(client.get(f"/annuaire/{cpam}"), "liens")
    assert "Révoqué le" in row and "Révoquer" not in row
    with app.app_context():
        assert partners.find_referral_link(db.session, token, now=clock.now()) is None
    assert [e.summary for e in events(app, "partner.link_create") + events(app, "partner.link_revoke")] == [
        f"{CPAM} : lien d'adressage n° {link.id} créé (Urgences, IOA)",
        f"{CPAM} : lien d'adressage n° {link.id} révoqué",
    ]


def test_an_archived_partner_gets_no_referral_link(app, client, auth, admin):
    """Its page offers none; a form sent from a page opened before archiving is refused, and says
    why."""
    cpam = org_id(app, CPAM)
    auth.post(f"/annuaire/{cpam}/archiver", {"archived": "1"})
    assert "Créer un lien d'adressage" not in page_text(client.get(f"/annuaire/{cpam}"))
    response = auth.post(f"/annuaire/{cpam}/liens", {"lien-label": "IOA"})
    assert response.status_code == 422
    assert "Ce partenaire est archivé : rétablissez-le d'abord." in page_text(response)
    assert count(app, PartnerReferralLink) == 0
    assert events(app, "partner.link_create") == []


# --- CSV export ---------------------------------------------------------------------------------


def test_the_export_is_a_csv_for_french_excel_with_formulas_neutralised(app, client, auth, admin):
    """UTF-8 with BOM, ';', the documented columns; cells starting =, +, -, @ get a quote, and
    importing the export back changes nothing."""
    trap = '=HYPERLINK("http://exemple.invalid";"clic")'
    auth.post(
        "/annuaire/nouveau",
        {
            "name": trap,
            "category": "autre",
            "address": "+33 rue du Piège",
            "opening_hours": "-1",
            "notes": "@SOMME(A1:A9)",
        },
    )
    response = client.get("/annuaire/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert re.fullmatch(
        r'attachment; filename="annuaire-\d{4}-\d{2}-\d{2}\.csv"', response.headers["Content-Disposition"]
    )
    data = response.get_data()
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8")
    assert text.removeprefix(BOM).split("\r\n")[0] == HEADER

    rows = parse_csv(text)
    assert len(rows) == 1 + PROVISIONED + 1
    (trapped,) = [row for row in rows if "HYPERLINK" in row[1]]
    assert (trapped[1], trapped[3], trapped[9], trapped[11]) == (
        "'" + trap,
        "'+33 rue du Piège",
        "'-1",
        "'@SOMME(A1:A9)",
    )
    (urps,) = [row for row in rows if row[1] == URPS]
    assert urps[2:] == [
        "Autre",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "Ingénierie, mise en œuvre et suivi opérationnel du projet DALIA (seed 000).",
        "non",
    ]

    before = snapshot(app)
    preview = upload(auth, data)
    assert preview.status_code == 200
    assert f"0 partenaire(s) à créer, 0 à modifier, {PROVISIONED + 1} inchangé(s)." in page_text(preview)
    assert snapshot(app) == before


# --- CSV import ---------------------------------------------------------------------------------


def edited_export(client) -> bytes:
    """The export with the CPAM's phone filled in and a new pharmacy without id."""
    rows = parse_csv(client.get("/annuaire/export.csv").get_data(as_text=True))
    (cpam,) = [row for row in rows if row[1] == CPAM]
    cpam[6] = "04 68 11 22 33"
    rows.append(
        [
            "",
            "Pharmacie du Dôme",
            "pharmacie",
            "12 rue de Verdun",
            "11000",
            "Carcassonne",
            "05.65.36.73.87",
            "",
            "",
            "",
            "",
            "",
            "non",
        ]
    )
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)
    return (BOM + out.getvalue()).encode()


def test_an_edited_export_is_previewed_then_applied_on_confirmation(app, client, auth, admin):
    """Export, edit, import: the preview changes nothing; the confirmation updates and creates."""
    cpam = org_id(app, CPAM)
    content = edited_export(client)
    cpam_line = [n for n, row in enumerate(parse_csv(content.decode()), 1) if row[1] == CPAM][0]
    before = snapshot(app)
    preview = upload(auth, content)
    assert preview.status_code == 200
    text = page_text(preview)
    assert f"1 partenaire(s) à créer, 1 à modifier, {PROVISIONED - 1} inchangé(s)." in text
    assert table_rows(preview) == [
        f"<tr><td>{PROVISIONED + 2}</td><td>Création</td><td>Pharmacie du Dôme</td></tr>",
        f"<tr><td>{cpam_line}</td><td>Modification (n° {cpam})</td><td>{CPAM}</td></tr>",
    ]
    assert snapshot(app) == before

    confirmed = auth.post(f"/annuaire/import/{pending_import_id(preview)}/confirmer")
    assert confirmed.status_code == 303
    assert confirmed.location == "/annuaire"
    assert (
        f"Import terminé : 1 partenaire(s) créé(s), 1 modifié(s), {PROVISIONED - 1} inchangé(s)."
    ) in page_text(client.get("/annuaire"))
    assert organisation(app, CPAM).phone == "+33468112233"
    created = organisation(app, "Pharmacie du Dôme")
    assert (created.category, created.phone, created.postcode, created.active) == (
        "pharmacie",
        "+33565367387",
        "11000",
        True,
    )
    (event,) = events(app, "partner.import")
    assert (event.actor_id, event.summary) == (
        admin,
        f"Import CSV annuaire.csv : 1 créé(s), 1 modifié(s), {PROVISIONED - 1} inchangé(s)",
    )
    assert [e.summary for e in events(app, "partner.update")] == [f"{CPAM} : téléphone : — → 04 68 11 22 33"]
    assert count(app, PartnerImport) == 0


MALFORMED_LINES = {
    "wrong columns": (
        csv_file(";Pharmacie du Dôme;Pharmacie;Carcassonne", header="id;nom;categorie;ville"),
        (
            1,
            "—",
            f"Colonnes attendues : {HEADER} (manquantes : adresse, code_postal, commune, "
            "telephone, email, site_web, horaires, finess, notes, archive ; inconnues : ville).",
        ),
    ),
    "bad phone on line 3": (
        csv_file(
            csv_row(nom="Pharmacie du Dôme", categorie="Pharmacie"),
            csv_row(nom="Pharmacie de la Cité", categorie="Pharmacie", telephone="05 65"),
        ),
        (3, "telephone", phones.SHORT_MESSAGE),
    ),
    "duplicate id": (
        csv_file(
            csv_row(id="{cpam}", nom=CPAM, categorie="CPAM"),
            csv_row(id="{cpam}", nom=CPAM, categorie="CPAM", telephone="3646"),
        ),
        (3, "id", "Id {cpam} déjà présent ligne 2."),
    ),
    "unknown id": (
        csv_file(csv_row(id="9999", nom="Fantôme", categorie="Autre")),
        (2, "id", "Aucun partenaire n° 9999 : laissez l'id vide pour en créer un."),
    ),
    "unknown category": (
        csv_file(csv_row(nom="Boulangerie Sanchez", categorie="Boulangerie")),
        (2, "categorie", "Catégorie inconnue : 'Boulangerie' (ex. CPTS, DAC, Pharmacie)."),
    ),
    "too few columns": (
        csv_file("{cpam};CPAM de l'Aude;CPAM"),
        (2, "—", "3 colonnes au lieu de 13."),
    ),
}


@pytest.mark.parametrize("case", MALFORMED_LINES)
def test_a_malformed_import_lists_each_bad_line_and_changes_nothing(app, auth, admin, case):
    """422 with line, column and message; not a single row changes, nothing waits for confirmation."""
    content, (line, column, message) = MALFORMED_LINES[case]
    cpam = str(org_id(app, CPAM))
    before = snapshot(app)
    response = upload(auth, content.replace(b"{cpam}", cpam.encode()))
    assert response.status_code == 422
    assert line_errors(response) == [(line, column, message.replace("{cpam}", cpam))]
    assert "rien n'a été importé" in page_text(response)
    assert "Confirmer l'import" not in page_text(response)
    assert snapshot(app) == before
    assert count(app, PartnerImport) == 0


LATIN_1 = (
    csv_file(csv_row(nom="Pharmacie du Dôme", categorie="Pharmacie")).decode().encode("latin-1", "ignore")
)
MALFORMED_FILES = {
    "Latin-1": (
        LATIN_1,
        "Le fichier n'est pas encodé en UTF-8 (octet illisible à la position "
        f"{LATIN_1.index('ô'.encode('latin-1'))}). Dans Excel : « Enregistrer "
        "sous » → « CSV UTF-8 (délimité par des points-virgules) ».",
    ),
    "empty": (b"", "Le fichier est vide."),
    "BOM only": (BOM.encode() + b"\r\n", "Le fichier est vide."),
    "5 MB": (
        csv_file(csv_row(nom="Gros", categorie="Autre", notes="x" * 5 * 1024 * 1024)),
        "Fichier trop volumineux (5,0 Mo) : 2 Mo au plus.",
    ),
}


@pytest.mark.parametrize("case", MALFORMED_FILES)
def test_an_unreadable_file_is_refused_with_what_to_do(app, auth, admin, case):
    """The file itself is refused (422) with a French message under the field; nothing changes."""
    content, message = MALFORMED_FILES[case]
    before = snapshot(app)
    response = upload(auth, content)
    assert response.status_code == 422
    assert field_error(response, "file") == message
    assert snapshot(app) == before
    assert count(app, PartnerImport) == 0


def test_only_the_uploader_can_confirm_an_import(app, client, auth, admin, make_user):
    """Another admin gets a 404 for someone else's pending import, which stays intact."""
    preview = upload(auth, edited_export(client))
    pending = pending_import_id(preview)
    before = snapshot(app)

    other = AuthActions(app.test_client())
    other.login_as(make_user("admin"))
    assert other.post(f"/annuaire/import/{pending}/confirmer").status_code == 404
    assert snapshot(app) == before
    assert events(app, "partner.import") == []

    assert auth.post(f"/annuaire/import/{pending}/confirmer").status_code == 303
    assert organisation(app, "Pharmacie du Dôme") is not None


def test_an_import_made_invalid_since_the_preview_is_refused_at_confirmation(app, auth, admin):
    """The CPAM disappears between preview and confirmation: 409, the error, nothing applied."""
    cpam = org_id(app, CPAM)
    preview = upload(
        auth,
        csv_file(
            csv_row(id=str(cpam), nom=CPAM, categorie="CPAM", telephone="3646"),
            csv_row(nom="Pharmacie du Dôme", categorie="Pharmacie"),
        ),
    )
    assert preview.status_code == 200
    with app.app_context():
        db.session.execute(delete(PartnerOrganisation).where(PartnerOrganisation.id == cpam))
        db.session.commit()
    before = snapshot(app)

    response = auth.post(f"/annuaire/import/{pending_import_id(preview)}/confirmer")
    assert response.status_code == 409
    assert line_errors(response) == [
        (2, "id", f"Aucun partenaire n° {cpam} : laissez l'id vide pour en créer un.")
    ]
    assert snapshot(app) == before
    assert organisation(app, "Pharmacie du Dôme") is None
    assert events(app, "partner.import") == []


def test_an_import_flags_a_postcode_outside_the_departement_before_confirmation(app, auth, admin):
    """A new row in another département is accepted, but the preview asks to check it."""
    response = upload(
        auth,
        csv_file(
            csv_row(nom="Pharmacie du Causse", categorie="Pharmacie", code_postal="12000", commune="Rodez")
        ),
    )
    assert response.status_code == 200
    text = page_text(response)
    assert "À vérifier avant de confirmer" in text
    assert "ligne 2, code_postal : 12000 est hors du département du site (11)." in text
    assert "Confirmer l'import" in text


def test_a_persons_phone_is_checked_inline_too(auth, admin):
    """The add-a-person form checks its phone as the organisation's form does."""
    response = auth.post(
        "/annuaire/valider/personne/phone?prefixe=contact",
        {"contact-phone": "05 65"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "<html" not in response.get_data(as_text=True)
    assert field_error(response, "contact-phone") == phones.SHORT_MESSAGE
    assert (
        auth.post("/annuaire/valider/personne/phone?prefixe=autre", {"contact-phone": "05 65"}).status_code
        == 404
    )


def test_the_inline_postcode_check_knows_the_postcode_on_file(app, auth, admin):
    """Editing the ARS (Montpellier, 34067) does not ask to confirm its postcode again."""
    ars = org_id(app, "Agence Régionale de Santé Occitanie")
    kept = auth.post(f"/annuaire/valider/partenaire/postcode?fiche={ars}", {"postcode": "34067"})
    assert field_error(kept, "postcode") == ""
    moved = auth.post(f"/annuaire/valider/partenaire/postcode?fiche={ars}", {"postcode": "31000"})
    assert "hors du département du site (11)" in field_error(moved, "postcode")


def test_a_colleagues_edit_since_the_preview_is_never_overwritten(app, client, auth, admin):
    """The file changes a phone; a colleague edits that partner before the admin confirms:
    the confirmation refuses (409) and the colleague's edit stays."""
    cpam = org_id(app, CPAM)
    rows = parse_csv(client.get("/annuaire/export.csv").get_data(as_text=True))
    line = next(r for r in rows if r[0] == str(cpam))
    line[6] = "04 68 00 00 01"
    preview = upload(auth, csv_file(";".join(line)))
    assert preview.status_code == 200
    with app.app_context():
        db.session.get(PartnerOrganisation, cpam).notes = "Modifié par une collègue"
        db.session.commit()
    response = auth.post(f"/annuaire/import/{pending_import_id(preview)}/confirmer")
    assert response.status_code == 409
    assert "L'annuaire a changé depuis l'aperçu" in page_text(response)
    assert organisation(app, CPAM).notes == "Modifié par une collègue"
    assert organisation(app, CPAM).phone == ""
