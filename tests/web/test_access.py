"""Access control over every endpoint of app.url_map: anonymous, and each role, allowed and refused.

The table below is written by hand from the role table of DESIGN.md, not read from the code: a
route added without a line here, or a guard that drifts from it, fails these tests.
"""

import pytest

from tests.conftest import ROLES

ALL = frozenset(ROLES)
PUBLIC = "public"
EXPECTED = {
    "static": PUBLIC,
    "core.healthz": PUBLIC,
    "referrals.partner_form": PUBLIC,
    "answers.appointment": PUBLIC,
    "rights.notice": PUBLIC,
    "roster.calendar_feed": PUBLIC,
    "auth.login": PUBLIC,
    "core.home": ALL,
    "auth.logout": ALL,
    "auth.change_password": ALL,
    "admin.staff_list": {"admin"},
    "admin.staff_create": {"admin"},
    "admin.staff_edit": {"admin"},
    "admin.staff_set_active": {"admin"},
    "admin.staff_one_time_password": {"admin"},
    "admin.staff_clear_throttle": {"admin"},
    "admin.staff_reset_second_factor": {"admin"},
    "partners.renew_link": {"admin", "assistant"},
    "auth.second_factor_page": PUBLIC,
    "auth.enrol": PUBLIC,
    "auth.my_sessions": {"admin", "assistant", "clinician", "reporting"},
    "auth.end_session": {"admin", "assistant", "clinician", "reporting"},
    "auth.end_other_sessions": {"admin", "assistant", "clinician", "reporting"},
    "admin.audit_log": {"admin"},
    "admin.outbox": {"admin"},
    "admin.centre_settings": {"admin"},
    "admin.closure_add": {"admin"},
    "admin.closure_remove": {"admin"},
    "partners.index": {"admin", "assistant", "clinician"},
    "partners.show": {"admin", "assistant", "clinician"},
    "partners.create": {"admin", "assistant"},
    "partners.edit": {"admin", "assistant"},
    "partners.validate_field": {"admin", "assistant"},
    "partners.archive": {"admin", "assistant"},
    "partners.add_contact": {"admin", "assistant"},
    "partners.edit_contact": {"admin", "assistant"},
    "partners.delete_contact": {"admin", "assistant"},
    "partners.create_link": {"admin", "assistant"},
    "partners.revoke_link": {"admin", "assistant"},
    "partners.export": {"admin", "assistant"},
    "partners.suggestions": {"admin", "assistant", "clinician"},
    "activity.index": {"admin", "assistant", "reporting"},
    "activity.report": {"admin", "assistant", "reporting"},
    "activity.export_csv": {"admin", "assistant", "reporting"},
    "activity.export_json": {"admin", "assistant", "reporting"},
    "partners.import_upload": {"admin"},
    "partners.import_confirm": {"admin"},
    "referrals.queue": {"admin", "assistant", "clinician"},
    "referrals.counters": {"admin", "assistant", "clinician"},
    "referrals.show": {"admin", "assistant", "clinician"},
    "referrals.attach": {"admin", "assistant", "clinician"},
    "referrals.decide": {"admin", "assistant", "clinician"},
    "referrals.refusal": {"admin", "assistant", "clinician"},
    "referrals.create": {"admin", "assistant"},
    "patients.index": {"admin", "assistant", "clinician"},
    "patients.show": {"admin", "assistant", "clinician"},
    "patients.set_status": {"admin", "assistant", "clinician"},
    "patients.dac_handover": {"admin", "assistant", "clinician"},
    "patients.reminder_channel": {"admin", "assistant"},
    "patients.edit": {"admin", "assistant"},
    "rights.access_document": {"admin"},
    "rights.access_json": {"admin"},
    "rights.erase": {"admin"},
    "rights.personal_data": {"admin", "assistant", "clinician"},
    "rights.retention_periods": {"admin"},
    "patients.follow_up_page": {"admin", "assistant", "clinician"},
    "patients.save_plan": {"admin", "assistant", "clinician"},
    "patients.gp_step": {"admin", "assistant", "clinician"},
    "patients.gp_answer": {"admin", "assistant", "clinician"},
    "patients.liaison_letter": {"admin", "assistant", "clinician"},
    "worklists.recall": {"admin", "assistant", "clinician"},
    "worklists.waiting": {"admin", "assistant", "clinician"},
    "worklists.no_shows": {"admin", "assistant", "clinician"},
    "worklists.counts": {"admin", "assistant", "clinician"},
    "worklists.contact": {"admin", "assistant", "clinician"},
    "worklists.accept": {"admin", "assistant"},
    "worklists.dismiss_offer": {"admin", "assistant"},
    "partners.gp_acceptance": {"admin", "assistant"},
    "booking.slots": {"admin", "assistant"},
    "booking.book": {"admin", "assistant"},
    "booking.confirm": {"admin", "assistant"},
    "booking.confirm_reschedule": {"admin", "assistant"},
    "booking.cancel": {"admin", "assistant"},
    "booking.reschedule": {"admin", "assistant"},
    "booking.mark": {"admin", "assistant", "clinician"},
    "booking.walk_in": {"admin", "assistant", "clinician"},
    "booking.convocation": {"admin", "assistant", "clinician"},
    "booking.convocation_ics": {"admin", "assistant", "clinician"},
    "booking.day": {"admin", "assistant", "clinician"},
    "booking.week": {"admin", "assistant", "clinician"},
    "desk.arrive": {"admin", "assistant", "clinician"},
    "desk.undo_arrival": {"admin", "assistant", "clinician"},
    "desk.honoured": {"admin", "assistant", "clinician"},
    "desk.no_show": {"admin", "assistant", "clinician"},
    "desk.reopen": {"admin", "assistant", "clinician"},
    "desk.cancel": {"admin", "assistant"},
    "desk.counts": {"admin", "assistant", "clinician"},
    "desk.day_sheet": {"admin", "assistant", "clinician"},
    "desk.free_slot": {"admin", "assistant"},
    "desk.walk_in": {"admin", "assistant"},
    "roster.week": {"admin", "assistant", "clinician"},
    "roster.month": {"admin", "assistant", "clinician"},
    "roster.board_page": {"admin", "assistant", "clinician"},
    "roster.board_take": {"admin", "assistant", "clinician"},
    "roster.board_give_back": {"admin", "assistant", "clinician"},
    "roster.board_email": {"admin", "assistant", "clinician"},
    "roster.team": {"admin", "assistant"},
    "roster.member_create": {"admin", "assistant"},
    "roster.member_edit": {"admin", "assistant"},
    "roster.member_set_active": {"admin", "assistant"},
    "roster.member": {"admin", "assistant", "clinician"},
    "roster.my_sessions": {"admin", "assistant", "clinician"},
    "roster.session_add": {"admin", "assistant", "clinician"},
    "roster.session_withdraw": {"admin", "assistant", "clinician"},
    "roster.pattern_add": {"admin", "assistant"},
    "roster.pattern_exception": {"admin", "assistant", "clinician"},
    "roster.pattern_end": {"admin", "assistant"},
    "roster.calendar_link": {"admin", "assistant", "clinician"},
    "roster.calendar_revoke": {"admin", "assistant", "clinician"},
}
URL_VALUES = {
    "user_id": 1,
    "filename": "dalia.css",
    "org_id": 1,
    "contact_id": 1,
    "link_id": 1,
    "import_id": 1,
    "field": "phone",
    "kind": "partenaire",
    "referral_id": 1,
    "patient_id": 1,
    "token": "lien-inconnu",
    "member_id": 1,
    "shift_id": 1,
    "pattern_id": 1,
    "appointment_id": 1,
    "creneau": "20261130T0900Z_1",
    "step_id": 1,
    "offer_id": 1,
    "closure_id": 1,
    "session_id": 1,
}


def routes(app):
    """(endpoint, method, url) for every rule, with sample values for its arguments."""
    found = []
    for rule in app.url_map.iter_rules():
        values = {arg: URL_VALUES[arg] for arg in rule.arguments}
        url = rule.build(values)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, url))
    return found


def request(client, method, url):
    return client.open(url, method=method)


def test_every_endpoint_has_an_expected_rule(app):
    """A new route without a line in EXPECTED (and so in the role table) fails the suite."""
    endpoints = {endpoint for endpoint, _, _ in routes(app)}
    assert endpoints == set(EXPECTED)


def test_anonymous_is_refused_everywhere_but_the_public_allowlist(app, client):
    public = {e for e, rule in EXPECTED.items() if rule == PUBLIC}
    for endpoint, method, url in routes(app):
        if endpoint in public:
            continue
        response = request(client, method, url)
        refused = response.status_code in (401, 403) or (
            response.status_code in (302, 303) and response.location.startswith("/connexion")
        )
        assert refused, f"{method} {url} ({endpoint}) answered {response.status_code} to anonymous"


def test_public_endpoints_answer_anonymous(client):
    assert client.get("/connexion").status_code == 200
    assert client.get("/adressage/lien-inconnu").status_code == 404  # a clear page, no form
    assert client.get("/healthz").status_code == 200
    assert client.get("/static/dalia.css").status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_its_endpoints(app, client, as_role, auth, role):
    as_role(role)
    for endpoint, method, url in routes(app):
        expected = EXPECTED[endpoint]
        if expected == PUBLIC or endpoint == "auth.logout":
            continue
        response = auth.post(url) if method == "POST" else client.get(url)
        if role in expected:
            # A role refused gets the « Accès refusé » page; an allowed role may still get a 403
            # with its own French reason (a volunteer's half-day taken by someone not a volunteer).
            refused = response.status_code == 403 and "Accès refusé" in response.get_data(as_text=True)
            assert not refused, f"{role} refused on {method} {url}"
            assert not (response.location or "").startswith("/connexion"), f"{role} {url}"
        else:
            assert response.status_code == 403, (
                f"{role} got {response.status_code} on {method} {url} ({endpoint})"
            )
            assert "Accès refusé" in response.get_data(as_text=True)


def test_a_view_without_declared_rule_is_refused_to_everyone(app, client, as_role):
    """Deny by default: a route that forgot its decorator is closed, even to an admin."""

    @app.route("/oubli")
    def forgotten():
        return "données sensibles"

    assert client.get("/oubli").status_code == 403
    as_role("admin")
    response = client.get("/oubli")
    assert response.status_code == 403
    assert "données sensibles" not in response.get_data(as_text=True)
