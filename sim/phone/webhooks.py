"""Requests to the application, signed as Twilio signs them, each recorded on the call's log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urljoin

import httpx
from twilio.request_validator import RequestValidator

from sim.phone.clock import SimTime
from sim.phone.errors import (
    HTTP_CONNECTION_FAILURE,
    HTTP_RETRIEVAL_FAILURE,
    HTTP_TOO_MANY_REDIRECTS,
    CallError,
)
from sim.phone.record import EventLog

MAX_REDIRECTS = 5
USER_AGENT = "TwilioProxy/1.1 (lifeline-sim)"


@dataclass(frozen=True)
class Reply:
    url: str  # the URL that finally answered (after HTTP redirects)
    status: int
    content_type: str
    body: bytes


def with_query(url: str, params: Mapping[str, str]) -> str:
    if not params:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(params)


class Webhooks:
    def __init__(self, http: httpx.AsyncClient, auth_token: str, time: SimTime, timeout: float):
        self._http = http
        self._validator = RequestValidator(auth_token)
        self._time = time
        self._timeout = timeout

    def signature(self, url: str, params: Mapping[str, str]) -> str:
        return str(self._validator.compute_signature(url, dict(params)))

    async def request(
        self, log: EventLog, url: str, method: str, params: Mapping[str, str], kind: str
    ) -> Reply:
        """One webhook, following HTTP redirects; CallError for what Twilio counts as failure."""
        for _ in range(MAX_REDIRECTS + 1):
            response = await self._once(log, url, method, params, kind)
            location = response.headers.get("location")
            if response.is_redirect and location:
                if method == "GET":
                    params = {}  # the Location already holds the query it wants
                url = urljoin(str(response.url), location)
                # Browsers and Twilio alike turn a 301/302/303 into a GET; 307/308 keep the method.
                if response.status_code in {301, 302, 303}:
                    method = "GET"
                continue
            if not response.is_success:
                raise CallError(
                    HTTP_RETRIEVAL_FAILURE,
                    f"HTTP retrieval failure: {method} answered {response.status_code}",
                    url,
                )
            return Reply(
                url=url,
                status=response.status_code,
                content_type=response.headers.get("content-type", ""),
                body=response.content,
            )
        raise CallError(HTTP_TOO_MANY_REDIRECTS, "HTTP too many redirects", url)

    async def _once(
        self, log: EventLog, url: str, method: str, params: Mapping[str, str], kind: str
    ) -> httpx.Response:
        # A GET carries the parameters in the query and signs the URL alone; a POST signs both.
        if method == "GET":
            target, form = with_query(url, params), None
            signature = self.signature(target, {})
        else:
            target, form = url, dict(params)
            signature = self.signature(url, params)
        headers = {"X-Twilio-Signature": signature, "User-Agent": USER_AGENT}
        started = self._time.clock.monotonic()
        fields: dict[str, object] = {"kind": kind, "url": target, "method": method}
        fields["params"] = dict(params)
        try:
            response = await self._http.request(
                method, target, data=form, headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException:
            log.emit("request", **fields, status=None, ms=self._ms(started), error="timeout")
            raise CallError(
                HTTP_CONNECTION_FAILURE,
                f"HTTP connection failure: no answer within {self._timeout:g} s",
                url,
            ) from None
        except httpx.HTTPError as error:
            reason = type(error).__name__
            log.emit("request", **fields, status=None, ms=self._ms(started), error=reason)
            raise CallError(
                HTTP_CONNECTION_FAILURE, f"HTTP connection failure: {reason}", url
            ) from None
        log.emit("request", **fields, status=response.status_code, ms=self._ms(started))
        return response

    def _ms(self, started: float) -> float:
        return round((self._time.clock.monotonic() - started) * 1000, 1)
