"""The patient's « Parcours » in plain French, built from the rows (not the audit log); the
centre's opening hours as a sentence; words agreed with the patient's sex; profession labels."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dalia_site.domain import centre, patients
from dalia_site.domain.booking import FileVisit
from dalia_site.models import (
    PartnerOrganisation,
    Patient,
    Referral,
    StaffUser,
    TeamMember,
)
from dalia_site.models.vocabulary import AppointmentKind, AppointmentStatus, Profession, Sex

PARIS = ZoneInfo("Europe/Paris")
RECEIVED = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)


def member(name: str, profession: str) -> TeamMember:
    return TeamMember(name=name, profession=profession, team="stable")


DOCTOR = member("Dr Jeanne Audouy", "medecin")
NURSE = member("Laure Carrière", "ipa")


def visit(kind: str, start: datetime, status: str, *members: TeamMember, **fields) -> FileVisit:
    """An appointment as the patient's file reads it (booking.appointments_of)."""
    return FileVisit(
        **{"id": 1, "walk_in": False, "arrived_at": None, "cancel_reason": "", "override_reason": ""}
        | fields,
        kind=AppointmentKind(kind),
        starts_at=start,
        ends_at=start + timedelta(minutes=30),
        status=AppointmentStatus(status),
        clinicians=[(m.name, Profession(m.profession)) for m in members],
    )


def a_patient(**fields) -> Patient:
    defaults = {"status": "follow_up", "gp_name": "", "dac_gp_informed": False}
    patient = Patient(
        last_name="Rouquette", first_names="Odile", birth_date=date(1950, 3, 15), sex="F", **defaults | fields
    )
    referral = Referral(
        channel="phone",
        received_at=RECEIVED,
        referrer_name="Inès Barthe",
        status="accepted",
        decided_at=RECEIVED + timedelta(days=1),
        decline_reason="",
        orientation_detail="",
    )
    referral.source = PartnerOrganisation(name="DAC de l'Aude", category="dac")
    referral.decided_by = StaffUser(name="Sandrine Duval")
    patient.referrals = [referral]
    return patient


def test_a_whole_path_reads_in_order_from_referral_to_dac_handover():
    first = visit("first", datetime(2026, 3, 10, 8, 30, tzinfo=UTC), "honoured", DOCTOR, NURSE)
    missed = visit("nurse", datetime(2026, 4, 7, 13, 0, tzinfo=UTC), "no_show", NURSE)
    coming = visit("doctor", datetime(2026, 6, 1, 8, 0, tzinfo=UTC), "booked", DOCTOR)
    patient = a_patient(
        status="gp_found",
        gp_name="Dr Vidal",
        gp_found_at=datetime(2026, 4, 20, 10, 0, tzinfo=UTC),
        dac_handover_on=date(2026, 5, 4),
        dac_gp_informed=True,
    )
    now = datetime(2026, 5, 10, tzinfo=UTC)

    entries = patients.timeline(patient, [coming, missed, first], now, PARIS)

    assert [(e.kind, e.text) for e in entries] == [
        ("referral", "Adressage reçu de DAC de l'Aude (téléphone), par Inès Barthe"),
        ("decision", "Adressage accepté par Sandrine Duval : patient en suivi"),
        (
            "visit",
            "Première consultation (médecin et infirmière) avec Dr Jeanne Audouy (médecin) et "
            "Laure Carrière (infirmière en pratique avancée (IPA))",
        ),
        (
            "no_show",
            "Non venu : consultation infirmière avec Laure Carrière (infirmière en pratique avancée (IPA))",
        ),
        ("status", "Médecin traitant trouvé : Dr Vidal"),
        ("dac", "Situation transmise au DAC (patient informé, médecin traitant informé)"),
    ]
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    # The handover is a day, not a moment: shown without a time, placed after that day's events.
    assert entries[-1].dated_only and entries[-1].at.astimezone(PARIS).date() == date(2026, 5, 4)
    assert not any(e.dated_only for e in entries[:-1])


def test_cancelled_walk_in_unmarked_and_exit_lines():
    cancelled = visit(
        "doctor", datetime(2026, 3, 20, 8, 0, tzinfo=UTC), "cancelled", DOCTOR, cancel_reason="grippe"
    )
    walk_in = visit("nurse", datetime(2026, 3, 24, 9, 0, tzinfo=UTC), "honoured", NURSE, walk_in=True)
    unmarked = visit("doctor", datetime(2026, 3, 30, 9, 0, tzinfo=UTC), "booked", DOCTOR)
    patient = a_patient(status="discharged", updated_at=datetime(2026, 4, 2, tzinfo=UTC))

    texts = [
        e.text
        for e in patients.timeline(
            patient, [cancelled, walk_in, unmarked], datetime(2026, 5, 1, tzinfo=UTC), PARIS
        )
    ]

    assert texts[2:] == [
        "Annulé : consultation médecin avec Dr Jeanne Audouy (médecin) (grippe)",
        "Consultation infirmière sans rendez-vous avec Laure Carrière (infirmière en pratique avancée (IPA))",
        "Consultation médecin avec Dr Jeanne Audouy (médecin) — à marquer (honoré ou non venu)",
        "Sortie du suivi (statut « Sorti »)",
    ]


def test_a_declined_direct_referral_says_why_and_where_the_patient_was_sent():
    patient = a_patient(status="declined")
    (referral,) = patient.referrals
    referral.source = None
    referral.channel = "direct"
    referral.referrer_name = ""
    referral.status = "declined"
    referral.decline_reason = "Hors territoire"
    referral.orientation = "sas"

    texts = [e.text for e in patients.timeline(patient, [], datetime(2026, 5, 1, tzinfo=UTC), PARIS)]

    assert texts == [
        "Venue directe au centre (accès direct)",
        "Adressage non retenu par Sandrine Duval : Hors territoire — orienté vers SAS (soins non programmés)",
    ]


@pytest.mark.parametrize(("sex", "born"), [("F", "née"), ("M", "né"), ("X", "né(e)")])
def test_born_agrees_with_the_patient_s_sex(sex, born):
    assert Sex(sex).born == born


def test_one_clean_label_per_profession():
    assert Profession.IPA.label == "Infirmière en pratique avancée (IPA)"
    assert Profession.IPA.in_sentence == "infirmière en pratique avancée (IPA)"
    assert Profession.INFIRMIER_AZALEE.in_sentence == "infirmière Azalée"
    assert Profession.MEDECIN.in_sentence == "médecin"
    for profession in Profession:
        assert "·" not in profession.label, profession
        assert profession.label[0].isupper()


def settings(**fields) -> centre.Centre:
    values = {
        "display_name": "Centre DALIA du Bassin Carcassonnais",
        "address": "12 rue Aimé Ramond, 11000 Carcassonne",
        "phone": "0468112233",
        "access_notes": "",
        "what_to_bring": "Carte Vitale",
        "open_days": ("lundi", "mardi", "mercredi", "jeudi", "vendredi"),
        "morning": "08:30-12:30",
        "afternoon": "13:30-17:30",
        "first_minutes": 60,
        "doctor_minutes": 30,
        "nurse_minutes": 30,
    }
    return centre.Centre(**values | fields)


@pytest.mark.parametrize(
    ("days", "text"),
    [
        (
            ("lundi", "mardi", "mercredi", "jeudi", "vendredi"),
            "du lundi au vendredi, 8h30–12h30 et 13h30–17h30",
        ),
        (("mardi",), "le mardi, 8h30–12h30 et 13h30–17h30"),
        (("lundi", "jeudi"), "les lundi et jeudi, 8h30–12h30 et 13h30–17h30"),
        (("lundi", "mardi", "jeudi"), "les lundi, mardi et jeudi, 8h30–12h30 et 13h30–17h30"),
    ],
)
def test_opening_hours_read_as_a_sentence(days, text):
    assert settings(open_days=days).opening_text == text


def test_missing_settings_are_named_in_french():
    assert settings().missing() == ["accès (transports, stationnement, étage)"]
    assert settings(display_name="", phone="").missing() == [
        "nom affiché",
        "téléphone",
        "accès (transports, stationnement, étage)",
    ]
