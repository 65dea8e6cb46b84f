"""What a supervisor looks for among the recordings, read from the console's form or the API's
query: a case, the caller's last digits, a handler, a time window (London unless an offset is
given). Each field's problem is said so that a person can put it right."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from routing.figures import LONDON
from routing.recordings import DIGITS, Search

FIELDS = ("case_id", "digits", "handler", "since", "until")
LONGEST = 64  # a case id or a handler id is far shorter
LAST_DIGITS = re.compile(r"[0-9]{3,4}")
EXAMPLE = "2026-01-31T14:30"
AT = f"Enter a date and time such as {EXAMPLE} (London time)."
Problems = dict[str, str]  # field -> what is wrong with it


def moment(text: str) -> float:
    """ISO 8601, to the minute or finer; without an offset, London's time then."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=LONDON)
    return parsed.timestamp()


def search_of(asked: Mapping[str, str]) -> tuple[Search | None, Problems]:
    given = {name: asked.get(name, "").strip() for name in FIELDS}
    problems: Problems = {}
    for name in ("case_id", "handler"):
        if len(given[name]) > LONGEST:
            problems[name] = f"Use at most {LONGEST} characters."
    if given["digits"] and not LAST_DIGITS.fullmatch(given["digits"]):
        problems["digits"] = (
            "Enter the last 3 or 4 digits of the caller's number, such as 123 "
            f"(Lifeline keeps the last {DIGITS})."
        )
    times: dict[str, float | None] = {"since": None, "until": None}
    for name in times:
        if given[name]:
            try:
                times[name] = moment(given[name])
            except ValueError:
                problems[name] = AT
    since, until = times["since"], times["until"]
    if since is not None and until is not None and until < since:
        problems["until"] = "This must be after the start of the window."
    if problems:
        return None, problems
    search = Search(
        case_id=given["case_id"],
        digits=given["digits"],
        handler=given["handler"],
        since=since,
        until=until,
    )
    return search, {}
