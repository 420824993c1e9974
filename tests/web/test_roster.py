"""The team roster: members, their sessions and weekly patterns, the planning, calendar feeds.

The provisioned site keeps the default opening hours of site.toml [hours]: Monday to Friday,
morning 08:30-12:30, afternoon 13:30-17:30, Europe/Paris. Which half-day is covered, the overlap
rule, DST and RPPS arithmetic are tested without HTTP in tests/unit/test_roster_rules.py; here
each rule is seen through the pages and forms that carry it.
"""

import html
import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlalchemy import func, select

from dalia_site import clock
from dalia_site.domain import roster
from dalia_site.domain.text import EMAIL_MESSAGE, PHONE_MESSAGE
from dalia_site.extensions import db
from dalia_site.models import AuditEvent, Shift, TeamMember, WeeklyPattern

PARIS = ZoneInfo("Europe/Paris")
MORNING = (time(8, 30), time(12, 30))
AFTERNOON = (time(13, 30), time(17, 30))
VALID_RPPS = "10000000009"
OTHER_VALID_RPPS = "10101010105"
NEW_MEMBER = {
    "name": "Jeanne Audouy",
    "profession": "medecin",
    "team": "flexible",
    "doctor_status": "retraite",
    "rpps": VALID_RPPS,
    "phone": "06 12 34 56 78",
    "email": "J.Audouy@Exemple.fr",
    "staff_user_id": "",
}
OVERLAP = (
    "Ce membre a déjà une vacation le {day:%d/%m/%Y} de {start} à {end} : deux vacations "
    "ne peuvent pas se chevaucher."
)
NO_MEMBER = "Votre compte n'est relié à aucun membre"
MONTHS = (
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


# --- dates --------------------------------------------------------------------------------------


def today() -> date:
    """The site's today (Europe/Paris), as the app computes it."""
    return datetime.now(PARIS).date()


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def next_weekday(weekday: int, after: date) -> date:
    """The first date strictly after `after` falling on `weekday` (0 = lundi)."""
    return after + timedelta(days=(weekday - after.weekday() - 1) % 7 + 1)


def next_month_first() -> date:
    return (today().replace(day=1) + timedelta(days=32)).replace(day=1)


def next_month_day(weekday: int) -> date:
    """The first `weekday` of next month."""
    return next_weekday(weekday, next_month_first() - timedelta(days=1))


def planning_week() -> date:
    """The Monday of a whole week of next month."""
    return next_month_day(0)


def coming(month: int) -> date:
    """The next Monday of `month` followed by another Monday of that month: January gives a
    winter week (UTC+1), July a summer week (UTC+2) — January and July 2027 when these tests were
    written — always within the year ahead that the calendar feed covers."""
    day = next_weekday(0, today())
    while not (day.month == month == (day + timedelta(days=7)).month):
        day += timedelta(days=7)
    return day


# --- helpers ------------------------------------------------------------------------------------


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def text_of(fragment: str) -> str:
    """What a reader sees of some markup: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def field_error(response, field: str) -> str:
    match = re.search(
        rf'<p class="error" id="{field}-erreur"[^>]*>(.*?)</p>', response.get_data(as_text=True), re.S
    )
    return html.unescape(match.group(1)) if match else ""


def make_member(
    app,
    name: str,
    profession: str = "medecin",
    team: str | None = None,
    doctor_status: str | None = None,
    **fields,
) -> int:
    """A team member stored directly; doctors are retired volunteers unless told otherwise."""
    if profession == "medecin":
        doctor_status = doctor_status or "retraite"
    team = team or ("flexible" if profession == "medecin" else "stable")
    with app.app_context():
        member = TeamMember(
            name=name, profession=profession, team=team, doctor_status=doctor_status, active=True, **fields
        )
        db.session.add(member)
        db.session.commit()
        return member.id


def make_session(app, member_id: int, day: date, times=MORNING) -> int:
    with app.app_context():
        member = db.session.get(TeamMember, member_id)
        added = roster.add_shift(db.session, None, member, day, *times, PARIS, today=today())
        db.session.commit()
        return added.id


def make_pattern(
    app, member_id: int, weekday: int, valid_from: date, valid_until: date | None = None, times=MORNING
) -> int:
    with app.app_context():
        member = db.session.get(TeamMember, member_id)
        pattern = roster.add_pattern(
            db.session,
            None,
            member,
            weekday,
            *times,
            valid_from,
            valid_until,
            PARIS,
            today=clock.today(ZoneInfo("Europe/Paris")),
        )
        db.session.commit()
        return pattern.id


def load(app, model, object_id: int):
    with app.app_context():
        row = db.session.get(model, object_id)
        if row is not None:
            db.session.expunge(row)
        return row


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def events(app, prefix: str = "roster.") -> list[AuditEvent]:
    with app.app_context():
        return db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.startswith(prefix)).order_by(AuditEvent.id)
        ).all()


def actions(app) -> list[str]:
    return [e.action for e in events(app)]


def done_by(app, user) -> list[str]:
    """The roster actions recorded in `user`'s name (set-up through the domain has no actor)."""
    return [e.action for e in events(app) if e.actor_id == user.id]


def member_form(**changes) -> dict:
    return {k: v for k, v in (NEW_MEMBER | changes).items() if v is not None}


def session_form(day: date, half_day: str = "matin", **times) -> dict:
    return {
        "vacation-day": day.isoformat(),
        "vacation-half_day": half_day,
        **{f"vacation-{k}": v for k, v in times.items()},
    }


def pattern_form(
    weekday: int, valid_from: date, half_day: str = "matin", valid_until: date | None = None
) -> dict:
    return {
        "modele-weekday": str(weekday),
        "modele-half_day": half_day,
        "modele-valid_from": valid_from.isoformat(),
        "modele-valid_until": valid_until.isoformat() if valid_until else "",
    }


def upcoming_rows(response) -> list[str]:
    """The rows of "Prochaines vacations" on a member's page, as read."""
    match = re.search(
        r'aria-labelledby="prochaines-titre".*?<tbody>(.*?)</tbody>', response.get_data(as_text=True), re.S
    )
    return [text_of(row) for row in re.findall(r"<tr.*?</tr>", match.group(1), re.S)] if match else []


def week_cells(response, monday: date) -> dict[tuple[date, str], str]:
    """{(day, "Matin" | "Après-midi"): what the cell of the week planning reads}."""
    cells = {}
    for label, row in re.findall(
        r'<th scope="row">(Matin|Après-midi)</th>(.*?)</tr>', response.get_data(as_text=True), re.S
    ):
        tds = re.findall(r"<td\b[^>]*>(.*?)</td>", row, re.S)
        assert len(tds) == 7, f"{label}: {len(tds)} cells"
        for offset, td in enumerate(tds):
            cells[(monday + timedelta(days=offset), label)] = text_of(td)
    return cells


def week(client, monday: date, **headers):
    response = client.get("/planning", query_string={"semaine": monday.isoformat()}, headers=headers)
    assert response.status_code == 200
    return response


def month_halves(response, day: date) -> list[str]:
    """The half-day lines of `day`'s cell in the month planning."""
    body = response.get_data(as_text=True)
    cell = re.search(rf'<td\b[^>]*>\s*<a href="/planning\?semaine={day.isoformat()}".*?</td>', body, re.S)
    assert cell, f"no cell for {day}"
    return [text_of(p) for p in re.findall(r'<p class="half[^"]*">(.*?)</p>', cell.group(0), re.S)]


def feed_path(response) -> str:
    match = re.search(r'value="[^"]*?(/agenda/[\w-]+\.ics)"', response.get_data(as_text=True))
    assert match, "no calendar link in the page"
    return match.group(1)


@pytest.fixture
def clinician(app, make_user, auth):
    """A volunteer doctor whose staff account is linked to their team member, logged in:
    (user, member id)."""
    user = make_user("clinician", name="Hélène Castan")
    member_id = make_member(app, "Hélène Castan", staff_user_id=user.id)
    auth.login_as(user)
    return user, member_id


# --- team members -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "assistant"])
def test_a_manager_adds_a_member_to_the_team(app, client, auth, as_role, role):
    user = as_role(role)
    response = auth.post("/equipe/nouveau", member_form())
    assert response.status_code == 303
    with app.app_context():
        member = db.session.scalar(select(TeamMember))
    assert response.location == f"/equipe/{member.id}"
    assert (member.name, member.profession, member.team, member.doctor_status) == (
        "Jeanne Audouy",
        "medecin",
        "flexible",
        "retraite",
    )
    assert (member.rpps, member.phone, member.email) == (VALID_RPPS, "0612345678", "j.audouy@exemple.fr")
    assert member.active and member.staff_user_id is None
    [event] = events(app)
    assert (event.action, event.actor_id, event.object_id) == (
        "roster.member_create",
        user.id,
        str(member.id),
    )
    assert "Jeanne Audouy (Médecin) ajouté·e à l'équipe" in event.summary

    team = client.get("/equipe")
    assert "Jeanne Audouy" in page_text(team)
    assert "06 12 34 56 78" in page_text(team)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": "  "}, "name", "Le nom est obligatoire."),
        ({"doctor_status": ""}, "doctor_status", "Précisez le statut du médecin."),
        ({"rpps": "10000000008"}, "rpps", "Numéro RPPS invalide : 11 chiffres dont une clé de contrôle."),
        ({"rpps": "12345678901"}, "rpps", "Numéro RPPS invalide : 11 chiffres dont une clé de contrôle."),
        (
            {"profession": "assistant_medical", "team": "stable"},
            "rpps",
            "Seuls les médecins et les infirmières ont un numéro RPPS.",
        ),
        ({"rpps": OTHER_VALID_RPPS}, "rpps", "Ce numéro RPPS est déjà celui d'un autre membre."),
        ({"phone": "06 12 34"}, "phone", PHONE_MESSAGE),
        ({"email": "jeanne.audouy@"}, "email", EMAIL_MESSAGE),
        ({"staff_user_id": "LINKED"}, "staff_user_id", "Ce compte est déjà lié à un autre membre."),
    ],
    ids=[
        "no-name",
        "doctor-without-status",
        "rpps-check-digit",
        "rpps-12345678901",
        "rpps-of-an-assistant",
        "rpps-taken",
        "phone",
        "email",
        "account-taken",
    ],
)
def test_a_refused_member_says_why_and_stores_nothing(app, make_user, auth, as_role, changes, field, message):
    linked = make_user("clinician")
    make_member(app, "Pierre Vidal", rpps=OTHER_VALID_RPPS, staff_user_id=linked.id)
    as_role("assistant")
    if changes.get("staff_user_id") == "LINKED":
        changes = {"staff_user_id": str(linked.id)}

    response = auth.post("/equipe/nouveau", member_form(**changes))

    assert response.status_code == 422
    assert field_error(response, field) == message
    assert count(app, TeamMember) == 1
    assert events(app) == []


def test_linking_an_account_that_does_not_exist_is_refused(app, auth, as_role):
    """The list offers existing active accounts only; a stale or forged choice is refused like any
    bad value, not answered with a server error (a foreign-key violation)."""
    as_role("admin")
    response = auth.post("/equipe/nouveau", member_form(staff_user_id="999999"))
    assert response.status_code == 422
    assert field_error(response, "staff_user_id")
    assert count(app, TeamMember) == 0
    assert events(app) == []


def test_an_edit_is_audited_field_by_field(app, client, auth, as_role):
    user = as_role("assistant")
    member_id = make_member(app, "Jeanne Audouy", rpps=VALID_RPPS)

    form = client.get(f"/equipe/{member_id}/modifier")
    assert 'value="Jeanne Audouy"' in form.get_data(as_text=True)
    response = auth.post(f"/equipe/{member_id}/modifier", member_form(team="stable", doctor_status="salarie"))
    assert response.status_code == 303
    member = load(app, TeamMember, member_id)
    assert (member.team, member.doctor_status, member.phone) == ("stable", "salarie", "0612345678")
    [event] = events(app)
    assert (event.action, event.actor_id, event.object_id) == (
        "roster.member_update",
        user.id,
        str(member_id),
    )
    assert "team : flexible → stable" in event.summary
    assert "doctor_status : retraite → salarie" in event.summary

    # The same values again: nothing changed, nothing to record.
    auth.post(f"/equipe/{member_id}/modifier", member_form(team="stable", doctor_status="salarie"))
    assert len(events(app)) == 1


def test_a_member_is_taken_off_the_team_then_back(app, client, auth, as_role):
    as_role("admin")
    member_id = make_member(app, "Jeanne Audouy")
    day = next_month_day(1)
    make_session(app, member_id, day)

    response = auth.post(f"/equipe/{member_id}/statut", {"active": "0"})
    assert response.status_code == 303 and response.location == "/equipe"
    assert load(app, TeamMember, member_id).active is False
    assert "Retiré·e" in page_text(client.get("/equipe"))
    # Gone from the planning, though the session is kept.
    assert "Jeanne Audouy" not in page_text(week(client, monday_of(day)))
    assert count(app, Shift) == 1

    assert auth.post(f"/equipe/{member_id}/statut", {"active": "2"}).status_code == 400
    assert auth.post(f"/equipe/{member_id}/statut", {"active": "1"}).status_code == 303
    assert load(app, TeamMember, member_id).active is True
    assert "Jeanne Audouy" in page_text(week(client, monday_of(day)))
    summaries = [e.summary for e in events(app) if e.action == "roster.member_update"]
    assert summaries == ["Jeanne Audouy : actif : oui → non", "Jeanne Audouy : actif : non → oui"]


# --- a clinician's own sessions -----------------------------------------------------------------


def test_a_clinician_offers_then_withdraws_a_half_day_on_their_own_page(app, client, auth, clinician):
    user, member_id = clinician
    day = next_month_day(2)

    mine = client.get("/mes-vacations")
    assert mine.status_code == 302 and mine.location == f"/equipe/{member_id}"
    page = client.get(mine.location)
    assert "Vacations de Hélène Castan" in page_text(page)
    assert "Aucune vacation prévue." in page_text(page)

    response = auth.post(f"/equipe/{member_id}/vacations", session_form(day, "apres-midi"))
    assert response.status_code == 303 and response.location == f"/equipe/{member_id}"
    page = client.get(response.location)
    assert f"Vacation du {day:%d/%m/%Y} enregistrée." in page_text(page)
    assert upcoming_rows(page) == [
        f"mercredi {day:%d/%m/%Y} 13h30 – 17h30 Ponctuelle Retirer la vacation du {day:%d/%m/%Y}"
    ]
    with app.app_context():
        stored = db.session.scalar(select(Shift))
    assert stored.starts_at == datetime.combine(day, AFTERNOON[0], PARIS)
    assert stored.created_by_id == user.id

    response = auth.post(f"/equipe/{member_id}/vacations/{stored.id}/retirer")
    assert response.status_code == 303
    page = client.get(response.location)
    assert "Vacation retirée." in page_text(page)
    assert upcoming_rows(page) == []
    assert count(app, Shift) == 0
    assert [(e.action, e.actor_id) for e in events(app)] == [
        ("roster.session_add", user.id),
        ("roster.session_withdraw", user.id),
    ]


def test_a_clinician_cannot_touch_another_members_sessions(app, client, auth, clinician):
    _, own_id = clinician
    other_id = make_member(app, "Marc Delpech", "infirmier")
    day = next_month_day(3)
    other_session = make_session(app, other_id, day)
    other_pattern = make_pattern(app, other_id, 0, next_month_first())
    own_pattern = make_pattern(app, own_id, 4, next_month_first())
    before = (count(app, Shift), count(app, WeeklyPattern), len(events(app)))

    assert client.get(f"/equipe/{other_id}").status_code == 403
    refused = {
        f"/equipe/{other_id}/vacations": session_form(day, "apres-midi"),
        f"/equipe/{other_id}/vacations/{other_session}/retirer": {},
        f"/equipe/{other_id}/modeles/{other_pattern}/absence": {
            f"absence-{other_pattern}-day": next_weekday(0, next_month_first()).isoformat()
        },
        f"/equipe/{other_id}/agenda": {},
        f"/equipe/{other_id}/agenda/revoquer": {},
        # Weekly patterns are the managers' business, even on one's own page.
        f"/equipe/{own_id}/modeles": pattern_form(1, next_month_first()),
        f"/equipe/{own_id}/modeles/{own_pattern}/terminer": {},
        "/equipe/nouveau": member_form(),
        f"/equipe/{own_id}/modifier": member_form(),
    }
    for url, data in refused.items():
        assert auth.post(url, data).status_code == 403, url
    for url in ("/equipe", "/equipe/nouveau", f"/equipe/{own_id}/modifier"):
        assert client.get(url).status_code == 403, url
    assert (count(app, Shift), count(app, WeeklyPattern), len(events(app))) == before
    assert load(app, TeamMember, other_id).ics_token_hash is None


def test_a_clinician_without_a_member_is_told_so(client, as_role):
    as_role("clinician")
    response = client.get("/mes-vacations")
    assert response.status_code == 404
    assert NO_MEMBER in page_text(response)


# --- the overlap rule and other refusals --------------------------------------------------------


def test_a_one_off_session_overlapping_another_is_refused(app, auth, as_role):
    user = as_role("assistant")
    member_id = make_member(app, "Jeanne Audouy")
    day = next_month_day(1)
    make_session(app, member_id, day)

    response = auth.post(
        f"/equipe/{member_id}/vacations", session_form(day, "autre", start="10:00", end="11:00")
    )
    assert response.status_code == 422
    assert field_error(response, "vacation-start") == OVERLAP.format(day=day, start="08h30", end="12h30")
    assert count(app, Shift) == 1
    assert done_by(app, user) == []

    # Right after the morning is not an overlap, but the lunch break is outside opening hours:
    # refused unless it is an « ouverture exceptionnelle ».
    lunch = session_form(day, "autre", start="12:30", end="13:30")
    response = auth.post(f"/equipe/{member_id}/vacations", lunch)
    assert response.status_code == 422
    assert field_error(response, "vacation-day").startswith("Hors des heures d'ouverture : le mardi")
    assert count(app, Shift) == 1
    response = auth.post(f"/equipe/{member_id}/vacations", lunch | {"vacation-exceptional": "y"})
    assert response.status_code == 303
    assert count(app, Shift) == 2


def test_a_one_off_session_on_a_weekly_pattern_occurrence_is_refused(app, auth, as_role):
    user = as_role("admin")
    member_id = make_member(app, "Sophie Bonnafous", "ipa")
    make_pattern(app, member_id, 1, today())  # every Tuesday morning
    tuesday = next_month_day(1)

    response = auth.post(f"/equipe/{member_id}/vacations", session_form(tuesday, "matin"))
    assert response.status_code == 422
    assert field_error(response, "vacation-start") == OVERLAP.format(day=tuesday, start="08h30", end="12h30")
    assert count(app, Shift) == 0
    assert done_by(app, user) == []
    # That Tuesday afternoon is free.
    assert auth.post(f"/equipe/{member_id}/vacations", session_form(tuesday, "apres-midi")).status_code == 303


def test_a_new_weekly_pattern_overlapping_a_one_off_within_a_year_is_refused(app, auth, as_role):
    user = as_role("assistant")
    member_id = make_member(app, "Sophie Bonnafous", "ipa")
    thursday = next_weekday(3, today() + timedelta(days=300))
    make_session(app, member_id, thursday, (time(11, 0), time(12, 0)))

    response = auth.post(f"/equipe/{member_id}/modeles", pattern_form(3, today()))
    assert response.status_code == 422
    assert field_error(response, "modele-start") == OVERLAP.format(day=thursday, start="11h00", end="12h00")
    assert count(app, WeeklyPattern) == 0
    assert done_by(app, user) == []


def test_a_session_in_the_past_is_refused(app, auth, as_role):
    as_role("assistant")
    member_id = make_member(app, "Jeanne Audouy")
    response = auth.post(f"/equipe/{member_id}/vacations", session_form(today() - timedelta(days=1)))
    assert response.status_code == 422
    assert field_error(response, "vacation-day") == "La date est passée."
    assert count(app, Shift) == 0
    assert events(app) == []


# --- weekly patterns, absences, end -------------------------------------------------------------


def test_every_tuesday_morning_shows_in_the_planning_week_after_week(app, client, auth, as_role):
    user = as_role("assistant")
    member_id = make_member(app, "Sophie Bonnafous", "ipa")
    first = planning_week()

    response = auth.post(f"/equipe/{member_id}/modeles", pattern_form(1, first))
    assert response.status_code == 303
    assert "Vacation hebdomadaire enregistrée." in page_text(client.get(response.location))
    [event] = events(app)
    assert (event.action, event.actor_id) == ("roster.pattern_add", user.id)
    assert f"chaque mardi de 08h30 à 12h30 à partir du {first:%d/%m/%Y}" in event.summary

    for monday in (first, first + timedelta(days=7), first + timedelta(days=14)):
        cells = week_cells(week(client, monday), monday)
        on_duty = [key for key, text in cells.items() if "Sophie Bonnafous" in text]
        assert on_duty == [(monday + timedelta(days=1), "Matin")], monday
    before = week_cells(week(client, first - timedelta(days=7)), first - timedelta(days=7))
    assert not any("Sophie Bonnafous" in text for text in before.values())


def test_an_absence_removes_that_one_day_only(app, client, auth, as_role):
    as_role("assistant")
    member_id = make_member(app, "Sophie Bonnafous", "ipa")
    first = planning_week()
    pattern_id = make_pattern(app, member_id, 1, first)
    absent = first + timedelta(days=8)  # the second Tuesday

    response = auth.post(
        f"/equipe/{member_id}/modeles/{pattern_id}/absence",
        {f"absence-{pattern_id}-day": absent.isoformat(), f"absence-{pattern_id}-reason": "formation"},
    )
    assert response.status_code == 303
    page = page_text(client.get(response.location))
    assert "Absence enregistrée." in page
    assert f"Absences : {absent:%d/%m/%Y} (formation)" in page

    for monday, present in (
        (first, True),
        (first + timedelta(days=7), False),
        (first + timedelta(days=14), True),
    ):
        cell = week_cells(week(client, monday), monday)[(monday + timedelta(days=1), "Matin")]
        assert ("Sophie Bonnafous" in cell) is present, monday
    assert actions(app)[-1] == "roster.pattern_exception"

    # A day the pattern does not happen is refused, and nothing is added.
    wednesday = absent + timedelta(days=1)
    response = auth.post(
        f"/equipe/{member_id}/modeles/{pattern_id}/absence",
        {f"absence-{pattern_id}-day": wednesday.isoformat()},
    )
    assert response.status_code == 422
    assert field_error(response, f"absence-{pattern_id}-day") == (
        "Aucun mardi de vacation à noter absent sur ces dates."
    )
    assert actions(app).count("roster.pattern_exception") == 1


def test_ending_a_pattern_stops_its_future_occurrences(app, client, auth, as_role):
    user = as_role("admin")
    member_id = make_member(app, "Sophie Bonnafous", "ipa")
    three_weeks_ago = monday_of(today()) - timedelta(days=21)
    pattern_id = make_pattern(app, member_id, 1, three_weeks_ago)

    response = auth.post(f"/equipe/{member_id}/modeles/{pattern_id}/terminer")
    assert response.status_code == 303
    assert load(app, WeeklyPattern, pattern_id).valid_until == today() - timedelta(days=1)
    for monday in (planning_week(), planning_week() + timedelta(days=7)):
        assert "Sophie Bonnafous" not in page_text(week(client, monday))
    # Past weeks keep their history.
    past = week_cells(week(client, three_weeks_ago), three_weeks_ago)
    assert "Sophie Bonnafous" in past[(three_weeks_ago + timedelta(days=1), "Matin")]
    assert done_by(app, user) == ["roster.pattern_end"]


def test_ending_a_pattern_that_has_already_ended_changes_nothing(app, client, auth, as_role):
    """The button is only shown on running patterns; a second or stale POST must not move an
    old end date to yesterday, which would bring back the weeks in between."""
    as_role("admin")
    member_id = make_member(app, "Sophie Bonnafous", "ipa")
    start = monday_of(today()) - timedelta(days=70)
    ended = start + timedelta(days=14)
    pattern_id = make_pattern(app, member_id, 1, start, ended)

    auth.post(f"/equipe/{member_id}/modeles/{pattern_id}/terminer")
    assert load(app, WeeklyPattern, pattern_id).valid_until == ended
    after_the_end = monday_of(ended) + timedelta(days=14)
    assert "Sophie Bonnafous" not in page_text(week(client, after_the_end))


# --- the planning -------------------------------------------------------------------------------


@pytest.fixture
def covered_week(app) -> date:
    """A week of next month whose half-days each test one coverage rule; returns its Monday."""
    monday = planning_week()
    doctor = make_member(app, "Jeanne Audouy")
    nurse = make_member(app, "Sophie Bonnafous", "ipa")
    assistant = make_member(app, "Lucie Fabre", "assistant_medical")
    intern = make_member(app, "Karim Benali", doctor_status="interne")
    tuesday, wednesday, thursday, friday = (monday + timedelta(days=i) for i in (1, 2, 3, 4))
    on_duty = [
        (tuesday, MORNING, (nurse, assistant)),  # no doctor
        (tuesday, AFTERNOON, (doctor, assistant)),  # no nurse
        (wednesday, MORNING, (doctor, nurse, assistant)),  # all there
        (thursday, MORNING, (doctor, nurse)),  # no medical assistant
        (friday, MORNING, (intern, nurse, assistant)),  # an intern alone
        (friday, AFTERNOON, (intern, doctor, nurse, assistant)),  # an intern with a senior
    ]
    for day, times, members in on_duty:
        for member_id in members:
            make_session(app, member_id, day, times)
    return monday


def test_the_week_shows_who_is_on_each_half_day_and_the_gaps(client, as_role, covered_week):
    as_role("assistant")
    monday = covered_week
    response = week(client, monday)
    text = page_text(response)
    cells = week_cells(response, monday)
    day = {
        name: monday + timedelta(days=i)
        for i, name in enumerate(("lun", "mar", "mer", "jeu", "ven", "sam", "dim"))
    }

    assert f"Semaine du {monday:%d/%m/%Y} au {day['dim']:%d/%m/%Y}" in text
    # One alert per real gap, in the words of the half-day: « demi-journée sans médecin ».
    alerts = [
        html.unescape(re.sub(r"<[^>]+>", "", li)).strip()
        for li in re.findall(
            r"<li>(.*?)</li>", response.get_data(as_text=True).split('id="alertes"')[1].split("</div>")[0]
        )
    ]
    assert f"Lun. {day['lun']:%d/%m} matin : demi-journée sans médecin" in alerts
    assert f"Mar. {day['mar']:%d/%m} après-midi : demi-journée sans infirmière" in alerts
    assert f"Jeu. {day['jeu']:%d/%m} matin : demi-journée sans assistant·e" in alerts
    assert not [a for a in alerts if "Mer." in a and "matin" in a]
    assert cells[(day["lun"], "Matin")].startswith("Sans médecin, sans infirmière, sans assistant·e")
    assert cells[(day["mar"], "Matin")].startswith("Sans médecin ")
    assert "Sophie Bonnafous" in cells[(day["mar"], "Matin")]
    assert cells[(day["mar"], "Après-midi")].startswith("Sans infirmière ")
    assert "Jeanne Audouy" in cells[(day["mar"], "Après-midi")]
    covered = cells[(day["mer"], "Matin")]
    assert "Sans" not in covered
    assert all(name in covered for name in ("Jeanne Audouy", "Sophie Bonnafous", "Lucie Fabre"))
    assert cells[(day["jeu"], "Matin")].startswith("Sans assistant·e ")
    assert "Karim Benali : pas de médecin senior présent" in cells[(day["ven"], "Matin")]
    assert "pas de médecin senior" not in cells[(day["ven"], "Après-midi")]
    for closed in (day["sam"], day["dim"]):
        for half in ("Matin", "Après-midi"):
            assert cells[(closed, half)] == "fermé"


def test_htmx_moves_to_the_next_week_with_the_planning_block_only(client, as_role, covered_week):
    as_role("clinician")
    previous = covered_week - timedelta(days=7)
    response = week(client, previous, **{"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert "<html" not in body and "<h1" not in body
    assert "HX-Request" in response.headers["Vary"]
    assert f"Semaine du {previous:%d/%m/%Y}" in html.unescape(body)
    for rel, monday in (("prev", previous - timedelta(days=7)), ("next", covered_week)):
        assert re.search(rf'hx-get="/planning\?semaine={monday.isoformat()}"[^>]*rel="{rel}"', body)
    # Following "next" gives the covered week, still as a fragment.
    following = week(client, covered_week, **{"HX-Request": "true"})
    assert "<html" not in following.get_data(as_text=True)
    assert "Jeanne Audouy" in page_text(following)
    # A boosted navigation gets the whole page.
    boosted = week(client, covered_week, **{"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in boosted.get_data(as_text=True)


def test_the_month_lists_each_half_days_count_and_gaps(client, as_role, covered_week):
    as_role("assistant")
    monday = covered_week
    response = client.get("/planning/mois", query_string={"mois": monday.isoformat()})
    assert response.status_code == 200
    assert f"{MONTHS[monday.month - 1].capitalize()} {monday.year}" in page_text(response)
    assert month_halves(response, monday) == [
        "M (matin) : 0 pers. — sans médecin, sans infirmière, sans assistant·e",
        "AM (après-midi) : 0 pers. — sans médecin, sans infirmière, sans assistant·e",
    ]
    assert month_halves(response, monday + timedelta(days=1)) == [
        "M (matin) : 2 pers. — sans médecin",
        "AM (après-midi) : 2 pers. — sans infirmière",
    ]
    assert month_halves(response, monday + timedelta(days=2))[0] == "M (matin) : 3 pers."
    assert month_halves(response, monday + timedelta(days=3))[0] == "M (matin) : 2 pers. — sans assistant·e"
    # The month's alerts, grouped by week.
    assert f"Semaine du {monday:%d/%m/%Y}" in page_text(response)
    assert month_halves(response, monday + timedelta(days=4)) == [
        "M (matin) : 3 pers. ⚠ Karim Benali : pas de médecin senior présent",
        "AM (après-midi) : 4 pers.",
    ]
    assert month_halves(response, monday + timedelta(days=5)) == [
        "M (matin) : fermé",
        "AM (après-midi) : fermé",
    ]

    fragment = client.get(
        "/planning/mois", query_string={"mois": monday.isoformat()}, headers={"HX-Request": "true"}
    )
    body = fragment.get_data(as_text=True)
    assert "<html" not in body
    following = (monday.replace(day=28) + timedelta(days=4)).replace(day=1)
    assert f'hx-get="/planning/mois?mois={following.isoformat()}"' in body


@pytest.mark.parametrize("value", ["", "demain", "2027-13-45", "1999-12-31", "2101-01-01", "2027-02-30", "0"])
def test_a_bad_week_or_month_falls_back_to_the_current_one(client, as_role, value):
    as_role("clinician")
    monday = monday_of(today())
    response = client.get("/planning", query_string={"semaine": value})
    assert response.status_code == 200
    assert f"Semaine du {monday:%d/%m/%Y}" in page_text(response)
    response = client.get("/planning/mois", query_string={"mois": value})
    assert response.status_code == 200
    assert f"{MONTHS[today().month - 1].capitalize()} {today().year}" in page_text(response)


# --- the calendar feed --------------------------------------------------------------------------


def vevents(app, path: str) -> list:
    """The feed read without logging in, as a calendar app does, parsed back by icalendar."""
    response = app.test_client().get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    calendar = icalendar.Calendar.from_ical(response.data)
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Paris"]
    return sorted(calendar.walk("VEVENT"), key=lambda e: e["DTSTART"].dt)


def test_a_calendar_feed_gives_paris_times_in_winter_and_summer(app, client, auth, as_role):
    user = as_role("assistant")
    member_id = make_member(app, "Sophie Bonnafous", "ipa")
    winter, summer = coming(1), coming(7)
    make_pattern(app, member_id, 0, winter, winter + timedelta(days=7))  # two Mondays
    make_session(app, member_id, summer + timedelta(days=2))
    other_id = make_member(app, "Jeanne Audouy")  # somebody else's sessions stay out of it
    make_session(app, other_id, summer)

    response = auth.post(f"/equipe/{member_id}/agenda")
    assert response.status_code == 201
    path = feed_path(response)
    assert "copiez-le maintenant, il ne sera plus affiché" in page_text(response)
    assert path.removeprefix("/agenda/").removesuffix(".ics") not in page_text(
        client.get(f"/equipe/{member_id}")
    )

    events_ = vevents(app, path)
    starts = [e["DTSTART"].dt for e in events_]
    assert [d.date() for d in starts] == [winter, winter + timedelta(days=7), summer + timedelta(days=2)]
    for event, start in zip(events_, starts, strict=True):
        assert start.tzinfo.key == "Europe/Paris"
        assert start.time() == time(8, 30)
        assert event["DTEND"].dt.time() == time(12, 30)
    assert [s.utcoffset() for s in starts] == [timedelta(hours=1)] * 2 + [timedelta(hours=2)]
    assert len({e["UID"] for e in events_}) == 3
    [event] = [e for e in events(app) if e.action == "roster.ics_token"]
    assert (event.actor_id, event.object_id) == (user.id, str(member_id))


def test_a_calendar_link_is_replaced_revoked_and_dies_with_the_member(app, client, auth, as_role, clinician):
    user, member_id = clinician
    anonymous = app.test_client()
    first = feed_path(auth.post(f"/equipe/{member_id}/agenda"))
    second = feed_path(auth.post(f"/equipe/{member_id}/agenda"))
    assert first != second
    assert anonymous.get(first).status_code == 404
    assert anonymous.get(second).status_code == 200

    response = auth.post(f"/equipe/{member_id}/agenda/revoquer")
    assert response.status_code == 303
    assert "Lien d'agenda révoqué" in page_text(client.get(response.location))
    assert anonymous.get(second).status_code == 404
    assert anonymous.get("/agenda/lien-inconnu.ics").status_code == 404
    assert [(e.action, e.actor_id) for e in events(app)] == [
        ("roster.ics_token", user.id),
        ("roster.ics_token", user.id),
        ("roster.ics_revoke", user.id),
    ]

    # A member an assistant takes off the team: their feed stops.
    third = feed_path(auth.post(f"/equipe/{member_id}/agenda"))
    assert anonymous.get(third).status_code == 200
    auth.logout()
    as_role("assistant")
    assert auth.post(f"/equipe/{member_id}/statut", {"active": "0"}).status_code == 303
    assert anonymous.get(third).status_code == 404
