"""Everything a running call needs, bundled once by the network and passed down explicitly."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sim.phone.callbacks import StatusCallbacks
from sim.phone.clock import SimTime
from sim.phone.conferences import Conferences
from sim.phone.config import PhoneConfig
from sim.phone.leg import Leg
from sim.phone.parties import Parties
from sim.phone.queues import Queues
from sim.phone.recordings import Recordings
from sim.phone.steps import Ending, Step
from sim.phone.store import CallStore
from sim.phone.tasks import TaskSet
from sim.phone.verbs import Context
from sim.phone.webhooks import Webhooks


@dataclass(frozen=True)
class Runtime:
    config: PhoneConfig
    time: SimTime
    webhooks: Webhooks
    callbacks: StatusCallbacks
    parties: Parties
    queues: Queues
    conferences: Conferences
    recordings: Recordings
    store: CallStore
    tasks: TaskSet


# Runs TwiML from a first step until the leg's script ends. Passed in rather than imported:
# Dial and Enqueue run nested documents with the very interpreter that runs them.
TwimlRunner = Callable[[Leg, Runtime, Step, Context], Coroutine[Any, Any, Ending]]
