"""Structured logs: one JSON object per line, phone numbers masked, known secrets redacted;
or, for a local run in a terminal, readable lines without other libraries' routine chatter."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable

import httpx

from config.settings import LogFormat

# Standalone runs of 7-15 digits, after a + or its URL encoding (%2B) or none: phone numbers,
# not parts of SIDs or case ids, nor the whole or fractional part of a decimal (a timestamp).
# A run of 7 to 15 digits, alone or after a `+` (or its URL encoding), and not a part of a UUID
# (a job's id): `90678723-246b-...` or `...-4a1c-123456789012` are ids, not numbers.
PHONE_NUMBER = re.compile(
    r"(?:(?<!\w)%2[Bb]|(?<![\w+])\+|(?<![\w+])(?<!\d\.)(?<![0-9a-fA-F]-))\d{7,15}"
    r"(?!\w|\.\d|-[0-9a-fA-F])"
)
STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# Libraries that set up handlers of their own: their records go to the root's instead.
ROUTED_TO_ROOT = ("uvicorn", "uvicorn.error", "uvicorn.access", "rq", "rq.worker")
OWN_PACKAGES = frozenset({"ivr", "routing", "workers", "console", "lifeline", "prompts", "config"})


def mask_numbers(text: str) -> str:
    return PHONE_NUMBER.sub(lambda match: "…" + match.group()[-3:], text)


# RQ logs a failed job with its arguments: a case's job carries the caller's answers and the
# handler's notes. The job's id, which RQ logs too, is enough to find it.
NEVER_LOGGED = frozenset({"arguments", "kwargs"})


def extra_fields(record: logging.LogRecord) -> dict[str, object]:
    """What the caller passed in `extra` (the CallSid, a job id...)."""
    return {
        key: value if isinstance(value, int | float | bool) else str(value)
        for key, value in record.__dict__.items()
        if key not in STANDARD_ATTRIBUTES and key not in NEVER_LOGGED and not key.startswith("_")
    }


class CleanFormatter(logging.Formatter):
    """Known secrets redacted and phone numbers masked in whatever the subclass writes."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secret for secret in secrets if secret)

    def clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[secret]")
        return mask_numbers(text)


class JsonFormatter(CleanFormatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(extra_fields(record))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return self.clean(json.dumps(entry, ensure_ascii=False))


class TextFormatter(CleanFormatter):
    """`level   logger: message key=value ...`, any traceback below; no time, which the process
    manager that gathers the lines (honcho) writes in front of each."""

    def format(self, record: logging.LogRecord) -> str:
        fields = extra_fields(record)
        fields.pop("color_message", None)  # uvicorn's message again, with terminal colours
        # The fields on the first line, before the rest of a message of many (RQ's tracebacks).
        first, newline, rest = record.getMessage().partition("\n")
        text = f"{record.levelname.lower():<7} {record.name}: {first}"
        text += "".join(f" {key}={value}" for key, value in fields.items()) + newline + rest
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return self.clean(text)


def without_queries(record: logging.LogRecord) -> bool:
    """httpx logs each request's URL: its query may carry a credential (Twilio's storage URL
    of a recording, signed in its query, works alone for hours) or a patient's details. The
    path and host are enough to follow what happened."""
    if record.name.split(".")[0] == "httpx" and isinstance(record.args, tuple):
        record.args = tuple(
            str(arg).partition("?")[0] if isinstance(arg, httpx.URL) else arg for arg in record.args
        )
    return True


def newsworthy(record: logging.LogRecord) -> bool:
    """Lifeline's own events, and anyone's warnings and errors. Other libraries' routine lines
    are not news: RQ's on every job that succeeds, httpx's and Twilio's on every request,
    uvicorn's on every request and start-up."""
    return record.levelno >= logging.WARNING or record.name.split(".")[0] in OWN_PACKAGES


def configure(
    level: str = "INFO", secrets: Iterable[str] = (), log_format: LogFormat = LogFormat.JSON
) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format is LogFormat.TEXT:
        handler.setFormatter(TextFormatter(secrets))
        if level != "DEBUG":  # asking for DEBUG is asking for everything
            handler.addFilter(newsworthy)
    else:
        handler.setFormatter(JsonFormatter(secrets))
    handler.addFilter(without_queries)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ROUTED_TO_ROOT:
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
