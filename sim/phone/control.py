"""The control API (JSON under /sim/, no auth): start calls, press keys, hang up, watch, configure
parties, faults and the account's calling rate, release held requests, reset."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sim.phone.account import AccountSettings
from sim.phone.conference import Conference, UnknownConference
from sim.phone.faults import FaultsBody
from sim.phone.leg import Leg
from sim.phone.network import PhoneNetwork, UnknownCall
from sim.phone.parties import PartyBehaviour
from sim.phone.schemas import LiveInput, NewCall
from sim.phone.state import network_of
from sim.phone.statuses import Direction

MAX_WAIT_SECONDS = 30.0
M = TypeVar("M", bound=BaseModel)


class ControlError(Exception):
    def __init__(self, status: int, message: str, details: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


async def body_of(request: Request, model: type[M]) -> M:
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as error:
        details = error.errors(include_url=False, include_context=False, include_input=False)
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}"
            for item in details
        )
        raise ControlError(422, f"invalid {model.__name__} body: {problems}", details) from None


def leg_of(network: PhoneNetwork, request: Request) -> Leg:
    try:
        return network.leg(request.path_params["sid"])
    except UnknownCall as error:
        raise ControlError(404, f"no call {error.sid}") from None


async def start_call(request: Request) -> Response:
    network = network_of(request)
    body = await body_of(request, NewCall)
    events = frozenset(body.status_callback_events) if body.status_callback_events else None
    leg = network.start_inbound(
        body.from_, body.to, body.scripted_inputs(), events, body.press_after_prompts
    )
    return JSONResponse(leg.summary(), status_code=201)


async def list_calls(request: Request) -> Response:
    return JSONResponse({"calls": [leg.summary() for leg in network_of(request).legs()]})


async def show_call(request: Request) -> Response:
    network = network_of(request)
    leg = leg_of(network, request)
    return JSONResponse(leg.detail(network.queue_of(leg)))


async def call_events(request: Request) -> Response:
    network = network_of(request)
    leg = leg_of(network, request)
    try:
        after = int(request.query_params.get("after", "-1"))
        wait = min(float(request.query_params.get("wait", "0")), MAX_WAIT_SECONDS)
    except ValueError:
        raise ControlError(422, "'after' must be an integer and 'wait' a number") from None
    events = await leg.log.wait_after(after, max(wait, 0.0), lambda: leg.is_ended)
    return JSONResponse({"events": events, "ended": leg.is_ended})


async def call_input(request: Request) -> Response:
    network = network_of(request)
    leg = leg_of(network, request)
    body = await body_of(request, LiveInput)
    return JSONResponse({"delivered": network.send_input(leg.sid, body.as_input())})


async def call_hangup(request: Request) -> Response:
    network = network_of(request)
    leg = leg_of(network, request)
    if leg.is_ended:
        raise ControlError(409, f"call {leg.sid} has already ended")
    # The person on this leg hangs up: the caller on an inbound call, the callee otherwise.
    by = "caller" if leg.direction is Direction.INBOUND else "callee"
    if network.hang_up(leg.sid, by):
        await network.settle(leg)
    return JSONResponse(leg.summary())


def _party_view(network: PhoneNetwork, address: str) -> dict[str, object]:
    parties = network.rt.parties
    legs = [network.rt.store.get(sid) for sid in parties.legs(address)]
    return {
        "address": address,
        "configured": parties.configured(address),
        "behaviour": parties.behaviour(address).model_dump(mode="json"),
        "legs": [leg.detail(None) for leg in legs if leg is not None],
    }


async def put_party(request: Request) -> Response:
    network = network_of(request)
    address = request.path_params["address"]
    network.rt.parties.set(address, await body_of(request, PartyBehaviour))
    return JSONResponse(_party_view(network, address))


async def get_party(request: Request) -> Response:
    network = network_of(request)
    return JSONResponse(_party_view(network, request.path_params["address"]))


async def list_parties(request: Request) -> Response:
    network = network_of(request)
    addresses = network.rt.parties.addresses()
    return JSONResponse({"parties": [_party_view(network, address) for address in addresses]})


async def list_queues(request: Request) -> Response:
    network = network_of(request)
    return JSONResponse({"queues": network.rt.queues.snapshot(network.rt.time.now())})


def _conference_view(network: PhoneNetwork, conference: Conference) -> dict[str, object]:
    return conference.view(network.rt.time.now())


async def list_conferences(request: Request) -> Response:
    network = network_of(request)
    conferences = network.rt.conferences.all()
    return JSONResponse({"conferences": [_conference_view(network, c) for c in conferences]})


async def show_conference(request: Request) -> Response:
    network = network_of(request)
    try:
        conference = network.rt.conferences.get(request.path_params["sid"])
    except UnknownConference as error:
        raise ControlError(404, f"no conference {error.sid}") from None
    return JSONResponse(_conference_view(network, conference))


async def set_faults(request: Request) -> Response:
    network = network_of(request)
    network.faults.apply(await body_of(request, FaultsBody))
    return JSONResponse(network.faults.snapshot())


async def get_faults(request: Request) -> Response:
    return JSONResponse(network_of(request).faults.snapshot())


async def clear_faults(request: Request) -> Response:
    network = network_of(request)
    network.faults.clear()
    return JSONResponse(network.faults.snapshot())


class Release(BaseModel):
    """Body of `POST /sim/holds/release`: `drop` discards requests held before taking effect."""

    model_config = ConfigDict(extra="forbid")

    drop: bool = False


async def list_holds(request: Request) -> Response:
    return JSONResponse({"held": network_of(request).holds.held()})


async def release_holds(request: Request) -> Response:
    network = network_of(request)
    body = await body_of(request, Release)
    return JSONResponse({"released": network.holds.release(body.drop)})


async def put_account(request: Request) -> Response:
    network = network_of(request)
    network.dial_queue.configure(await body_of(request, AccountSettings))
    return JSONResponse(network.dial_queue.settings.model_dump())


async def get_account(request: Request) -> Response:
    return JSONResponse(network_of(request).dial_queue.settings.model_dump())


async def reset(request: Request) -> Response:
    await network_of(request).reset()
    return JSONResponse({"reset": True})


async def rest_requests(request: Request) -> Response:
    return JSONResponse({"requests": list(network_of(request).rest_log)})


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def control_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ControlError)
    body: dict[str, object] = {"error": exc.message}
    if exc.details is not None:
        body["details"] = exc.details
    return JSONResponse(body, status_code=exc.status)


routes = [
    Route("/sim/health", health, methods=["GET"]),
    Route("/sim/calls", start_call, methods=["POST"]),
    Route("/sim/calls", list_calls, methods=["GET"]),
    Route("/sim/calls/{sid}", show_call, methods=["GET"]),
    Route("/sim/calls/{sid}/events", call_events, methods=["GET"]),
    Route("/sim/calls/{sid}/input", call_input, methods=["POST"]),
    Route("/sim/calls/{sid}/hangup", call_hangup, methods=["POST"]),
    Route("/sim/parties", list_parties, methods=["GET"]),
    Route("/sim/parties/{address}", put_party, methods=["PUT"]),
    Route("/sim/parties/{address}", get_party, methods=["GET"]),
    Route("/sim/queues", list_queues, methods=["GET"]),
    Route("/sim/conferences", list_conferences, methods=["GET"]),
    Route("/sim/conferences/{sid}", show_conference, methods=["GET"]),
    Route("/sim/faults", set_faults, methods=["POST"]),
    Route("/sim/faults", get_faults, methods=["GET"]),
    Route("/sim/faults", clear_faults, methods=["DELETE"]),
    Route("/sim/holds", list_holds, methods=["GET"]),
    Route("/sim/holds/release", release_holds, methods=["POST"]),
    Route("/sim/account", put_account, methods=["PUT"]),
    Route("/sim/account", get_account, methods=["GET"]),
    Route("/sim/requests", rest_requests, methods=["GET"]),
    Route("/sim/reset", reset, methods=["POST"]),
]
