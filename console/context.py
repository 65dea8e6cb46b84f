"""What the consoles and the API need, built by the composition root and handed over in state:
the floor (its outbound being the staff's own jobs), and what is the staff side's own."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from console.tokens import Tokens
from routing.breaker import Breaker
from routing.floor import Floor
from routing.journal import Journal
from routing.stats import Stats
from workers.clinical import ClinicalSystem
from workers.enqueue import Jobs


@dataclass(frozen=True)
class Console:
    floor: Floor
    # The staff's own enqueue connection (the floor's outbound), for the jobs beyond Outbound.
    jobs: Jobs
    stats: Stats
    tokens: Tokens
    journal: Journal
    breaker: Breaker
    # The staff's own client of the clinical system, for bookings while a handler watches (its
    # short timeout); the webhooks have none.
    clinical: ClinicalSystem
    # Twilio's recordings, streamed on to supervisors (console/recording_audio.py).
    media: httpx.AsyncClient
