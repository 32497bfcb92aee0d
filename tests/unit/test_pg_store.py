"""What only the PostgreSQL store has, on a real server (tests/pg_server.py): migrations, and guarantees that
hold between processes (two stores on one database stand for two replicas)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from vlmgrpc.jobs.model import InputRef, Kind, Prediction, Status
from vlmgrpc.jobs.pg_store import PgStore, migrate
from vlmgrpc.jobs.records import EventType, SequenceConflict


def _pred(ident: str, request_id: str = "") -> Prediction:
    return Prediction(id=ident, owner="alice", kind=Kind.IMAGE, domain="image.caption", batch=True,
                      request_id=request_id, inputs=[InputRef(blob=f"inputs/{ident}/0", media_type="image/png")])


@pytest.fixture
async def pair(postgres_database):
    """Two stores on one database, as two replicas would hold it."""
    a, b = PgStore(postgres_database, exclusive=False), PgStore(postgres_database, exclusive=False)
    await a.open()
    await b.open()
    yield a, b
    await a.close()
    await b.close()


async def test_migrations_apply_once_and_a_reopened_database_keeps_everything(postgres_database):
    store = PgStore(postgres_database)
    await store.open()
    pred, _ = await store.create(_pred("p1", "req-1"), then=Status.ENQUEUED)
    await store.close()
    conn = await asyncpg.connect(postgres_database)
    try:
        assert [r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")] == [1]
        assert await migrate(conn) == []  # nothing left to apply
    finally:
        await conn.close()
    store = PgStore(postgres_database)
    await store.open()
    try:
        assert await store.get("p1") == pred
        again, created = await store.create(_pred("p2", "req-1"))
        assert (again.id, created) == ("p1", False)
        assert (await store.save(again, EventType.STATUS_CHANGED)).sequence == 3
    finally:
        await store.close()


async def test_a_second_process_on_the_database_is_refused(postgres_database):
    first = PgStore(postgres_database)
    await first.open()
    try:
        with pytest.raises(RuntimeError, match="another vlm-grpc process is using this database"):
            await PgStore(postgres_database).open()
    finally:
        await first.close()
    second = PgStore(postgres_database)  # the first one's lock went with it
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
    pred, _ = await a.create(_pred("p1"))
    other = await b.get("p1")
    pred.transition(Status.ENQUEUED)
    other.transition(Status.PAUSED)
    results = await asyncio.gather(a.save(pred, EventType.STATUS_CHANGED), b.save(other, EventType.STATUS_CHANGED),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["Event", "SequenceConflict"]
    assert sum(isinstance(r, SequenceConflict) for r in results) == 1
    events = await a.events_after("p1", 0)
    assert [e.sequence for e in events] == [1, 2]
    assert (await b.get("p1")).status is events[-1].prediction.status  # the row agrees with the winner
