"""The JSON API under /api/v1: every endpoint in one table, from which the routes and the
OpenAPI document are made."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from console import (
    api_callbacks,
    api_degraded,
    api_feedback,
    api_floor,
    api_onward,
    api_recordings,
    api_rules,
    openapi,
)
from console.convertors import VERSION
from console.endpoints import EVERYONE, SUPERVISORS, Endpoint, route
from routing.audit import AuditEntry
from routing.clinician_clock import ClinicianDay
from routing.handlers import Handler, HandlerProfile
from routing.journal import Progress
from routing.mode import OutageMessage
from routing.rulebook import Version, VersionInfo
from routing.simulations import SimulationRun

ENDPOINTS = [
    Endpoint("GET", "/api/v1/rules", "Get the active rule set", api_rules.active_rules, EVERYONE, response=Version),
    Endpoint("GET", "/api/v1/rules/versions", "List rule set versions", api_rules.list_versions, SUPERVISORS, response=list[VersionInfo]),
    Endpoint("GET", f"/api/v1/rules/versions/{VERSION}", "Get a rule set version", api_rules.get_version, SUPERVISORS, response=Version),
    Endpoint("POST", "/api/v1/rules/versions", "Create a rule set version", api_rules.create_version, SUPERVISORS, body=api_rules.NewVersion, response=VersionInfo, status=201),
    Endpoint("POST", f"/api/v1/rules/versions/{VERSION}/activate", "Activate a rule set version", api_rules.activate_version, SUPERVISORS, body=api_rules.Activation, response=api_rules.ActivationResult),
    Endpoint("POST", f"/api/v1/rules/versions/{VERSION}/simulate", "Simulate a day under a version beside the active one (what-if)", api_rules.simulate_version, SUPERVISORS, body=api_rules.SimulationAsk, response=SimulationRun, status=202),
    Endpoint("GET", "/api/v1/simulations", "List what-if runs, newest first", api_rules.list_simulations, SUPERVISORS, response=list[SimulationRun]),
    Endpoint("GET", "/api/v1/simulations/{simulation_id}", "Get a what-if run: its progress, then its comparison", api_rules.get_simulation, SUPERVISORS, response=SimulationRun),
    Endpoint("POST", "/api/v1/rules/dry-run", "Dry-run a call through the rules", api_rules.dry_run, SUPERVISORS, body=api_rules.DryRun, response=api_rules.DryRunResult),
    Endpoint("GET", "/api/v1/queues", "Snapshot the queues and handlers", api_floor.floor, SUPERVISORS, response=api_floor.FloorSnapshot),
    Endpoint("GET", "/api/v1/stats", "Get statistics", api_floor.statistics, SUPERVISORS, response=api_floor.StatsReport, query={"window": "15m, 1h or today (default 15m)"}),
    Endpoint("GET", "/api/v1/handlers", "List handlers", api_floor.list_handlers, SUPERVISORS, response=list[Handler]),
    Endpoint("POST", "/api/v1/handlers", "Create a handler", api_floor.create_handler, SUPERVISORS, body=HandlerProfile, response=Handler, status=201),
    Endpoint("GET", "/api/v1/handlers/{handler_id}", "Get a handler", api_floor.get_handler, EVERYONE, response=Handler),
    Endpoint("PUT", "/api/v1/handlers/{handler_id}", "Update a handler", api_floor.update_handler, SUPERVISORS, body=HandlerProfile, response=Handler),
    Endpoint("GET", "/api/v1/handlers/{handler_id}/history", "A handler's state changes and time in each state", api_floor.handler_history, EVERYONE, response=api_floor.HandlerHistory, query={"window": "15m, 1h or today (default today)"}),
    Endpoint("GET", "/api/v1/handlers/{handler_id}/feedback", "Get a handler's patient feedback on a day", api_feedback.handler_feedback, EVERYONE, response=api_feedback.HandlerFeedback, query=api_feedback.DAY_QUERY),
    Endpoint("PUT", "/api/v1/handlers/{handler_id}/state", "Change a handler's state", api_floor.change_state, EVERYONE, body=api_floor.StateChange, response=Handler),
    Endpoint("POST", "/api/v1/handlers/{handler_id}/heartbeat", "Send a handler heartbeat", api_floor.heartbeat, EVERYONE, response=api_floor.Heartbeat),
    Endpoint("GET", "/api/v1/callbacks", "List callbacks (numbers masked)", api_callbacks.list_callbacks, SUPERVISORS, response=list[api_callbacks.CallbackView], query={"status": "only this status", "priority": "only this priority class", "overdue": "true: only those past their target"}),
    Endpoint("GET", "/api/v1/stats/clinician", "Get the share of immediate requests for a clinician met within 20 minutes, by day and hour", api_onward.clinician_statistics, SUPERVISORS, response=ClinicianDay, query={"day": "today (default) or yesterday"}),
    Endpoint("GET", "/api/v1/callbacks/statistics", "Get callback statistics", api_callbacks.callback_statistics, SUPERVISORS, response=api_callbacks.CallbackReport, query={"window": "15m, 1h or today (default today)"}),
    Endpoint("GET", "/api/v1/callbacks/{callback_id}", "Get a callback, its whole number (audited) and its history", api_callbacks.get_callback, SUPERVISORS, response=api_callbacks.CallbackView),
    Endpoint("POST", "/api/v1/callbacks/{callback_id}/cancel", "Cancel a callback", api_callbacks.cancel_callback, SUPERVISORS, body=api_callbacks.CallbackChange, response=api_callbacks.CallbackView),
    Endpoint("PUT", "/api/v1/callbacks/{callback_id}/priority", "Re-prioritise a callback", api_callbacks.reprioritise_callback, SUPERVISORS, body=api_callbacks.CallbackPriority, response=api_callbacks.CallbackView),
    Endpoint("GET", "/api/v1/recordings", "List recordings, newest first, at most 200: narrow the search for more (callers by their last digits)", api_recordings.list_recordings, SUPERVISORS, response=list[api_recordings.RecordingView], query=api_recordings.SEARCH_QUERY),
    Endpoint("GET", api_recordings.AUDIO, "Play a recording (its WAV, streamed from Twilio through Lifeline; audited once a playback, whatever ranges are asked for)", api_recordings.recording_audio, SUPERVISORS, media_type=api_recordings.WAV, headers=api_recordings.RANGE, answers=api_recordings.AUDIO_ANSWERS),
    Endpoint("GET", "/api/v1/feedback", "Get a day's patient feedback (Friends and Family Test) for the line, each queue and each handler", api_feedback.feedback, SUPERVISORS, response=api_feedback.FeedbackDay, query=api_feedback.DAY_QUERY),
    Endpoint("POST", "/api/v1/handlers/{handler_id}/send-on", "Send a handler's caller on, to the dispatch line or a clinician", api_onward.handler_send_on, EVERYONE, body=api_onward.SendOn, response=api_onward.SentOn, status=202),
    Endpoint("POST", "/api/v1/handlers/{handler_id}/clinician-callback", "Arrange a clinician's callback for a handler's caller", api_onward.handler_clinician_callback, EVERYONE, body=api_onward.ClinicianCallbackAsk, response=api_onward.ClinicianCallbackMade, status=201),
    Endpoint("POST", "/api/v1/handlers/{handler_id}/wrap-up", "Wrap up a handler's call", api_degraded.handler_wrap_up, EVERYONE, body=api_degraded.WrapUp, response=api_degraded.WrapUpDone),
    Endpoint("GET", "/api/v1/mode", "Get the mode", api_degraded.get_mode, EVERYONE, response=api_degraded.ModeView),
    Endpoint("PUT", "/api/v1/mode", "Force the mode, or make it automatic", api_degraded.set_mode, SUPERVISORS, body=api_degraded.ModeChange, response=api_degraded.ModeView),
    Endpoint("PUT", "/api/v1/mode/message", "Set the outage message", api_degraded.set_message, SUPERVISORS, body=OutageMessage, response=api_degraded.ModeView),
    Endpoint("GET", "/api/v1/clinical/health", "Read the clinical system's health history", api_degraded.clinical_health, SUPERVISORS, response=list[api_degraded.HealthEvent]),
    Endpoint("GET", "/api/v1/journal", "List contingency journal entries", api_degraded.journal, SUPERVISORS, response=list[api_degraded.EntrySummary], query={"status": "pending, delivered, duplicate or failed"}),
    Endpoint("GET", "/api/v1/journal/progress", "Get reconciliation progress", api_degraded.journal_progress, SUPERVISORS, response=Progress),
    Endpoint("GET", "/api/v1/journal/report", "Get the reconciliation report", api_degraded.journal_report, SUPERVISORS, response=api_degraded.Report, query={"format": "json (default) or csv"}),
    Endpoint("POST", "/api/v1/journal/replay", "Replay the journal now", api_degraded.start_replay, SUPERVISORS, response=Progress),
    Endpoint("GET", "/api/v1/journal/{case_id}", "Get a journal entry", api_degraded.journal_entry, SUPERVISORS, response=api_degraded.EntrySummary),
    Endpoint("GET", "/api/v1/audit", "Read the audit log", api_floor.audit_log, SUPERVISORS, response=list[AuditEntry], query={"count": "how many, newest first (default 100)", "action": "only this action"}),
]  # fmt: skip


HANDLERS_OWN = "/api/v1/handlers/"  # one handler's: served by the floor process too


def handlers_routes() -> list[BaseRoute]:
    """What a handler's console and a handler's own client send about one handler."""
    return [route(endpoint) for endpoint in ENDPOINTS if endpoint.path.startswith(HANDLERS_OWN)]


def routes() -> list[BaseRoute]:
    spec = openapi.document(ENDPOINTS)

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(spec)

    return [
        *(route(endpoint) for endpoint in ENDPOINTS),
        Route("/api/v1/openapi.json", openapi_json, methods=["GET"]),
    ]
