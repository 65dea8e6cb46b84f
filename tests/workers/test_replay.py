"""The journal's replay in small jobs on a virtual clock: a second's worth a batch, the next one
on the agenda for the sweep, one batch at a time, nothing dropped when a worker dies and nothing
held twice by the clinical system, whether it answers a replay 409 (BaRS) or is a plain FHIR
server that only conditional creates keep from creating it all again. Each test runs against
both."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace

import httpx
import pytest

from routing.agenda import REDELIVER_SECONDS, REPLAY_BATCH, Agenda
from routing.cases import CaseKind, Request
from routing.clock import VirtualClock
from routing.journal import REPLAY_LEASE, EntryStatus, Journal
from routing.mode import Mode
from tests.sim.clinical.stub import StubControl
from tests.workers.test_clinical_jobs import T0, case
from workers.clinical import ClinicalSystem
from workers.clinical_jobs import capture, case_of
from workers.replay import batch_size, next_due, reconcile_in, replay_batch_in
from workers.runtime import Runtime

pytestmark = pytest.mark.anyio

HELD = ("Patient", "Encounter", "ServiceRequest")


@pytest.fixture(params=["bars", "plain"])
def rt(rt: Runtime, stub: StubControl, request: pytest.FixtureRequest) -> Runtime:
    """The jobs' runtime, the stub (just reset) a server of each kind in turn."""
    stub.server(request.param)
    return rt


def held_once_each(stub: StubControl, count: int) -> None:
    """The system holds `count` cases' resources, each once and each by an identifier of its
    own: none created twice by a replay."""
    for kind in HELD:
        identifiers = Counter(str(held["identifier"]) for held in stub.resources(kind))
        assert identifiers.total() == count, (kind, identifiers)
        assert set(identifiers.values()) == {1}, (kind, identifiers)


def at_rate(rt: Runtime, per_second: float) -> Runtime:
    return replace(rt, settings=rt.settings.model_copy(update={"replay_per_second": per_second}))


def clock_of(rt: Runtime) -> VirtualClock:
    assert isinstance(rt.clock, VirtualClock)
    return rt.clock


async def journal_five(rt: Runtime) -> None:
    """Three referrals and two open cases (an ambulance, a callback still to make)."""
    for n in range(1, 4):
        await capture(rt, case(f"RRRRR-0000{n}", minutes=n), open_case=False)
    await capture(rt, case("RRRRR-00004", CaseKind.AMBULANCE, minutes=4), open_case=False)
    await capture(rt, case("RRRRR-00005", minutes=5), open_case=True)


def replayed(stub: StubControl) -> list[str]:
    return [record["case_id"] for record in stub.received()]


async def due_batch(rt: Runtime) -> bool:
    """What the sweep does every second: is the replay's next batch due now?"""
    return REPLAY_BATCH in await Agenda(rt.redis).take_due(rt.clock.now())


def test_the_next_batch_keeps_the_rate_and_never_bursts_after_a_hold_up() -> None:
    assert next_due(due=10.0, started=10.2, spacing=1.0) == 11.0  # started a little late
    # However long the batch took to send (it ended at 12.5, say), its successor is due when
    # the rate says: at once, not a spacing after it ended, which would slow the rate.
    assert next_due(due=10.0, started=10.9, spacing=1.0) == 11.0
    # Held up for an hour: a spacing after this batch, not the hour's batches one after another.
    assert next_due(due=10.0, started=3600.0, spacing=1.0) == 3601.0


def test_a_batch_is_a_seconds_worth_and_never_empty() -> None:
    assert [batch_size(rate) for rate in (0.2, 1, 2, 5, 7.5, 100)] == [1, 1, 2, 5, 7, 100]


async def test_a_replay_goes_a_batch_at_a_time_each_started_by_the_agenda_when_due(
    rt: Runtime,
    stub: StubControl,
) -> None:
    rt = at_rate(rt, 2)
    clock, journal = clock_of(rt), Journal(rt.redis)
    await journal_five(rt)

    assert await reconcile_in(rt) == {"delivered": 2, "failed": 0}  # the first at once
    assert replayed(stub) == ["RRRRR-00004", "RRRRR-00005"]  # open cases first
    progress = await journal.progress()
    assert (progress.pending, progress.running, progress.started) == (3, True, T0)
    assert await Agenda(rt.redis).when(REPLAY_BATCH) == T0 + 1  # two entries at two a second

    clock.advance(0.9)
    assert not await due_batch(rt)
    clock.advance(0.1)
    assert await due_batch(rt)
    assert await replay_batch_in(rt) == {"delivered": 2, "failed": 0}
    assert replayed(stub)[2:] == ["RRRRR-00001", "RRRRR-00002"]

    clock.advance(1)
    assert await due_batch(rt)
    assert await replay_batch_in(rt) == {"delivered": 1, "failed": 0}
    progress = await journal.progress()
    assert (progress.delivered, progress.pending, progress.running) == (5, 0, False)
    assert progress.finished == T0 + 2
    assert await Agenda(rt.redis).when(REPLAY_BATCH) is None
    assert len(replayed(stub)) == 5  # each once
    held_once_each(stub, 5)


async def test_a_slow_rate_sends_one_entry_a_job_and_spaces_them_out(
    rt: Runtime,
    stub: StubControl,
) -> None:
    rt = at_rate(rt, 0.25)
    await journal_five(rt)
    assert await reconcile_in(rt) == {"delivered": 1, "failed": 0}  # and returns: no sleeping
    assert await Agenda(rt.redis).when(REPLAY_BATCH) == T0 + 4


async def test_a_batch_started_late_does_not_slow_the_replay(
    rt: Runtime,
    stub: StubControl,
) -> None:
    rt = at_rate(rt, 2)
    await journal_five(rt)
    await reconcile_in(rt)
    clock_of(rt).advance(1.8)  # the sweep, or the replay worker, was late
    assert await due_batch(rt)
    await replay_batch_in(rt)
    assert await Agenda(rt.redis).when(REPLAY_BATCH) == T0 + 2  # not T0 + 2.8


async def test_a_replay_held_up_for_long_goes_on_at_its_rate_never_catching_up_in_a_burst(
    rt: Runtime,
    stub: StubControl,
) -> None:
    rt = at_rate(rt, 2)
    await journal_five(rt)
    await reconcile_in(rt)
    clock_of(rt).advance(12)  # the sweeping worker was stopped for twelve seconds
    assert await due_batch(rt)
    await replay_batch_in(rt)
    assert await Agenda(rt.redis).when(REPLAY_BATCH) == T0 + 13  # a second's worth from now
    assert not await due_batch(rt)  # not the batches it missed, one after another


async def test_a_replay_stops_when_the_system_fails_again_and_tries_no_more(
    rt: Runtime, stub: StubControl
) -> None:
    rt = at_rate(rt, 2)
    await journal_five(rt)
    assert await reconcile_in(rt) == {"delivered": 2, "failed": 0}
    stub.fault("errors")  # 503: the system is failing again
    clock_of(rt).advance(1)
    assert await due_batch(rt)
    await replay_batch_in(rt)
    progress = await Journal(rt.redis).progress()
    assert (progress.pending, progress.running) == (3, False)
    assert len(stub.received()) == 3  # two delivered, then one refused with 503: no more tried


async def test_a_second_start_while_a_replay_is_under_way_sends_nothing(
    rt: Runtime,
    stub: StubControl,
) -> None:
    rt = at_rate(rt, 2)
    await journal_five(rt)
    await reconcile_in(rt)
    assert await reconcile_in(rt) == {"skipped": 1}
    assert len(replayed(stub)) == 2
    assert await Agenda(rt.redis).when(REPLAY_BATCH) == T0 + 1  # its pace unchanged


async def test_one_batch_at_a_time_whoever_starts_it(
    rt: Runtime,
    stub: StubControl,
) -> None:
    rt = at_rate(rt, 2)
    await journal_five(rt)
    await reconcile_in(rt)
    clock_of(rt).advance(1)
    await rt.redis.set(REPLAY_LEASE, "1")  # a batch running elsewhere
    assert await replay_batch_in(rt) == {"skipped": 1}
    assert len(replayed(stub)) == 2


async def test_a_batch_whose_worker_died_is_handed_out_again_and_nothing_is_sent_twice(
    rt: Runtime,
    stub: StubControl,
) -> None:
    rt = at_rate(rt, 2)
    clock, journal = clock_of(rt), Journal(rt.redis)
    await journal_five(rt)
    await reconcile_in(rt)
    clock.advance(1)
    assert await due_batch(rt)
    # Its job started, sent its first entry and died before it could write the outcome down;
    # then its lease ran out.
    assert await journal.replay_batch() == T0 + 1
    [sent] = await journal.next_pending(1)
    entry = await journal.get(sent)
    assert entry is not None
    async with httpx.AsyncClient(trust_env=False) as client:
        await ClinicalSystem(rt.settings.fhir_base_url, client).send(
            case_of(entry.bundle, entry.facts, entry.case_id, entry.kind, entry.notes)
        )
    await rt.redis.delete(REPLAY_LEASE)

    clock.advance(REDELIVER_SECONDS - 1)
    assert not await due_batch(rt)
    clock.advance(1)
    assert await due_batch(rt)
    while await replay_batch_in(rt) != {"skipped": 1}:
        clock.advance(1)
        await due_batch(rt)
    progress = await journal.progress()
    assert (progress.delivered, progress.duplicate) == (4, 1)  # the one sent before it died
    assert (progress.pending, progress.running) == (0, False)
    assert Counter(replayed(stub)) == {f"RRRRR-0000{n}": 2 if n == 1 else 1 for n in range(1, 6)}
    held_once_each(stub, 5)


async def test_a_replay_stops_when_the_mode_turns_degraded_and_starts_again_later(
    rt: Runtime,
    stub: StubControl,
) -> None:
    rt = at_rate(rt, 2)
    clock, journal = clock_of(rt), Journal(rt.redis)
    await journal_five(rt)
    await reconcile_in(rt)
    await rt.modes.force(Mode.DEGRADED, "drill", "sam", T0)
    clock.advance(1)
    assert await due_batch(rt)
    assert await replay_batch_in(rt) == {"delivered": 0, "failed": 0}
    progress = await journal.progress()
    assert (progress.pending, progress.running) == (3, False)  # kept, for the next replay

    await rt.modes.force(Mode.NORMAL, "back", "sam", T0 + 60)
    assert await reconcile_in(rt) == {"delivered": 2, "failed": 0}
    assert (await journal.progress()).running


async def test_a_stray_batch_after_the_replay_finished_sends_nothing(
    rt: Runtime,
    stub: StubControl,
) -> None:
    await journal_five(rt)
    assert await reconcile_in(rt) == {"delivered": 5, "failed": 0}  # 100 a second: one batch
    await capture(rt, case("RRRRR-00006"), open_case=False)
    assert await replay_batch_in(rt) == {"skipped": 1}
    assert len(replayed(stub)) == 5


async def test_a_wrap_up_kept_while_its_opening_is_being_replayed_is_sent_in_its_turn(
    rt: Runtime, stub: StubControl
) -> None:
    """The entry changed while its earlier form was on its way: the answer to that one does not
    settle the entry, which waits, pending, with the wrap-up, for the next replay."""
    opening = case("WWWWW-00001")
    wrap_up = opening.model_copy(update={"request": Request.WRAP_UP, "handler_notes": "to ED"})
    await capture(rt, opening, open_case=False)
    stub.fault("slow", slow_seconds=2)  # the system is back, slow to answer
    replay = asyncio.create_task(reconcile_in(rt))
    await asyncio.sleep(0.5)  # the opening is on its way (two seconds to its answer) ...
    await capture(rt, wrap_up, open_case=False)  # ... when the wrap-up is kept too
    await replay

    entry = await Journal(rt.redis).get("WWWWW-00001")
    assert entry is not None
    assert entry.status is EntryStatus.PENDING
    assert entry.facts["request"] == "wrap-up"
    stub.fault("up")
    clock_of(rt).advance(60)
    await Journal(rt.redis).replay_finished(rt.clock.now())
    await reconcile_in(rt)
    sent = [record["bundle"]["identifier"]["value"] for record in stub.received()]
    assert sent[-1] == "WWWWW-00001/wrap-up"
    settled = await Journal(rt.redis).get("WWWWW-00001")
    assert settled is not None
    assert settled.status is EntryStatus.DELIVERED


async def test_an_opening_kept_again_after_its_wrap_up_does_not_take_its_place(
    rt: Runtime, stub: StubControl
) -> None:
    """A retried job keeping the case as opened, after its wrap-up was kept: the wrap-up, which
    carries everything, is what is sent."""
    opening = case("OOOOO-00001")
    wrap_up = opening.model_copy(update={"request": Request.WRAP_UP, "handler_notes": "to ED"})
    await capture(rt, wrap_up, open_case=False)
    await capture(rt, opening, open_case=False)
    entry = await Journal(rt.redis).get("OOOOO-00001")
    assert entry is not None
    assert (entry.facts["request"], entry.notes) == ("wrap-up", "to ED")


async def test_an_entry_that_cannot_be_read_again_waits_for_a_person_and_stops_nothing(
    rt: Runtime, stub: StubControl
) -> None:
    """An entry kept by an older version in a form this one refuses (a booking kept before
    bookings carried their slot): refused, for a person, and the replay goes on past it."""
    await journal_five(rt)
    old = case("BBBBB-00001", CaseKind.REFERRAL)
    facts = {
        "kind": "booking",
        "priority": 3,
        "reason": old.reason.value,
        "locale": old.locale.value,
        "created": old.created.isoformat(),
    }
    await Journal(rt.redis).capture("BBBBB-00001", "booking", {}, facts, T0 - 60)
    rt = at_rate(rt, 100)

    assert await reconcile_in(rt) == {"delivered": 5, "failed": 1}
    entry = await Journal(rt.redis).get("BBBBB-00001")
    assert entry is not None
    assert entry.status is EntryStatus.FAILED
    assert entry.error.startswith("cannot be read again")
