"""What the consoles and the API need, built by the composition root and handed over in state."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from config.settings import Settings
from console.tokens import Tokens
from routing.assignment import Assigner
from routing.audit import Audit
from routing.breaker import Breaker
from routing.callbacks import Callbacks
from routing.calls import Calls
from routing.clock import Clock
from routing.floor import Floor
from routing.handlers import Handlers
from routing.journal import Journal
from routing.mode import ModeStore
from routing.queues import Queues
from routing.rulebook import RuleBook
from routing.stats import Stats
from workers.clinical import ClinicalSystem
from workers.enqueue import Jobs


@dataclass(frozen=True)
class Console:
    floor: Floor
    settings: Settings
    clock: Clock
    redis: Redis
    calls: Calls
    queues: Queues
    handlers: Handlers
    callbacks: Callbacks
    rulebook: RuleBook
    assigner: Assigner
    jobs: Jobs
    stats: Stats
    audit: Audit
    tokens: Tokens
    modes: ModeStore
    journal: Journal
    breaker: Breaker
    # The staff's own client of the clinical system, for bookings while a handler watches (its
    # short timeout); the webhooks have none.
    clinical: ClinicalSystem

    async def assign(self) -> int:
        """Give free handlers the best waiting calls; returns how many were offered."""
        offers = await self.assigner.assign(await self.rulebook.active(), self.clock.now())
        await self.jobs.connect_all(offers)
        return len(offers)
