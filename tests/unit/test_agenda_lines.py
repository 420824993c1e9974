"""How the agenda words its visits (booking.agenda_lines): the day's columns and the week's days."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from dalia_site.booking.agenda_lines import day_lines, week_lines
from dalia_site.domain.agenda import Visit
from dalia_site.models.vocabulary import AppointmentKind, AppointmentStatus

PARIS = ZoneInfo("Europe/Paris")
DAY = date(2027, 2, 3)


def visit(id_, hour, kind, status, members, walk_in=False):
    return Visit(
        id_,
        100 + id_,
        datetime(2027, 2, 3, hour, 0, tzinfo=UTC),  # 1 h later in Paris (winter)
        datetime(2027, 2, 3, hour, 30, tzinfo=UTC),
        AppointmentKind(kind),
        walk_in,
        AppointmentStatus(status),
        "Rouquette",
        "Odile",
        clinicians=[name for name, _ in members],
        member_ids=[member_id for _, member_id in members],
    )


def test_a_first_visit_shows_in_both_columns_and_a_walk_in_says_so():
    first = visit(1, 8, "first", "booked", [("Dr Marc Olive", 1), ("Claire Roux", 2)])
    walk_in = visit(2, 9, "doctor", "honoured", [("Dr Marc Olive", 1)], walk_in=True)

    lines = day_lines([first, walk_in], PARIS)

    assert [(line.hours, line.name, line.about) for line in lines[1]] == [
        ("09h00–09h30", "ROUQUETTE Odile", "Première consultation (médecin et infirmière) — prévu"),
        ("10h00–10h30", "ROUQUETTE Odile", "Consultation médecin (sans rendez-vous) — honoré"),
    ]
    assert [(line.status, line.patient_id) for line in lines[2]] == [("booked", 101)]


def test_the_week_lists_each_day_even_empty_with_who_sees_the_patient():
    first = visit(1, 8, "first", "booked", [("Dr Marc Olive", 1), ("Claire Roux", 2)])

    lines = week_lines([first], [DAY, date(2027, 2, 4)], PARIS)

    assert lines == {
        DAY: [
            (
                "booked",
                "09h00",
                "ROUQUETTE Odile — première consultation (médecin et infirmière) avec Dr Marc Olive "
                "et Claire Roux (prévu)",
            )
        ],
        date(2027, 2, 4): [],
    }
