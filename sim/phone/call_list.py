"""Twilio's Calls list (`GET Calls.json`): its filters and its paging, over the legs the sim knows;
the paging (and the day filters) serve the Recordings list too.

Filters: `To`, `From`, `Status`, `ParentCallSid`; `StartTime` and `EndTime` work to the day (UTC):
`StartTime=D` started on day D, `StartTime>=D` on or after its midnight, `StartTime<=D` on or
before it (the `>`/`<` are part of the parameter's name). A value with a time of day is read as
its day, as Twilio does. A call with no start time (still queued) matches no `StartTime` filter.
Newest first; pages of `PageSize` (50, at most 1,000), each linking the next by a `PageToken`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, TypeVar
from urllib.parse import urlencode

from sim.phone.leg import Leg
from sim.phone.rest_forms import TwilioApiError

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MATCHED = ("To", "From", "Status", "ParentCallSid")
DAYS = ("StartTime", "StartTime>", "StartTime<", "EndTime", "EndTime>", "EndTime<")
INVALID_PARAMETER = 20001


class Listed(Protocol):
    """What a list pages by: newest first, ties broken by sid."""

    @property
    def sid(self) -> str: ...

    @property
    def created_wall(self) -> float: ...


T = TypeVar("T", bound=Listed)


@dataclass(frozen=True)
class ListQuery:
    filters: tuple[tuple[str, str], ...]  # as given, for the page URIs
    page_size: int
    page: int
    token: str | None

    @classmethod
    def parse(
        cls,
        params: Mapping[str, str],
        matched: Sequence[str] = MATCHED,
        days: Sequence[str] = DAYS,
    ) -> ListQuery:
        """`matched` are compared whole, `days` to the day (checked here); others are ignored."""
        filters = tuple((name, params[name]) for name in (*matched, *days) if name in params)
        for name, value in filters:
            if name in days:
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
    return on_day(name, value, wall)


def on_day(name: str, value: str, wall: float | None) -> bool:
    """Twilio's day filter: `X=D` on day D, `X>=D` (the `>` is in the name) on or after its
    midnight, `X<=D` on or before it. No moment matches no day."""
    if wall is None:
        return False
    moment = datetime.fromtimestamp(wall, UTC)
    midnight = datetime.combine(day(name, value), datetime.min.time(), UTC)
    if name.endswith(">"):
        return moment >= midnight
    if name.endswith("<"):
        return moment <= midnight
    return midnight <= moment < midnight + timedelta(days=1)


def _key(item: Listed) -> tuple[float, str]:
    return (item.created_wall, item.sid)


def _token(item: Listed) -> str:
    """Names the item a page starts after (opaque to clients, as Twilio's are)."""
    return f"PA{item.created_wall!r}_{item.sid}"  # the float's repr reads back exactly


def _after(token: str) -> tuple[float, str]:
    created, _, sid = token.removeprefix("PA").partition("_")
    try:
        return (float(created), sid)
    except ValueError:
        raise TwilioApiError(400, INVALID_PARAMETER, "Invalid PageToken") from None


def list_page(
    path: str,
    name: str,
    matching: Sequence[T],
    query: ListQuery,
    render: Callable[[T], dict[str, object]],
) -> dict[str, object]:
    """One page of the `matching` items, newest first, shaped as Twilio's list answer with the
    items under `name` ("calls", "recordings")."""
    chosen = sorted(matching, key=_key, reverse=True)
    start = 0
    if query.token is not None:
        after = _after(query.token)
        start = next((i for i, item in enumerate(chosen) if _key(item) < after), len(chosen))
    items = chosen[start : start + query.page_size]
    more = start + len(items) < len(chosen)

    def uri(page: int, after: T | None) -> str:
        params = [*query.filters, ("PageSize", str(query.page_size)), ("Page", str(page))]
        if after is not None:
            params.append(("PageToken", _token(after)))
        return f"{path}?{urlencode(params)}"

    previous = None
    if query.page > 0 or start > 0:
        back = max(0, start - query.page_size)
        previous = uri(max(0, query.page - 1), chosen[back - 1] if back > 0 else None)
    return {
        name: [render(item) for item in items],
        "start": start,
        "end": start + len(items) - 1 if items else start,
        "page": query.page,
        "page_size": query.page_size,
        "uri": uri(query.page, chosen[start - 1] if start > 0 else None),
        "first_page_uri": uri(0, None),
        "next_page_uri": uri(query.page + 1, items[-1]) if more else None,
        "previous_page_uri": previous,
    }
