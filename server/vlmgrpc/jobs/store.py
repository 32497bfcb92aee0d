"""SQLite persistence of predictions, their event history, per-element results and files.

One connection, used from one dedicated thread: SQLite calls never block the event loop and
never race each other. WAL mode: a committed transaction survives a kill -9 of the server.

Group commit: operations queued while the thread is busy run together in one transaction, each in its own
savepoint (one that fails is rolled back alone), and their callers hear back only once it commits. Under load
this replaces a commit, a thread wake-up and a loop wake-up per operation with one per batch.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from vlmgrpc.jobs.model import Prediction, Status, utcnow

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  request_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  status TEXT NOT NULL,
  domain TEXT NOT NULL,
  body TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS predictions_request ON predictions(owner, request_id) WHERE request_id != '';
CREATE INDEX IF NOT EXISTS predictions_owner_created ON predictions(owner, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS predictions_status ON predictions(status, created_at);
CREATE TABLE IF NOT EXISTS events (
  prediction_id TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  type TEXT NOT NULL,
  time TEXT NOT NULL,
  snapshot TEXT NOT NULL,
  PRIMARY KEY (prediction_id, sequence)
);
CREATE TABLE IF NOT EXISTS element_results (
  prediction_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  result TEXT NOT NULL,
  PRIMARY KEY (prediction_id, idx)
);
CREATE TABLE IF NOT EXISTS inputs (
  prediction_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (prediction_id, idx)
);
CREATE TABLE IF NOT EXISTS files (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  created_at TEXT NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_owner_created ON files(owner, created_at DESC, id DESC);
"""


class EventType(str, Enum):
    SNAPSHOT = "snapshot"
    STATUS_CHANGED = "status_changed"
    PROGRESS = "progress"
    HEARTBEAT = "heartbeat"
    OUTPUT_DELTA = "output_delta"  # live only, never stored


@dataclass(frozen=True)
class Delta:
    """New text of a generative model for one element."""

    element_index: int
    text: str
    offset: int  # where `text` starts in the element's output (characters)
    attempt: int = 0


@dataclass(frozen=True)
class Event:
    prediction_id: str
    sequence: int
    type: EventType
    time: datetime
    prediction: Prediction | None  # None on heartbeats and deltas
    # Rendered forms, shared by every watcher of this event (one conversion, not one per watcher).
    rendered: dict = field(default_factory=dict, compare=False, repr=False)
    delta: Delta | None = None


@dataclass(frozen=True)
class Cursor:
    """Position in a newest-first listing."""

    created_at: str
    id: str


def _snapshot(pred: Prediction) -> str:
    # Non-terminal snapshots leave the response out: it is only final at the end.
    return pred.model_dump_json(exclude=None if pred.status.terminal else {"response"})


def _body_and_snapshot(pred: Prediction) -> tuple[str, str]:
    body = pred.model_dump_json()
    return body, body if pred.status.terminal or pred.response is None else _snapshot(pred)


def _next_event(pred: Prediction, event: EventType) -> Event:
    """The prediction's next event, with a shallow copy of its state: a faithful snapshot, because
    fields are replaced on change, never mutated in place."""
    pred.sequence += 1
    return Event(pred.id, pred.sequence, event, utcnow(), pred.model_copy())


def _element_row(prediction_id: str, element: tuple[int, Any]) -> tuple[str, int, str]:
    return prediction_id, element[0], json.dumps(element[1], separators=(",", ":"))


def _write(db: sqlite3.Connection, event: Event, row: bool = True) -> None:
    """Insert the event (and update the prediction's row to its state) inside the caller's transaction."""
    pred = event.prediction
    assert pred is not None
    if row:
        body, snapshot = _body_and_snapshot(pred)
        db.execute("UPDATE predictions SET status=?, body=? WHERE id=?", (pred.status.value, body, pred.id))
    else:
        snapshot = _snapshot(pred)
    db.execute("INSERT INTO events VALUES (?,?,?,?,?)", (pred.id, event.sequence, event.type.value,
                                                        event.time.isoformat(), snapshot))


MAX_BATCH = 256  # operations in one transaction: bounds how long the first of them waits for its commit


def _resolve(results: list[tuple[asyncio.Future, Any, BaseException | None]]) -> None:
    """On the loop: hand every operation of a committed batch its outcome, in the order they were called."""
    for future, result, error in results:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class Store:
    def __init__(self, path: Path):
        self.path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._db: sqlite3.Connection | None = None
        self._ops: deque[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future]] = deque()
        self._lock = threading.Lock()  # guards _ops and _draining between the loop and the store thread
        self._draining = False

    def _run(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        # Queued now, not when awaited: operations run (and commit) in the order they were called.
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            self._ops.append((fn, future))
            start = not self._draining
            self._draining = True
        if start:
            self._pool.submit(self._drain, loop)
        return future

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """In the store thread: run queued operations in batches until none is left."""
        while True:
            with self._lock:
                if not self._ops:
                    self._draining = False
                    return
                batch = [self._ops.popleft() for _ in range(min(MAX_BATCH, len(self._ops)))]
            try:
                loop.call_soon_threadsafe(_resolve, self._transaction(batch))
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                with self._lock:
                    self._draining = False
                return

    def _transaction(self, batch: list) -> list[tuple[asyncio.Future, Any, BaseException | None]]:
        db = self._db
        if db is None:
            return [(future, None, RuntimeError("the store is closed")) for _, future in batch]
        results: list[tuple[asyncio.Future, Any, BaseException | None]] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            for fn, future in batch:
                db.execute("SAVEPOINT op")
                try:
                    results.append((future, fn(db), None))
                except Exception as exc:  # this operation's changes only are undone
                    db.execute("ROLLBACK TO op")
                    results.append((future, None, exc))
                db.execute("RELEASE op")
            db.execute("COMMIT")
        except Exception as exc:  # the transaction itself failed (disk full, I/O error): nothing committed
            if db.in_transaction:
                db.rollback()
            return [(future, None, exc) for _, future in batch]
        return results

    async def open(self) -> None:
        def _open(_: Any) -> sqlite3.Connection:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            return db

        self._db = await asyncio.get_running_loop().run_in_executor(self._pool, _open, None)

    async def close(self) -> None:
        if self._db is not None:
            await self._run(lambda db: None)  # every operation queued before this one has committed
            db, self._db = self._db, None
            await asyncio.get_running_loop().run_in_executor(self._pool, db.close)
        self._pool.shutdown(wait=True)

    # --- predictions

    async def create(self, pred: Prediction, then: Status | tuple[Status, ...] = (),
                     inputs: dict[int, bytes] | None = None) -> tuple[Prediction, bool]:
        """Insert a new prediction with its first event, its next transitions (`then`) each with its own
        event, and its inline input bytes (index -> bytes), in one transaction; with a known (owner,
        request_id) return the existing prediction instead. Returns (prediction, created).

        Small inputs live here rather than in files: they commit with their prediction (no file without a
        prediction, or the reverse, after a crash), and a row costs less than creating a file."""
        then = (then,) if isinstance(then, Status) else then

        def _create(db: sqlite3.Connection) -> tuple[Prediction, bool]:
            # One savepoint of the store's transaction (see _transaction).
            if pred.request_id:
                row = db.execute("SELECT body FROM predictions WHERE owner=? AND request_id=?",
                                 (pred.owner, pred.request_id)).fetchone()
                if row:
                    return Prediction.model_validate_json(row[0]), False
            pred.sequence = 1
            now = utcnow().isoformat()
            events = [(pred.id, 1, EventType.STATUS_CHANGED.value, now, _snapshot(pred))]
            for status in then:
                pred.transition(status)
                pred.sequence += 1
                events.append((pred.id, pred.sequence, EventType.STATUS_CHANGED.value, now, _snapshot(pred)))
            db.execute("INSERT INTO predictions VALUES (?,?,?,?,?,?,?)",
                       (pred.id, pred.owner, pred.request_id, pred.created_at.isoformat(),
                        pred.status.value, pred.domain, pred.model_dump_json()))
            db.executemany("INSERT INTO events VALUES (?,?,?,?,?)", events)
            if inputs:
                db.executemany("INSERT INTO inputs VALUES (?,?,?)",
                               [(pred.id, idx, data) for idx, data in inputs.items()])
            return pred, True

        return await self._run(_create)

    def save(self, pred: Prediction, event: EventType, element: tuple[int, Any] | None = None,
             ) -> asyncio.Future[Event]:
        """Persist the prediction and append one event to its history (and an element's result),
        atomically: progress and stored results never disagree, even after a crash.

        The event's state is taken now (sequence and a shallow copy) and the write is queued at once:
        saves commit in the order they were called, and the caller may change `pred` before this one
        commits (the worker sends to Triton while RUNNING commits)."""
        element_row = _element_row(pred.id, element) if element else None
        state = _next_event(pred, event)

        def _save(db: sqlite3.Connection) -> Event:
            # One savepoint: the row and its event commit together or not at all.
            if element_row:
                db.execute("INSERT OR REPLACE INTO element_results VALUES (?,?,?)", element_row)
            _write(db, state)
            return state

        return self._run(_save)

    def save_last_element(self, pred: Prediction, element: tuple[int, Any], finish: Callable[[Prediction], None],
                          ) -> asyncio.Future[tuple[Event, Event]]:
        """The last element's result with its PROGRESS event, then `finish(pred)` (its terminal
        transition) with that event, in one transaction: a commit fewer on every prediction's path."""
        element_row = _element_row(pred.id, element)
        progress = _next_event(pred, EventType.PROGRESS)
        finish(pred)
        final = _next_event(pred, EventType.STATUS_CHANGED)

        def _save(db: sqlite3.Connection) -> tuple[Event, Event]:
            # One savepoint: the result, its progress and the terminal transition.
            db.execute("INSERT OR REPLACE INTO element_results VALUES (?,?,?)", element_row)
            _write(db, progress, row=False)  # the final event's row replaces it in this transaction
            _write(db, final)
            return progress, final

        return self._run(_save)

    async def get(self, prediction_id: str) -> Prediction | None:
        row = await self._run(lambda db: db.execute(
            "SELECT body FROM predictions WHERE id=?", (prediction_id,)).fetchone())
        return Prediction.model_validate_json(row[0]) if row else None

    async def list(self, owner: str, *, status: Status | None, domain: str, after: Cursor | None,
                   limit: int, request_id: str = "") -> list[Prediction]:
        sql = "SELECT body FROM predictions WHERE owner=?"
        args: list[Any] = [owner]
        if request_id:
            sql += " AND request_id=?"
            args.append(request_id)
        if status:
            sql += " AND status=?"
            args.append(status.value)
        if domain:
            sql += " AND domain=?"
            args.append(domain)
        if after:
            sql += " AND (created_at < ? OR (created_at = ? AND id < ?))"
            args += [after.created_at, after.created_at, after.id]
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        args.append(limit)
        rows = await self._run(lambda db: db.execute(sql, args).fetchall())
        return [Prediction.model_validate_json(r[0]) for r in rows]

    async def with_status(self, *statuses: Status) -> list[Prediction]:
        marks = ",".join("?" * len(statuses))
        rows = await self._run(lambda db: db.execute(
            f"SELECT body FROM predictions WHERE status IN ({marks}) ORDER BY created_at, id",
            [s.value for s in statuses]).fetchall())
        return [Prediction.model_validate_json(r[0]) for r in rows]

    async def events_after(self, prediction_id: str, sequence: int, limit: int = 500) -> list[Event]:
        rows = await self._run(lambda db: db.execute(
            "SELECT sequence, type, time, snapshot FROM events WHERE prediction_id=? AND sequence>? "
            "ORDER BY sequence LIMIT ?", (prediction_id, sequence, limit)).fetchall())
        return [Event(prediction_id, seq, EventType(kind), datetime.fromisoformat(time),
                      Prediction.model_validate_json(snap)) for seq, kind, time, snap in rows]

    # --- per-element results (a resumed or re-queued prediction skips the elements already done)

    async def elements(self, prediction_id: str) -> dict[int, Any]:
        rows = await self._run(lambda db: db.execute(
            "SELECT idx, result FROM element_results WHERE prediction_id=?", (prediction_id,)).fetchall())
        return {idx: json.loads(text) for idx, text in rows}

    async def input(self, prediction_id: str, idx: int) -> bytes | None:
        """An inline input's bytes."""
        row = await self._run(lambda db: db.execute(
            "SELECT data FROM inputs WHERE prediction_id=? AND idx=?", (prediction_id, idx)).fetchone())
        return row[0] if row else None

    # --- files (the body is the file service's own JSON)

    async def put_file(self, file_id: str, owner: str, created_at: str, body: str) -> None:
        await self._run(lambda db: db.execute(
            "INSERT INTO files VALUES (?,?,?,?)", (file_id, owner, created_at, body)))

    async def get_file(self, file_id: str) -> tuple[str, str] | None:
        """(owner, body) of a file."""
        return await self._run(lambda db: db.execute(
            "SELECT owner, body FROM files WHERE id=?", (file_id,)).fetchone())

    async def list_files(self, owner: str, after: Cursor | None, limit: int) -> list[str]:
        sql, args = "SELECT body FROM files WHERE owner=?", [owner]
        if after:
            sql += " AND (created_at < ? OR (created_at = ? AND id < ?))"
            args += [after.created_at, after.created_at, after.id]
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        args.append(limit)
        return [r[0] for r in await self._run(lambda db: db.execute(sql, args).fetchall())]

    async def delete_file(self, file_id: str) -> bool:
        cur = await self._run(lambda db: db.execute("DELETE FROM files WHERE id=?", (file_id,)))
        return cur.rowcount > 0
