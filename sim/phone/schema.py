"""TwiML's schema as data: which verbs each context allows, and each element's attributes."""

from __future__ import annotations

import re

from sim.phone.verbs import Context

ALLOWED_VERBS: dict[Context, frozenset[str]] = {
    Context.MAIN: frozenset(
        {"Say", "Play", "Pause", "Hangup", "Reject", "Redirect", "Gather", "Enqueue", "Dial"}
    ),
    Context.WAIT: frozenset({"Say", "Play", "Pause", "Gather", "Redirect", "Leave", "Hangup"}),
    Context.WHISPER: frozenset({"Say", "Play", "Pause", "Gather", "Hangup", "Redirect"}),
}
# Real TwiML that the sim does not execute: naming them separately makes the error honest.
NOT_SIMULATED = frozenset(
    {
        "Record", "Connect", "Start", "Stop", "Pay", "Prompt", "Refer", "Sms", "Message", "Echo",
        "Queue", "Sip", "Sim", "Application", "Stream", "Siprec", "Transcription",
    }
)  # fmt: skip
SSML_TAGS = frozenset(
    {"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w"}
)
ATTRIBUTES: dict[str, frozenset[str]] = {
    "Response": frozenset(),
    "Say": frozenset({"voice", "language", "loop"}),
    "Play": frozenset({"loop", "digits"}),
    "Pause": frozenset({"length"}),
    "Hangup": frozenset(),
    "Leave": frozenset(),
    "Reject": frozenset({"reason"}),
    "Redirect": frozenset({"method"}),
    "Gather": frozenset(
        {
            "action", "actionOnEmptyResult", "debug", "dtmfDetection", "enhanced", "finishOnKey",
            "hints", "input", "language", "method", "numDigits", "partialResultCallback",
            "partialResultCallbackMethod", "profanityFilter", "speechModel", "speechTimeout",
            "timeout",
        }
    ),
    "Enqueue": frozenset({"action", "method", "waitUrl", "waitUrlMethod", "workflowSid"}),
    "Dial": frozenset(
        {
            "action", "answerOnBridge", "callerId", "callReason", "events", "hangupOnStar",
            "method", "record", "recordingStatusCallback", "recordingStatusCallbackEvent",
            "recordingStatusCallbackMethod", "recordingTrack", "referMethod", "referUrl",
            "ringTone", "sequential", "timeLimit", "timeout", "trim",
        }
    ),
    "Number": frozenset(
        {
            "amdStatusCallback", "amdStatusCallbackMethod", "byoc", "machineDetection",
            "machineDetectionSilenceTimeout", "machineDetectionSpeechEndThreshold",
            "machineDetectionSpeechThreshold", "machineDetectionTimeout", "method", "sendDigits",
            "statusCallback", "statusCallbackEvent", "statusCallbackMethod", "url",
        }
    ),
    "Client": frozenset(
        {"method", "statusCallback", "statusCallbackEvent", "statusCallbackMethod", "url"}
    ),
    "Conference": frozenset(
        {
            "beep", "coach", "endConferenceOnExit", "eventCallbackUrl", "jitterBufferSize",
            "maxParticipants", "muted", "participantLabel", "record", "recordingConfigurationId",
            "recordingStatusCallback", "recordingStatusCallbackEvent",
            "recordingStatusCallbackMethod", "region", "startConferenceOnEnter",
            "statusCallback", "statusCallbackEvent", "statusCallbackMethod", "trim", "waitMethod",
            "waitUrl",
        }
    ),
    "Identity": frozenset(),
    "Parameter": frozenset({"name", "value"}),
}  # fmt: skip
VOICE = re.compile(r"^(man|woman|alice|(Polly|Google)\.[A-Za-z0-9_.-]+)$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
NUMBER = re.compile(r"^\+?[0-9]{3,15}$")
NUMBER_SEPARATORS = re.compile(r"[\s().-]")
MAX_QUEUE_NAME = 64
MAX_CONFERENCE_NAME = 128
# `<Conference statusCallbackEvent>`: the sim sends start, end, join, leave, mute and hold.
CONFERENCE_EVENTS = frozenset(
    {"start", "end", "join", "leave", "mute", "hold", "modify", "speaker", "announcement"}
)
BEEP = frozenset({"true", "false", "onEnter", "onExit"})
# `<Dial record>`: Twilio's five values (do-not-record is the default).
RECORD_MODES = frozenset(
    {
        "do-not-record", "record-from-answer", "record-from-ringing", "record-from-answer-dual",
        "record-from-ringing-dual",
    }
)  # fmt: skip
# `<Conference record>`: Twilio's two values (do-not-record is the default).
ROOM_RECORD_MODES = frozenset({"do-not-record", "record-from-start"})
RECORDING_EVENTS = frozenset({"in-progress", "completed", "absent"})
RECORDING_TRACKS = frozenset({"both", "inbound", "outbound"})
