"""A handler's wrap-up from the console or the API: routing.wrapup decides what is recorded and
sent; the case goes to the clinical system by a job (or the journal while it is down), and the
calls offered to free handlers are connected."""

from __future__ import annotations

from console.context import Console
from console.errors import Conflict
from routing import wrapup
from routing.cases import ClinicalCase
from routing.handlers import HandlerState
from routing.wrapup import WrapUpOutcome, WrapUpRefused


async def wrap_up(
    console: Console, handler_id: str, outcome: WrapUpOutcome, notes: str, available: bool
) -> HandlerState:
    """Record the wrap-up (routing.wrapup.wrap_up); returns the state the handler is in now."""

    async def send_case(case: ClinicalCase) -> None:
        await console.jobs.off_loop(console.jobs.send_case, case)

    floor = console.floor
    try:
        done = await wrapup.wrap_up(
            floor.redis,
            floor.handlers,
            floor.calls,
            floor.callbacks,
            floor.modes,
            floor.rulebook,
            floor.assigner,
            send_case,
            handler_id,
            outcome=outcome,
            notes=notes,
            available=available,
            now=floor.clock.now(),
        )
    except WrapUpRefused as refused:
        raise Conflict(str(refused)) from None
    await floor.outbound.connect_all(done.offers)
    return done.state
