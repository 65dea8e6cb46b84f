"""Requests to the application, signed as Twilio signs them, each recorded on the call's log."""

from __future__ import annotations

import itertools
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


class Balancer:
    """A load balancer's round robin: a URL under `public` goes to each of `backends` in turn,
    the path and query kept (the request is still signed for the public URL)."""

    def __init__(self, public: str, backends: tuple[str, ...]) -> None:
        self.public = public.rstrip("/")
        self.backends = tuple(backend.rstrip("/") for backend in backends)
        self._next = itertools.count()

    def targets(self, url: str) -> list[str]:
        """Where to send a request for `url`: the next backend in turn, then (should it refuse
        the connection, as a dead process does) each of the others, as a balancer's health
        checks and retries would."""
        if not self.backends or not self.public or not url.startswith(self.public + "/"):
            return [url]
        first = next(self._next) % len(self.backends)
        order = self.backends[first:] + self.backends[:first]
        return [backend + url[len(self.public) :] for backend in order]


class Webhooks:
    def __init__(
        self,
        http: httpx.AsyncClient,
        auth_token: str,
        time: SimTime,
        timeout: float,
        balancer: Balancer | None = None,
    ):
        self._http = http
        self._validator = RequestValidator(auth_token)
        self._time = time
        self._timeout = timeout
        self._balancer = balancer or Balancer("", ())

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
            response = await self._send(method, target, form, headers)
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

    async def _send(
        self, method: str, url: str, form: dict[str, str] | None, headers: dict[str, str]
    ) -> httpx.Response:
        *others, last = self._balancer.targets(url)
        for each in others:
            try:
                return await self._http.request(
                    method, each, data=form, headers=headers, timeout=self._timeout
                )
            except httpx.ConnectError:
                continue  # nothing was sent: the next backend
        return await self._http.request(
            method, last, data=form, headers=headers, timeout=self._timeout
        )

    def _ms(self, started: float) -> float:
        return round((self._time.clock.monotonic() - started) * 1000, 1)
