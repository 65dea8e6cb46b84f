"""Logs are JSON lines with the CallSid, phone numbers masked and secrets redacted."""

from __future__ import annotations

import json
import logging

from lifeline.logging import JsonFormatter, mask_numbers

SID = "CA0123456789abcdef0123456789abcdef"


def format_record(message: str, *args: object, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("ivr", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    line = JsonFormatter(secrets=["s3cret-token"]).format(record)
    return dict(json.loads(line))


def test_a_log_line_is_json_with_the_call_sid() -> None:
    entry = format_record("queued", call_sid=SID, priority=3)
    assert entry["message"] == "queued"
    assert entry["call_sid"] == SID
    assert entry["priority"] == 3
    assert entry["level"] == "info"


def test_phone_numbers_are_masked_to_their_last_three_digits() -> None:
    entry = format_record(
        "callback to %s from %s", "+447700900123", "07700900456", caller="+44113496"
    )
    assert entry["message"] == "callback to …123 from …456"
    assert entry["caller"] == "…496"


def test_numbers_in_urls_and_at_the_end_of_a_sentence_are_masked_too() -> None:
    url = "POST /twilio/voice?From=%2B447700900123&To=%2b441134960000 from +447700900789."
    assert mask_numbers(url) == "POST /twilio/voice?From=…123&To=…000 from …789."


def test_decimals_such_as_timestamps_are_left_alone() -> None:
    assert mask_numbers("at 1767225600.123 (+1767225600.5)") == "at 1767225600.123 (+1767225600.5)"


def test_sids_and_case_ids_are_not_mistaken_for_numbers() -> None:
    assert mask_numbers(f"call {SID} case 7K2QX-M9D4A") == f"call {SID} case 7K2QX-M9D4A"


def test_secrets_are_redacted() -> None:
    entry = format_record("token was s3cret-token")
    assert entry["message"] == "token was [secret]"
