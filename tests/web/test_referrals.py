"""Referrals: the partner's private form, staff entry, the triage queue and screen, duplicates.

The provisioned site comes from the "carcassonne" template (département 11, postcode prefix "11");
its directory holds "DAC de l'Aude", the partner whose private link these tests use.
"""

import html
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select

from dalia_site import clock
from dalia_site.domain import partners, referrals
from dalia_site.domain.text import POSTCODE_MESSAGE
from dalia_site.extensions import db
from dalia_site.models import (
    AuditEvent,
    OutboundEmail,
    PartnerOrganisation,
    PartnerReferralLink,
    Patient,
    Referral,
    StaffUser,
)
from dalia_site.referrals.routes import ADDRESS_LIMIT, LINK_LIMIT
from tests.conftest import csrf_from

DAC = "DAC de l'Aude"
HOSPITAL = "Centre hospitalier de Carcassonne"
INVALID_LINK = "Ce lien d'adressage n'est pas valide"
DUPLICATES_FIRST = (
    "Des patients existants correspondent à cette identité : confirmez d'abord s'il s'agit de l'un d'eux."
)
IDENTITY = {
    "last_name": "Rouquette",
    "first_names": "Odile Marie",
    "birth_name": "Fabre",
    "birth_date": date(1950, 3, 15),
    "sex": "F",
    "phone": "04 68 11 22 33",
    "email": "",
    "address": "3 rue de la Liberté",
    "postcode": "11000",
    "commune": "Carcassonne",
    "ald": "yes",
    "ald_label": "diabète de type 2",
    "gp_status": "none",
    "gp_name": "",
}
REFERRER = {
    "referrer_name": "Inès Barthe",
    "referrer_profession": "infirmière libérale",
    "referrer_phone": "",
    "referrer_email": "ines.barthe@exemple.fr",
}
REASON = "Plus de médecin traitant depuis son départ en retraite ; suivi à organiser."
# The partner's form as a browser sends it (dates as <input type="date"> sends them).
FORM = IDENTITY | {"birth_date": "1950-03-15"} | REFERRER | {"reason": REASON}
# What must never come back to a partner, nor go out in an e-mail.
PATIENT_TRACES = (
    "Rouquette",
    "ROUQUETTE",
    "Odile",
    "Fabre",
    "15/03/1950",
    "1950-03-15",
    "Liberté",
    "0468112233",
    "04 68 11 22 33",
    "diabète",
)


# --- helpers ------------------------------------------------------------------------------------


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def field_error(response, field: str) -> str:
    match = re.search(
        rf'<p class="error" id="{field}-erreur"[^>]*>(.*?)</p>', response.get_data(as_text=True), re.S
    )
    return html.unescape(match.group(1)) if match else ""


def csrf(client) -> str:
    """The session's CSRF token, as any page with a form gives it (here the login form)."""
    return csrf_from(client.get("/connexion", follow_redirects=True).get_data(as_text=True))


def send_form(client, token: str, csrf_token: str | None = None, **changes):
    """The partner's form sent through its link; `changes` replace fields (None leaves one out)."""
    data = {"csrf_token": csrf_token or csrf(client)} | FORM | changes
    return client.post(f"/adressage/{token}", data={k: v for k, v in data.items() if v is not None})


def stored(app) -> dict[str, int]:
    """How many referrals, patients and queued e-mails the database holds."""
    with app.app_context():
        return {
            model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Referral, Patient, OutboundEmail)
        }


def org_id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(select(PartnerOrganisation.id).where(PartnerOrganisation.name == name))


def load(app, model, object_id: int):
    with app.app_context():
        row = db.session.get(model, object_id)
        db.session.expunge(row)
        return row


def all_referrals(app) -> list[Referral]:
    with app.app_context():
        return db.session.scalars(select(Referral).order_by(Referral.id)).all()


def emails(app) -> list[OutboundEmail]:
    with app.app_context():
        return db.session.scalars(select(OutboundEmail).order_by(OutboundEmail.id)).all()


def make_referral(app, source: str | None = DAC, decision: str | None = None, **identity) -> int:
    """A referral received by phone from `source` (a direct access when None), decided if asked."""
    with app.app_context():
        org = db.session.scalar(select(PartnerOrganisation).where(PartnerOrganisation.name == source))
        referral = referrals.receive(
            db.session,
            None,
            "phone" if org else "direct",
            IDENTITY | identity,
            REFERRER,
            REASON,
            source=org,
            now=clock.now(),
            today=clock.today(ZoneInfo("Europe/Paris")),
        )
        if decision:
            referrals.decide(
                db.session,
                None,
                referral,
                decision,
                "Hors critères",
                "sas" if decision == "declined" else None,
                now=clock.now(),
            )
        db.session.commit()
        return referral.id


def make_patient(app, **identity) -> int:
    with app.app_context():
        patient = Patient(**IDENTITY | identity)
        patient.search_text = referrals.patient_search_text(patient)
        db.session.add(patient)
        db.session.commit()
        return patient.id


def row_ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="adressage-(\d+)">', response.get_data(as_text=True))]


def counters(response) -> dict[str, int]:
    """{"Nouveau": 2, "Accepté": 1, …} from the counters of the queue."""
    return {
        label: int(n) for label, n in re.findall(r">([^<>]+?) : <strong>(\d+)</strong>", page_text(response))
    }


def checklist(response) -> list[tuple[str, str, str, str]]:
    """(state, criterion, detail, what a screen reader says) for each line of the checklist."""
    return re.findall(
        r'<li class="state-(\w+)"><strong>(.*?)</strong> — (.*?)\s*'
        r'<span class="visually-hidden">\((.*?)\)</span></li>',
        page_text(response),
        re.S,
    )


@pytest.fixture
def dac_link(app) -> tuple[int, str]:
    """A private referral link of the DAC de l'Aude: (link id, token)."""
    with app.app_context():
        dac = db.session.scalar(select(PartnerOrganisation).where(PartnerOrganisation.name == DAC))
        link, token = partners.create_referral_link(db.session, None, dac, "Coordinatrices")
        db.session.commit()
        return link.id, token


# --- the partner's private link -----------------------------------------------------------------


def test_the_link_shows_the_form_with_the_partners_name(client, dac_link):
    response = client.get(f"/adressage/{dac_link[1]}")
    assert response.status_code == 200
    text = page_text(response)
    assert f"Formulaire réservé à <strong>{DAC}</strong>" in text
    assert '<form method="post" novalidate>' in text
    for label in ("Nom d'usage", "Date de naissance", "Votre e-mail", "Motif de l'adressage"):
        assert f">{label}" in text, label
    assert "Envoyer l'adressage" in text


def test_a_referral_through_the_link_gives_a_reference_and_nothing_back(app, client, dac_link):
    """201 with DAL-YYYY-NNNNN only; stored as from the DAC, through its link, which is marked used."""
    link_id, token = dac_link
    response = send_form(client, token)
    assert response.status_code == 201
    text = page_text(response)
    reference = re.search(r'<p class="reference">(DAL-\d{4}-\d{5})</p>', text).group(1)
    assert [t for t in PATIENT_TRACES if t in text] == []

    with app.app_context():
        (referral,) = db.session.scalars(select(Referral)).all()
        link = db.session.get(PartnerReferralLink, link_id)
        assert (referral.reference, referral.channel, referral.source_id, referral.link_id) == (
            reference,
            "link",
            org_id(app, DAC),
            link_id,
        )
        assert reference == f"DAL-{referral.received_at:%Y}-{referral.id:05d}"
        assert (referral.status, referral.patient_id, referral.received_by_id) == ("new", None, None)
        assert (referral.last_name, referral.birth_date, referral.phone) == (
            "Rouquette",
            date(1950, 3, 15),
            "+33468112233",  # E.164 (issue 17)
        )
        assert link.last_used_at == referral.received_at
    assert stored(app)["Patient"] == 0  # a patient exists only once triage resolves the identity


def test_the_referrer_gets_an_acknowledgement_by_reference_only(app, client, dac_link):
    response = send_form(client, dac_link[1])
    reference = re.search(r"DAL-\d{4}-\d{5}", page_text(response)).group(0)
    (email,) = emails(app)
    assert email.to == "ines.barthe@exemple.fr"
    assert reference in email.subject and reference in email.body
    assert [t for t in PATIENT_TRACES if t in email.subject + email.body] == []


@pytest.mark.parametrize("case", ["revoked", "unknown", "archived partner"])
def test_a_link_that_is_no_longer_valid_gets_a_clear_page_and_no_form(app, client, dac_link, case):
    """GET and POST answer 404 with a page that says so; a POST stores nothing."""
    link_id, token = dac_link
    with app.app_context():
        link = db.session.get(PartnerReferralLink, link_id)
        if case == "revoked":
            partners.revoke_referral_link(db.session, None, link, now=clock.now())
        elif case == "archived partner":
            partners.set_archived(
                db.session, None, db.session.get(PartnerOrganisation, link.organisation_id), True
            )
        db.session.commit()
    if case == "unknown":
        token = token[:-4] + "AAAA"
    before = stored(app)
    for response in (client.get(f"/adressage/{token}"), send_form(client, token)):
        assert response.status_code == 404
        text = page_text(response)
        assert f"<h1>{INVALID_LINK}</h1>" in text
        assert "Envoyer l'adressage" not in text and 'name="last_name"' not in text
        assert DAC not in text
    assert stored(app) == before


def test_a_burst_on_one_link_is_stopped_after_the_limit(app, client, dac_link):
    """Every POST counts, refused or not; the one after LINK_LIMIT gets a 429 and is not stored.
    Another link of the same partner, from the same address, still works."""
    link_id, token = dac_link
    token_csrf = csrf(client)
    for _ in range(LINK_LIMIT):
        assert send_form(client, token, token_csrf, last_name="").status_code == 422
    before = stored(app)
    refused = send_form(client, token, token_csrf)
    assert refused.status_code == 429
    assert "Trop de demandes" in page_text(refused)
    assert stored(app) == before

    with app.app_context():
        dac = db.session.get(PartnerOrganisation, org_id(app, DAC))
        _, other = partners.create_referral_link(db.session, None, dac, "Autre équipe")
        db.session.commit()
    assert send_form(client, other, token_csrf).status_code == 201


def test_unknown_links_from_one_address_are_stopped_after_the_limit(client):
    """Guessing tokens: ADDRESS_LIMIT 404s, then 429; another address is not affected."""
    for n in range(ADDRESS_LIMIT):
        assert client.get(f"/adressage/devine-{n}").status_code == 404
    assert client.get("/adressage/devine-encore").status_code == 429
    elsewhere = client.get("/adressage/devine-encore", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert elsewhere.status_code == 404


TOMORROW = (clock.today(ZoneInfo("Europe/Paris")) + timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"birth_date": TOMORROW}, "birth_date", "La date de naissance ne peut pas être dans le futur."),
        ({"birth_date": "1899-12-31"}, "birth_date", "La date de naissance doit être postérieure à 1900."),
        ({"birth_date": "31/02/1950"}, "birth_date", "Date invalide : jj/mm/aaaa attendu (ex. 22/11/2026)."),
        ({"postcode": "1100"}, "postcode", POSTCODE_MESSAGE),
        ({"last_name": "  "}, "last_name", "Le nom est obligatoire."),
        ({"first_names": ""}, "first_names", "Le prénom est obligatoire."),
        ({"sex": None}, "sex", "Indiquez le sexe."),
        ({"reason": "x" * 10240}, "reason", "1000 caractères au plus (10240 saisis)."),
        (
            {"referrer_phone": "", "referrer_email": ""},
            "referrer_phone",
            "Indiquez un téléphone ou un e-mail pour vous joindre.",
        ),
    ],
    ids=[
        "future birth",
        "before 1900",
        "unreadable date",
        "postcode",
        "no last name",
        "no first name",
        "no sex",
        "10 KB reason",
        "no way to reach the referrer",
    ],
)
def test_bad_input_on_the_public_form_says_why_and_stores_nothing(
    app, client, dac_link, changes, field, message
):
    before = stored(app)
    response = send_form(client, dac_link[1], **changes)
    assert response.status_code == 422
    assert field_error(response, field) == message
    assert "Le formulaire contient des erreurs" in page_text(response)
    assert stored(app) == before
    with app.app_context():
        assert db.session.get(PartnerReferralLink, dac_link[0]).last_used_at is None


def test_the_public_form_without_csrf_token_is_refused(app, client, dac_link):
    client.get(f"/adressage/{dac_link[1]}")
    before = stored(app)
    response = client.post(f"/adressage/{dac_link[1]}", data=FORM)
    assert response.status_code == 400
    assert "Le formulaire a expiré" in page_text(response)
    assert stored(app) == before


# --- staff entry --------------------------------------------------------------------------------


@pytest.mark.parametrize(("channel", "stored_channel"), [("phone", "phone"), ("fax", "fax")])
def test_an_assistant_records_a_referral_received_from_a_partner(
    app, client, auth, as_role, channel, stored_channel
):
    """A partner chosen: the channel is how it came."""
    user = as_role("assistant")
    dac = org_id(app, DAC)
    response = auth.post("/adressages/nouveau", FORM | {"source_id": str(dac), "channel": channel})
    assert response.status_code == 303
    (referral,) = all_referrals(app)
    assert response.location == f"/adressages/{referral.id}"
    assert (referral.channel, referral.source_id, referral.received_by_id, referral.link_id) == (
        stored_channel,
        dac,
        user.id,
        None,
    )
    assert f"Adressage {referral.reference} enregistré." in page_text(client.get(response.location))


def test_a_direct_access_needs_no_referrer(app, auth, as_role):
    """No partner chosen: a direct access, without referrer nor reason; no e-mail to send."""
    as_role("assistant")
    data = IDENTITY | {"birth_date": "1950-03-15", "source_id": "", "channel": "phone"}
    response = auth.post("/adressages/nouveau", data)
    assert response.status_code == 303
    (referral,) = all_referrals(app)
    assert (referral.channel, referral.source_id, referral.referrer_name, referral.reason) == (
        "direct",
        None,
        "",
        "",
    )
    assert stored(app)["OutboundEmail"] == 0


def test_the_assistant_asks_the_reminder_channel_and_acceptance_carries_it(app, client, auth, as_role):
    """Issue 17: the entry form asks SMS / e-mail / aucun rappel (empty: proposed at acceptance);
    a channel that cannot reach the details typed is the field's error, nothing stored."""
    as_role("assistant")
    page = page_text(client.get("/adressages/nouveau"))
    assert "Rappels de rendez-vous" in page and "Proposé automatiquement" in page
    refused = auth.post(
        "/adressages/nouveau", FORM | {"channel": "phone", "reminder_channel": "email", "email": ""}
    )
    assert refused.status_code == 422
    assert (
        field_error(refused, "reminder_channel")
        == "Un rappel par e-mail demande une adresse e-mail ci-dessus."
    )
    assert all_referrals(app) == []

    recorded = auth.post("/adressages/nouveau", FORM | {"channel": "phone", "reminder_channel": "none"})
    assert recorded.status_code == 303
    (referral,) = all_referrals(app)
    assert referral.reminder_channel == "none"
    assert "Aucun rappel (choisi à l'enregistrement)" in page_text(client.get(recorded.location))
    accepted = auth.post(f"/adressages/{referral.id}/decision", {"decision": "accepted"})
    assert accepted.status_code == 303
    with app.app_context():
        patient = db.session.get(Patient, db.session.get(Referral, referral.id).patient_id)
        assert patient.reminder_channel == "none"


def test_a_staff_referral_from_an_unknown_partner_is_refused(app, auth, as_role):
    """A partner id that no longer exists is an error under the field, not a direct access."""
    as_role("assistant")
    response = auth.post("/adressages/nouveau", FORM | {"source_id": "99999", "channel": "phone"})
    assert response.status_code == 422
    assert field_error(response, "source_id") == "Partenaire inconnu ou archivé."
    assert all_referrals(app) == []


def test_a_staff_entry_cannot_claim_to_come_through_a_partners_link(app, auth, as_role):
    """ "Lien partenaire" is not among the channels offered at the desk: a referral marked as
    received through a link must have come through one."""
    as_role("assistant")
    response = auth.post(
        "/adressages/nouveau", FORM | {"source_id": str(org_id(app, DAC)), "channel": "link"}
    )
    assert response.status_code == 422
    assert field_error(response, "channel")
    assert all_referrals(app) == []


def test_a_clinician_cannot_record_a_referral(app, client, auth, as_role):
    as_role("clinician")
    assert client.get("/adressages/nouveau").status_code == 403
    response = auth.post("/adressages/nouveau", FORM | {"source_id": ""})
    assert response.status_code == 403
    assert all_referrals(app) == []


# --- the triage queue ---------------------------------------------------------------------------


@pytest.fixture
def queue(app):
    """Four referrals: new from the DAC, new direct, accepted from the DAC, waiting from the
    hospital."""
    return {
        "new dac": make_referral(app, DAC, last_name="Abadie", birth_name=""),
        "new direct": make_referral(app, None, last_name="Bonnet", birth_name=""),
        "accepted dac": make_referral(app, DAC, "accepted", last_name="Cazals", birth_name=""),
        "waiting hospital": make_referral(app, HOSPITAL, "waiting_list", last_name="Durand", birth_name=""),
    }


def test_the_queue_filters_by_status_and_source_and_counts(app, client, as_role, queue):
    as_role("assistant")
    dac = org_id(app, DAC)
    expected = {
        "": {"new dac", "new direct"},  # new by default
        "statut=new": {"new dac", "new direct"},
        "statut=accepted": {"accepted dac"},
        "statut=tous": set(queue),
        "statut=tous&source=direct": {"new direct"},
        f"statut=tous&source={dac}": {"new dac", "accepted dac"},
        f"statut=new&source={dac}": {"new dac"},
    }
    by_id = {v: k for k, v in queue.items()}
    for query, names in expected.items():
        response = client.get(f"/adressages?{query}")
        assert response.status_code == 200
        assert {by_id[i] for i in row_ids(response)} == names, query
    assert counters(client.get("/adressages")) == {
        "Nouveau": 2,
        "Accepté": 1,
        "Liste d'attente": 1,
        "Refusé": 0,
    }


def test_the_counters_stop_at_a_thousand_so_ten_years_of_referrals_cost_nothing(app, client, as_role, queue):
    """Ten years of accepted referrals are not triage's business: past 1000 the counter says so
    (and counting stops there); the open statuses keep their exact counts."""
    table = Referral.__table__
    copied = [c for c in table.columns if c.name not in ("id", "reference")]
    with app.app_context():
        accepted = db.session.execute(select(*copied).where(table.c.id == queue["accepted dac"])).one()
        db.session.execute(insert(table), [accepted._asdict()] * 1000)
        db.session.commit()
    as_role("assistant")
    body = page_text(client.get("/adressages"))
    assert "Accepté : <strong>plus de 1000</strong>" in body
    assert counters(client.get("/adressages")) == {"Nouveau": 2, "Liste d'attente": 1, "Refusé": 0}


def test_an_htmx_filter_gets_only_the_rows(client, as_role, queue):
    as_role("clinician")
    response = client.get("/adressages?statut=tous&source=direct", headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body and 'class="counters"' not in body and 'class="filters"' not in body
    assert row_ids(response) == [queue["new direct"]]
    assert "HX-Request" in response.headers["Vary"]


def test_a_queue_row_fetches_its_refusal_form_when_refuser_is_opened(app, client, as_role, queue):
    """Each row's « Refuser » holds a link to the referral's page (without JavaScript) that htmx
    replaces by the refusal form when opened; the form posts back into the row."""
    as_role("clinician")
    rid = queue["new dac"]
    page = page_text(client.get("/adressages"))
    assert f'hx-get="/adressages/{rid}/refus" hx-trigger="toggle once"' in page
    assert f'<a href="/adressages/{rid}#refuser">Refuser depuis la page de l\'adressage</a>' in page
    assert f'id="decline_code-{rid}"' not in page  # not in the queue until asked for
    response = client.get(f"/adressages/{rid}/refus", headers={"HX-Request": "true"})
    assert response.status_code == 200
    form = page_text(response)
    assert "<html" not in form and form.strip().startswith(
        f'<form method="post" action="/adressages/{rid}/decision"'
    )
    assert f'hx-post="/adressages/{rid}/decision" hx-target="#adressage-{rid}"' in form
    assert 'name="csrf_token" value="' in form
    assert f'<select id="decline_code-{rid}" name="decline_code">' in form and "Refuser et orienter" in form
    assert 'id="refuser"' in page_text(client.get(f"/adressages/{rid}"))  # where the link leads
    decided = client.get(f"/adressages/{queue['accepted dac']}/refus", headers={"HX-Request": "true"})
    assert decided.status_code == 409 and "déjà été décidé" in page_text(decided)
    assert client.get("/adressages/999999/refus").status_code == 404


def test_an_inline_accept_returns_the_row_and_refreshes_the_counters(app, client, auth, as_role, queue):
    as_role("assistant")
    rid = queue["new dac"]
    response = auth.post(
        f"/adressages/{rid}/decision", {"decision": "accepted"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    body = page_text(response).strip()
    assert "<html" not in body
    assert body.startswith(f'<tr id="adressage-{rid}">') and body.endswith("</tr>")
    assert "<td>Accepté</td>" in body and "Accepter" not in body
    assert response.headers["HX-Trigger"] == "referrals-changed"

    referral = load(app, Referral, rid)
    assert referral.status == "accepted" and referral.patient_id is not None
    assert load(app, Patient, referral.patient_id).status == "follow_up"
    refreshed = client.get("/adressages/compteurs", headers={"HX-Request": "true"})
    assert "<html" not in refreshed.get_data(as_text=True)
    assert counters(refreshed) == {"Nouveau": 1, "Accepté": 2, "Liste d'attente": 1, "Refusé": 0}


@pytest.mark.parametrize(
    ("data", "messages"),
    [
        (
            {},
            {
                "decline_code": "Choisissez le motif du refus.",
                "orientation": "Indiquez vers qui le patient est orienté.",
            },
        ),
        (
            {"decline_code": "other", "orientation": "sas"},
            {"decline_reason": "Précisez le motif du refus."},
        ),
        ({"decline_reason": "Hors territoire"}, {"orientation": "Indiquez vers qui le patient est orienté."}),
        (
            {
                "decline_reason": "Hors territoire",
                "orientation": "partner",
                "orientation_partner": "Boulangerie Sanchez",
            },
            {"orientation_partner": "Choisissez le partenaire de l'annuaire."},
        ),
        (
            {"decline_reason": "Hors territoire", "orientation": "other"},
            {"orientation_detail": "Précisez l'orientation."},
        ),
    ],
    ids=["nothing", "other without text", "no orientation", "unknown partner", "other without detail"],
)
def test_an_inline_decline_says_what_is_missing_in_the_row(app, auth, as_role, queue, data, messages):
    """422: the row comes back with each message under its field; nothing is decided or sent."""
    as_role("assistant")
    rid = queue["new dac"]
    before = stored(app)
    response = auth.post(
        f"/adressages/{rid}/decision", {"decision": "declined", **data}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "<html" not in body and body.strip().startswith(f'<tr id="adressage-{rid}">')
    assert "<details open>" in body
    shown = {
        f: field_error(response, f"{f}-{rid}")
        for f in (
            "decline_code",
            "decline_reason",
            "orientation",
            "orientation_partner",
            "orientation_detail",
        )
    }
    assert {f: m for f, m in shown.items() if m} == messages
    assert load(app, Referral, rid).status == "new"
    assert stored(app) == before


def test_a_decline_to_the_sas_is_recorded_and_told_by_reference_only(app, client, auth, as_role, queue):
    user = as_role("assistant")
    rid = queue["new dac"]
    response = auth.post(
        f"/adressages/{rid}/decision",
        {
            "decision": "declined",
            "decline_code": "urgent",
            "decline_reason": "Besoin de soins non programmés",
            "orientation": "sas",
        },
    )
    assert response.status_code == 303
    assert response.location == f"/adressages/{rid}"
    referral = load(app, Referral, rid)
    assert (
        referral.status,
        referral.decline_code,
        referral.orientation,
        referral.decline_reason,
        referral.decided_by_id,
    ) == ("declined", "urgent", "sas", "Besoin de soins non programmés", user.id)
    assert load(app, Patient, referral.patient_id).status == "declined"

    decision = emails(app)[-1]
    assert decision.to == "ines.barthe@exemple.fr"
    assert referral.reference in decision.subject and referral.reference in decision.body
    assert "Orientation proposée : SAS (soins non programmés)." in decision.body
    assert [t for t in ("Abadie", "ABADIE", *PATIENT_TRACES) if t in decision.subject + decision.body] == []
    text = page_text(client.get(response.location))
    assert f"Adressage {referral.reference} : refusé." in text
    assert "<dt>Orientation</dt><dd>SAS (soins non programmés)</dd>" in text
    assert "<dt>Motif du refus</dt><dd>Relève de l" in text
    assert "urgence / du SAS : Besoin de soins non programmés</dd>" in text


def test_a_decline_to_a_partner_names_it(app, client, auth, as_role, queue):
    """The partner typed from the suggestions is the one of the directory, named in the e-mail."""
    as_role("clinician")
    rid = queue["new direct"]
    page = page_text(client.get(f"/adressages/{rid}"))
    assert 'hx-get="/annuaire/suggestions"' in page and '<datalist id="partenaires">' in page
    typed = DAC.split()[0][:4].lower()  # a few letters typed in the field
    suggested = page_text(
        client.get(
            "/annuaire/suggestions",
            query_string={"orientation_partner": typed},
            headers={"HX-Request": "true"},
        )
    )
    assert f'<option value="{DAC}">' in suggested and "<html" not in suggested
    response = auth.post(
        f"/adressages/{rid}/decision",
        {
            "decision": "declined",
            "decline_reason": "Situation complexe à domicile",
            "orientation": "partner",
            "orientation_partner": DAC,
            "orientation_detail": "appel fait",
        },
    )
    assert response.status_code == 303
    referral = load(app, Referral, rid)
    assert (referral.orientation, referral.orientation_partner_id) == ("partner", org_id(app, DAC))
    assert f"Orientation proposée : {DAC}." in emails(app)[-1].body
    assert f"<dt>Orientation</dt><dd>{DAC} — appel fait</dd>" in page_text(client.get(f"/adressages/{rid}"))


# --- the triage screen --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        (
            {},
            [
                ("met", "Habite le territoire", "code postal 11000 dans la zone du site", "rempli"),
                ("met", "Affection de longue durée (ALD)", "diabète de type 2", "rempli"),
                ("met", "Sans médecin traitant", "aucun médecin traitant déclaré", "rempli"),
            ],
        ),
        (
            {
                "postcode": "12000",
                "commune": "Rodez",
                "ald": "unknown",
                "ald_label": "",
                "gp_status": "has",
                "gp_name": "Dr Vidal",
            },
            [
                ("not_met", "Habite le territoire", "12000 Rodez hors de la zone du site", "non rempli"),
                ("unknown", "Affection de longue durée (ALD)", "à vérifier (ALD probable ?)", "à vérifier"),
                ("not_met", "Sans médecin traitant", "médecin traitant : Dr Vidal", "non rempli"),
            ],
        ),
    ],
    ids=["eligible", "outside, ALD unknown, has a GP"],
)
def test_the_triage_screen_shows_the_eligibility_checklist(app, client, as_role, identity, expected):
    as_role("clinician")
    rid = make_referral(app, **identity)
    response = client.get(f"/adressages/{rid}")
    assert response.status_code == 200
    assert checklist(response) == expected


def test_viewing_a_referral_is_audited_with_the_viewers_name(app, client, as_role):
    rid = make_referral(app)
    user = as_role("assistant")
    client.get(f"/adressages/{rid}")
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.object_id, AuditEvent.summary, StaffUser.name)
            .join(StaffUser, AuditEvent.actor_id == StaffUser.id)
            .where(AuditEvent.action == "referral.view")
        ).all()
        reference = db.session.get(Referral, rid).reference
    assert [tuple(r) for r in rows] == [(str(rid), f"Consultation de l'adressage {reference}", user.name)]


# --- duplicates ---------------------------------------------------------------------------------

SAINT_ETIENNE = {
    "last_name": "SAINT-ÉTIENNE",
    "first_names": "Jean-Pierre",
    "birth_name": "",
    "birth_date": date(1948, 2, 1),
    "sex": "M",
}


@pytest.fixture
def duplicate(app):
    """An existing Jean-Pierre SAINT-ÉTIENNE (discharged), a Paul MARTY born the same day, and a
    new referral for "saint etienne / jean pierre" born that day too."""
    return {
        "existing": make_patient(app, **SAINT_ETIENNE, status="discharged"),
        "other": make_patient(app, **SAINT_ETIENNE | {"last_name": "MARTY", "first_names": "Paul"}),
        "referral": make_referral(
            app, **SAINT_ETIENNE | {"last_name": "saint etienne", "first_names": "jean pierre"}
        ),
    }


def test_a_probable_duplicate_is_listed_and_decided_only_once_resolved(app, client, auth, as_role, duplicate):
    as_role("assistant")
    rid, existing = duplicate["referral"], duplicate["existing"]
    text = page_text(client.get(f"/adressages/{rid}"))
    assert "1 patient existant correspond à cette identité." in text
    assert "SAINT-ÉTIENNE Jean-Pierre, né le 01/02/1948" in text and "MARTY" not in text
    assert "C'est ce patient : rattacher" in text

    refused = auth.post(f"/adressages/{rid}/decision", {"decision": "accepted"})
    assert refused.status_code == 422
    assert DUPLICATES_FIRST in page_text(refused)
    assert load(app, Referral, rid).status == "new"
    assert stored(app)["Patient"] == 2

    attached = auth.post(f"/adressages/{rid}/rattacher", {"patient_id": str(existing)})
    assert attached.status_code == 303 and attached.location == f"/adressages/{rid}"
    assert load(app, Referral, rid).patient_id == existing
    assert "Adressage rattaché au patient existant." in page_text(client.get(attached.location))

    accepted = auth.post(f"/adressages/{rid}/decision", {"decision": "accepted"})
    assert accepted.status_code == 303
    assert load(app, Referral, rid).status == "accepted"
    assert load(app, Patient, existing).status == "follow_up"
    assert stored(app)["Patient"] == 2


def test_a_referral_that_matches_nobody_after_all_gets_a_new_patient(app, auth, as_role, duplicate):
    as_role("assistant")
    rid = duplicate["referral"]
    response = auth.post(f"/adressages/{rid}/rattacher", {"patient_id": "nouveau"})
    assert response.status_code == 303
    patient_id = load(app, Referral, rid).patient_id
    assert patient_id not in (None, duplicate["existing"], duplicate["other"])
    assert load(app, Patient, patient_id).last_name == "saint etienne"
    assert stored(app)["Patient"] == 3


@pytest.mark.parametrize("chosen", ["other", "99999", "n'importe quoi"])
def test_attaching_to_a_patient_who_is_not_a_match_is_refused(app, auth, as_role, duplicate, chosen):
    as_role("assistant")
    rid = duplicate["referral"]
    response = auth.post(f"/adressages/{rid}/rattacher", {"patient_id": str(duplicate.get(chosen, chosen))})
    assert response.status_code == 400
    assert load(app, Referral, rid).patient_id is None
    assert stored(app)["Patient"] == 2


def test_a_direct_access_with_a_partner_is_refused(app, auth, as_role):
    """'Accès direct' as the channel with a partner chosen is a contradiction: nothing stored."""
    as_role("assistant")
    response = auth.post(
        "/adressages/nouveau", FORM | {"source_id": str(org_id(app, DAC)), "channel": "direct"}
    )
    assert response.status_code == 422
    assert "Un accès direct n'a pas de partenaire" in page_text(response)
    assert all_referrals(app) == []


def test_a_birth_date_typed_the_french_way_is_understood(app, client, dac_link):
    """22/11/1950 works as well as the date picker's 1950-11-22 (browsers without one)."""
    page = client.get(f"/adressage/{dac_link[1]}")
    response = client.post(
        f"/adressage/{dac_link[1]}",
        data=FORM | {"csrf_token": csrf_from(page.get_data(as_text=True)), "birth_date": "22/11/1950"},
    )
    assert response.status_code == 201
    (referral,) = all_referrals(app)
    assert referral.birth_date == date(1950, 11, 22)


# --- Issue 17: no accepted patient is unreachable ----------------------------------------------


def _unreachable_referral(app, with_referrer: bool = True) -> int:
    with app.app_context():
        referral = referrals.receive(
            db.session,
            None,
            "phone",
            {
                "last_name": "Sansnumero",
                "first_names": "Jeanne",
                "birth_date": date(1948, 5, 2),
                "sex": "F",
                "postcode": "11000",
                "ald": "yes",
                "gp_status": "none",
            },
            {"referrer_name": "Mme Infirmière", "referrer_phone": "04 68 11 22 33"} if with_referrer else {},
            "",
            today=clock.today(ZoneInfo("Europe/Paris")),
            now=datetime.now(UTC),
        )
        db.session.commit()
        return referral.id


def test_accepting_a_referral_without_any_contact_asks_for_one(app, as_role, auth, client):
    as_role("assistant")
    referral_id = _unreachable_referral(app)
    page = client.get(f"/adressages/{referral_id}").get_data(as_text=True)
    assert "Comment joindre le patient ?" in page and "Joignable par le référent" in page

    refused = auth.post(f"/adressages/{referral_id}/decision", {"decision": "accepted"})
    assert refused.status_code == 422
    assert "indiquez au moins un moyen de joindre le patient" in refused.get_data(as_text=True)

    accepted = auth.post(
        f"/adressages/{referral_id}/decision", {"decision": "accepted", "phone": "06 12 34 56 78"}
    )
    assert accepted.status_code == 303
    with app.app_context():
        patient = db.session.get(Patient, db.session.get(Referral, referral_id).patient_id)
        assert (patient.phone, patient.reminder_channel) == ("+33612345678", "sms")


def test_reachable_through_the_referrer_is_an_explicit_choice(app, as_role, auth):
    as_role("assistant")
    referral_id = _unreachable_referral(app)
    accepted = auth.post(f"/adressages/{referral_id}/decision", {"decision": "accepted", "via_referrer": "y"})
    assert accepted.status_code == 303
    with app.app_context():
        patient = db.session.get(Patient, db.session.get(Referral, referral_id).patient_id)
        assert patient.reachable_via_referrer and patient.reminder_channel == "none"


def test_each_row_of_the_queue_has_its_own_decision_forms_whatever_its_kind(app, client, as_role, queue):
    """The queue writes a row's decision forms once per kind of row (reachable or not, with a
    referrer to go through or not) and puts each row's number and reference in: every row's forms
    post to its own referral, its fields are its own, the referrer is offered on its row only."""
    as_role("assistant")
    lone, through = _unreachable_referral(app, with_referrer=False), _unreachable_referral(app)
    rows = {
        int(rid): row
        for rid, row in re.findall(
            r'<tr id="adressage-(\d+)">(.*?)</tr>', client.get("/adressages").get_data(as_text=True), re.S
        )
    }
    for rid in (queue["new dac"], queue["new direct"], lone, through):
        reference = load(app, Referral, rid).reference
        row = rows[rid]
        assert row.count(f'action="/adressages/{rid}/decision"') == 2  # accept, waiting list
        assert row.count(f"l'adressage {reference}</span>") == 3  # accept, waiting list, refuse
        assert str(2**31 - 1) not in row and "RÉFÉRENCE" not in row
    for rid in (lone, through):
        assert f'id="phone-{rid}"' in rows[rid] and f'id="email-{rid}"' in rows[rid]
    assert 'id="phone-' not in rows[queue["new dac"]]
    assert (
        f'id="via_referrer-{through}"' in rows[through] and "Mme Infirmière, 04 68 11 22 33" in rows[through]
    )
    assert "via_referrer" not in rows[lone]
