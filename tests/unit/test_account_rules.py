"""Account rules without HTTP: throttling window, password policy, audit summaries, emails."""

from datetime import UTC, datetime, timedelta

import pytest

from dalia_site.domain.accounts import FAILURE_WINDOW, MAX_FAILURES, throttle_wait
from dalia_site.domain.audit import describe_changes
from dalia_site.domain.passwords import hash_password, password_problems, verify_password
from dalia_site.domain.text import InvalidValue, email_key, normalise_email

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def minutes_ago(*minutes: float) -> list[datetime]:
    return [NOW - timedelta(minutes=m) for m in minutes]


def test_four_recent_failures_still_allow_an_attempt():
    assert throttle_wait(minutes_ago(1, 2, 3, 4), NOW) is None


def seconds_ago(*seconds: float) -> list[datetime]:
    return [NOW - timedelta(seconds=s) for s in seconds]


def test_the_fifth_failure_asks_for_thirty_seconds_then_the_wait_doubles():
    """Growing delays after the latest failure, never a lock of fixed length."""
    assert throttle_wait(seconds_ago(10, 20, 30, 40, 50), NOW) == timedelta(seconds=20)
    assert throttle_wait(seconds_ago(10, 20, 30, 40, 50, 60), NOW) == timedelta(seconds=50)
    assert throttle_wait(seconds_ago(10, 20, 30, 40, 50, 60, 70), NOW) == timedelta(seconds=110)


def test_the_wait_is_over_once_the_delay_after_the_latest_failure_has_passed():
    assert throttle_wait(seconds_ago(31, 40, 50, 60, 70), NOW) is None


def test_the_longest_wait_is_fifteen_minutes_however_many_failures():
    wait = throttle_wait(minutes_ago(*[m / 10 for m in range(1, 40)]), NOW)
    assert timedelta(minutes=14) < wait <= timedelta(minutes=15)


def test_failures_older_than_the_window_do_not_count():
    assert throttle_wait(minutes_ago(0.1, 0.2, 0.3, 0.4, 60, 61, 90), NOW) is None


def test_policy_constants_are_those_of_the_issue():
    assert MAX_FAILURES == 5
    assert FAILURE_WINDOW == timedelta(hours=1)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  Laure.Maury@Example.ORG ", "laure.maury@example.org"),
        ("a@b.fr", "a@b.fr"),
    ],
)
def test_emails_are_compared_trimmed_and_lowercased(raw, expected):
    assert email_key(raw) == expected


@pytest.mark.parametrize(
    "password, message",
    [
        ("court", "Le mot de passe doit contenir au moins 12 caractères dont"),
        ("marie.dupont", "Le mot de passe ne doit pas reprendre l'adresse e-mail."),
        ("aaaaaaaaaaaaaa", "Le mot de passe est trop répétitif."),
        ("mariedupontxy", "au moins 12 caractères dont une majuscule, une minuscule, un chiffre"),
        ("Xk4!pq9-Lm2z", None),  # 12 characters of the four kinds, nothing to guess
        ("une phrase de passe longue", None),  # 14 or more of any kind
        ("password1234", "ou au moins 14 caractères de tout type."),
        ("azertyuiop123", "ou au moins 14 caractères de tout type."),
        # Long enough for the CNIL rule, guessed early: French word + year, the user's or site's names.
        ("Motdepasse2026", "Ce mot de passe est trop facile à deviner"),
        ("Mariedupont2026!", "Ce mot de passe est trop facile à deviner"),
        ("Carcassonne2026!", "Ce mot de passe est trop facile à deviner"),
    ],
)
def test_password_policy_messages(password, message):
    problems = password_problems(password, "marie.dupont@cpts.fr", "Marie Dupont", ["carcassonne"])
    if message is None:
        assert problems == []
    else:
        assert any(message in problem for problem in problems), problems


def test_password_hash_is_argon2id_and_verifies_only_the_right_password():
    hashed = hash_password("une phrase de passe longue")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "une phrase de passe longue")
    assert not verify_password(hashed, "une phrase de passe longuE")
    assert not verify_password(None, "une phrase de passe longue")
    assert not verify_password("not-a-hash", "x")


def test_audit_summary_lists_only_changed_fields_in_french():
    summary = describe_changes(
        {"nom": "A", "rôle": "assistant", "actif": True},
        {"nom": "A", "rôle": "admin", "actif": False},
    )
    assert summary == "rôle : assistant → admin ; actif : oui → non"
    assert describe_changes({"nom": "A"}, {"nom": "A"}) == ""


@pytest.mark.parametrize(
    "raw", ["a,b@evil.invalid", "x<attacker@evil.invalid>.fr", "a@b", "marie@localhost", "a b@cpts.fr"]
)
def test_one_email_rule_refuses_what_is_not_one_plain_address(raw):
    """Staff, partners, patients and referrers: one check (email-validator), a French message."""
    with pytest.raises(InvalidValue, match="Adresse e-mail invalide"):
        normalise_email(raw)


def test_an_email_is_stored_trimmed_and_lowercased():
    assert normalise_email("  Laure.Maury@Example.ORG ") == "laure.maury@example.org"
    assert normalise_email("") == ""


def test_mail_is_never_queued_to_two_recipients(app):
    """A row stored before the check (`a,b@…`) queues nothing instead of mailing both parts."""
    from dalia_site.domain import mail
    from dalia_site.extensions import db

    with app.app_context():
        assert mail.queue(db.session, "a,b@evil.invalid", "Objet", "Texte") is None
        assert mail.queue(db.session, "patient@exemple.fr", "Objet", "Texte").to == "patient@exemple.fr"


def test_a_password_longer_than_the_strength_checker_takes_is_judged_not_refused_with_an_error():
    """zxcvbn raises past 72 characters: a long passphrase is judged on its first 72 (strong
    here), a long repetitive one gets the French message — never a server error."""
    phrase = "Le-chat-de-Madame-Audouy-dort-sur-le-muret-du-jardin-de-Carcassonne-depuis-2019!"
    assert len(phrase) > 72 and password_problems(phrase) == []
    assert password_problems("Aa1!" + "x" * 95 + "qZ9#") == [
        "Ce mot de passe est trop facile à deviner (mot courant, suite de clavier, nom, date ou "
        "année) : allongez-le, une phrase de quelques mots est idéale."
    ]
