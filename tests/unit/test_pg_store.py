"""What only the PostgreSQL store has, on a real server (tests/pg_server.py): migrations, and guarantees that
hold between processes (two stores on one database stand for two replicas)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from vlmgrpc.jobs.model import InputRef, Kind, Prediction, Status
from vlmgrpc.jobs.pg_claims import PgClaims
from vlmgrpc.jobs.pg_store import EVENTS_CHANNEL, PgStore, migrate
from vlmgrpc.jobs.records import ClaimLost, EventType, SequenceConflict


def _pred(ident: str, request_id: str = "") -> Prediction:
    return Prediction(id=ident, owner="alice", kind=Kind.IMAGE, domain="image.caption", batch=True,
                      request_id=request_id, inputs=[InputRef(blob=f"inputs/{ident}/0", media_type="image/png")])


@pytest.fixture
async def pair(postgres_database):
    """Two stores on one database, as two replicas would hold it."""
    a = PgStore(postgres_database, replica="a", lease_s=1.0)
    b = PgStore(postgres_database, replica="b", lease_s=1.0)
    await a.open()
    await b.open()
    yield a, b
    await a.close()
    await b.close()


async def test_migrations_apply_once_and_a_reopened_database_keeps_everything(postgres_database):
    store = PgStore(postgres_database, replica="r")
    await store.open()
    pred, _ = await store.create(_pred("p1", "req-1"), then=Status.ENQUEUED)
    await store.close()
    conn = await asyncpg.connect(postgres_database)
    try:
        assert [r[0] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")] == [1, 2]
        assert await migrate(conn) == []  # nothing left to apply
    finally:
        await conn.close()
    store = PgStore(postgres_database, replica="r")  # restarted under its replica id: its claims are its own
    await store.open()
    try:
        assert await store.get("p1") == pred
        again, created = await store.create(_pred("p2", "req-1"))
        assert (again.id, created) == ("p1", False)
        assert (await store.save(again, EventType.STATUS_CHANGED)).sequence == 3
    finally:
        await store.close()


async def test_a_second_process_with_the_same_replica_id_is_refused(postgres_database):
    first = PgStore(postgres_database, replica="r1")
    await first.open()
    try:
        with pytest.raises(RuntimeError, match="another process is replica 'r1' on this database"):
            await PgStore(postgres_database, replica="r1").open()
        other = PgStore(postgres_database, replica="r2")  # another id: a replica beside it
        await other.open()
        await other.close()
    finally:
        await first.close()
    second = PgStore(postgres_database, replica="r1")  # the first one's lock went with it
    await second.open()
    await second.close()


async def test_the_same_request_id_from_two_replicas_at_once_makes_one_prediction(pair):
    a, b = pair
    results = await asyncio.gather(*[store.create(_pred(f"p{i}-{j}", "req-race"))
                                     for i, store in enumerate(pair) for j in range(20)])
    created = [pred for pred, fresh in results if fresh]
    assert len(created) == 1
    assert {pred.id for pred, _ in results} == {created[0].id}
    assert len(await a.list("alice", status=None, domain="", after=None, limit=100)) == 1
    assert [e.sequence for e in await b.events_after(created[0].id, 0)] == [1]


async def test_two_writers_of_one_prediction_conflict_instead_of_both_writing(pair):
    a, b = pair
    pred, _ = await a.create(_pred("p1"), then=Status.ENQUEUED)
    pred.transition(Status.PAUSED)
    await a.save(pred, EventType.STATUS_CHANGED)  # paused: no one holds it, so the claim check lets both write
    other = await b.get("p1")
    pred.transition(Status.FAILED, "cancelled on a")
    other.transition(Status.ENQUEUED, "resumed on b")
    results = await asyncio.gather(a.save(pred, EventType.STATUS_CHANGED), b.save(other, EventType.STATUS_CHANGED),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["Event", "SequenceConflict"]
    assert sum(isinstance(r, SequenceConflict) for r in results) == 1
    events = await a.events_after("p1", 0)
    assert [e.sequence for e in events] == [1, 2, 3, 4]
    assert (await b.get("p1")).status is events[-1].prediction.status  # the row agrees with the winner


async def test_only_the_holder_writes_until_its_lease_runs_out_then_the_taker_does(pair):
    a, b = pair
    claims_a, claims_b = PgClaims(a), PgClaims(b)
    pred, _ = await a.create(_pred("p1"), then=Status.ENQUEUED)  # claimed by a with the commit
    assert await claims_b.claim("p1") == "a"
    assert await claims_b.take_expired(10) == []
    stale = await b.get("p1")
    stale.transition(Status.RUNNING)
    with pytest.raises(ClaimLost, match="claimed by replica 'a'"):
        await b.save(stale, EventType.STATUS_CHANGED)
    await asyncio.sleep(0.7)
    assert await claims_a.renew() == 1  # renewed in time: still a's
    await asyncio.sleep(0.7)
    assert await claims_b.take_expired(10) == []
    await asyncio.sleep(1.2)  # a renews no more (killed)
    assert await claims_b.take_expired(10) == ["p1"]
    pred.transition(Status.RUNNING)
    with pytest.raises(ClaimLost, match="claimed by replica 'b'"):
        await a.save(pred, EventType.STATUS_CHANGED)
    taken = await b.get("p1")
    taken.transition(Status.RUNNING)
    assert (await b.save(taken, EventType.STATUS_CHANGED)).sequence == 3
    assert await claims_a.take_expired(10) == []  # b holds it now


async def test_pausing_frees_the_claim_and_whoever_resumes_holds_it(pair):
    a, b = pair
    pred, _ = await a.create(_pred("p1"), then=Status.ENQUEUED)
    pred.transition(Status.PAUSED)
    await a.save(pred, EventType.STATUS_CHANGED)
    assert await PgClaims(a).holder("p1") is None
    paused = await b.get("p1")
    assert await PgClaims(b).claim("p1") is None  # free: b's for the resume
    paused.transition(Status.ENQUEUED)
    await b.save(paused, EventType.STATUS_CHANGED)
    assert await PgClaims(a).holder("p1") == "b"
    paused.transition(Status.FAILED)
    await b.save(paused, EventType.STATUS_CHANGED)
    assert await PgClaims(a).holder("p1") is None  # ended: no one holds it


async def test_released_claims_are_taken_at_once_and_pending_callbacks_go_to_one_replica(pair):
    a, b = pair
    for i in range(3):
        await a.create(_pred(f"p{i}"), then=Status.ENQUEUED)
    await PgClaims(a).release_all()  # a shut down
    taken = await asyncio.gather(PgClaims(b).take_expired(2), PgClaims(b).take_expired(2))
    assert sorted(i for t in taken for i in t) == ["p0", "p1", "p2"]
    done = await b.get("p0")
    done.callback_url = "http://127.0.0.1:9/hook"
    done.transition(Status.RUNNING)
    done.transition(Status.FAILED)
    await b.save(done, EventType.STATUS_CHANGED)  # its callback is b's to deliver
    assert await a.pending_callbacks() == []
    assert await b.pending_callbacks() == ["p0"]
    await PgClaims(b).release_all()
    assert await a.pending_callbacks() == ["p0"]
    assert await b.pending_callbacks() == []


async def test_every_committed_event_is_announced_to_the_other_replicas(pair):
    a, b = pair
    heard: list[str] = []
    await a.listen(EVENTS_CHANNEL, heard.append)
    pred, _ = await b.create(_pred("p1"), then=Status.ENQUEUED)
    pred.transition(Status.RUNNING)
    await b.save(pred, EventType.STATUS_CHANGED)
    progress = b.save(pred, EventType.PROGRESS)
    with pytest.raises(SequenceConflict):  # not announced: it did not commit
        await _conflicting(b, pred)
    await progress
    for _ in range(50):
        if len(heard) >= 2:
            break
        await asyncio.sleep(0.05)
    notes = [n for payload in heard for n in payload.split()[1:]]
    assert all(payload.split()[0] == "b" for payload in heard)
    assert notes == ["p1:1", "p1:2", "p1:3", "p1:4"]


async def _conflicting(store: PgStore, pred: Prediction) -> None:
    stale = pred.model_copy()
    stale.sequence = 1  # an event that does not follow the stored ones
    await store.save(stale, EventType.PROGRESS)


async def test_a_lost_listening_connection_is_made_again_and_its_listeners_told(pair):
    a, b = pair
    heard: list[str] = []
    resynced = asyncio.Event()
    await a.listen(EVENTS_CHANNEL, heard.append)
    a.on_reconnect(resynced.set)
    conn = await asyncpg.connect(a.url)
    try:  # the listening session dies (a database restart, a proxy cutting idle connections)
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                           "AND query LIKE 'LISTEN%'")
    finally:
        await conn.close()
    await asyncio.wait_for(resynced.wait(), 10)  # announcements meanwhile are lost: the watchers re-read
    await b.create(_pred("p1"), then=Status.ENQUEUED)
    for _ in range(50):
        if heard:
            break
        await asyncio.sleep(0.05)
    assert heard == ["b p1:1 p1:2"]


async def test_an_idle_replica_takes_queued_work_but_never_a_started_one(pair):
    a, b = pair
    await a.create(_pred("p-run"), then=(Status.ENQUEUED, Status.RUNNING))  # started at submission
    await a.create(_pred("p-old"), then=Status.ENQUEUED)
    await a.create(_pred("p-new"), then=Status.ENQUEUED)
    started = await a.get("p-new")
    assert await PgClaims(b).take_queued(1) == [("p-old", "a")]  # the oldest waiting one, from its holder
    started.transition(Status.RUNNING)
    await a.save(started, EventType.STATUS_CHANGED)  # a's worker got to p-new first
    assert await PgClaims(b).take_queued(10) == []
    stale = await a.get("p-old")
    stale.transition(Status.RUNNING)
    with pytest.raises(ClaimLost):  # a's stale queue entry cannot start what b took
        await a.save(stale, EventType.STATUS_CHANGED)
    assert {i: await PgClaims(a).holder(i) for i in ("p-run", "p-old", "p-new")} == \
        {"p-run": "a", "p-old": "b", "p-new": "a"}
