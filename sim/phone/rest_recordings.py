"""Twilio's Recordings API: list (the account's, one call's, or one conference's), fetch and delete
a recording, and fetch its media (WAV, Basic auth as under Twilio's "HTTP auth for media", byte
ranges honoured)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sim.phone.audio import tone_wav
from sim.phone.call_list import INVALID_PARAMETER, ListQuery, list_page, on_day
from sim.phone.leg import API_VERSION
from sim.phone.network import PhoneNetwork
from sim.phone.recordings import Recording, RecordingInProgress, UnknownRecording
from sim.phone.rest import ACCOUNT, endpoint, twilio_error
from sim.phone.rest_forms import TwilioApiError
from sim.phone.timestamps import rfc2822

RECORDING = f"{ACCOUNT}/Recordings/{{recording_sid}}"
CALL_RECORDINGS = f"{ACCOUNT}/Calls/{{call_sid}}/Recordings"
CONFERENCE_RECORDINGS = f"{ACCOUNT}/Conferences/{{conference_sid}}/Recordings"
MATCHED = ("CallSid", "ConferenceSid", "IncludeSoftDeleted")
DAYS = ("DateCreated", "DateCreated>", "DateCreated<")
WAV = "audio/x-wav"
BYTE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def recording_resource(recording: Recording, base_url: str) -> dict[str, object]:
    path = recording.path
    return {
        "account_sid": recording.account_sid,
        "api_version": API_VERSION,
        "call_sid": recording.call_sid,
        "conference_sid": recording.conference_sid,
        "date_created": rfc2822(recording.created_wall),
        "date_updated": rfc2822(recording.updated_wall or recording.created_wall),
        "start_time": rfc2822(recording.created_wall),
        # Twilio's duration for a recording still being made is -1.
        "duration": str(recording.duration if recording.duration is not None else -1),
        "sid": recording.sid,
        "price": None,
        "price_unit": "USD",
        "status": recording.status.value,
        "channels": recording.channels,
        "source": recording.source,
        "error_code": recording.error_code,
        "track": recording.track,
        "uri": f"{path}.json",
        "encryption_details": None,
        "subresource_uris": {
            "add_on_results": f"{path}/AddOnResults.json",
            "transcriptions": f"{path}/Transcriptions.json",
        },
        "media_url": base_url + path,
    }


def _matches(recording: Recording, name: str, value: str) -> bool:
    if name == "CallSid":
        return recording.call_sid == value
    if name == "ConferenceSid":
        return recording.conference_sid == value
    if name == "IncludeSoftDeleted":
        return True  # not a filter: it widens the list (see _listed)
    return on_day(name, value, recording.created_wall)


def _listed(request: Request, network: PhoneNetwork) -> dict[str, object]:
    """One page of the recordings matching Twilio's filters (and, under a call's or a
    conference's path, of that one's), newest first; those deleted only with
    `IncludeSoftDeleted=true`, with status `deleted`."""
    params = dict(request.query_params.items())
    query = ListQuery.parse(params, MATCHED, DAYS)
    include_deleted = params.get("IncludeSoftDeleted", "").lower() == "true"
    matching = [
        recording
        for recording in network.rt.recordings.all(include_deleted)
        if _under(request, recording)
        and all(_matches(recording, name, value) for name, value in query.filters)
    ]
    base_url = network.rt.recordings.base_url()
    return list_page(
        request.url.path,
        "recordings",
        matching,
        query,
        lambda recording: recording_resource(recording, base_url),
    )


def _under(request: Request, recording: Recording) -> bool:
    """Whether the recording belongs under the request's path: any under the account's, only a
    call's under that call's, only a conference's under that conference's."""
    call_sid = request.path_params.get("call_sid", recording.call_sid)
    conference_sid = request.path_params.get("conference_sid", recording.conference_sid)
    return call_sid == recording.call_sid and conference_sid == recording.conference_sid


def _recording(request: Request, network: PhoneNetwork) -> Recording:
    """The recording named in the path; under a call's (a conference's) path, only one of that
    call's (that conference's)."""
    recording = network.rt.recordings.get(request.path_params["recording_sid"])
    if not _under(request, recording):
        raise UnknownRecording(recording.sid)
    return recording


async def list_recordings(request: Request, network: PhoneNetwork) -> Response:
    return JSONResponse(_listed(request, network))


async def fetch_recording(request: Request, network: PhoneNetwork) -> Response:
    recording = _recording(request, network)
    return JSONResponse(recording_resource(recording, network.rt.recordings.base_url()))


async def delete_recording(request: Request, network: PhoneNetwork) -> Response:
    recording = _recording(request, network)
    try:
        network.rt.recordings.delete(recording.sid)
    except RecordingInProgress:
        raise TwilioApiError(
            400, INVALID_PARAMETER, "The recording is in progress: delete it once it has ended"
        ) from None
    return Response(status_code=204)


async def recording_media(request: Request, network: PhoneNetwork) -> Response:
    sid, dot, extension = request.path_params["media"].partition(".")
    fault = network.faults.take_media_fault()
    if fault is not None:
        message = "Internal Server Error" if fault.status == 500 else "Not Found"
        return twilio_error(fault.status, 20000 + fault.status, message)
    if dot and extension != "wav":
        # The sim makes no MP3: the media is there as WAV only.
        raise UnknownRecording(sid)
    recording = network.rt.recordings.get(sid)
    if not recording.has_media:
        raise UnknownRecording(sid)
    return _ranged(request, tone_wav(recording.duration or 0, recording.channels))


def _ranged(request: Request, body: bytes) -> Response:
    """The whole body, or the one byte range asked for (how a browser's player seeks)."""
    headers = {"Accept-Ranges": "bytes"}
    asked = request.headers.get("range")
    span = _byte_range(asked, len(body)) if asked is not None else None
    if span is None:
        return Response(body, media_type=WAV, headers=headers)
    if not span:
        headers["Content-Range"] = f"bytes */{len(body)}"
        return Response(status_code=416, headers=headers)
    headers["Content-Range"] = f"bytes {span.start}-{span.stop - 1}/{len(body)}"
    return Response(body[span.start : span.stop], status_code=206, media_type=WAV, headers=headers)


def _byte_range(header: str, size: int) -> range | None:
    """The bytes of `bytes=a-b`, `bytes=a-` or `bytes=-n` within `size` (empty: it cannot be
    satisfied); None for any other form, several ranges included: answered with the whole body,
    as RFC 9110 allows."""
    match = BYTE_RANGE.fullmatch(header.strip())
    if match is None:
        return None
    start, end = match.group(1), match.group(2)
    if start == "" and end == "":
        return None
    if start == "":
        return range(max(0, size - int(end)), size) if int(end) > 0 else range(0)
    first = int(start)
    if end and int(end) < first:
        return None  # an invalid range is ignored
    last = min(int(end), size - 1) if end else size - 1
    return range(first, last + 1) if first < size else range(0)


routes = [
    Route(f"{ACCOUNT}/Recordings.json", endpoint(list_recordings), methods=["GET"]),
    Route(f"{RECORDING}.json", endpoint(fetch_recording), methods=["GET"]),
    Route(f"{RECORDING}.json", endpoint(delete_recording), methods=["DELETE"]),
    Route(f"{ACCOUNT}/Recordings/{{media}}", endpoint(recording_media), methods=["GET"]),
    *(
        route
        for under in (CALL_RECORDINGS, CONFERENCE_RECORDINGS)
        for route in (
            Route(f"{under}.json", endpoint(list_recordings), methods=["GET"]),
            Route(f"{under}/{{recording_sid}}.json", endpoint(fetch_recording), methods=["GET"]),
            Route(
                f"{under}/{{recording_sid}}.json", endpoint(delete_recording), methods=["DELETE"]
            ),
        )
    ),
]
