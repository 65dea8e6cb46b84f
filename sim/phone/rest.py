"""Twilio's REST API, the Calls subset (create, list, fetch, redirect and hang up), and what every
REST request goes through: injected faults, holds, Basic auth, the REST log, Twilio's errors."""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sim.phone.call_list import ListQuery, list_page
from sim.phone.conference import UnknownConference, UnknownParticipant
from sim.phone.forms import read_form
from sim.phone.leg import API_VERSION, Leg
from sim.phone.network import CallNotInProgress, PhoneNetwork, UnknownCall
from sim.phone.recordings import UnknownRecording
from sim.phone.rest_forms import CreateCallForm, TwilioApiError, UpdateCallForm
from sim.phone.state import network_of
from sim.phone.timestamps import iso, rfc2822

ACCOUNT = f"/{API_VERSION}/Accounts/{{account_sid}}"
Handler = Callable[[Request, PhoneNetwork], Awaitable[Response]]


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status)


def call_resource(leg: Leg) -> dict[str, object]:
    uri = f"/{API_VERSION}/Accounts/{leg.account_sid}/Calls/{leg.sid}"
    return {
        "sid": leg.sid,
        "account_sid": leg.account_sid,
        "parent_call_sid": leg.parent_sid,
        "date_created": rfc2822(leg.created_wall),
        "date_updated": rfc2822(leg.ended_wall or leg.answered_wall or leg.created_wall),
        "to": leg.to,
        "to_formatted": leg.to,
        "from": leg.from_,
        "from_formatted": leg.from_,
        "phone_number_sid": None,
        "status": leg.status.value,
        "start_time": rfc2822(leg.started_wall) if leg.started_wall else None,
        "end_time": rfc2822(leg.ended_wall) if leg.ended_wall else None,
        "duration": str(leg.duration()) if leg.is_ended else None,
        "price": None,
        "price_unit": "USD",
        "direction": leg.direction.value,
        "answered_by": leg.answered_by,
        "api_version": API_VERSION,
        "forwarded_from": None,
        "group_sid": None,
        "caller_name": None,
        "queue_time": "0",
        "trunk_sid": None,
        "uri": f"{uri}.json",
        "subresource_uris": {
            "notifications": f"{uri}/Notifications.json",
            "recordings": f"{uri}/Recordings.json",
            "events": f"{uri}/Events.json",
        },
    }


def _authorised(request: Request, account_sid: str, auth_token: str) -> bool:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    url_account = request.path_params.get("account_sid", account_sid)
    return (
        secrets.compare_digest(user, account_sid)
        and secrets.compare_digest(password, auth_token)
        and url_account == account_sid
    )


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Injected faults first, then auth, then the handler; every request goes in the REST log."""

    async def answer(request: Request) -> Response:
        network = network_of(request)
        if request.method == "POST":
            params = dict((await read_form(request)).items())
        else:
            params = dict(request.query_params.items())
        response = await _answer(request, network, handler)
        network.rest_log.append(
            {
                "at": iso(network.rt.time.wall()),
                "method": request.method,
                "path": request.url.path,
                "params": params,
                "status": response.status_code,
            }
        )
        return response

    return answer


def _fault_answer(status: int) -> JSONResponse:
    if status == 429:
        return twilio_error(429, 20429, "Too Many Requests")
    return twilio_error(500, 20500, "Internal Server Error")


async def _answer(request: Request, network: PhoneNetwork, handler: Handler) -> Response:
    method, path = request.method, request.url.path
    fault = network.faults.take_rest_fault(method)
    if fault is not None and not fault.carried_out:
        return _fault_answer(fault.status)
    hold = network.faults.take_hold(method)
    if (
        hold is not None
        and hold.stage == "request"
        and await network.holds.wait("request", method, path)
    ):
        # Dropped: the request never reached Twilio. Nobody should be waiting for this answer.
        return twilio_error(503, 20503, "Service Unavailable (the request was dropped)")
    config = network.config
    if not _authorised(request, config.account_sid, config.auth_token):
        return twilio_error(401, 20003, "Authenticate")
    try:
        response = await handler(request, network)
    except TwilioApiError as error:
        response = twilio_error(error.status, error.code, error.message)
    except (UnknownCall, UnknownConference, UnknownParticipant, UnknownRecording):
        response = twilio_error(404, 20404, f"The requested resource {path} was not found")
    if hold is not None and hold.stage == "answer":
        await network.holds.wait("answer", method, path)
    if fault is not None:  # carried out, and its answer lost
        return _fault_answer(fault.status)
    return response


async def create_call(request: Request, network: PhoneNetwork) -> Response:
    form = CreateCallForm.from_form(await read_form(request))
    leg = network.start_outbound(form.request())
    return JSONResponse(call_resource(leg), status_code=201)


async def list_calls(request: Request, network: PhoneNetwork) -> Response:
    query = ListQuery.parse(dict(request.query_params.items()))
    matching = [leg for leg in network.legs() if query.matches(leg)]
    return JSONResponse(list_page(request.url.path, "calls", matching, query, call_resource))


async def fetch_call(request: Request, network: PhoneNetwork) -> Response:
    return JSONResponse(call_resource(network.leg(request.path_params["call_sid"])))


async def update_call(request: Request, network: PhoneNetwork) -> Response:
    sid = request.path_params["call_sid"]
    form = UpdateCallForm.from_form(await read_form(request))
    leg = network.leg(sid)
    step = form.redirect_step()
    status = form.hang_up_status()
    if step is not None:
        try:
            network.redirect(sid, step)
        except CallNotInProgress:
            raise TwilioApiError(400, 21220, "Call is not in-progress. Cannot redirect.") from None
    elif status is not None and network.hang_up(
        sid, "api", only_if_unanswered=status == "canceled"
    ):
        await network.settle(leg)
    return JSONResponse(call_resource(leg))


async def not_found(request: Request, network: PhoneNetwork) -> Response:
    return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")


routes = [
    Route(f"{ACCOUNT}/Calls.json", endpoint(create_call), methods=["POST"]),
    Route(f"{ACCOUNT}/Calls.json", endpoint(list_calls), methods=["GET"]),
    Route(f"{ACCOUNT}/Calls/{{call_sid}}.json", endpoint(fetch_call), methods=["GET"]),
    Route(f"{ACCOUNT}/Calls/{{call_sid}}.json", endpoint(update_call), methods=["POST"]),
]
# Last of all the REST routes: Twilio's 404 for any other path.
not_found_routes = [
    Route(
        f"/{API_VERSION}/{{rest:path}}",
        endpoint(not_found),
        methods=["GET", "POST", "DELETE", "PUT"],
    ),
]
