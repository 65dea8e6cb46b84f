"""The phone network: owns every leg, party, queue, conference, recording and fault, and starts and
steers calls."""

from __future__ import annotations

import asyncio
from collections import deque
from contextlib import suppress
from dataclasses import dataclass

import httpx

from sim.phone.account import AccountSettings, DialQueue
from sim.phone.callbacks import StatusCallbacks
from sim.phone.calls import OutboundPlan, run_inbound, run_outbound
from sim.phone.clock import Clock, SimTime
from sim.phone.conference import ConferenceStatus, LeftBecause, Participant, Role
from sim.phone.conference_callbacks import ConferenceCallbacks
from sim.phone.conferences import Conferences
from sim.phone.config import PhoneConfig
from sim.phone.faults import Faults
from sim.phone.holds import Holds
from sim.phone.ids import new_sid
from sim.phone.inputs import CallerInput, InputSource
from sim.phone.leg import CallbackSpec, Leg
from sim.phone.parties import Parties
from sim.phone.queues import Queues
from sim.phone.recording_callbacks import RecordingCallbacks
from sim.phone.recordings import Recordings
from sim.phone.runtime import Runtime
from sim.phone.statuses import CallStatus, Direction
from sim.phone.steps import Fetch, HangupRequest, RedirectRequest, Step
from sim.phone.store import CallStore
from sim.phone.tasks import TaskSet
from sim.phone.webhooks import Balancer, Webhooks

MAX_REST_LOG = 10_000
SETTLE_SECONDS = 1.0  # how long a REST hang-up waits for the call to end before answering
RESET_SETTLE_SECONDS = 2.0  # how long a reset lets status callbacks already owed arrive
DEFAULT_REST_BASE_URL = "http://127.0.0.1:8010"  # `lifeline-sim phone`'s, before any request


class UnknownCall(Exception):
    def __init__(self, sid: str) -> None:
        super().__init__(sid)
        self.sid = sid


class CallNotInProgress(Exception):
    pass


class ConferenceEnded(Exception):
    pass


def _is_conference_sid(key: str) -> bool:
    return len(key) == 34 and key.startswith("CF")


@dataclass(frozen=True)
class OutboundRequest:
    to: str
    from_: str
    plan: OutboundPlan
    fallback: Fetch | None
    callbacks: CallbackSpec | None


@dataclass(frozen=True)
class ParticipantRequest:
    """`POST Participants.json`: a call to place, and how it takes part once answered."""

    call: OutboundRequest
    role: Role
    conference_callback: CallbackSpec | None


class PhoneNetwork:
    def __init__(self, config: PhoneConfig, http: httpx.AsyncClient, clock: Clock) -> None:
        self.config = config
        self.faults = Faults()
        self.holds = Holds()
        self.dial_queue = DialQueue()
        self.rest_log: deque[dict[str, object]] = deque(maxlen=MAX_REST_LOG)
        self._reached_at = ""
        time = SimTime(clock, config.time_scale)
        tasks = TaskSet()
        balancer = Balancer(config.public_base_url, config.backends)
        webhooks = Webhooks(http, config.auth_token, time, config.webhook_timeout, balancer)
        recordings = Recordings(
            time,
            self.faults,
            RecordingCallbacks(webhooks, tasks),
            self.rest_base_url,
            config.max_ended_calls,
        )
        self.rt = Runtime(
            config=config,
            time=time,
            webhooks=webhooks,
            callbacks=StatusCallbacks(webhooks, self.faults, tasks, time),
            parties=Parties(),
            queues=Queues(),
            conferences=Conferences(time, ConferenceCallbacks(webhooks, tasks), recordings),
            recordings=recordings,
            store=CallStore(config.max_ended_calls),
            tasks=tasks,
        )

    # -- starting calls -----------------------------------------------------------------------

    def start_inbound(
        self,
        from_: str,
        to: str,
        inputs: list[CallerInput],
        events: frozenset[str] | None,
        after_prompts: bool = False,
    ) -> Leg:
        urls = self.config.urls
        fallback = Fetch(urls.fallback, "POST", "fallback") if urls.fallback else None
        spec = CallbackSpec(
            urls.status_callback, "POST", events or self.config.status_callback_events
        )
        source = InputSource(inputs, after_prompts)
        leg = self._new_leg(Direction.INBOUND, from_, to, source, fallback, spec)
        self.rt.tasks.spawn(
            run_inbound(leg, self.rt, Fetch(urls.voice, "POST", "voice")), name=leg.sid
        )
        return leg

    def start_outbound(self, request: OutboundRequest) -> Leg:
        behaviour = self.rt.parties.behaviour(request.to)
        leg = self._new_leg(
            Direction.OUTBOUND_API,
            request.from_,
            request.to,
            InputSource(behaviour.scripted_inputs()),
            request.fallback,
            request.callbacks,
            talk_seconds=behaviour.talk_seconds,
            status=CallStatus.QUEUED,
        )
        self.rt.parties.reached(request.to, leg.sid)
        queued_for = self.dial_queue.wait_for(self.rt.time.now())
        self.rt.tasks.spawn(run_outbound(leg, self.rt, request.plan, queued_for), name=leg.sid)
        return leg

    def _new_leg(
        self,
        direction: Direction,
        from_: str,
        to: str,
        inputs: InputSource,
        fallback: Fetch | None,
        callbacks: CallbackSpec | None,
        talk_seconds: float | None = None,
        status: CallStatus = CallStatus.RINGING,
    ) -> Leg:
        leg = Leg(
            sid=new_sid("CA"),
            account_sid=self.config.account_sid,
            direction=direction,
            from_=from_,
            to=to,
            time=self.rt.time,
            notifier=self.rt.callbacks,
            inputs=inputs,
            fallback=fallback,
            callbacks=callbacks,
            talk_seconds=talk_seconds,
            status=status,
        )
        self.rt.store.add(leg)
        return leg

    # -- steering live calls ------------------------------------------------------------------

    def leg(self, sid: str) -> Leg:
        leg = self.rt.store.get(sid)
        if leg is None:
            raise UnknownCall(sid)
        return leg

    def legs(self) -> list[Leg]:
        return self.rt.store.all()

    def redirect(self, sid: str, step: Step) -> Leg:
        leg = self.leg(sid)
        if leg.is_ended or leg.status is not CallStatus.IN_PROGRESS:
            raise CallNotInProgress(sid)
        leg.interrupt(RedirectRequest(step))
        return leg

    def hang_up(self, sid: str, by: str, *, only_if_unanswered: bool = False) -> bool:
        """Hang a leg up (False if there was nothing to do); `only_if_unanswered` is REST's
        Status=canceled, which leaves a connected call alone."""
        leg = self.leg(sid)
        if only_if_unanswered and leg.answered:
            return False
        return leg.interrupt(HangupRequest(by))

    async def settle(self, leg: Leg) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(leg.ended.wait(), SETTLE_SECONDS)

    def send_input(self, sid: str, item: CallerInput) -> bool:
        leg = self.leg(sid)
        delivered = not leg.is_ended and leg.inputs.offer(item)
        if not delivered:
            # Keys pressed while no Gather listens are lost, on Twilio as here: recorded, unused.
            leg.log.emit("input", **item.describe(), source="live", ignored=True)
        return delivered

    def queue_of(self, leg: Leg) -> dict[str, object] | None:
        stay = leg.queue_stay
        if stay is None:
            return None
        now = self.rt.time.now()
        params = self.rt.queues.wait_params(stay.name, leg.sid, now)
        return {
            "name": stay.name,
            "sid": stay.sid,
            "position": int(params["QueuePosition"]),
            "size": int(params["CurrentQueueSize"]),
            "waited": round(now - stay.joined, 3),
        }

    # -- conferences ----------------------------------------------------------------------------

    def conference_name(self, key: str) -> str:
        """`Conferences/{key}/Participants.json` names a conference by its sid, or by its
        friendly name (the live room of that name, created if there is none)."""
        if not _is_conference_sid(key):
            return key
        conference = self.rt.conferences.get(key)
        if conference.status is ConferenceStatus.COMPLETED:
            raise ConferenceEnded(conference.sid)
        return conference.friendly_name

    def add_participant(self, key: str, request: ParticipantRequest) -> Participant:
        conferences = self.rt.conferences
        if _is_conference_sid(key):
            conference = conferences.get(key)
        else:
            conference = conferences.open(key, self.config.account_sid)
        leg = self.start_outbound(request.call)
        participant = conferences.reserve(
            conference, leg, request.role, request.conference_callback
        )
        self.rt.tasks.spawn(self._unless_answered(participant), name=f"participant-{leg.sid}")
        return participant

    async def _unless_answered(self, participant: Participant) -> None:
        await participant.leg.ended.wait()
        self.rt.conferences.not_answered(participant)

    def kick(self, participant: Participant) -> None:
        self.rt.conferences.leave(participant, LeftBecause.KICKED)
        if participant.joined_at is None:
            participant.leg.interrupt(HangupRequest("api"))

    # -- where the sim is reached ---------------------------------------------------------------

    def reached_at(self, base_url: str) -> None:
        """A request came in at `base_url`: the sim's own address, as its clients know it."""
        self._reached_at = base_url.rstrip("/")

    def rest_base_url(self) -> str:
        """The base of the URLs the sim hands out for itself (a recording's media)."""
        configured = self.config.rest_base_url.rstrip("/")
        return configured or self._reached_at or DEFAULT_REST_BASE_URL

    # -- lifecycle ----------------------------------------------------------------------------

    async def reset(self) -> None:
        await self.rt.conferences.settle(RESET_SETTLE_SECONDS)
        await self.rt.tasks.cancel_all()
        self.rt.store.clear()
        self.rt.parties.clear()
        self.rt.queues.clear()
        self.rt.conferences.clear()
        self.rt.recordings.clear()
        self.rt.callbacks.clear()
        self.faults.clear()
        self.holds.release(drop=True)
        self.dial_queue.configure(AccountSettings())
        self.rest_log.clear()

    async def close(self) -> None:
        await self.rt.tasks.cancel_all()
