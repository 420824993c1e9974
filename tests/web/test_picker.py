"""The slot picker through the pages: a week of free slots filtered by kind, date, clinician and
half-day, week by week (htmx or plain links), a confirmation before anything is booked, the
same for a reschedule; a slot taken meanwhile (409, a fresh week); bad choices refused in French
with nothing written. Who may call the routes: tests/web/test_access.py."""

import re
from datetime import date, datetime, time, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.web.test_booking import (
    DOCTOR,
    MORNING,
    NURSE,
    TAKEN,
    Team,
    accepted,
    appointment_id,
    at,
    book,
    events,
    offered,
    page_text,
    stored,
    tomorrow,
)
from tests.web.test_roster import make_member, make_session

AFTERNOON = (time(13, 30), time(17, 30))
OTHER_NURSE = "Inès Barthe"


def picker(client, patient_id: int, htmx: bool = False, **choices):
    return client.get(
        f"/patients/{patient_id}/creneaux",
        query_string=choices,
        headers={"HX-Request": "true"} if htmx else {},
    )


@pytest.fixture
def team(app) -> Team:
    """As in test_booking: a doctor and a nurse, both on duty tomorrow morning."""
    day = tomorrow()
    doctor, nurse = make_member(app, DOCTOR), make_member(app, NURSE, profession="infirmier_azalee")
    doctor_session = make_session(app, doctor, day, MORNING)
    make_session(app, nurse, day, MORNING)
    return Team(day, doctor, nurse, doctor_session)


def slot_value(start: datetime, members: str) -> str:
    return f"{start.isoformat()}_{members}"


def confirmation(client, patient_id: int, start: datetime, members: str, **choices):
    return client.get(
        f"/patients/{patient_id}/rendez-vous/confirmer",
        query_string={"creneau": slot_value(start, members), **choices},
    )


def facts(response) -> dict[str, str]:
    return {
        re.sub(r"<[^>]+>", "", dt): " ".join(re.sub(r"<[^>]+>", " ", dd).split())
        for dt, dd in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", page_text(response), re.S)
    }


def confirm_form(response) -> tuple[str, dict[str, str]]:
    """The « Confirmer » form of a confirmation page: (action, fields)."""
    body = response.get_data(as_text=True)
    [(action, form)] = [
        (action, form)
        for action, form in re.findall(r'<form method="post" action="([^"]+)">(.*?)</form>', body, re.S)
        if "Confirmer</button>" in form
    ]
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))
    return action, {k: v for k, v in fields.items() if k != "csrf_token"}


@pytest.fixture
def nurse_follow_up(app, auth, as_role, team):
    """An assistant; a patient whose first visit is booked tomorrow 08:30 (a nurse comes next);
    a second nurse on duty eight days later only, 08:30-10:00 and 13:30-17:30."""
    as_role("assistant")
    patient = accepted(app)
    appointment_id(book(auth, patient, at(team.day, 8, 30), team.pair))
    other_nurse = make_member(app, OTHER_NURSE, profession="ipa")
    later = team.day + timedelta(days=8)
    make_session(app, other_nurse, later, AFTERNOON)
    make_session(app, other_nurse, later, (time(8, 30), time(10)))
    return patient, other_nurse, later


def test_a_named_nurse_on_a_chosen_date_through_the_confirmation(app, client, auth, team, nurse_follow_up):
    patient, ines, later = nurse_follow_up

    week = picker(client, patient, kind="nurse", du=later.isoformat(), soignant=ines, moment="apres-midi")

    assert week.status_code == 200
    assert {members for _, members in offered(week)} == {str(ines)}
    starts = [start for start, _ in offered(week)]
    assert starts[0] == at(later, 13, 30) and starts[-1] == at(later, 17)  # 30-minute visits
    assert all(s.date() == later for s in starts)  # not the morning
    assert f"Du {later:%d/%m/%Y} au {later + timedelta(days=6):%d/%m/%Y}" in page_text(week)

    picked = confirmation(client, patient, at(later, 14), str(ines), kind="nurse", soignant=ines)
    assert picked.status_code == 200
    shown = facts(picked)
    assert shown["Patient"].startswith("ROUQUETTE Odile Marie")
    assert shown["Rendez-vous"] == "Consultation infirmière"
    assert shown["Heure"] == "14h00" and shown["Date"].endswith(f"{later:%d/%m/%Y}")
    assert shown["Avec"].startswith(OTHER_NURSE) and shown["Durée"] == "30 minutes"
    assert "Hors alternance" not in shown
    assert len(stored(app)) == 1  # the confirmation books nothing

    action, fields = confirm_form(picked)
    assert action == f"/patients/{patient}/rendez-vous"
    booked = auth.post(action, fields)
    new_id = appointment_id(booked)
    last = stored(app)[-1]
    assert (last.id, last.kind, last.starts_at, last.members) == (new_id, "nurse", at(later, 14), (ines,))


def test_the_week_moves_by_htmx_and_by_plain_links_with_the_same_choices(client, team, nurse_follow_up):
    patient, ines, later = nurse_follow_up
    page = picker(client, patient, kind="nurse", soignant=ines)
    assert offered(page) == []  # Inès works next week only
    assert "Aucun créneau libre cette semaine avec ces choix" in page_text(page)
    link = re.search(
        r'<a href="([^"]+)" hx-get="([^"]+)" hx-target="#semaine" rel="next">Semaine suivante →</a>',
        page_text(page),
    )
    assert link and link.group(1) == link.group(2)
    assert "Semaine précédente" not in page_text(page)  # the week starts today
    query = parse_qs(urlsplit(link.group(1)).query)
    assert query["soignant"] == [str(ines)] and query["kind"] == ["nurse"]

    following = client.get(link.group(1), headers={"HX-Request": "true"})

    body = following.get_data(as_text=True)
    assert following.status_code == 200 and "<html" not in body and "<h1" not in body
    assert "HX-Request" in following.headers["Vary"]
    assert offered(following) and {m for _, m in offered(following)} == {str(ines)}
    assert 'rel="prev">← Semaine précédente</a>' in body
    # Without JavaScript the same link gives the whole page.
    assert "<html" in client.get(link.group(1)).get_data(as_text=True)


def test_choosing_another_kind_needs_the_reason_before_the_confirmation(app, client, team, nurse_follow_up):
    patient, _, _ = nurse_follow_up
    start = at(team.day, 10)

    refused = confirmation(client, patient, start, str(team.doctor), kind="doctor")

    assert refused.status_code == 422
    assert "L'alternance propose : consultation infirmière. Indiquez pourquoi" in page_text(refused)
    assert offered(refused)  # the week, to choose again
    allowed = confirmation(client, patient, start, str(team.doctor), kind="doctor", override_reason="Bilan")
    assert allowed.status_code == 200
    assert facts(allowed)["Hors alternance"] == "Bilan (l'alternance propose : consultation infirmière)"
    assert len(stored(app)) == 1


@pytest.fixture
def assistant_and_two_patients(app, as_role, team):
    as_role("assistant")
    return accepted(app, "Rouquette"), accepted(app, "Cazals")


def test_a_slot_taken_meanwhile_gives_409_and_a_fresh_week(
    app, client, auth, team, assistant_and_two_patients
):
    first, second = assistant_and_two_patients
    start = at(team.day, 9)
    page = confirmation(client, second, start, team.pair)
    assert page.status_code == 200
    action, fields = confirm_form(page)
    appointment_id(book(auth, first, start, team.pair))  # someone was faster

    again = confirmation(client, second, start, team.pair)
    assert again.status_code == 409
    assert TAKEN in page_text(again)
    assert start not in [s for s, _ in offered(again)] and offered(again)[0][0] == at(team.day, 10)

    refused = auth.post(action, fields)  # « Confirmer » on the page opened before
    assert refused.status_code == 409
    assert TAKEN in page_text(refused)
    assert offered(refused)[0] == (at(team.day, 10), team.pair)
    assert [a.patient_id for a in stored(app)] == [first]
    assert len(events(app, "appointment.book")) == 1


@pytest.mark.parametrize(
    ("choices", "message"),
    [
        ({"du": "2001-01-01"}, "Choisissez une date entre le"),
        ({"du": "FAR"}, "Choisissez une date entre le"),
        ({"du": "demain"}, "Date invalide : choisissez un jour dans le calendrier."),
        ({"kind": "surprise"}, "Type de rendez-vous inconnu."),
        ({"kind": "doctor", "soignant": "NURSE"}, "Choisissez un médecin pour une consultation médecin."),
        (
            {"kind": "nurse", "soignant": "DOCTOR"},
            "Choisissez une infirmière pour une consultation infirmière.",
        ),
        ({"soignant": "9999"}, "Ce soignant n'est pas dans l'équipe active."),
        ({"moment": "soir"}, "Choisissez le matin, l'après-midi ou la journée."),
    ],
)
def test_bad_choices_on_the_week_are_refused_in_french(
    app, client, team, assistant_and_two_patients, choices, message
):
    patient, _ = assistant_and_two_patients
    ids = {
        "NURSE": str(team.nurse),
        "DOCTOR": str(team.doctor),
        "FAR": (date.today() + timedelta(days=400)).isoformat(),
    }
    choices = {k: ids.get(v, v) for k, v in choices.items()}

    for htmx in (False, True):
        response = picker(client, patient, htmx=htmx, **choices)
        assert response.status_code == 422
        assert message in page_text(response)
        assert 'role="alert"' in response.get_data(as_text=True)
        assert offered(response) == []
    assert stored(app) == []


@pytest.mark.parametrize(
    ("slot", "choices", "status", "message"),
    [
        ("PAST", {}, 422, "Ce créneau est passé."),
        ("DOCTOR_ONLY", {}, 422, "Ce créneau ne correspond pas au type de rendez-vous."),
        ("NURSE_FOR_DOCTOR", {"kind": "doctor", "override_reason": "x"}, 422, "ne correspond pas au type"),
        ("GOOD", {"kind": "surprise"}, 422, "Type de rendez-vous inconnu."),
        ("FAR", {}, 422, "Choisissez une date entre le"),
        ("OFF_GRID", {}, 422, "Ce créneau n'est pas proposé par le planning."),
        ("OUT_OF_DUTY", {}, 409, TAKEN),
        ("UNREADABLE", {}, 400, "Créneau illisible"),
        ("NAIVE", {}, 400, "Créneau illisible"),
    ],
)
def test_bad_slots_on_the_confirmation_are_refused_and_nothing_is_written(
    app,
    client,
    team,
    assistant_and_two_patients,
    slot,
    choices,
    status,
    message,
):
    patient, _ = assistant_and_two_patients
    values = {
        "PAST": slot_value(at(team.day - timedelta(days=2), 9), team.pair),
        "DOCTOR_ONLY": slot_value(at(team.day, 9), str(team.doctor)),
        "NURSE_FOR_DOCTOR": slot_value(at(team.day, 9), str(team.nurse)),
        "GOOD": slot_value(at(team.day, 9), team.pair),
        "FAR": slot_value(at(team.day + timedelta(days=400), 9), team.pair),
        "OFF_GRID": slot_value(at(team.day, 9, 5), team.pair),
        "OUT_OF_DUTY": slot_value(at(team.day, 15), team.pair),
        "UNREADABLE": "demain_1,2",
        "NAIVE": f"{at(team.day, 9).replace(tzinfo=None).isoformat()}_{team.pair}",
    }

    response = client.get(
        f"/patients/{patient}/rendez-vous/confirmer", query_string={"creneau": values[slot], **choices}
    )

    assert response.status_code == status
    assert message in page_text(response)
    assert stored(app) == []
    assert events(app, "appointment.book") == []


def test_a_reschedule_goes_through_the_same_picker_and_confirmation(
    app, client, auth, team, assistant_and_two_patients
):
    patient, _ = assistant_and_two_patients
    old = appointment_id(book(auth, patient, at(team.day, 8, 30), team.pair))

    page = client.get(f"/rendez-vous/{old}/reporter", query_string={"moment": "matin"})
    assert page.status_code == 200
    assert f"Reporter le rendez-vous du {team.day:%d/%m/%Y} à 08h30" in page_text(page)
    assert 'name="kind"' not in page.get_data(as_text=True)  # a reschedule keeps its kind
    assert offered(page)[0] == (at(team.day, 8, 45), team.pair)
    assert f'action="/rendez-vous/{old}/reporter/confirmer"' in page.get_data(as_text=True)

    picked = client.get(
        f"/rendez-vous/{old}/reporter/confirmer",
        query_string={"creneau": slot_value(at(team.day, 10, 30), team.pair)},
    )
    assert picked.status_code == 200
    assert "Confirmer le report" in page_text(picked)
    assert facts(picked)["Remplace"] == f"le rendez-vous du {team.day:%d/%m/%Y} à 08h30"
    assert [a.status for a in stored(app)] == ["booked"]

    action, fields = confirm_form(picked)
    assert action == f"/rendez-vous/{old}/reporter"
    new = appointment_id(auth.post(action, fields))
    before, after = stored(app)
    assert (before.id, before.status) == (old, "cancelled")
    assert (after.id, after.starts_at, after.members) == (
        new,
        at(team.day, 10, 30),
        (team.doctor, team.nurse),
    )


def test_the_patient_page_offers_the_pickers_choices(client, team, assistant_and_two_patients):
    patient, _ = assistant_and_two_patients
    page = page_text(client.get(f"/patients/{patient}"))
    assert f'action="/patients/{patient}/creneaux"' in page
    for label in ("Type de rendez-vous", "À partir du", "Soignant", "Moment"):
        assert f">{label}</label>" in page
    assert f">{DOCTOR}</option>" in page and f">{NURSE}</option>" in page
    assert "Voir les créneaux libres" in page


# --- Size on a busy week ------------------------------------------------------------------------


def test_the_pickers_week_fragment_stays_under_10_kb_on_a_busy_week(app, client, team, nurse_follow_up):
    """Issue 15: a nurse's week with no other choice, a nurse on duty every weekday morning and
    afternoon (a 30-minute visit every quarter of an hour: about 150 free slots), for htmx."""
    patient, _, _ = nurse_follow_up
    for offset in range(5):
        day = team.day + timedelta(days=offset)
        for times in (MORNING, AFTERNOON)[1 if offset == 0 else 0 :]:
            make_session(app, team.nurse, day, times)
    fragment = picker(client, patient, htmx=True, kind="nurse", du=team.day.isoformat())
    assert fragment.status_code == 200
    body = fragment.get_data()
    assert b"<html" not in body and body.count(b"<fieldset") == 7
    slots = len(offered(fragment))
    assert slots >= 140, slots
    assert len(body) <= 10 * 1024, (slots, len(body))
