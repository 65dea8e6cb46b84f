"""The floor: the stores over one Redis client, Lifeline's clock and settings, and the jobs the
use cases ask for, built once per process by its composition root and taken by the use cases,
whoever calls them; and its own use case, offering the waiting calls to free handlers
(assign_waiting)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, Protocol

from redis.asyncio import Redis

from config.settings import Settings
from routing.assignment import Assigner, Offer
from routing.audit import Audit
from routing.callbacks import Callbacks
from routing.calls import Calls
from routing.cases import ClinicalCase
from routing.clock import Clock
from routing.feedback import FeedbackCounts
from routing.handlers import Handlers
from routing.mode import ModeStore
from routing.number_hash import NumberHash
from routing.offers import Offers
from routing.queues import Queues
from routing.recordings import Recordings
from routing.rulebook import RuleBook
from routing.rules import RuleSet
from routing.transfers import Transfers

P = ParamSpec("P")


class Outbound(Protocol):
    """What the use cases ask of the world outside Redis, as jobs (`workers.enqueue.Jobs`):
    never waited on by a caller for longer than an enqueue."""

    async def connect_all(self, offers: list[Offer], wait: bool = True) -> None:
        """Put each reserved call through to its handler, or place each reserved callback."""

    async def hand_off(
        self, what: str, enqueue: Callable[P, object], *args: P.args, **kwargs: P.kwargs
    ) -> None:
        """Enqueue without keeping a caller waiting; a failure is logged as `what`."""

    def send_case(self, case: ClinicalCase, open_case: bool = False) -> object:
        """Send a case to the clinical system (or keep it in the journal while it is down)."""

    def release_leg(
        self, call_sid: str, leg: str, to: str, warm: bool = False, handler: str = ""
    ) -> object:
        """Move a handler's leg off the call `call_sid` (its caller goes on, `to` where), or,
        `warm`, into the transfer's room to introduce the case."""

    def redirect_call(self, call_sid: str, path: str, only_if: str = "") -> object:
        """Send a live call to the webhook at `path` (a warm transfer's caller, out of the room),
        if its record's status is then `only_if` (when given)."""

    def dial_dispatcher(self, call_sid: str) -> object:
        """Ring the dispatch line into the warm transfer's room of `call_sid`."""

    def hang_up(self, call_sid: str) -> object:
        """End a call Lifeline placed (a clinician rung into a room the caller has left)."""


@dataclass(frozen=True)
class Floor:
    """The floor's stores over one Redis client, with the clock, the settings (the dispatch line,
    the number policy, the lines) and the jobs' outbound side."""

    redis: Redis
    clock: Clock
    settings: Settings
    audit: Audit
    calls: Calls
    handlers: Handlers
    rulebook: RuleBook
    assigner: Assigner
    queues: Queues
    callbacks: Callbacks
    modes: ModeStore
    offers: Offers
    transfers: Transfers
    recordings: Recordings
    feedback: FeedbackCounts
    outbound: Outbound

    @classmethod
    def of(
        cls,
        redis: Redis,
        clock: Clock,
        settings: Settings,
        rules: RuleSet,
        outbound: Outbound,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> Floor:
        """`monotonic`: the clock the rules' and the mode's caches age by (a simulation's is its
        virtual clock)."""
        numbers = NumberHash(settings.number_hash_secret)
        audit = Audit(redis)
        return cls(
            redis=redis,
            clock=clock,
            settings=settings,
            audit=audit,
            calls=Calls(redis, numbers=numbers, retention_days=settings.retention_days),
            handlers=Handlers(redis),
            rulebook=RuleBook(
                redis,
                audit,
                rules,
                monotonic=monotonic,
                number_exceptions=settings.policy_exceptions,
            ),
            assigner=Assigner(redis),
            queues=Queues(redis),
            callbacks=Callbacks(redis, numbers=numbers),
            modes=ModeStore(redis, audit, monotonic),
            offers=Offers(redis),
            transfers=Transfers(redis),
            recordings=Recordings(redis),
            feedback=FeedbackCounts(redis),
            outbound=outbound,
        )


async def assign_waiting(floor: Floor, wait: bool = True) -> list[Offer]:
    """Give free handlers the best waiting calls under the active rules, and connect the offers
    (`wait`: as `Outbound.connect_all`); returns the offers made."""
    offers = await floor.assigner.assign(await floor.rulebook.active(), floor.clock.now())
    await floor.outbound.connect_all(offers, wait=wait)
    return offers
