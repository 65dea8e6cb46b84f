"""Twilio's REST API for conferences: list, fetch and end Conferences; add, list, fetch, update
(hold, mute) and kick their Participants."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sim.phone.conference import Conference, Participant
from sim.phone.conference_forms import (
    INVALID_PARAMETER,
    CreateParticipantForm,
    UpdateConferenceForm,
    UpdateParticipantForm,
)
from sim.phone.forms import read_form
from sim.phone.leg import API_VERSION
from sim.phone.network import ConferenceEnded, PhoneNetwork
from sim.phone.rest import ACCOUNT, endpoint
from sim.phone.rest_forms import TwilioApiError
from sim.phone.timestamps import rfc2822

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
CONFERENCE = f"{ACCOUNT}/Conferences/{{conference_sid}}"
UNFILTERED = ("DateCreated", "DateUpdated")
T = TypeVar("T")


def conference_resource(conference: Conference) -> dict[str, object]:
    uri = f"/{API_VERSION}/Accounts/{conference.account_sid}/Conferences/{conference.sid}"
    return {
        "account_sid": conference.account_sid,
        "date_created": rfc2822(conference.created_wall),
        "date_updated": rfc2822(conference.updated_wall),
        "api_version": API_VERSION,
        "friendly_name": conference.friendly_name,
        "region": "us1",
        "sid": conference.sid,
        "status": conference.status.value,
        "uri": f"{uri}.json",
        "subresource_uris": {
            "participants": f"{uri}/Participants.json",
            "recordings": f"{uri}/Recordings.json",
        },
        "reason_conference_ended": conference.reason_ended,
        "call_sid_ending_conference": conference.call_sid_ending,
    }


def participant_resource(participant: Participant) -> dict[str, object]:
    conference = participant.conference
    return {
        "account_sid": conference.account_sid,
        "call_sid": participant.call_sid,
        "label": participant.label,
        "call_sid_to_coach": None,
        "coaching": False,
        "conference_sid": conference.sid,
        "date_created": rfc2822(participant.created_wall),
        "date_updated": rfc2822(participant.updated_wall),
        "end_conference_on_exit": participant.end_on_exit,
        "muted": participant.muted,
        "hold": participant.hold,
        "start_conference_on_enter": participant.start_on_enter,
        "status": participant.status.value,
        "queue_time": "0",
        "uri": (
            f"/{API_VERSION}/Accounts/{conference.account_sid}/Conferences/{conference.sid}"
            f"/Participants/{participant.call_sid}.json"
        ),
    }


def _page(
    path: str,
    key: str,
    items: Sequence[T],
    params: Mapping[str, str],
    filters: Sequence[tuple[str, str]],
    render: Callable[[T], dict[str, object]],
) -> dict[str, object]:
    """One page, by `Page` and `PageSize` (the lists here are short-lived rooms)."""
    try:
        size = int(params.get("PageSize") or DEFAULT_PAGE_SIZE)
        page = int(params.get("Page") or 0)
    except ValueError:
        raise TwilioApiError(400, INVALID_PARAMETER, "Invalid Page or PageSize") from None
    if not 1 <= size <= MAX_PAGE_SIZE or page < 0:
        raise TwilioApiError(400, INVALID_PARAMETER, f"PageSize must be 1 to {MAX_PAGE_SIZE}")
    start = page * size
    chosen = items[start : start + size]

    def uri(number: int) -> str:
        return f"{path}?{urlencode([*filters, ('PageSize', size), ('Page', number)])}"

    return {
        key: [render(item) for item in chosen],
        "start": start,
        "end": start + len(chosen) - 1 if chosen else start,
        "page": page,
        "page_size": size,
        "uri": uri(page),
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1) if start + size < len(items) else None,
        "previous_page_uri": uri(page - 1) if page > 0 else None,
    }


def _flag(params: Mapping[str, str], name: str) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() not in {"true", "false"}:
        raise TwilioApiError(400, INVALID_PARAMETER, f"Invalid {name}: {raw!r}")
    return raw.lower() == "true"


def _conference(request: Request, network: PhoneNetwork) -> Conference:
    return network.rt.conferences.get(request.path_params["conference_sid"])


def _participant(request: Request, network: PhoneNetwork) -> Participant:
    return _conference(request, network).participant(request.path_params["participant"])


async def list_conferences(request: Request, network: PhoneNetwork) -> Response:
    params = dict(request.query_params.items())
    for name in params:
        if name.rstrip("<>") in UNFILTERED:
            raise TwilioApiError(400, INVALID_PARAMETER, f"The sim does not filter by {name}")
    filters = [(name, params[name]) for name in ("FriendlyName", "Status") if name in params]
    chosen = [
        c
        for c in sorted(network.rt.conferences.all(), key=lambda c: c.created_wall, reverse=True)
        if all(
            (c.friendly_name if name == "FriendlyName" else c.status.value) == value
            for name, value in filters
        )
    ]
    body = _page(request.url.path, "conferences", chosen, params, filters, conference_resource)
    return JSONResponse(body)


async def fetch_conference(request: Request, network: PhoneNetwork) -> Response:
    return JSONResponse(conference_resource(_conference(request, network)))


async def update_conference(request: Request, network: PhoneNetwork) -> Response:
    conference = _conference(request, network)
    if UpdateConferenceForm.from_form(await read_form(request)).ends():
        network.rt.conferences.end(conference, "conference-ended-via-api", None)
    return JSONResponse(conference_resource(conference))


async def create_participant(request: Request, network: PhoneNetwork) -> Response:
    form = CreateParticipantForm.from_form(await read_form(request))
    key = request.path_params["conference_sid"]
    try:
        name = network.conference_name(key)
    except ConferenceEnded:
        raise TwilioApiError(400, INVALID_PARAMETER, "The conference has ended") from None
    participant = network.add_participant(key, form.request(name))
    return JSONResponse(participant_resource(participant), status_code=201)


async def list_participants(request: Request, network: PhoneNetwork) -> Response:
    conference = _conference(request, network)
    params = dict(request.query_params.items())
    wanted = {name: _flag(params, name) for name in ("Muted", "Hold", "Coaching")}
    chosen = [
        p
        for p in conference.participants.values()
        if wanted["Muted"] in {None, p.muted}
        and wanted["Hold"] in {None, p.hold}
        and wanted["Coaching"] in {None, False}
    ]
    filters = [(name, params[name]) for name, value in wanted.items() if value is not None]
    body = _page(request.url.path, "participants", chosen, params, filters, participant_resource)
    return JSONResponse(body)


async def fetch_participant(request: Request, network: PhoneNetwork) -> Response:
    return JSONResponse(participant_resource(_participant(request, network)))


async def update_participant(request: Request, network: PhoneNetwork) -> Response:
    participant = _participant(request, network)
    changes = UpdateParticipantForm.from_form(await read_form(request)).changes()
    network.rt.conferences.update(
        participant,
        muted=changes["muted"],
        hold=changes["hold"],
        end_on_exit=changes["end_on_exit"],
    )
    return JSONResponse(participant_resource(participant))


async def kick_participant(request: Request, network: PhoneNetwork) -> Response:
    network.kick(_participant(request, network))
    return Response(status_code=204)


PARTICIPANT = f"{CONFERENCE}/Participants/{{participant}}.json"
routes = [
    Route(f"{ACCOUNT}/Conferences.json", endpoint(list_conferences), methods=["GET"]),
    Route(f"{CONFERENCE}.json", endpoint(fetch_conference), methods=["GET"]),
    Route(f"{CONFERENCE}.json", endpoint(update_conference), methods=["POST"]),
    Route(f"{CONFERENCE}/Participants.json", endpoint(create_participant), methods=["POST"]),
    Route(f"{CONFERENCE}/Participants.json", endpoint(list_participants), methods=["GET"]),
    Route(PARTICIPANT, endpoint(fetch_participant), methods=["GET"]),
    Route(PARTICIPANT, endpoint(update_participant), methods=["POST"]),
    Route(PARTICIPANT, endpoint(kick_participant), methods=["DELETE"]),
]
