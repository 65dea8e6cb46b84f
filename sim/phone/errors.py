"""Errors Twilio would report for a call (11200, 12100, ...): they become `error` events."""

from __future__ import annotations

HTTP_RETRIEVAL_FAILURE = 11200
HTTP_CONNECTION_FAILURE = 11205
HTTP_TOO_MANY_REDIRECTS = 11215
INVALID_URL = 11100
DOCUMENT_PARSE_FAILURE = 12100
SCHEMA_VALIDATION = 12200
INVALID_CONTENT_TYPE = 12300


class CallError(Exception):
    """Something Twilio would log against the call; `url` is the document or webhook at fault."""

    def __init__(self, code: int, message: str, url: str | None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.url = url
        self.recorded = False
