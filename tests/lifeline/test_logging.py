"""Logs are JSON lines with the CallSid, phone numbers masked and secrets redacted; a local
run's are readable lines, without other libraries' routine chatter."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest
import redis
from rq import Queue, SimpleWorker

from config.settings import LogFormat
from lifeline.logging import ROUTED_TO_ROOT, JsonFormatter, configure, mask_numbers

SID = "CA0123456789abcdef0123456789abcdef"
SECRET = "s3cret-token"


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


def test_job_ids_whose_groups_are_all_digits_are_not_mistaken_for_numbers() -> None:
    # A random UUID's first group is all digits one time in 43, its last one time in 280.
    for job_id in (
        "90678723-246b-43d8-b6a1-6422035f384a",
        "1a2b3c4d-246b-43d8-b6a1-642203538412",
    ):
        assert mask_numbers(f"job {job_id}: exception") == f"job {job_id}: exception"
    assert mask_numbers("rang 07700900123-then") == "rang …123-then"


def test_secrets_are_redacted() -> None:
    entry = format_record("token was s3cret-token")
    assert entry["message"] == "token was [secret]"


@pytest.fixture
def logs_restored() -> Iterator[None]:
    """`configure` sets up the process's logging: put back what pytest had."""
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in ROUTED_TO_ROOT)]
    saved = [(logger, logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    yield
    for logger, handlers, level, propagate in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def a_minute_of_a_local_run(redis_url: str) -> None:
    """What a run logs: RQ running a job that succeeds and one that fails, an HTTP request (the
    clinical probe's), and a call's event from Lifeline itself."""
    connection = redis.Redis.from_url(redis_url)
    queue = Queue("logging", connection=connection)
    queue.enqueue(len, "fine")
    queue.enqueue(divmod, 1, 0)
    SimpleWorker([queue], connection=connection).work(burst=True)
    connection.close()
    with httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200))) as client:
        client.get("http://clinical.invalid/fhir/metadata")
    logging.getLogger("routing.placing").info(
        "queued", extra={"call_sid": SID, "caller": "+447700900123", "note": SECRET}
    )


@pytest.mark.usefixtures("logs_restored")
def test_a_local_runs_log_is_readable_and_leaves_out_jobs_that_succeed_and_http_requests(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("INFO", secrets=[SECRET], log_format=LogFormat.TEXT)
    a_minute_of_a_local_run(redis_url)
    lines = capsys.readouterr().err.splitlines()

    assert lines, "nothing was logged"
    assert not any(line.startswith("{") for line in lines), lines
    quiet = ("Job OK", "Successfully completed", "HTTP Request:", "Listening on", "result is kept")
    assert [line for line in lines if any(chatter in line for chatter in quiet)] == []
    assert f"info    routing.placing: queued call_sid={SID} caller=…123 note=[secret]" in lines
    failed = [line for line in lines if line.startswith("error   rq.worker:")]
    assert failed, lines  # a job that fails is news: its error is shown, with its traceback
    assert "job_id=" in failed[0]
    assert "ZeroDivisionError" in "\n".join(lines)


@pytest.mark.usefixtures("logs_restored")
def test_a_local_run_at_debug_level_leaves_nothing_out(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("DEBUG", log_format=LogFormat.TEXT)
    a_minute_of_a_local_run(redis_url)
    err = capsys.readouterr().err
    assert "Job OK" in err
    assert "HTTP Request: GET http://clinical.invalid/fhir/metadata" in err


@pytest.mark.usefixtures("logs_restored")
def test_production_logs_stay_json_and_keep_every_line(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("INFO", secrets=[SECRET])
    a_minute_of_a_local_run(redis_url)
    entries = [json.loads(line) for line in capsys.readouterr().err.splitlines()]

    messages = [entry["message"] for entry in entries]
    assert any("Job OK" in message for message in messages), messages
    assert any(message.startswith("HTTP Request: GET") for message in messages), messages
    (queued,) = [entry for entry in entries if entry["logger"] == "routing.placing"]
    assert queued["call_sid"] == SID
    assert queued["caller"] == "…123"
    assert queued["note"] == "[secret]"


@pytest.mark.parametrize("log_format", list(LogFormat))
@pytest.mark.usefixtures("logs_restored")
def test_a_failed_jobs_arguments_are_never_logged(
    redis_url: str, capsys: pytest.CaptureFixture[str], log_format: LogFormat
) -> None:
    """RQ logs a failed job with its arguments: a case's job carries the caller's answers and
    the handler's notes."""
    configure("INFO", log_format=log_format)
    connection = redis.Redis.from_url(redis_url)
    queue = Queue("logging", connection=connection)
    job = queue.enqueue(divmod, "notes: chest pain since this morning", 0)
    # As Lifeline's workers run (`FloorWorker`): jobs named by their ids, not described.
    SimpleWorker([queue], connection=connection, log_job_description=False).work(burst=True)
    connection.close()
    err = capsys.readouterr().err
    assert job.id in err  # the failure is logged, by the job's id
    assert "chest pain" not in err


@pytest.mark.parametrize("log_format", list(LogFormat))
@pytest.mark.usefixtures("logs_restored")
def test_a_urls_query_is_never_logged(
    capsys: pytest.CaptureFixture[str], log_format: LogFormat
) -> None:
    """Twilio answers a recording's media URL with a redirect to storage signed in its query:
    that URL alone fetches the audio, for hours."""
    configure("DEBUG", log_format=log_format)
    signed = httpx.URL("https://storage.example/RE1.wav?X-Amz-Signature=SIGNED&X-Amz-Credential=K")
    logging.getLogger("httpx").info('HTTP Request: %s %s "%s"', "GET", signed, "HTTP/1.1 200 OK")

    err = capsys.readouterr().err
    assert "https://storage.example/RE1.wav" in err
    assert "SIGNED" not in err
    assert "X-Amz-Credential" not in err
