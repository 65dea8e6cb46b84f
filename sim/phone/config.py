"""The phone network's configuration: plain values, built from settings or directly by tests."""

from __future__ import annotations

from dataclasses import dataclass

CALL_PROGRESS_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})


@dataclass(frozen=True)
class LineUrls:
    """Where the inbound number's webhooks point (Twilio's number configuration)."""

    voice: str
    status_callback: str
    fallback: str | None

    @classmethod
    def under(cls, public_base_url: str) -> LineUrls:
        base = public_base_url.rstrip("/")
        return cls(
            voice=f"{base}/twilio/voice",
            status_callback=f"{base}/twilio/status",
            fallback=f"{base}/twilio/fallback",
        )


@dataclass(frozen=True)
class PhoneConfig:
    account_sid: str
    auth_token: str
    urls: LineUrls
    status_callback_events: frozenset[str] = frozenset({"completed"})
    time_scale: float = 1.0
    speech_words_per_second: float = 2.5
    webhook_timeout: float = 15.0
    play_seconds: float = 5.0
    max_ended_calls: int = 10_000
    # Web processes behind the public URL, as a load balancer in front of them would have it:
    # each request for a URL under `public_base_url` goes to the next of them in turn, still
    # signed for the public URL. Empty: requests go where their URL says.
    public_base_url: str = ""
    backends: tuple[str, ...] = ()
    # Where the sim itself is reached (its REST API): the base of a recording's RecordingUrl and
    # media_url. Empty: the address the latest request to the sim came in at.
    rest_base_url: str = ""

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if self.speech_words_per_second < 0:
            raise ValueError("speech_words_per_second must not be negative")
        if self.webhook_timeout <= 0:
            raise ValueError("webhook_timeout must be positive")
        unknown = self.status_callback_events - CALL_PROGRESS_EVENTS
        if unknown:
            raise ValueError(f"unknown status callback events: {sorted(unknown)}")
