"""Twilio's Calls list (`GET Calls.json`): its filters and its paging, over the legs the sim knows.

Filters: `To`, `From`, `Status`, `ParentCallSid`; `StartTime` and `EndTime` work to the day (UTC):
`StartTime=D` started on day D, `StartTime>=D` on or after its midnight, `StartTime<=D` on or
before it (the `>`/`<` are part of the parameter's name). A value with a time of day is read as
its day, as Twilio does. A call with no start time (still queued) matches no `StartTime` filter.
Newest first; pages of `PageSize` (50, at most 1,000), each linking the next by a `PageToken`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from sim.phone.leg import Leg
from sim.phone.rest_forms import TwilioApiError

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MATCHED = ("To", "From", "Status", "ParentCallSid")
DAYS = ("StartTime", "StartTime>", "StartTime<", "EndTime", "EndTime>", "EndTime<")
INVALID_PARAMETER = 20001


@dataclass(frozen=True)
class ListQuery:
    filters: tuple[tuple[str, str], ...]  # as given, for the page URIs
    page_size: int
    page: int
    token: str | None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> ListQuery:
        filters = tuple((name, params[name]) for name in (*MATCHED, *DAYS) if name in params)
        for name, value in filters:
            if name in DAYS:
                day(name, value)
        return cls(
            filters=filters,
            page_size=_integer(params, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
            page=_integer(params, "Page", 0, 0, 10**6),
            token=params.get("PageToken") or None,
        )

    def matches(self, leg: Leg) -> bool:
        return all(_matches(leg, name, value) for name, value in self.filters)


def day(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise TwilioApiError(400, INVALID_PARAMETER, f"Invalid {name}: {value!r}") from None


def _integer(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise TwilioApiError(400, INVALID_PARAMETER, f"Invalid {name}: {raw!r}") from None
    if not low <= value <= high:
        raise TwilioApiError(400, INVALID_PARAMETER, f"{name} must be {low} to {high}")
    return value


def _matches(leg: Leg, name: str, value: str) -> bool:
    if name == "To":
        return leg.to == value
    if name == "From":
        return leg.from_ == value
    if name == "Status":
        return leg.status.value == value
    if name == "ParentCallSid":
        return leg.parent_sid == value
    wall = leg.started_wall if name.startswith("StartTime") else leg.ended_wall
    if wall is None:
        return False
    moment = datetime.fromtimestamp(wall, UTC)
    midnight = datetime.combine(day(name, value), datetime.min.time(), UTC)
    if name.endswith(">"):
        return moment >= midnight
    if name.endswith("<"):
        return moment <= midnight
    return midnight <= moment < midnight + timedelta(days=1)


def _key(leg: Leg) -> tuple[float, str]:
    return (leg.created_wall, leg.sid)


def _token(leg: Leg) -> str:
    """Names the call a page starts after (opaque to clients, as Twilio's are)."""
    return f"PA{leg.created_wall!r}_{leg.sid}"  # the float's repr reads back exactly


def _after(token: str) -> tuple[float, str]:
    created, _, sid = token.removeprefix("PA").partition("_")
    try:
        return (float(created), sid)
    except ValueError:
        raise TwilioApiError(400, INVALID_PARAMETER, "Invalid PageToken") from None


def list_page(
    path: str, legs: list[Leg], query: ListQuery, render: Callable[[Leg], dict[str, object]]
) -> dict[str, object]:
    """One page of the legs that match, newest first, shaped as Twilio's list answer."""
    chosen = sorted((leg for leg in legs if query.matches(leg)), key=_key, reverse=True)
    start = 0
    if query.token is not None:
        after = _after(query.token)
        start = next((i for i, leg in enumerate(chosen) if _key(leg) < after), len(chosen))
    items = chosen[start : start + query.page_size]
    more = start + len(items) < len(chosen)

    def uri(page: int, after: Leg | None) -> str:
        params = [*query.filters, ("PageSize", str(query.page_size)), ("Page", str(page))]
        if after is not None:
            params.append(("PageToken", _token(after)))
        return f"{path}?{urlencode(params)}"

    previous = None
    if query.page > 0 or start > 0:
        back = max(0, start - query.page_size)
        previous = uri(max(0, query.page - 1), chosen[back - 1] if back > 0 else None)
    return {
        "calls": [render(leg) for leg in items],
        "start": start,
        "end": start + len(items) - 1 if items else start,
        "page": query.page,
        "page_size": query.page_size,
        "uri": uri(query.page, chosen[start - 1] if start > 0 else None),
        "first_page_uri": uri(0, None),
        "next_page_uri": uri(query.page + 1, items[-1]) if more else None,
        "previous_page_uri": previous,
    }
