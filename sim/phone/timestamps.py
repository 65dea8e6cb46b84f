"""Wall-clock times as Twilio's REST API (RFC 2822) and the control API (ISO 8601) print them."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime


def rfc2822(wall: float) -> str:
    return format_datetime(datetime.fromtimestamp(wall, UTC))


def iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")
