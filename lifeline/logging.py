"""Structured logs: one JSON object per line, phone numbers masked, known secrets redacted."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable

# Standalone runs of 7-15 digits, after a + or its URL encoding (%2B) or none: phone numbers,
# not parts of SIDs or case ids, nor the whole or fractional part of a decimal (a timestamp).
PHONE_NUMBER = re.compile(r"(?:(?<!\w)%2[Bb]|(?<![\w+])\+|(?<![\w+])(?<!\d\.))\d{7,15}(?!\w|\.\d)")
STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def mask_numbers(text: str) -> str:
    return PHONE_NUMBER.sub(lambda match: "…" + match.group()[-3:], text)


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(secret for secret in secrets if secret)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool) else str(value)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return self.clean(json.dumps(entry, ensure_ascii=False))

    def clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[secret]")
        return mask_numbers(text)


def configure(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "rq", "rq.worker"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
