"""A supervisor gives a callback a new priority class: audited, and once it is back in the queue,
free handlers are offered the best waiting calls."""

from __future__ import annotations

from dataclasses import dataclass, field

from routing.assignment import Assigner, Offer
from routing.audit import Audit
from routing.callbacks import Callbacks
from routing.models import Priority
from routing.rulebook import RuleBook

CHANGED = ("pending", "scheduled")


@dataclass(frozen=True)
class Reprioritised:
    """`outcome` is the callback's status after the change, `pending` or `scheduled`; or why it
    was not changed: `unknown`, `superseded`, `number taken`, or the status that prevents it."""

    outcome: str
    # Superseded: the caller's newer callback; number taken: the callback holding the number.
    other: str = ""
    offers: list[Offer] = field(default_factory=list)  # to free handlers, for the caller to connect

    @property
    def changed(self) -> bool:
        return self.outcome in CHANGED


async def reprioritise(
    callbacks: Callbacks,
    rulebook: RuleBook,
    assigner: Assigner,
    audit: Audit,
    callback_id: str,
    *,
    priority: Priority,
    actor: str,
    reason: str,
    now: float,
) -> Reprioritised:
    """A new class for a pending, scheduled or unreachable callback, its target the class's by
    the active rules (Callbacks.reprioritise says what becomes of it)."""
    rules = await rulebook.active()
    outcome = await callbacks.reprioritise(
        callback_id, priority, actor, reason, rules.callbacks, now
    )
    if outcome == "superseded":
        return Reprioritised(outcome, await callbacks.superseded_by(callback_id))
    if outcome == "number taken":
        return Reprioritised(outcome, await callbacks.holding_number(callback_id))
    if outcome not in CHANGED:
        return Reprioritised(outcome)
    await audit.record(
        actor, "callback.priority", callback_id, now, priority=int(priority), reason=reason
    )
    if outcome == "pending":
        return Reprioritised(outcome, offers=await assigner.assign(rules, now))
    return Reprioritised(outcome)
