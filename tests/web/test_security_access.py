"""Security across objects, roles and sites: what an attacker or a curious user would try.

tests/web/test_access.py already checks every endpoint of app.url_map for anonymous visitors and
for each role, with sample ids (mostly of objects that do not exist): the role guard answers before
any object is read. The tests here add what that sweep cannot see:

- object-level access: real ids of real patients, appointments, referrals and team members, and
  the traces (audit events, stored rows) a refused request must not leave;
- the partner's private link once revoked, or never issued;
- ids of objects that do not exist: a French 404, never a server error;
- two sites served side by side: a session of one is nobody on the other;
- the reporting role, on every page it may open (generated from app.url_map), never reads a
  patient's identity, even though the figures count those patients.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import unquote_plus
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from dalia_site import clock, create_app
from dalia_site.access import access_rule
from dalia_site.domain import booking, partners, planning, referrals, reminders, roster
from dalia_site.extensions import db
from dalia_site.models import (
    Appointment,
    AuditEvent,
    OutboundEmail,
    PartnerContact,
    PartnerOrganisation,
    PartnerReferralLink,
    Patient,
    PatternException,
    Referral,
    Shift,
    StaffUser,
    TeamMember,
    WeeklyPattern,
)
from dalia_site.models.types import clock_at
from tests.conftest import ADMIN_EMAIL, PASSWORD, AuthActions, csrf_from
from tests.web.test_access import EXPECTED, PUBLIC, URL_VALUES

PARIS = ZoneInfo("Europe/Paris")
MORNING = (time(8, 30), time(12, 30))
DAC = "DAC de l'Aude"
MISSING = 2**31 - 1  # a valid id for the database, of an object that does not exist
REFUSED = "Votre rôle ne permet pas d'accéder à cette page."
INVALID_LINK = "Ce lien d'adressage n'est pas valide"
MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
_databases = itertools.count(1)

# Patients whose every trace is unlikely to appear anywhere else in a page.
VIALARET = {
    "last_name": "Vialaret",
    "first_names": "Zéphirine Aubeline",
    "birth_name": "Escandeleau",
    "birth_date": date(1937, 11, 29),
    "sex": "F",
    "phone": "04 68 91 27 53",
    "email": "zephirine.vialaret@exemple.fr",
    "address": "17 impasse des Tisserands",
    "postcode": "11000",
    "commune": "Carcassonne",
    "ald": "yes",
    "ald_label": "insuffisance cardiaque",
    "gp_status": "none",
    "gp_name": "",
}
BOUSQUAIROL = {
    "last_name": "Bousquairol",
    "first_names": "Anselme",
    "birth_name": "",
    "birth_date": date(1944, 6, 8),
    "sex": "M",
    "phone": "04 68 35 80 42",
    "email": "",
    "address": "2 chemin de Peyriac",
    "postcode": "11000",
    "commune": "Carcassonne",
    "ald": "no",
    "ald_label": "",
    "gp_status": "none",
    "gp_name": "",
}
# Received, not yet triaged: an identity held by a referral only.
TARBOURIECH = {
    "last_name": "Tarbouriech",
    "first_names": "Euphrasie",
    "birth_name": "Cathala",
    "birth_date": date(1929, 2, 17),
    "sex": "F",
    "phone": "06 71 44 19 86",
    "email": "",
    "address": "",
    "postcode": "11000",
    "commune": "Carcassonne",
    "ald": "unknown",
    "ald_label": "",
    "gp_status": "none",
    "gp_name": "",
}
REFERRER = {
    "referrer_name": "Inès Barthe",
    "referrer_profession": "infirmière libérale",
    "referrer_phone": "",
    "referrer_email": "ines.barthe@exemple.fr",
}
# The partner's form as a browser sends it.
PARTNER_FORM = (
    VIALARET
    | {"birth_date": "1937-11-29"}
    | REFERRER
    | {"reason": "Sortie d'hospitalisation, plus de médecin traitant."}
)


# --- helpers ------------------------------------------------------------------------------------


def body(response) -> str:
    return response.get_data(as_text=True)


def readings(response) -> str:
    """Everything a reader could decode from a response: the raw text, its HTML entities and URL
    escapes decoded, a JSON body with its \\u escapes decoded — all case-folded."""
    raw = body(response)
    seen = [raw, html.unescape(raw), unquote_plus(raw)]
    if response.mimetype == "application/json":
        seen.append(json.dumps(json.loads(raw), ensure_ascii=False))
    return "\n".join(seen).casefold()


def identity_traces(identity: dict) -> list[str]:
    """How a patient's identity can show: names, birth date in three formats, phone two ways."""
    birth = identity["birth_date"]
    phone = identity["phone"]
    traces = [
        identity["last_name"],
        *identity["first_names"].split(),
        identity["birth_name"],
        f"{birth:%d/%m/%Y}",
        birth.isoformat(),
        f"{birth.day} {MONTHS_FR[birth.month - 1]} {birth.year}",
        phone,
        phone.replace(" ", ""),
        identity["email"],
        identity["address"],
    ]
    return [t for t in traces if t]


TRACES = [t for identity in (VIALARET, BOUSQUAIROL, TARBOURIECH) for t in identity_traces(identity)]


def leaks(response, traces=TRACES) -> list[str]:
    seen = readings(response)
    return [t for t in traces if t.casefold() in seen]


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def counts(app) -> dict[str, int]:
    """How many rows of each kind of data a refused request must leave untouched."""
    return {
        model.__name__: count(app, model)
        for model in (
            Patient,
            Referral,
            Appointment,
            Shift,
            WeeklyPattern,
            PatternException,
            PartnerOrganisation,
            PartnerContact,
            PartnerReferralLink,
            StaffUser,
            TeamMember,
            OutboundEmail,
            AuditEvent,
        )
    }


def audit_actions(app, *actions: str) -> list[tuple[str, str | None]]:
    with app.app_context():
        return [
            tuple(row)
            for row in db.session.execute(
                select(AuditEvent.action, AuditEvent.object_id)
                .where(AuditEvent.action.in_(actions))
                .order_by(AuditEvent.id)
            )
        ]


def csrf_token(client) -> str:
    return csrf_from(body(client.get("/connexion", follow_redirects=True)))


def send(client, method: str, url: str, token: str, **kwargs):
    if method == "POST":
        return client.post(url, data={"csrf_token": token}, **kwargs)
    return client.open(url, method=method, **kwargs)


def urls_for(app, values: dict, keep=lambda endpoint, method: True):
    """(endpoint, method, url) for every rule of app.url_map, arguments filled from `values`
    (a dict, or a function of the endpoint giving one)."""
    found = []
    for rule in app.url_map.iter_rules():
        filled = values(rule.endpoint) if callable(values) else values
        url = rule.build({arg: filled[arg] for arg in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if keep(rule.endpoint, method):
                found.append((rule.endpoint, method, url))
    return found


def is_login_redirect(response) -> bool:
    if response.status_code == 401:
        return response.headers.get("HX-Redirect", "").startswith("/connexion")
    return response.status_code in (302, 303) and response.location.startswith("/connexion")


def first_weekday_of(month_start: date, weekday: int) -> date:
    return month_start + timedelta(days=(weekday - month_start.weekday()) % 7)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS)


# --- a centre with patients, appointments, a team and private links -----------------------------


@dataclass
class Clinic:
    patient_ids: tuple[int, ...]
    referral_ids: tuple[int, ...]  # of VIALARET, BOUSQUAIROL, TARBOURIECH
    references: tuple[str, ...]
    past_appointment_id: int
    future_appointment_id: int
    doctor_id: int
    nurse_id: int
    shift_id: int
    pattern_id: int
    org_id: int
    contact_id: int
    link_id: int
    link_token: str
    calendar_token: str
    answer_token: str  # the patient's own page of the future appointment (« Votre rendez-vous »)
    admin_id: int
    period: dict[str, str] = field(default_factory=dict)

    def url_values(self, endpoint: str = "") -> dict:
        token = {
            "roster.calendar_feed": self.calendar_token,
            "answers.appointment": self.answer_token,
        }.get(endpoint, self.link_token)
        return URL_VALUES | {
            "patient_id": self.patient_ids[0],
            "referral_id": self.referral_ids[0],
            "appointment_id": self.future_appointment_id,
            "member_id": self.doctor_id,
            "shift_id": self.shift_id,
            "pattern_id": self.pattern_id,
            "org_id": self.org_id,
            "contact_id": self.contact_id,
            "link_id": self.link_id,
            "user_id": self.admin_id,
            "token": token,
        }


@pytest.fixture
def clinic(app) -> Clinic:
    """Three identities seeded through the domain, as the app records them: two patients admitted
    (one referred by the DAC, one who came directly), booked last month (one came, one did not);
    one referral waiting for triage; a booked appointment ahead; a doctor with a calendar feed;
    a private referral link."""
    today = datetime.now(PARIS).date()
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    seen_on = first_weekday_of(last_month, 1)  # a Tuesday of last month
    ahead = first_weekday_of(today + timedelta(days=7), 3)  # a Thursday at least a week ahead
    with app.app_context():
        session = db.session
        visits = app.config["SITE_SETTINGS"]["visits"]
        doctor = TeamMember(
            name="Dr Jeanne Audouy",
            profession="medecin",
            team="flexible",
            doctor_status="retraite",
            active=True,
        )
        nurse = TeamMember(name="Sophie Bonnafous", profession="infirmier_azalee", team="stable", active=True)
        session.add_all([doctor, nurse])
        session.flush()
        with clock_at(at(seen_on - timedelta(days=30), 9)):
            for member in (doctor, nurse):
                roster.add_shift(
                    session, None, member, seen_on, *MORNING, PARIS, today=seen_on - timedelta(days=30)
                )
        future_session = roster.add_shift(session, None, doctor, ahead, *MORNING, PARIS, today=today)
        pattern = roster.add_pattern(
            session, None, nurse, 0, *MORNING, today + timedelta(days=1), None, PARIS, today=today
        )
        dac = session.scalar(select(PartnerOrganisation).where(PartnerOrganisation.name == DAC))
        contact_id = (
            session.scalar(select(PartnerContact.id).where(PartnerContact.organisation_id == dac.id).limit(1))
            or 1
        )

        received = []
        patients = []
        for identity, source, moment in (
            (VIALARET, dac, at(seen_on - timedelta(days=20), 10)),
            (BOUSQUAIROL, None, at(seen_on - timedelta(days=15), 11)),
            (TARBOURIECH, dac, at(seen_on - timedelta(days=5), 14)),
        ):
            with clock_at(moment):
                referral = referrals.receive(
                    session,
                    None,
                    "phone" if source else "direct",
                    identity,
                    REFERRER,
                    "Suivi à organiser.",
                    source=source,
                    now=clock.now(),
                    today=clock.today(ZoneInfo("Europe/Paris")),
                )
                if identity is not TARBOURIECH:
                    patients.append(referrals.decide(session, None, referral, "accepted", now=clock.now()))
                session.flush()
            received.append(referral)

        def held(patient, start, status):
            booked_at = start - timedelta(days=7)
            with clock_at(booked_at):
                appointment = booking.book(
                    session,
                    None,
                    patient,
                    "first",
                    start,
                    [doctor.id, nurse.id],
                    visits,
                    PARIS,
                    now=booked_at,
                )
                session.flush()
            with clock_at(start + timedelta(hours=2)):
                booking.mark(session, None, appointment, status, now=start + timedelta(hours=2))
                session.flush()
            return appointment

        past = held(patients[0], at(seen_on, 9), "honoured")
        held(patients[1], at(seen_on, 10, 30), "no_show")
        future = booking.book(
            session,
            None,
            patients[0],
            "doctor",
            at(ahead, 9),
            [doctor.id],
            visits,
            PARIS,
            override_reason="contrôle",
            now=clock.now(),
        )
        calendar_token = planning.new_calendar_token(session, None, doctor)
        link, link_token = partners.create_referral_link(session, None, dac, "Coordinatrices")
        answer_token = reminders.issue_link(session, future)
        admin_id = session.scalar(select(StaffUser.id).where(StaffUser.email == ADMIN_EMAIL))
        session.commit()
        return Clinic(
            patient_ids=tuple(p.id for p in patients),
            referral_ids=tuple(r.id for r in received),
            references=tuple(r.reference for r in received),
            past_appointment_id=past.id,
            future_appointment_id=future.id,
            doctor_id=doctor.id,
            nurse_id=nurse.id,
            shift_id=future_session.id,
            pattern_id=pattern.id,
            org_id=dac.id,
            contact_id=contact_id,
            link_id=link.id,
            link_token=link_token,
            calendar_token=calendar_token,
            answer_token=answer_token,
            admin_id=admin_id,
            period={"du": (last_month - timedelta(days=62)).isoformat(), "au": today.isoformat()},
        )


# --- 1. object-level access: reporting and patients ---------------------------------------------


def patient_urls(clinic: Clinic) -> list[str]:
    patient_id = clinic.patient_ids[0]
    return [
        f"/patients/{patient_id}",
        f"/patients/{patient_id}/modifier",
        f"/patients/{patient_id}/creneaux",
        f"/rendez-vous/{clinic.future_appointment_id}/convocation",
        f"/rendez-vous/{clinic.past_appointment_id}/convocation",
        f"/rendez-vous/{clinic.future_appointment_id}/convocation.ics",
        f"/adressages/{clinic.referral_ids[0]}",
        f"/adressages/{clinic.referral_ids[2]}",
        "/patients",
        f"/patients?q={VIALARET['last_name']}",
        "/adressages",
        "/agenda",
    ]


def test_a_reporting_user_opening_a_real_patients_pages_is_refused_and_reads_nothing(
    app, client, as_role, clinic
):
    """With ids of patients, appointments and referrals that exist: 403, no identity in the
    answer (page or htmx fragment), and no trace of a patient read in the audit log."""
    as_role("reporting")
    before = counts(app)

    for url in patient_urls(clinic):
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(url, headers=headers)
            assert response.status_code == 403, f"{url} {headers}: {response.status_code}"
            assert REFUSED in html.unescape(body(response)), url
            assert leaks(response, TRACES + list(clinic.references)) == [], url

    assert (
        audit_actions(app, "patient.view", "patient.list_view", "referral.view", "referral.list_view") == []
    )
    assert counts(app) == before


def test_a_clinician_opening_the_same_pages_sees_the_patient_and_is_traced(app, client, as_role, clinic):
    """The control of the test above: the same ids are real, their pages show the identity (as
    the traces are written) and every read is in the audit log."""
    as_role("clinician")
    patient_id = clinic.patient_ids[0]
    page = client.get(f"/patients/{patient_id}")
    assert page.status_code == 200
    assert set(leaks(page, identity_traces(VIALARET))) >= {
        "Vialaret",
        "Zéphirine",
        "29/11/1937",
        "04 68 91 27 53",
    }
    assert client.get(f"/rendez-vous/{clinic.future_appointment_id}/convocation").status_code == 200
    assert client.get(f"/adressages/{clinic.referral_ids[0]}").status_code == 200
    assert [object_id for _, object_id in audit_actions(app, "patient.view")] == [str(patient_id)] * 3


def test_every_endpoint_refused_to_reporting_stays_refused_with_ids_that_exist(app, client, as_role, clinic):
    """test_access.py sweeps the roles with sample ids; here the ids are those of real objects:
    every endpoint outside the reporting role answers 403 to GET and to a POST carrying a valid
    CSRF token, shows no identity, and writes nothing at all."""
    as_role("reporting")
    token = csrf_token(client)
    before = counts(app)
    refused = urls_for(
        app,
        clinic.url_values,
        keep=lambda endpoint, _: EXPECTED[endpoint] != PUBLIC and "reporting" not in EXPECTED[endpoint],
    )
    assert len(refused) > 60

    for endpoint, method, url in refused:
        response = send(client, method, url, token)
        assert response.status_code == 403, f"{method} {url} ({endpoint}): {response.status_code}"
        assert leaks(response) == [], f"{method} {url}"

    assert counts(app) == before
    with app.app_context():
        doctor = db.session.get(TeamMember, clinic.doctor_id)
        assert doctor.ics_token_hash is not None
        assert partners.find_referral_link(db.session, clinic.link_token, now=clock.now()) is not None


# --- 1. object-level access: a clinician and somebody else's sessions ---------------------------


@pytest.fixture
def two_members(app, make_user):
    """Two clinicians, each linked to a team member with a session ahead, a weekly pattern and a
    calendar feed: {"user_a", "a", "b", "session_a", "session_b", "pattern_a", "pattern_b",
    "feed_b", "day", "monday"}."""
    today = datetime.now(PARIS).date()
    day = first_weekday_of(today + timedelta(days=14), 2)  # a Wednesday two weeks ahead
    monday = first_weekday_of(today + timedelta(days=21), 0)
    user_a, user_b = make_user("clinician"), make_user("clinician")
    with app.app_context():
        a = TeamMember(
            name="Hélène Castan", profession="ipa", team="stable", active=True, staff_user_id=user_a.id
        )
        b = TeamMember(
            name="Marc Delpech", profession="infirmier", team="stable", active=True, staff_user_id=user_b.id
        )
        db.session.add_all([a, b])
        db.session.flush()
        ids = {"user_a": user_a, "a": a.id, "b": b.id, "day": day, "monday": monday}
        for key, member in (("a", a), ("b", b)):
            ids[f"session_{key}"] = roster.add_shift(
                db.session, None, member, day, *MORNING, PARIS, today=today
            ).id
            ids[f"pattern_{key}"] = roster.add_pattern(
                db.session,
                None,
                member,
                0,
                time(14),
                time(17),
                today + timedelta(days=1),
                None,
                PARIS,
                today=today,
            ).id
        ids["feed_b"] = planning.new_calendar_token(db.session, None, b)
        db.session.commit()
    return ids


def roster_state(app, member_id: int) -> tuple:
    """All a member's sessions, absences and calendar feed: what only they or a manager change."""
    with app.app_context():
        member = db.session.get(TeamMember, member_id)
        sessions = db.session.execute(
            select(Shift.id, Shift.starts_at).where(Shift.member_id == member_id).order_by(Shift.id)
        ).all()
        absences = db.session.execute(
            select(PatternException.pattern_id, PatternException.day)
            .join(WeeklyPattern)
            .where(WeeklyPattern.member_id == member_id)
        ).all()
        return tuple(sessions), tuple(absences), member.ics_token_hash


def test_a_clinician_cannot_manage_another_members_sessions_absences_or_calendar(
    app, client, auth, two_members
):
    """Clinician A posts, on B's pages, the very forms that work on A's own: each is refused
    (403), or 404 when B's session or pattern is put under A's own page; B's sessions, absences
    and calendar feed are untouched and B's feed still works."""
    m = two_members
    auth.login_as(m["user_a"])
    a, b = m["a"], m["b"]
    new_session = {
        "vacation-day": (m["day"] + timedelta(days=1)).isoformat(),
        "vacation-half_day": "apres-midi",
    }

    def absence(pattern_id):
        return {
            f"absence-{pattern_id}-day": m["monday"].isoformat(),
            f"absence-{pattern_id}-reason": "congés",
        }

    before_b = roster_state(app, b)
    before_a = roster_state(app, a)
    assert client.get(f"/equipe/{b}").status_code == 403
    for url, data, status in (
        (f"/equipe/{b}/vacations", new_session, 403),
        (f"/equipe/{b}/vacations/{m['session_b']}/retirer", {}, 403),
        (f"/equipe/{b}/modeles/{m['pattern_b']}/absence", absence(m["pattern_b"]), 403),
        (f"/equipe/{b}/agenda", {}, 403),
        (f"/equipe/{b}/agenda/revoquer", {}, 403),
        # B's objects under A's own page, where A is allowed: not found.
        (f"/equipe/{a}/vacations/{m['session_b']}/retirer", {}, 404),
        (f"/equipe/{a}/modeles/{m['pattern_b']}/absence", absence(m["pattern_b"]), 404),
    ):
        response = auth.post(url, data)
        assert response.status_code == status, f"{url}: {response.status_code}"
        assert "Marc Delpech" not in html.unescape(body(response)), url
    assert roster_state(app, b) == before_b
    assert roster_state(app, a) == before_a
    assert app.test_client().get(f"/agenda/{m['feed_b']}.ics").status_code == 200
    with app.app_context():
        done = db.session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.actor_id == m["user_a"].id, AuditEvent.action.startswith("roster.")
            )
        ).all()
    assert done == []

    # The same forms on A's own page are accepted: the refusals above were about B only.
    assert client.get(f"/equipe/{a}").status_code == 200
    assert auth.post(f"/equipe/{a}/vacations", new_session).status_code == 303
    assert (
        auth.post(f"/equipe/{a}/modeles/{m['pattern_a']}/absence", absence(m["pattern_a"])).status_code == 303
    )
    assert auth.post(f"/equipe/{a}/vacations/{m['session_a']}/retirer").status_code == 303
    assert auth.post(f"/equipe/{a}/agenda").status_code == 201
    assert auth.post(f"/equipe/{a}/agenda/revoquer").status_code == 303
    sessions, absences, feed = roster_state(app, a)
    assert [s for s, _ in sessions if s == m["session_a"]] == []
    assert len(sessions) == 1 and len(absences) == 1 and feed is None
    assert roster_state(app, b) == before_b


# --- 1. the partner's private link --------------------------------------------------------------


def referrals_stored(app) -> dict[str, int]:
    return {model.__name__: count(app, model) for model in (Referral, Patient, OutboundEmail)}


def post_partner_form(client, token: str, csrf: str):
    return client.post(f"/adressage/{token}", data={"csrf_token": csrf} | PARTNER_FORM)


def test_a_revoked_referral_link_opens_no_form_and_stores_nothing(app, client):
    """A link that worked is revoked while a partner still has its form open: the page and the
    sending both get the 'invalid link' page (404), nothing is stored, the link is not marked
    used."""
    with app.app_context():
        dac = db.session.scalar(select(PartnerOrganisation).where(PartnerOrganisation.name == DAC))
        link, token = partners.create_referral_link(db.session, None, dac, "Coordinatrices")
        db.session.commit()
        link_id = link.id
    form = client.get(f"/adressage/{token}")
    assert form.status_code == 200 and "Envoyer l'adressage" in html.unescape(body(form))
    csrf = csrf_from(body(form))
    assert post_partner_form(client, token, csrf).status_code == 201  # the form itself is valid
    with app.app_context():
        link = db.session.get(PartnerReferralLink, link_id)
        partners.revoke_referral_link(db.session, None, link, now=clock.now())
        db.session.commit()
        used = link.last_used_at
    before = referrals_stored(app)

    for response in (client.get(f"/adressage/{token}"), post_partner_form(client, token, csrf)):
        assert response.status_code == 404
        text = html.unescape(body(response))
        assert INVALID_LINK in text
        assert "Envoyer l'adressage" not in text and DAC not in text
    assert referrals_stored(app) == before
    with app.app_context():
        assert db.session.get(PartnerReferralLink, link_id).last_used_at == used


@pytest.mark.parametrize(
    "token",
    ["lien-inconnu", "Zk3vQ0aJ1nX8yT2bLm5cR7dW9eFg4hUi", "x" * 300],
    ids=["word", "token-shaped", "very-long"],
)
def test_an_unknown_referral_link_opens_no_form_and_stores_nothing(app, client, token):
    csrf = csrf_token(client)
    before = referrals_stored(app)
    for response in (client.get(f"/adressage/{token}"), post_partner_form(client, token, csrf)):
        assert response.status_code == 404
        assert INVALID_LINK in html.unescape(body(response))
    assert referrals_stored(app) == before


# --- 1. objects that do not exist ---------------------------------------------------------------


def test_every_id_of_an_object_that_does_not_exist_is_a_404_never_a_server_error(app, client, as_role):
    """For an admin, who may call everything: every endpoint taking an id, by GET and by a POST
    with a valid CSRF token, answers 404 for an id that fits the database but is nobody's."""
    as_role("admin")
    token = csrf_token(client)
    with_ids = [
        (e, m, u)
        for e, m, u in urls_for(
            app,
            lambda _: (
                URL_VALUES
                | dict.fromkeys(
                    (
                        "user_id",
                        "org_id",
                        "contact_id",
                        "link_id",
                        "import_id",
                        "referral_id",
                        "patient_id",
                        "member_id",
                        "shift_id",
                        "pattern_id",
                        "appointment_id",
                    ),
                    MISSING,
                )
            ),
        )
        if str(MISSING) in u
    ]
    assert len(with_ids) > 40
    for endpoint, method, url in with_ids:
        response = send(client, method, url, token)
        assert response.status_code == 404, f"{method} {url} ({endpoint}): {response.status_code}"
        assert "Page introuvable" in html.unescape(body(response)), url


def test_a_real_parent_with_a_missing_child_and_overflowing_ids_are_404s(app, client, as_role, clinic):
    as_role("admin")
    token = csrf_token(client)
    member, org, patient = clinic.doctor_id, clinic.org_id, clinic.patient_ids[0]
    for method, url in (
        ("POST", f"/equipe/{member}/vacations/{MISSING}/retirer"),
        ("POST", f"/equipe/{member}/modeles/{MISSING}/absence"),
        ("POST", f"/equipe/{member}/modeles/{MISSING}/terminer"),
        ("GET", f"/annuaire/{org}/personnes/{MISSING}"),
        ("POST", f"/annuaire/{org}/personnes/{MISSING}/supprimer"),
        ("POST", f"/annuaire/{org}/liens/{MISSING}/revoquer"),
        # Another parent's child: the nurse's pattern under the doctor's page.
        ("POST", f"/equipe/{member}/modeles/{clinic.pattern_id}/terminer"),
        ("GET", f"/patients/{2**31}"),
        ("GET", f"/patients/{10**20}"),
        ("GET", f"/rendez-vous/{2**63}/convocation"),
        ("POST", f"/patients/{patient}0000000000/statut"),
        ("GET", "/patients/-1"),
        ("GET", "/patients/0"),
    ):
        response = send(client, method, url, token)
        assert response.status_code == 404, f"{method} {url}: {response.status_code}"


# --- 2. two sites served at once ----------------------------------------------------------------


@pytest.fixture
def other_site_dir(request, tmp_path, db_backend):
    """A second site cloned from the same provisioned template as `site_dir` — same accounts,
    same session tokens in its database — but with its own slug and its own secret key, as two
    sites of one machine have. Only the key and the cookie name keep their sessions apart."""
    folder = tmp_path / "instances" / "autre"
    server = dbname = None
    if db_backend == "sqlite":
        shutil.copytree(request.getfixturevalue("sqlite_site_template"), folder)
    else:
        server = request.getfixturevalue("pg_server")
        template = request.getfixturevalue("pg_site_template")
        dbname = f"dalia_security_{next(_databases)}"
        server.sql(f"CREATE DATABASE {dbname} TEMPLATE dalia_template")
        shutil.copytree(template, folder)
        toml = folder / "site.toml"
        toml.write_text(toml.read_text().replace(server.url("dalia_template"), server.url(dbname)))
    toml = folder / "site.toml"
    assert 'slug = "test"' in toml.read_text()
    toml.write_text(toml.read_text().replace('slug = "test"', 'slug = "autre"'))
    (folder / "secret_key").write_text(secrets.token_hex(32) + "\n")
    (folder / "secret_key").chmod(0o600)
    yield folder
    if server is not None:
        server.sql(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")


@pytest.fixture
def other_app(other_site_dir):
    other = create_app(other_site_dir, {"TESTING": True})
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def session_token_of(app, email: str) -> str:
    with app.app_context():
        return db.session.scalar(select(StaffUser.session_token).where(StaffUser.email == email))


def anonymous_on(app, cookies: dict[str, str]) -> list:
    """The answers of `app` to a fresh browser carrying only `cookies`."""
    browser = app.test_client()
    for name, value in cookies.items():
        browser.set_cookie(name, value)
    return [
        browser.get("/"),
        browser.get("/admin/comptes"),
        browser.get("/patients"),
        browser.get("/activite", headers={"HX-Request": "true"}),
        browser.post("/deconnexion", data={}),
    ]


def test_a_session_opened_on_one_site_is_anonymous_on_another(app, client, auth, other_app):
    """Site A's admin logs in; their session cookie, replayed on site B (under B's cookie name,
    under A's, under both), is nobody there: B sends to its login page. Both sites hold the very
    same account with the same session token, so only the site's own key protects B."""
    a_name, b_name = app.config["SESSION_COOKIE_NAME"], other_app.config["SESSION_COOKIE_NAME"]
    assert session_token_of(app, ADMIN_EMAIL) == session_token_of(other_app, ADMIN_EMAIL)

    assert auth.login(ADMIN_EMAIL).status_code == 302
    stolen = client.get_cookie(a_name).value
    # The control: this cookie is a live admin session on site A itself, in any browser.
    replay_on_a = app.test_client()
    replay_on_a.set_cookie(a_name, stolen)
    assert replay_on_a.get("/admin/comptes").status_code == 200

    for cookies in ({b_name: stolen}, {a_name: stolen}, {a_name: stolen, b_name: stolen}):
        for response in anonymous_on(other_app, cookies):
            assert is_login_redirect(response), (
                f"{list(cookies)}: {response.request.path} answered {response.status_code}"
            )
            assert "Administrateur du site" not in html.unescape(body(response))
    # B's own login still works and gives a session A refuses in turn.
    other_auth = AuthActions(other_app.test_client())
    assert other_auth.login(ADMIN_EMAIL, PASSWORD).status_code == 302
    b_cookie = other_auth.client.get_cookie(b_name).value
    assert other_auth.client.get("/admin/comptes").status_code == 200
    for response in anonymous_on(app, {a_name: b_cookie, b_name: b_cookie}):
        assert is_login_redirect(response), response.request.path
    # Nor do two sites of one host overwrite each other's cookie.
    assert a_name != b_name


def test_a_private_link_of_one_site_opens_nothing_on_another(app, other_app):
    """Referral links and calendar feeds are the site's own: the tokens of site A are unknown to
    site B, whose data (the same partners and members, cloned) they never reach."""
    with app.app_context():
        dac = db.session.scalar(select(PartnerOrganisation).where(PartnerOrganisation.name == DAC))
        _, link_token = partners.create_referral_link(db.session, None, dac, "Coordinatrices")
        member = TeamMember(name="Sophie Bonnafous", profession="ipa", team="stable", active=True)
        db.session.add(member)
        db.session.flush()
        feed_token = planning.new_calendar_token(db.session, None, member)
        db.session.commit()
    on_a, on_b = app.test_client(), other_app.test_client()
    assert on_a.get(f"/adressage/{link_token}").status_code == 200
    assert on_a.get(f"/agenda/{feed_token}.ics").status_code == 200
    assert on_b.get(f"/adressage/{link_token}").status_code == 404
    assert on_b.get(f"/agenda/{feed_token}.ics").status_code == 404


# --- 3. the reporting role never sees a patient's identity --------------------------------------


def open_to_reporting(app, endpoint: str) -> bool:
    """Per the role table of test_access.py, or per the rule the view itself declares: a view
    that drifts from the table is swept too, and shows what it would let the role read."""
    declared = access_rule(app, endpoint)
    return any(
        rule == PUBLIC or (rule is not None and "reporting" in rule)
        for rule in (EXPECTED[endpoint], declared)
    )


def reporting_pages(app, clinic: Clinic) -> list[tuple[str, str]]:
    """(endpoint, url) of every GET endpoint open to the reporting role, public ones included
    (with a real referral link and a real calendar feed), generated from app.url_map."""
    return [
        (endpoint, url)
        for endpoint, _, url in urls_for(
            app,
            clinic.url_values,
            keep=lambda endpoint, method: method == "GET" and open_to_reporting(app, endpoint),
        )
    ]


def test_the_reporting_role_reads_no_identity_on_any_page_it_may_open(app, client, as_role, clinic):
    """Every page, fragment and export open to the reporting role — the activity page, the
    report, CSV and JSON, each for the default twelve months and for the period of the seeded
    activity, as a page and as an htmx request, the home page… — shows none of the patients'
    names, first names, birth names, birth dates, phone numbers, e-mails or addresses, nor a
    referral's reference, nor a link to a patient's page. The figures do count them."""
    as_role("reporting")
    pages = reporting_pages(app, clinic)
    endpoints = {endpoint for endpoint, _ in pages}
    assert {
        "core.home",
        "activity.index",
        "activity.report",
        "activity.export_csv",
        "activity.export_json",
        "auth.change_password",
    } <= endpoints

    for endpoint, url in pages:
        for query in ({}, clinic.period):
            for headers in ({}, {"HX-Request": "true"}):
                response = client.get(url, query_string=query, headers=headers)
                where = f"{url} {query} {headers} ({endpoint})"
                # Each page is really shown (the login page sends a logged-in user home, the
                # second factor's pages send back to login when no login waits for its code).
                redirected = ("auth.login", "auth.second_factor_page", "auth.enrol")
                assert response.status_code == (302 if endpoint in redirected else 200), where
                assert leaks(response, TRACES + list(clinic.references)) == [], where
                assert not re.search(r"/(patients|adressages|rendez-vous)/\d", body(response)), where

    # The seeded patients are there, counted (3, 1, 1 and 1), as figures the reporting role reads
    # under statistical secrecy: « < 5 » (1 to 4 people; none would read 0).
    figures = client.get("/activite/export.json", query_string=clinic.period).get_json()
    assert (
        figures["referrals_received"],
        figures["patients_received"],
        figures["consultations"],
        figures["no_shows"],
    ) == ("< 5", "< 5", "< 5", "< 5")


def test_the_reporting_role_opens_only_its_home_its_account_and_the_figures():
    """The generated sweep of the endpoints NOT open to the reporting role (403 to GET and POST,
    logged in as reporting) is test_access.py's test_each_role_reaches_exactly_its_endpoints
    [reporting]; with ids of real objects, it is
    test_every_endpoint_refused_to_reporting_stays_refused_with_ids_that_exist above. This test
    only pins that the role table still says what DESIGN.md says of the reporting role."""
    open_to_reporting = {
        endpoint for endpoint, rule in EXPECTED.items() if rule != PUBLIC and "reporting" in rule
    }
    assert open_to_reporting == {
        "core.home",
        "auth.logout",
        "auth.change_password",
        "auth.my_sessions",  # its own sessions (« Mes sessions »), as every role
        "auth.end_session",
        "auth.end_other_sessions",
        "activity.index",
        "activity.report",
        "activity.export_csv",
        "activity.export_json",
    }
