"""Both stores, the same tests: SQLite (jobs/store.py) on real files under tmp_path, and PostgreSQL
(jobs/pg_store.py) on a real server (tests/pg_server.py), a fresh database per test. Tests of what only one
store has (SQLite's file, WAL) say so in their names."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests import pg_server
from vlmgrpc.jobs import paging
from vlmgrpc.jobs.model import InputRef, Kind, Prediction, Status
from vlmgrpc.jobs.pg_store import PgStore
from vlmgrpc.jobs.records import Cursor, EventType, SequenceConflict
from vlmgrpc.jobs.store import Store

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


# A write the database refused: a duplicate key, or a failure it raised (a trigger, a full disk).
REFUSED = (sqlite3.IntegrityError, asyncpg.PostgresError, SequenceConflict)


def _new_store(kind: str, tmp_path, keep_inputs: bool = False) -> Store | PgStore:
    if kind == "sqlite":
        return Store(tmp_path / "state" / "jobs.sqlite", keep_inputs=keep_inputs)  # its folder does not exist yet
    return PgStore(pg_server.shared().new_database(), keep_inputs=keep_inputs)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request, tmp_path):
    s = _new_store(request.param, tmp_path)
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def sqlite_store(tmp_path):
    s = _new_store("sqlite", tmp_path)
    await s.open()
    yield s
    await s.close()


def _pred(ident: str, *, owner: str = "alice", request_id: str = "", domain: str = "image.caption",
          created_at: datetime | None = None, kind: Kind = Kind.IMAGE) -> Prediction:
    kw = {} if created_at is None else {"created_at": created_at}
    return Prediction(id=ident, owner=owner, kind=kind, domain=domain, batch=True, request_id=request_id,
                      inputs=[InputRef(blob=f"inputs/{ident}/0", media_type="image/png")], **kw)


async def _ids(store: Store, owner: str = "alice", **kw) -> list[str]:
    args = {"status": None, "domain": "", "after": None, "limit": 1000} | kw
    return [p.id for p in await store.list(owner, **args)]


# --- create and idempotency


async def test_create_then_get(store):
    pred = _pred("p1", request_id="req-1")
    stored, created = await store.create(pred)
    assert created is True
    assert stored.sequence == 1
    got = await store.get("p1")
    assert got == stored
    assert got.inputs[0].blob == "inputs/p1/0"
    events = await store.events_after("p1", 0)
    assert [(e.sequence, e.type) for e in events] == [(1, EventType.STATUS_CHANGED)]
    assert events[0].prediction.status is Status.PENDING


async def test_get_missing_is_none(store):
    assert await store.get("nope") is None


async def test_create_with_known_request_id_returns_the_existing_prediction(store):
    first, created = await store.create(_pred("p1", request_id="req-1"))
    assert created
    again, created = await store.create(_pred("p2", request_id="req-1"))
    assert created is False
    assert again.id == "p1"
    assert again == first
    assert await store.get("p2") is None
    assert await _ids(store) == ["p1"]
    # The refused duplicate wrote no event either.
    assert await store.events_after("p2", 0) == []


async def test_same_request_id_for_different_owners_both_create(store):
    a, created_a = await store.create(_pred("p1", owner="alice", request_id="req-1"))
    b, created_b = await store.create(_pred("p2", owner="bob", request_id="req-1"))
    assert created_a and created_b
    assert (a.id, b.id) == ("p1", "p2")
    assert await _ids(store, "alice") == ["p1"]
    assert await _ids(store, "bob") == ["p2"]


async def test_empty_request_id_is_never_deduplicated(store):
    assert (await store.create(_pred("p1")))[1]
    assert (await store.create(_pred("p2")))[1]
    assert sorted(await _ids(store)) == ["p1", "p2"]


async def test_list_by_request_id(store):
    await store.create(_pred("p1", request_id="req-1"))
    await store.create(_pred("p2", request_id="req-2"))
    assert await _ids(store, request_id="req-2") == ["p2"]


# --- save and events


async def test_save_appends_events_in_sequence(store):
    pred, _ = await store.create(_pred("p1"))
    steps = [(Status.ENQUEUED, EventType.STATUS_CHANGED), (Status.RUNNING, EventType.STATUS_CHANGED),
             (None, EventType.PROGRESS), (None, EventType.PROGRESS), (Status.COMPLETED, EventType.STATUS_CHANGED)]
    returned = []
    for status, kind in steps:
        if status:
            pred.transition(status)
        else:
            pred.done += 1
        returned.append(await store.save(pred, kind))
    assert [e.sequence for e in returned] == [2, 3, 4, 5, 6]
    assert pred.sequence == 6
    events = await store.events_after("p1", 0)
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5, 6]
    assert [e.type for e in events] == [EventType.STATUS_CHANGED, EventType.STATUS_CHANGED,
                                        EventType.STATUS_CHANGED, EventType.PROGRESS, EventType.PROGRESS,
                                        EventType.STATUS_CHANGED]
    assert [e.prediction.status for e in events] == [Status.PENDING, Status.ENQUEUED, Status.RUNNING,
                                                     Status.RUNNING, Status.RUNNING, Status.COMPLETED]
    assert [e.prediction.done for e in events] == [0, 0, 0, 1, 2, 2]
    assert all(e.prediction.sequence == e.sequence for e in events)
    times = [e.time for e in events]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    got = await store.get("p1")
    assert got.status is Status.COMPLETED and got.sequence == 6 and got.completed_at is not None


async def test_save_returns_a_snapshot_not_the_live_object(store):
    pred, _ = await store.create(_pred("p1"))
    pred.transition(Status.ENQUEUED)
    event = await store.save(pred, EventType.STATUS_CHANGED)
    pred.transition(Status.RUNNING)
    assert event.prediction.status is Status.ENQUEUED


async def test_events_after(store):
    pred, _ = await store.create(_pred("p1"))
    for _ in range(9):
        pred.done += 1
        await store.save(pred, EventType.PROGRESS)
    assert [e.sequence for e in await store.events_after("p1", 4)] == [5, 6, 7, 8, 9, 10]
    assert [e.sequence for e in await store.events_after("p1", 4, limit=2)] == [5, 6]
    assert await store.events_after("p1", 10) == []
    assert await store.events_after("other", 0) == []


async def test_events_of_two_predictions_do_not_mix(store):
    a, _ = await store.create(_pred("a"))
    b, _ = await store.create(_pred("b"))
    a.transition(Status.ENQUEUED)
    await store.save(a, EventType.STATUS_CHANGED)
    assert [e.sequence for e in await store.events_after("a", 0)] == [1, 2]
    assert [e.sequence for e in await store.events_after("b", 0)] == [1]


async def test_response_is_only_in_terminal_snapshots(store):
    pred, _ = await store.create(_pred("p1"))
    pred.transition(Status.ENQUEUED)
    pred.transition(Status.RUNNING)
    pred.response = {"partial": True}
    await store.save(pred, EventType.PROGRESS)
    pred.response = {"text": "final"}
    pred.transition(Status.COMPLETED)
    await store.save(pred, EventType.STATUS_CHANGED)
    running, completed = (await store.events_after("p1", 1))
    assert running.prediction.status is Status.RUNNING and running.prediction.response is None
    assert completed.prediction.response == {"text": "final"}
    assert (await store.get("p1")).response == {"text": "final"}


async def test_with_status(store):
    for i in range(4):
        await store.create(_pred(f"p{i}", created_at=T0 + timedelta(seconds=i)))
    p1 = await store.get("p1")
    p1.transition(Status.ENQUEUED)
    await store.save(p1, EventType.STATUS_CHANGED)
    p3 = await store.get("p3")
    p3.transition(Status.PAUSED)
    await store.save(p3, EventType.STATUS_CHANGED)
    assert [p.id for p in await store.with_status(Status.PENDING)] == ["p0", "p2"]  # oldest first
    assert [p.id for p in await store.with_status(Status.ENQUEUED, Status.PAUSED)] == ["p1", "p3"]
    assert await store.with_status(Status.RUNNING) == []


async def test_save_is_atomic(store):
    pred, _ = await store.create(_pred("p1"))
    stale = pred.model_copy(deep=True)  # another holder of the same prediction, one save behind
    pred.transition(Status.ENQUEUED)
    await store.save(pred, EventType.STATUS_CHANGED)  # sequence 2
    stale.transition(Status.PAUSED)
    with pytest.raises(SequenceConflict):
        await store.save(stale, EventType.STATUS_CHANGED)  # event (p1, 2) exists: the INSERT fails
    # Atomic: the failed save changed nothing, so the row still agrees with its last event.
    got = await store.get("p1")
    last = (await store.events_after("p1", 0))[-1]
    assert got.status is Status.ENQUEUED
    assert got.status is last.prediction.status


# --- listing


async def test_list_is_newest_first(store):
    for i in range(5):
        await store.create(_pred(f"p{i}", created_at=T0 + timedelta(minutes=i)))
    assert await _ids(store) == ["p4", "p3", "p2", "p1", "p0"]
    assert await _ids(store, limit=2) == ["p4", "p3"]


async def test_list_default_created_at_orders_by_creation(store):
    for i in range(5):
        await store.create(_pred(f"x{4 - i}"))  # ids descend while times ascend
    assert await _ids(store) == ["x0", "x1", "x2", "x3", "x4"]


async def test_list_filters_by_status_domain_and_owner(store):
    await store.create(_pred("a", domain="image.caption", created_at=T0))
    await store.create(_pred("b", domain="document.ocr", created_at=T0 + timedelta(seconds=1)))
    await store.create(_pred("c", domain="image.caption", created_at=T0 + timedelta(seconds=2)))
    await store.create(_pred("d", owner="bob", domain="image.caption", created_at=T0 + timedelta(seconds=3)))
    c = await store.get("c")
    c.transition(Status.ENQUEUED)
    await store.save(c, EventType.STATUS_CHANGED)
    assert await _ids(store, status=Status.PENDING) == ["b", "a"]
    assert await _ids(store, status=Status.ENQUEUED) == ["c"]
    assert await _ids(store, domain="image.caption") == ["c", "a"]
    assert await _ids(store, domain="image.caption", status=Status.PENDING) == ["a"]
    assert await _ids(store, status=Status.COMPLETED) == []
    assert await _ids(store, "bob") == ["d"]
    assert await _ids(store, "carol") == []


async def _page_through(store: Store, filters: str, size: int, **kw) -> tuple[list[str], int]:
    """Page like PredictionService.list does: fetch size+1, hand out a token for the last row."""
    seen, token, pages = [], "", 0
    while True:
        after = paging.decode(token, filters)
        preds = await store.list("alice", after=after, limit=size + 1, **kw)
        pages += 1
        token = ""
        if len(preds) > size:
            preds = preds[:size]
            token = paging.encode(Cursor(preds[-1].created_at.isoformat(), preds[-1].id), filters)
        seen += [p.id for p in preds]
        if not token:
            return seen, pages


async def test_cursor_paging_has_no_duplicates_and_no_gaps(store):
    # 57 rows; groups of three share a timestamp (ties are broken by id), some at whole seconds
    # (isoformat then has no fraction) and some not.
    for i in range(57):
        created = T0 + timedelta(seconds=i // 3, microseconds=0 if i % 2 else 250_000)
        await store.create(_pred(f"p{i:03d}", created_at=created, domain="image.caption" if i % 4 else "document.ocr"))
    everything = await _ids(store)
    assert len(everything) == 57
    seen, pages = await _page_through(store, "|", 10, status=None, domain="")
    assert seen == everything
    assert len(set(seen)) == 57
    assert pages == 6

    # The same with a filter.
    expected = await _ids(store, domain="image.caption")
    seen, _ = await _page_through(store, "|image.caption", 7, status=None, domain="image.caption")
    assert seen == expected and len(expected) == 42


async def test_cursor_paging_with_default_timestamps(store):
    for i in range(23):
        await store.create(_pred(f"q{i:02d}"))
    seen, _ = await _page_through(store, "|", 5, status=None, domain="")
    assert seen == [f"q{i:02d}" for i in reversed(range(23))]


# --- element results


async def test_element_results_are_saved_with_their_progress_event(store):
    p1, _ = await store.create(_pred("p1"))
    p2, _ = await store.create(_pred("p2"))
    await store.save(p1, EventType.PROGRESS, (0, {"text": "page zero"}))
    await store.save(p1, EventType.PROGRESS, (2, [1, 2, {"x": None}]))
    await store.save(p1, EventType.PROGRESS, (0, {"text": "page zero, again"}))  # replaced, not duplicated
    await store.save(p2, EventType.PROGRESS, (0, "other"))
    assert [e.type for e in await store.events_after("p1", 1)] == [EventType.PROGRESS] * 3
    assert await store.elements("p1") == {0: {"text": "page zero, again"}, 2: [1, 2, {"x": None}]}
    assert await store.elements("p2") == {0: "other"}
    assert await store.elements("p3") == {}


async def test_last_element_and_completion_commit_together(store):
    pred, _ = await store.create(_pred("p1"), then=Status.ENQUEUED)
    pred.transition(Status.RUNNING)
    await store.save(pred, EventType.STATUS_CHANGED)

    def finish(p: Prediction) -> None:
        p.response = {"pages": [{"page_index": 0, "text": "done"}]}
        p.transition(Status.COMPLETED)

    progress, final = await store.save_last_element(pred, (0, {"text": "done"}), finish)
    assert (progress.sequence, final.sequence) == (4, 5)
    assert progress.prediction.status is Status.RUNNING and progress.prediction.response is None
    assert final.prediction.status is Status.COMPLETED
    events = await store.events_after("p1", 0)
    assert [(e.sequence, e.type, e.prediction.status) for e in events[-2:]] == [
        (4, EventType.PROGRESS, Status.RUNNING), (5, EventType.STATUS_CHANGED, Status.COMPLETED)]
    assert events[-2].prediction.response is None  # a progress snapshot carries no response
    got = await store.get("p1")
    assert got.status is Status.COMPLETED and got.response == {"pages": [{"page_index": 0, "text": "done"}]}
    # The terminal event's response is the row's, put back on reading (stored once, not twice).
    assert events[-1].prediction.response == got.response
    # The element results only a re-run needed went with the terminal save: the response holds them.
    assert await store.elements("p1") == {}


async def test_last_element_save_is_atomic(store):
    pred, _ = await store.create(_pred("p1"))
    stale = pred.model_copy(deep=True)
    pred.transition(Status.ENQUEUED)
    await store.save(pred, EventType.STATUS_CHANGED)  # sequence 2: the stale holder's progress event clashes
    with pytest.raises(SequenceConflict):
        await store.save_last_element(stale, (0, "x"), lambda p: p.transition(Status.FAILED))
    assert (await store.get("p1")).status is Status.ENQUEUED
    assert [e.sequence for e in await store.events_after("p1", 0)] == [1, 2]
    assert await store.elements("p1") == {}  # the element result went with the failed transaction


async def test_saves_commit_in_the_order_they_are_called(store):
    pred, _ = await store.create(_pred("p1"))
    pending = []
    for status in (Status.ENQUEUED, Status.RUNNING, Status.PAUSED):
        pred.transition(status)
        pending.append(store.save(pred, EventType.STATUS_CHANGED))  # not awaited in between
    events = [await saved for saved in pending]
    assert [(e.sequence, e.prediction.status) for e in events] == [
        (2, Status.ENQUEUED), (3, Status.RUNNING), (4, Status.PAUSED)]
    assert (await store.get("p1")).status is Status.PAUSED


async def test_inline_inputs_commit_with_their_prediction(store):
    pred, created = await store.create(_pred("p1", request_id="r1"), then=Status.ENQUEUED,
                                       inputs={0: b"\x89PNG first", 2: b"third"})
    assert created
    assert await store.input("p1", 0) == b"\x89PNG first"
    assert await store.input("p1", 2) == b"third"
    assert await store.input("p1", 1) is None
    again, created = await store.create(_pred("p2", request_id="r1"), inputs={0: b"other"})
    assert not created and again.id == "p1"
    assert await store.input("p2", 0) is None  # the refused duplicate stored nothing


# --- files


async def test_files_put_get_list_delete(store):
    for i in range(5):
        await store.put_file(f"file-{i}", "alice", (T0 + timedelta(seconds=i)).isoformat(), f'{{"n":{i}}}')
    await store.put_file("file-bob", "bob", T0.isoformat(), '{"n":"bob"}')
    assert await store.get_file("file-3") == ("alice", '{"n":3}')
    assert await store.get_file("missing") is None
    assert await store.list_files("alice", None, 100) == [f'{{"n":{i}}}' for i in (4, 3, 2, 1, 0)]
    assert await store.list_files("alice", None, 2) == ['{"n":4}', '{"n":3}']
    after = Cursor((T0 + timedelta(seconds=3)).isoformat(), "file-3")
    assert await store.list_files("alice", after, 100) == ['{"n":2}', '{"n":1}', '{"n":0}']
    assert await store.list_files("bob", None, 100) == ['{"n":"bob"}']
    assert await store.delete_file("file-3") is True
    assert await store.delete_file("file-3") is False
    assert await store.get_file("file-3") is None
    assert len(await store.list_files("alice", None, 100)) == 4


async def test_duplicate_file_id_is_refused(store):
    await store.put_file("file-1", "alice", T0.isoformat(), "{}")
    with pytest.raises(REFUSED):
        await store.put_file("file-1", "alice", T0.isoformat(), "{}")


# --- durability


async def test_reopening_the_sqlite_file_keeps_everything(tmp_path):
    path = tmp_path / "jobs.sqlite"
    s = Store(path)
    await s.open()
    pred, _ = await s.create(_pred("p1", request_id="req-1"))
    pred.transition(Status.ENQUEUED)
    await s.save(pred, EventType.STATUS_CHANGED, (0, {"ok": True}))
    await s.put_file("file-1", "alice", T0.isoformat(), '{"id":"file-1"}')
    await s.close()

    s2 = Store(path)
    await s2.open()
    try:
        got = await s2.get("p1")
        assert got == pred
        assert got.status is Status.ENQUEUED and got.sequence == 2
        assert [e.sequence for e in await s2.events_after("p1", 0)] == [1, 2]
        assert await s2.elements("p1") == {0: {"ok": True}}
        assert await s2.get_file("file-1") == ("alice", '{"id":"file-1"}')
        # The (owner, request_id) key survived too.
        again, created = await s2.create(_pred("p9", request_id="req-1"))
        assert (again.id, created) == ("p1", False)
        # A reopened store keeps numbering events where it left off.
        got.transition(Status.RUNNING)
        assert (await s2.save(got, EventType.STATUS_CHANGED)).sequence == 3
    finally:
        await s2.close()


async def test_committed_data_is_visible_to_another_connection(store):
    """What the store committed is in the database, not only in its connection."""
    await store.create(_pred("p1"))
    assert await _raw(store, "SELECT id, status FROM predictions") == [("p1", "pending")]


async def test_sqlite_runs_in_wal_mode(sqlite_store):
    """WAL: a committed transaction is in the file and survives a kill -9."""
    assert await _raw(sqlite_store, "PRAGMA journal_mode") == [("wal",)]


# --- group commit: operations queued together share one transaction, each in its own savepoint


class Broken(Exception):
    pass


def _broken(store: Store | PgStore):
    """An operation that writes, then fails: its savepoint undoes the write."""
    insert = "INSERT INTO files VALUES ('f1', 'alice', 'now', '{}')"
    if isinstance(store, Store):
        def broken(db):
            db.execute(insert)
            raise Broken("this operation fails")
    else:
        async def broken(conn):
            await conn.execute(insert)
            raise Broken("this operation fails")
    return broken


async def test_operations_queued_together_commit_together_and_a_failing_one_alone_is_undone(store):
    first, second = _pred("p-first"), _pred("p-second")
    broken = _broken(store)

    # Queued in one go, without awaiting in between: they form one batch on the store thread.
    created = store.create(first, then=Status.ENQUEUED)
    failing = store._run(broken)
    also_created = store.create(second)
    results = await asyncio.gather(created, failing, also_created, return_exceptions=True)
    assert results[0][1] is True and results[2][1] is True
    assert isinstance(results[1], Broken)
    assert await store.get_file("f1") is None  # the failed operation left nothing behind
    # Both predictions are committed, as a second connection sees them.
    assert {row[0] for row in await _raw(store, "SELECT id FROM predictions")} == {"p-first", "p-second"}


async def test_callers_hear_back_in_the_order_they_called(store):
    order: list[int] = []
    futures = []
    for i in range(300):  # more than one batch (MAX_BATCH)
        if isinstance(store, Store):
            future = store._run(lambda db, i=i: i)
        else:
            future = store._run(lambda conn, i=i: conn.fetchval("SELECT $1::int", i))
        future.add_done_callback(lambda f: order.append(f.result()))
        futures.append(future)
    await asyncio.gather(*futures)
    assert order == list(range(300))


# --- a failed write gives its sequence back (no gap)


PG_FAIL_PROGRESS = """
CREATE FUNCTION fail_progress() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'no space left'; END $$ LANGUAGE plpgsql;
CREATE TRIGGER fail_progress BEFORE INSERT ON events FOR EACH ROW WHEN (NEW.type = 'progress')
  EXECUTE FUNCTION fail_progress();
"""


async def _fail_progress_writes(store: Store | PgStore, on: bool) -> None:
    """A real database failure of the next PROGRESS event inserts (as a full disk would fail them)."""
    if isinstance(store, Store):
        sql = ("CREATE TRIGGER fail_progress BEFORE INSERT ON events WHEN NEW.type = 'progress' "
               "BEGIN SELECT RAISE(ABORT, 'no space left'); END" if on else "DROP TRIGGER fail_progress")
        await store._run(lambda db: db.execute(sql))
    else:
        sql = PG_FAIL_PROGRESS if on else "DROP TRIGGER fail_progress ON events; DROP FUNCTION fail_progress();"
        await store._run(lambda conn: conn.execute(sql))


async def test_a_failed_event_write_does_not_advance_the_sequence(store):
    pred, _ = await store.create(_pred("p1"), then=(Status.ENQUEUED, Status.RUNNING))
    assert pred.sequence == 3
    await _fail_progress_writes(store, True)
    pred.done = 1
    with pytest.raises(REFUSED):
        await store.save(pred, EventType.PROGRESS, (0, "x"))
    assert pred.sequence == 3  # given back
    await _fail_progress_writes(store, False)
    assert (await store.save(pred, EventType.PROGRESS, (0, "x"))).sequence == 4
    assert [e.sequence for e in await store.events_after("p1", 0)] == [1, 2, 3, 4]
    assert (await store.get("p1")).sequence == 4


async def test_saves_queued_behind_a_failed_one_fail_too_and_leave_no_gap(store):
    pred, _ = await store.create(_pred("p1"), then=(Status.ENQUEUED, Status.RUNNING))
    await _fail_progress_writes(store, True)
    failing = store.save(pred, EventType.PROGRESS)  # sequence 4: fails
    pred.transition(Status.PAUSED)
    behind = store.save(pred, EventType.STATUS_CHANGED)  # sequence 5, queued before 4 failed: must not commit
    results = await asyncio.gather(failing, behind, return_exceptions=True)
    assert all(isinstance(r, REFUSED) for r in results), results
    assert pred.sequence == 3
    await _fail_progress_writes(store, False)
    assert (await store.save(pred, EventType.STATUS_CHANGED)).sequence == 4
    assert [e.sequence for e in await store.events_after("p1", 0)] == [1, 2, 3, 4]


async def test_a_failed_last_element_save_gives_both_sequences_back(store):
    pred, _ = await store.create(_pred("p1"), then=(Status.ENQUEUED, Status.RUNNING))
    await _fail_progress_writes(store, True)
    with pytest.raises(REFUSED):
        await store.save_last_element(pred, (0, "x"), lambda p: p.transition(Status.COMPLETED))
    assert pred.sequence == 3


# --- what a terminal save drops and records (retention)


async def _raw(store: Store | PgStore, sql: str, *args) -> list[tuple]:
    """Rows read past the store, on a connection of their own (`?` placeholders)."""
    if isinstance(store, Store):
        db = sqlite3.connect(store.path)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()
    conn = await asyncpg.connect(store.url)
    try:
        n = iter(range(1, 100))
        return [tuple(r) for r in await conn.fetch(re.sub(r"\?", lambda _: f"${next(n)}", sql), *args)]
    finally:
        await conn.close()


async def _finish(store: Store, pred: Prediction, response=None) -> None:
    pred.response = response
    pred.transition(Status.COMPLETED)
    await store.save(pred, EventType.STATUS_CHANGED)


async def test_a_terminal_save_drops_inline_inputs_and_element_results_and_queues_the_callback(store):
    pred = _pred("p1")
    pred.callback_url = "http://127.0.0.1:9/hook"
    pred, _ = await store.create(pred, then=(Status.ENQUEUED, Status.RUNNING), inputs={0: b"png bytes"})
    await store.save(pred, EventType.PROGRESS, (0, {"text": "a"}))
    other, _ = await store.create(_pred("p2"), then=Status.ENQUEUED, inputs={0: b"still needed"})
    await _finish(store, pred, {"text": "a"})
    assert await store.input("p1", 0) is None
    assert await store.elements("p1") == {}
    assert await store.input("p2", 0) == b"still needed"  # not terminal: untouched
    assert await _raw(store, "SELECT prediction_id, release_inputs FROM terminal") == [("p1", 1)]
    assert await store.pending_callbacks() == ["p1"]
    assert await store.callback_attempts("p1") == 0
    await store.count_callback_attempt("p1")
    assert await store.callback_attempts("p1") == 1
    await store.callback_done("p1")
    assert await store.pending_callbacks() == [] and await store.callback_attempts("p1") is None


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_keep_inputs_keeps_inline_inputs_past_the_terminal_save(kind, tmp_path):
    s = _new_store(kind, tmp_path, keep_inputs=True)
    await s.open()
    try:
        pred, _ = await s.create(_pred("p1"), then=(Status.ENQUEUED, Status.RUNNING), inputs={0: b"kept"})
        await _finish(s, pred)
        assert await s.input("p1", 0) == b"kept"
        assert await _raw(s, "SELECT prediction_id, release_inputs FROM terminal") == [("p1", 0)]
    finally:
        await s.close()


async def test_the_terminal_event_stores_the_response_once_and_reads_it_back(store):
    pred, _ = await store.create(_pred("p1"), then=(Status.ENQUEUED, Status.RUNNING))
    response = {"pages": [{"text": "x" * 10_000}]}
    await _finish(store, pred, response)
    (snapshot,) = (await _raw(store, "SELECT snapshot FROM events WHERE prediction_id='p1' AND sequence=4"))[0]
    assert len(snapshot) < 2_000 and '"response"' not in snapshot  # the row holds it, not the event too
    events = await store.events_after("p1", 0)
    assert events[-1].prediction.response == response and events[-1].prediction.status is Status.COMPLETED
    assert all(e.prediction.response is None for e in events[:-1])
    assert (await store.events_after("p1", 2))[-1].prediction.response == response


async def test_list_without_full_leaves_responses_out(store):
    pred, _ = await store.create(_pred("p1"), then=(Status.ENQUEUED, Status.RUNNING))
    await _finish(store, pred, {"text": "big"})
    [basic] = await store.list("alice", status=None, domain="", after=None, limit=10, full=False)
    assert basic.response is None and basic.status is Status.COMPLETED and basic.id == "p1"
    [full] = await store.list("alice", status=None, domain="", after=None, limit=10)
    assert full.response == {"text": "big"}


async def test_delete_expired_removes_everything_of_old_terminal_predictions_in_batches(store):
    import time

    for i in range(5):
        pred, _ = await store.create(_pred(f"p{i}"), then=(Status.ENQUEUED, Status.RUNNING))
        await _finish(store, pred, {"i": i})
    live, _ = await store.create(_pred("live"), then=Status.ENQUEUED, inputs={0: b"x"})
    waiting = _pred("cb")
    waiting.callback_url = "http://127.0.0.1:9/hook"
    waiting, _ = await store.create(waiting, then=(Status.ENQUEUED, Status.RUNNING))
    await _finish(store, waiting)
    assert await store.delete_expired(time.time() - 3600, 10) == []  # none ended an hour ago
    first = await store.delete_expired(time.time() + 1, 3)
    second = await store.delete_expired(time.time() + 1, 3)
    assert len(first) == 3 and len(second) == 2  # bounded batches, oldest first
    assert await store.delete_expired(time.time() + 1, 3) == []  # the one with a callback to deliver waits
    for ident in first + second:
        assert await store.get(ident) is None and await store.events_after(ident, 0) == []
    assert await store.get("live") is not None and await store.input("live", 0) == b"x"
    await store.callback_done("cb")
    assert await store.delete_expired(time.time() + 1, 3) == ["cb"]
    assert await _raw(store, "SELECT COUNT(*) FROM events WHERE prediction_id != 'live'") == [(0,)]
    assert await _raw(store, "SELECT COUNT(*) FROM terminal") == [(0,)]


async def test_a_sqlite_file_from_before_retention_records_its_terminal_predictions(tmp_path):
    path = tmp_path / "jobs.sqlite"
    s = Store(path)
    await s.open()
    pred, _ = await s.create(_pred("old"), then=(Status.ENQUEUED, Status.RUNNING))
    await _finish(s, pred)
    await s.create(_pred("running"), then=Status.ENQUEUED)
    await s.close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE terminal")  # as an older version left it
    db.commit()
    db.close()
    s = Store(path)
    await s.open()
    try:
        rows = await _raw(s, "SELECT prediction_id, ended, release_inputs FROM terminal")
        assert [(r[0], r[2]) for r in rows] == [("old", 1)]
        assert rows[0][1] == pytest.approx(pred.completed_at.timestamp())
    finally:
        await s.close()
