"""How replicas share the predictions: one owner for each that waits or runs, and the others told what happens.

`Solo` is the embedded default (SQLite): one process, every prediction its own. `Shared` runs beside a PostgreSQL
store that several replicas use:

- Claims (jobs/pg_claims.py): the replica that accepted, resumed or took over a prediction holds it and is the
  only one that runs or changes it. Its leases are renewed every third of claim_lease_s; a replica that stops
  (kill -9, cut off) loses them after claim_lease_s, and the next replica that looks (every second) takes
  each prediction over and continues it at its next element (results already stored are not asked again).
- Shared queue: a replica with idle workers and nothing queued takes predictions other replicas accepted but
  have not started (the oldest first, FOR UPDATE SKIP LOCKED), and tells the old holder, which drops them from
  its queue; a gRPC client pinned to one replica's connection does not leave the others idle.
- A replica that shuts down releases what it holds and says so (NOTIFY on vlm_work): the others take it at once.
- Control: a cancel, pause or resume asked of a replica that does not hold the prediction is sent to the holder
  (NOTIFY on vlm_control) and answered by it once done; a holder that does not answer within a lease is looked
  up again (it may have died: then the claim is free and the change is made here).
- Events: every committed event is announced (NOTIFY on vlm_events, sent by the store in the committing
  transaction); a replica with watchers of that prediction reads those events from the store and publishes them
  on its own bus, so a watch or a wait works on any replica. Output deltas (live text) stay on the replica that
  runs the prediction: they are never stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from vlmgrpc.errors import Code, ServiceError
from vlmgrpc.jobs.events import EventBus
from vlmgrpc.jobs.model import Prediction
from vlmgrpc.jobs.pg_claims import PgClaims
from vlmgrpc.jobs.pg_store import EVENTS_CHANNEL, PgStore
from vlmgrpc.jobs.records import ClaimLost

log = logging.getLogger(__name__)
CONTROL_CHANNEL = "vlm_control"
POLL_S = 1.0  # how often a replica looks for expired claims and queued work (at most every half lease)
WORK_CHANNEL = "vlm_work"  # a replica released its claims (shutdown): the others look for work at once

Control = Callable[[str, str, str], Awaitable[Prediction]]  # (op, owner, prediction id), run where it is held


class Host(Protocol):
    """What the job service lends the replicas: its local changes, takeover, and what it holds."""

    async def control_here(self, op: str, owner: str, prediction_id: str) -> Prediction: ...
    async def adopt(self, prediction_id: str, why: str) -> None: ...
    def holds(self, prediction_id: str) -> bool: ...
    def room(self) -> int: ...
    def spare(self) -> int: ...
    def given_away(self, prediction_id: str) -> None: ...
    def resume_callbacks(self) -> Awaitable[None]: ...


class Solo:
    """One process on its own store: every prediction is this one's."""

    shared = False

    def __init__(self) -> None:
        self._host: Host | None = None

    async def start(self, host: Host) -> list[str]:
        self._host = host
        return []

    async def stop(self) -> None:
        pass

    async def release(self, prediction_id: str) -> None:
        pass

    async def at_holder(self, op: str, owner: str, prediction_id: str) -> Prediction | None:
        assert self._host is not None
        return await self._host.control_here(op, owner, prediction_id)


class Shared:
    shared = True

    def __init__(self, store: PgStore, bus: EventBus):
        self.store, self.bus = store, bus
        self.claims = PgClaims(store)
        self.replica, self.lease_s = store.replica, store.lease_s
        self._host: Host | None = None
        self._tasks: list[asyncio.Task] = []
        self._answers: dict[str, asyncio.Future] = {}  # control requests sent, by id, waiting for the holder
        self._relay_due: dict[str, tuple[int, int]] = {}  # prediction -> (first, last) sequence announced
        self._relay_wake = asyncio.Event()
        self._work_released = asyncio.Event()
        self._serving: set[asyncio.Task] = set()
        self.stopping = False

    async def start(self, host: Host) -> list[str]:
        """Listen, renew and take over from now on; return the claims this replica id held before a restart."""
        self._host = host
        await self.store.listen(EVENTS_CHANNEL, self._on_events)
        await self.store.listen(CONTROL_CHANNEL, self._on_control)
        await self.store.listen(WORK_CHANNEL, self._on_work)
        self.store.on_reconnect(self.bus.resync)  # announcements sent while it was away are lost: re-read
        mine = await self.claims.mine()
        self._tasks = [asyncio.create_task(self._renew(), name="claims-renew"),
                       asyncio.create_task(self._take_over(), name="claims-takeover"),
                       asyncio.create_task(self._relay(), name="events-relay")]
        return mine

    async def stop(self) -> None:
        """Shutdown (nothing runs here any more): what this replica still holds is for the others, at once."""
        self.stopping = True
        for task in (*self._tasks, *self._serving):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._serving, return_exceptions=True)
        self._tasks = []
        try:
            await self.claims.release_all()
            await self.store.notify(WORK_CHANNEL, self.replica)
        except Exception:  # the leases run out by themselves
            log.exception("could not release this replica's claims")

    async def release(self, prediction_id: str) -> None:
        await self.claims.release(prediction_id)

    # --- control where the prediction is held

    async def at_holder(self, op: str, owner: str, prediction_id: str) -> Prediction | None:
        """Run `op` where the prediction is held: here (returns its result) or at its holder (returns None: read
        it again, the holder answered once its change committed)."""
        assert self._host is not None
        while True:
            holder = await self.claims.claim(prediction_id)
            if holder is None:
                try:
                    return await self._host.control_here(op, owner, prediction_id)
                finally:
                    if not self._host.holds(prediction_id):  # paused, ended, or refused: not this replica's to run
                        await self.claims.release(prediction_id)
            answer = await self._ask(holder, op, owner, prediction_id)
            if answer is None:
                log.info("replica %s did not answer %s of %s within %.0f s: looking again", holder, op,
                         prediction_id, self.lease_s)
                continue
            if answer.get("error"):
                raise ServiceError.from_dict(answer["error"])
            return None

    async def _ask(self, holder: str, op: str, owner: str, prediction_id: str) -> dict | None:
        ask = uuid.uuid4().hex
        answer = self._answers[ask] = asyncio.get_running_loop().create_future()
        try:
            await self.store.notify(CONTROL_CHANNEL, json.dumps(
                {"to": holder, "from": self.replica, "ask": ask, "op": op, "owner": owner, "id": prediction_id}))
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(answer, self.lease_s)
            return None
        finally:
            self._answers.pop(ask, None)

    def _on_control(self, payload: str) -> None:
        message = json.loads(payload)
        if message.get("to") != self.replica:
            return
        if "taken" in message:
            assert self._host is not None
            self._host.given_away(message["taken"])
            return
        if "answer" in message:
            answer = self._answers.get(message["answer"])
            if answer is not None and not answer.done():
                answer.set_result(message)
            return
        task = asyncio.get_running_loop().create_task(self._serve(message), name=f"control-{message['op']}")
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)

    async def _serve(self, message: dict) -> None:
        assert self._host is not None
        error = None
        try:
            await self._host.control_here(message["op"], message["owner"], message["id"])
        except ServiceError as exc:
            error = exc.to_dict()
        except ClaimLost:
            error = ServiceError(Code.ABORTED, "PREDICTION_MOVED", "the prediction moved to another replica while "
                                 "it was being changed; retry").to_dict()
        except Exception as exc:
            log.exception("%s of %s for replica %s failed", message["op"], message["id"], message["from"])
            error = ServiceError(Code.INTERNAL, "INTERNAL", f"{type(exc).__name__}: {exc}").to_dict()
        await self.store.notify(CONTROL_CHANNEL, json.dumps(
            {"to": message["from"], "answer": message["ask"], "error": error}))

    # --- leases

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.claims.renew()
            except Exception:  # the saves' claim check keeps a replica that lost its claims from writing
                log.exception("could not renew this replica's leases; other replicas take its work over after "
                              "%.0f s", self.lease_s)

    async def _take_over(self) -> None:
        """Every poll (jittered, so replicas look at different times): take claims whose lease ran out, as many as
        the queue has room for, callbacks left by a replica that stopped, and, with idle workers, queued work of
        busy replicas."""
        assert self._host is not None
        host = self._host
        poll_s = min(POLL_S, self.lease_s / 2)
        while not self.stopping:
            try:
                for prediction_id in await self.claims.take_expired(host.room()):
                    await host.adopt(prediction_id, "taken over: the replica that held it stopped renewing its lease")
                await host.resume_callbacks()
                for prediction_id, holder in await self.claims.take_queued(min(host.spare(), host.room())):
                    await self.store.notify(CONTROL_CHANNEL, json.dumps({"to": holder, "taken": prediction_id}))
                    await host.adopt(prediction_id, "")
            except Exception:
                log.exception("taking over claims failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work_released.wait(), poll_s * random.uniform(0.8, 1.2))
            self._work_released.clear()

    def _on_work(self, payload: str) -> None:
        if payload != self.replica:
            self._work_released.set()

    # --- events committed by other replicas, to this replica's watchers

    def _on_events(self, payload: str) -> None:
        replica, *notes = payload.split(" ")
        if replica == self.replica:  # published here when they committed
            return
        for note in notes:
            prediction_id, _, number = note.rpartition(":")
            if not self.bus.subscribers(prediction_id):
                continue
            sequence = int(number)
            first, last = self._relay_due.get(prediction_id, (sequence, sequence))
            self._relay_due[prediction_id] = (min(first, sequence), max(last, sequence))
            self._relay_wake.set()

    async def _relay(self) -> None:
        """Publish announced events, in order for each prediction, read from the store (snapshots can be large):
        whatever was announced meanwhile, in one query."""
        while True:
            await self._relay_wake.wait()
            self._relay_wake.clear()
            if not self._relay_due:
                continue
            due, self._relay_due = self._relay_due, {}
            try:
                events = await self.store.committed_events(due)
            except Exception:  # the watchers re-read the store themselves
                log.exception("could not read %d predictions' events to relay", len(due))
                for prediction_id in due:
                    self.bus.resync(prediction_id)
                continue
            for event in events:
                self.bus.publish(event)


def replicas_for(store: object, bus: EventBus) -> Solo | Shared:
    return Shared(store, bus) if isinstance(store, PgStore) else Solo()
