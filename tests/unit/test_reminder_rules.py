"""Issue 17's rules without HTTP: phone numbers (parsing table, mobiles, French display), the
reminders' sending window across daylight-saving changes, the backoff, the channel a reminder
takes (opt-out included) and the life of a patient's private link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from dalia_site.domain import mail, phones, reminders, sms
from dalia_site.domain.text import InvalidValue, format_phone
from dalia_site.models.vocabulary import AppointmentStatus, ReminderChannel

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("typed", "stored", "mobile", "shown"),
    [
        ("06 12 34 56 78", "+33612345678", True, "06 12 34 56 78"),
        ("0612345678", "+33612345678", True, "06 12 34 56 78"),
        ("06.12.34.56.78", "+33612345678", True, "06 12 34 56 78"),
        ("06-12-34-56-78", "+33612345678", True, "06 12 34 56 78"),
        ("+33 6 12 34 56 78", "+33612345678", True, "06 12 34 56 78"),
        ("+33 (0)6 12 34 56 78", "+33612345678", True, "06 12 34 56 78"),
        ("0033 6 12 34 56 78", "+33612345678", True, "06 12 34 56 78"),
        ("07 81 23 45 67", "+33781234567", True, "07 81 23 45 67"),
        ("04 68 11 22 33", "+33468112233", False, "04 68 11 22 33"),
        ("05 65 36 73 87", "+33565367387", False, "05 65 36 73 87"),
        ("09 72 10 20 30", "+33972102030", False, "09 72 10 20 30"),
        ("+32 470 12 34 56", "+32470123456", True, "+32 470 12 34 56"),
        ("06 39 98 12 34", "+33639981234", True, "06 39 98 12 34"),  # ARCEP's range for fiction
        ("04 65 71 00 00", "+33465710000", False, "04 65 71 00 00"),
        ("", "", False, ""),
    ],
)
def test_phone_numbers_are_read_in_french_ways_stored_in_e164_and_shown_french(typed, stored, mobile, shown):
    assert phones.normalise(typed) == stored
    assert phones.is_mobile(stored) is mobile
    assert format_phone(stored) == shown


@pytest.mark.parametrize(
    "typed", ["06 12 34 56", "0612345678901", "01 23", "appelez-moi", "+33 1", "00 00 00 00 00"]
)
def test_what_is_not_a_phone_number_is_refused_with_a_french_message(typed):
    with pytest.raises(InvalidValue, match="Numéro de téléphone invalide"):
        phones.normalise(typed)


def test_a_value_stored_before_e164_is_shown_as_it_was_and_is_no_mobile():
    assert format_phone("0565367387") == "05 65 36 73 87"
    assert phones.is_mobile("0612345678") is False  # migrated to E.164 first (migration 0009)


@pytest.mark.parametrize(
    ("local", "inside"),
    [
        ("2026-03-29 07:59", False),  # the spring change (02:00 → 03:00): the window is local time
        ("2026-03-29 08:00", True),
        ("2026-03-29 19:59", True),
        ("2026-03-29 20:00", False),
        ("2026-10-25 07:30", False),  # the autumn change (03:00 → 02:00)
        ("2026-10-25 08:00", True),
        ("2026-10-25 20:30", False),
        ("2026-07-14 12:00", True),
    ],
)
def test_the_sending_window_is_8_to_20_on_the_sites_clock_across_dst(local, inside):
    moment = datetime.fromisoformat(local).replace(tzinfo=PARIS).astimezone(UTC)
    assert mail.in_sending_window(moment, PARIS) is inside


def test_the_window_follows_utc_offsets_that_change_with_dst():
    winter_8h = datetime(2026, 1, 15, 7, tzinfo=UTC)  # 8 h in Paris (UTC+1)
    summer_8h = datetime(2026, 7, 15, 6, tzinfo=UTC)  # 8 h in Paris (UTC+2)
    assert mail.in_sending_window(winter_8h, PARIS) and mail.in_sending_window(summer_8h, PARIS)
    assert not mail.in_sending_window(winter_8h - timedelta(minutes=1), PARIS)
    assert not mail.in_sending_window(summer_8h - timedelta(minutes=1), PARIS)


def test_a_failed_message_waits_longer_at_each_attempt_up_to_six_hours():
    assert [mail.backoff(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (5, 10, 20, 40)]
    assert mail.backoff(20) == timedelta(hours=6)


def patient(channel: str, phone: str = "+33612345678", email: str = "", objects: bool = False):
    return SimpleNamespace(
        reminder_channel=ReminderChannel(channel),
        phone=phone,
        email=email,
        objects_to_reminders=objects,
        erased_at=None,  # rights.may() reads it: an erased patient gets no reminder either
    )


@pytest.mark.parametrize(
    ("who", "sms_ready", "channel"),
    [
        (patient("sms"), True, ReminderChannel.SMS),
        (patient("sms", phone="+33468112233"), True, ReminderChannel.NONE),  # a landline gets no SMS
        (patient("sms", email="a@example.org"), False, ReminderChannel.EMAIL),  # no SMS provider
        (patient("sms"), False, ReminderChannel.NONE),
        (patient("email", email="a@example.org"), True, ReminderChannel.EMAIL),
        (patient("email"), True, ReminderChannel.NONE),
        (patient("none", email="a@example.org"), True, ReminderChannel.NONE),  # STOP / opt-out
        (patient("sms", objects=True), True, ReminderChannel.NONE),  # objection (issue 21)
    ],
)
def test_the_channel_a_reminder_takes(who, sms_ready, channel):
    assert reminders.channel_for(who, sms_ready) == channel


def test_intake_proposes_sms_to_a_mobile_else_email_else_nothing():
    assert reminders.default_channel("+33612345678", "a@example.org") == ReminderChannel.SMS
    assert reminders.default_channel("+33468112233", "a@example.org") == ReminderChannel.EMAIL
    assert reminders.default_channel("", "") == ReminderChannel.NONE


def test_a_link_answers_until_the_visit_starts_and_not_once_cancelled():
    start = datetime(2026, 12, 3, 9, tzinfo=UTC)
    booked = SimpleNamespace(status=AppointmentStatus.BOOKED, starts_at=start)
    assert reminders.state(booked, start - timedelta(days=2)) == "open"
    assert reminders.state(booked, start - timedelta(seconds=1)) == "open"
    assert reminders.state(booked, start) == "past"
    assert (
        reminders.state(SimpleNamespace(status=AppointmentStatus.HONOURED, starts_at=start), start) == "past"
    )
    cancelled = SimpleNamespace(status=AppointmentStatus.CANCELLED, starts_at=start)
    assert reminders.state(cancelled, start - timedelta(days=1)) == "cancelled"


def test_the_link_carries_the_token_not_its_hash():
    assert reminders.link_url("https://dalia.example.org/", "abc") == "https://dalia.example.org/rdv/abc"
    assert reminders.link_url("", "abc") == ""  # no public address: no link


def test_sms_settings_missing_are_named():
    assert sms.missing({"provider": ""}) == []
    lacks = sms.missing({"provider": "brevo", "sender": "", "api_key": ""})
    assert any("[sms] sender" in line for line in lacks) and any("sms_api_key" in line for line in lacks)
    assert sms.sender_from({"provider": "brevo", "sender": "DALIA", "api_key": ""}) is None
