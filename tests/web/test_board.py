"""The real year on the planning and the open half-days board, through the pages: Christmas
shown as a holiday without alert, closures entered by the admin, a volunteer taking an open
half-day in one click (the alert goes), the senior rule, giving back up to the site's delay,
the weekly opt-in email — and bad input answered in French, with a 4xx and nothing written."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dalia_site import clock
from dalia_site.domain import board, centre, opening
from dalia_site.extensions import db
from dalia_site.models import AuditEvent, Closure, OutboundEmail, Shift, TeamMember
from tests.web.test_picker import nurse_follow_up, team  # noqa: F401 - fixtures
from tests.web.test_roster import AFTERNOON, MORNING, count, make_member, make_session, page_text, text_of

PARIS = ZoneInfo("Europe/Paris")
BOARD = "/planning/demi-journees-ouvertes"


def today() -> date:
    return clock.today(PARIS)


def open_weekday(weekday: int, weeks_ahead: int = 5) -> date:
    """A `weekday` some weeks ahead that is no public holiday of the Aude (the test site's)."""
    day = today() + timedelta(weeks=weeks_ahead)
    day += timedelta(days=(weekday - day.weekday()) % 7)
    while opening.public_holidays("11", day, day):
        day += timedelta(days=7)
    return day


def next_christmas() -> date:
    christmas = date(today().year, 12, 25)
    return christmas if christmas > today() else date(today().year + 1, 12, 25)


def volunteer(app, make_user, auth, name="Dr Hélène Fabre", status="retraite"):
    """A volunteer doctor of the flexible team, logged in with her clinician account."""
    user = make_user("clinician")
    member_id = make_member(
        app, name, doctor_status=status, staff_user_id=user.id, email="h.fabre@exemple.fr"
    )
    auth.login_as(user)
    return user, member_id


def alerts_of(client, day: date) -> str:
    page = page_text(client.get("/planning", query_string={"semaine": day.isoformat()}))
    return text_of(page.split('id="alertes"')[1].split("</div>")[0])


def move_morning(app, shift_id: int, day: date) -> None:
    """The session moved to `day`'s morning, stored directly (to test the give-back delay)."""
    with app.app_context():
        db.session.execute(
            Shift.__table__.update()
            .where(Shift.id == shift_id)
            .values(
                starts_at=datetime.combine(day, MORNING[0], PARIS),
                ends_at=datetime.combine(day, MORNING[1], PARIS),
            )
        )
        db.session.commit()


def take(auth, day: date, half: str = "matin"):
    return auth.post(f"{BOARD}/prendre", {"jour": day.isoformat(), "demi": half})


@pytest.mark.parametrize(
    ("role", "status"), [("admin", 200), ("assistant", 200), ("clinician", 200), ("reporting", 403)]
)
def test_the_board_is_for_the_team_not_for_reporting(client, as_role, role, status):
    as_role(role)
    assert client.get(BOARD).status_code == status


@pytest.mark.parametrize("role", ["admin", "assistant", "clinician"])
def test_only_a_volunteer_of_the_flexible_team_takes_a_half_day(app, auth, as_role, role):
    as_role(role)  # no team member linked to the account
    response = take(auth, open_weekday(1))
    assert response.status_code == 403
    assert "Seuls les médecins et infirmières de l'équipe flexible" in page_text(response)
    assert count(app, Shift) == 0


def test_a_volunteer_takes_an_open_half_day_and_the_alert_goes(app, client, auth, make_user):
    user, member_id = volunteer(app, make_user, auth)
    tuesday = open_weekday(1)
    nurse = make_member(app, "Inès Azalée", "infirmier_azalee")
    make_session(app, nurse, tuesday)
    label = f"Mar. {tuesday:%d/%m} matin : demi-journée sans médecin"
    assert label in alerts_of(client, tuesday)
    listed = text_of(page_text(client.get(BOARD)))
    assert f"Mardi {tuesday:%d/%m/%Y} matin (08h30 – 12h30) : sans médecin" in listed

    response = take(auth, tuesday)
    assert response.status_code == 303
    with app.app_context():
        (shift,) = db.session.scalars(select(Shift).where(Shift.member_id == member_id)).all()
        assert shift.from_board and shift.starts_at.astimezone(PARIS) == datetime.combine(
            tuesday, MORNING[0], PARIS
        )
        assert (
            db.session.scalar(
                select(AuditEvent.actor_id)
                .where(AuditEvent.action == "roster.session_add")
                .order_by(AuditEvent.id.desc())
                .limit(1)
            )
            == user.id
        )
    assert label not in alerts_of(client, tuesday)
    page = text_of(page_text(client.get(BOARD)))
    assert f"Mardi {tuesday:%d/%m/%Y} matin (08h30" not in page.split("À pourvoir")[1]
    taken = page.split("Vos demi-journées prises")[1].split("À pourvoir")[0]
    assert f"Mardi {tuesday:%d/%m/%Y}, {MORNING[0]:%Hh%M} – {MORNING[1]:%Hh%M} Rendre" in taken

    # Twice the same half-day: refused, nothing written.
    again = take(auth, tuesday)
    assert again.status_code == 422
    assert "Cette demi-journée a déjà un médecin." in page_text(again)
    assert count(app, Shift) == 2


def lines_to_take(client) -> dict[str, str]:
    """The board's lines as read (with their button, if any), by the half-day each names."""
    listed = page_text(client.get(BOARD)).split('id="demi-journees-ouvertes"')[1].split("</ul>")[0]
    lines = [text_of(line) for line in listed.split("<li>")[1:]]
    return {line.split(" (")[0]: line for line in lines}


@pytest.mark.parametrize(
    ("profession", "their_team", "active", "offered"),
    [
        ("medecin", "flexible", True, "matin"),  # the morning lacks a doctor
        ("infirmier", "flexible", True, "après-midi"),  # the afternoon lacks a nurse
        ("medecin", "stable", True, None),
        ("medecin", "flexible", False, None),  # no longer in the team
    ],
)
def test_the_board_offers_each_reader_what_they_may_take(
    app, client, auth, make_user, profession, their_team, active, offered
):
    user = make_user("clinician")
    reader = make_member(app, "Camille Lecteur", profession, their_team, staff_user_id=user.id)
    if not active:
        with app.app_context():
            db.session.get(TeamMember, reader).active = False
            db.session.commit()
    auth.login_as(user)
    tuesday = open_weekday(1)
    make_session(app, make_member(app, "Inès Azalée", "infirmier_azalee"), tuesday)
    make_session(app, make_member(app, "Dr Paul Roux"), tuesday, AFTERNOON)

    lines = lines_to_take(client)
    for half, hours, lacks in (
        ("matin", "08h30 – 12h30", "médecin"),
        ("après-midi", "13h30 – 17h30", "infirmière"),
    ):
        said = f"Mardi {tuesday:%d/%m/%Y} {half}"
        button = f" Prendre le {tuesday:%d/%m/%Y} {half}" if half == offered else ""
        assert lines[said] == f"{said} ({hours}) : sans {lacks}{button}"
    page = page_text(client.get(BOARD))
    if offered:
        assert "Prenez-en une d'un clic" in page
        assert "à l'adresse de votre fiche (à renseigner par le secrétariat)" in page
    else:
        assert "Les médecins et infirmières de l'équipe flexible les prennent ici." in page
        assert "Prendre" not in page and "Courriel du lundi" not in page


def test_an_interne_takes_a_half_day_only_with_a_senior(app, client, auth, make_user):
    _, member_id = volunteer(app, make_user, auth, "Léa Interne", status="interne")
    wednesday = open_weekday(2)
    response = take(auth, wednesday, "apres-midi")
    assert response.status_code == 422
    assert "un médecin senior est présent" in page_text(response)
    assert count(app, Shift) == 0
    senior = make_member(app, "Dr Paul Senior")
    make_session(app, senior, wednesday, AFTERNOON)
    # With a senior on the half-day, the interne takes it beside him: her own session.
    response = take(auth, wednesday, "apres-midi")
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Shift.from_board).where(Shift.member_id == member_id)) is True


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"jour": "2020-01-07", "demi": "matin"}, "Cette demi-journée est passée."),
        ({"jour": "pas une date", "demi": "matin"}, "Demi-journée inconnue : choisissez-la dans la liste."),
        ({"jour": "", "demi": "soir"}, "Demi-journée inconnue : choisissez-la dans la liste."),
    ],
)
def test_bad_half_days_are_refused_in_french_with_nothing_written(app, auth, make_user, form, message):
    volunteer(app, make_user, auth)
    response = auth.post(f"{BOARD}/prendre", form)
    assert response.status_code == 422
    assert message in page_text(response)
    assert count(app, Shift) == 0


def test_christmas_is_a_holiday_on_the_planning_without_alert_and_cannot_be_taken(
    app, client, auth, make_user
):
    volunteer(app, make_user, auth)
    christmas = next_christmas()
    week = page_text(client.get("/planning", query_string={"semaine": christmas.isoformat()}))
    assert "férié — Noël" in week
    assert f"{christmas:%d/%m} matin" not in alerts_of(client, christmas)
    month = page_text(client.get("/planning/mois", query_string={"mois": christmas.isoformat()}))
    assert "férié — Noël" in month
    response = take(auth, christmas)
    if christmas.weekday() < 5:
        assert response.status_code == 422
        assert "Le centre n'ouvre pas ce jour-là (férié — Noël)." in page_text(response)
    assert count(app, Shift) == 0


def test_a_volunteer_gives_back_up_to_the_delay_and_never_someone_else_s(app, client, auth, make_user):
    _, member_id = volunteer(app, make_user, auth)
    later = open_weekday(3, weeks_ahead=4)
    assert take(auth, later).status_code == 303
    with app.app_context():
        mine = db.session.scalar(select(Shift.id).where(Shift.member_id == member_id))
    # Someone else's session: 403, a French message, nothing written.
    other = make_member(app, "Dr Autre Bénévole")
    theirs = make_session(app, other, later, AFTERNOON)
    response = auth.post(f"{BOARD}/{theirs}/rendre")
    assert response.status_code == 403
    assert "Cette demi-journée n'est pas la vôtre" in page_text(response)
    assert count(app, Shift) == 2
    # Within the delay (7 days by default): too late.
    soon = today() + timedelta(days=2)
    move_morning(app, mine, soon)
    response = auth.post(f"{BOARD}/{mine}/rendre")
    assert response.status_code == 422
    assert "Trop tard pour rendre cette demi-journée : jusqu'à 7 jours avant." in page_text(response)
    assert count(app, Shift) == 2
    # In time: given back, open again.
    assert take(auth, later, "apres-midi").status_code == 422  # the afternoon has a doctor already
    move_morning(app, mine, later)
    response = auth.post(f"{BOARD}/{mine}/rendre")
    assert response.status_code == 303
    assert count(app, Shift) == 1
    assert "Demi-journée rendue" in page_text(client.get(BOARD))


def test_the_weekly_email_goes_to_who_asked_and_names_no_patient(app, client, auth, make_user):
    _, member_id = volunteer(app, make_user, auth)
    assert auth.post(f"{BOARD}/courriel", {"courriel": "oui"}).status_code == 400
    assert auth.post(f"{BOARD}/courriel", {"courriel": "1"}).status_code == 303
    assert "Arrêter le courriel" in page_text(client.get(BOARD))
    quiet = make_member(app, "Dr Sans Courriel", email="sans@exemple.fr")  # did not ask
    with app.app_context():
        settings = centre.load(db.session)
        queued = board.queue_weekly_email(
            db.session,
            settings.opening,
            PARIS,
            "DALIA Bassin Carcassonnais",
            "https://dalia.example/planning/demi-journees-ouvertes",
            today=today(),
            now=clock.now(),
        )
        db.session.commit()
        emails = db.session.scalars(select(OutboundEmail)).all()
        assert queued == 1 and [e.to for e in emails] == ["h.fabre@exemple.fr"]
        assert "demi-journées ouvertes" in emails[0].subject
        assert (
            "sans médecin" in emails[0].body
            and "https://dalia.example/planning/demi-journees-ouvertes" in emails[0].body
        )
        assert (
            db.session.get(TeamMember, member_id).board_email
            and not db.session.get(TeamMember, quiet).board_email
        )


def test_the_admin_enters_a_closure_and_the_planning_says_ferme(app, client, auth, as_role):
    as_role("admin")
    first = open_weekday(0, weeks_ahead=6)
    form = {
        "fermeture-first_day": first.isoformat(),
        "fermeture-last_day": (first + timedelta(days=4)).isoformat(),
        "fermeture-label": "fermeture estivale",
    }
    bad = auth.post(
        "/admin/centre/fermetures", form | {"fermeture-last_day": (first - timedelta(days=1)).isoformat()}
    )
    assert bad.status_code == 422
    assert "Le dernier jour doit suivre le premier." in page_text(bad)
    assert count(app, Closure) == 0
    response = auth.post("/admin/centre/fermetures", form)
    assert response.status_code == 303
    assert f"Du {first:%d/%m/%Y} au {first + timedelta(days=4):%d/%m/%Y} : fermeture estivale" in page_text(
        client.get("/admin/centre")
    )
    week = page_text(client.get("/planning", query_string={"semaine": first.isoformat()}))
    assert week.count("fermé — fermeture estivale") == 10  # five days, two halves each
    assert "demi-journée sans" not in alerts_of(client, first)
    with app.app_context():
        closure_id = db.session.scalar(select(Closure.id))
    assert auth.post(f"/admin/centre/fermetures/{closure_id}/lever").status_code == 303
    assert count(app, Closure) == 0
    assert auth.post(f"/admin/centre/fermetures/{closure_id}/lever").status_code == 404


@pytest.mark.parametrize("role", ["assistant", "clinician", "reporting"])
def test_only_the_admin_enters_closures(app, auth, as_role, role):
    as_role(role)
    day = open_weekday(0, weeks_ahead=6).isoformat()
    response = auth.post(
        "/admin/centre/fermetures", {"fermeture-first_day": day, "fermeture-label": "formation"}
    )
    assert response.status_code == 403
    assert count(app, Closure) == 0


def test_the_slot_picker_says_why_a_holiday_has_no_slot(app, client, nurse_follow_up):  # noqa: F811
    patient, _, _ = nurse_follow_up
    christmas = next_christmas()
    response = client.get(
        f"/patients/{patient}/creneaux",
        query_string={"du": christmas.isoformat()},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "Férié — Noël" in page_text(response)


def test_the_desk_on_christmas_says_it_is_a_holiday_and_shows_the_next_open_day(client, as_role):
    as_role("assistant")
    christmas = next_christmas()
    days = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
    page = text_of(page_text(client.get("/", query_string={"jour": christmas.isoformat()})))
    assert f"Le centre est fermé le {days[christmas.weekday()]} {christmas:%d/%m/%Y} (férié — Noël)" in page
