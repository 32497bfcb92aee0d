"""SQLite persistence of predictions, their event history, per-element results and files.

One connection, used from one dedicated thread: SQLite calls never block the event loop and
never race each other. WAL mode: a committed transaction survives a kill -9 of the server.

Group commit: operations queued while the thread is busy run together in one transaction, each in its own
savepoint (one that fails is rolled back alone), and their callers hear back only once it commits. Under load
this replaces a commit, a thread wake-up and a loop wake-up per operation with one per batch.

Rows are parsed into models in the store thread too, not on the event loop (pydantic still holds the GIL while
it parses, so a response of megabytes pauses the loop for a part of its parse time; lists leave responses out).

Retention: a prediction's terminal save, in its own transaction, drops what only a re-run needed (element
results, and inline inputs unless kept), records when it ended (`terminal`) and, with a callback_url, queues its
callback (`callbacks`, the outbox). jobs/retention.py later deletes expired predictions in bounded batches.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from vlmgrpc.jobs import snapshots
from vlmgrpc.jobs.model import Prediction, Status, utcnow
from vlmgrpc.jobs.records import Cursor, Event, EventType
from vlmgrpc.jobs.records import SequenceConflict as StoreSequenceConflict

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
CREATE TABLE IF NOT EXISTS terminal (
  prediction_id TEXT PRIMARY KEY,
  ended REAL NOT NULL,
  release_inputs INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS terminal_ended ON terminal(ended);
CREATE INDEX IF NOT EXISTS terminal_release ON terminal(prediction_id) WHERE release_inputs = 1;
CREATE TABLE IF NOT EXISTS callbacks (
  prediction_id TEXT PRIMARY KEY,
  attempts INTEGER NOT NULL DEFAULT 0
);
"""
WAL_LIMIT = 16 * 1024 * 1024  # bytes the WAL file is truncated to after a checkpoint


class SequenceConflict(StoreSequenceConflict, sqlite3.IntegrityError):
    """SQLite's form of the store-neutral SequenceConflict (an integrity error to sqlite3 callers)."""


def _check_follows(db: sqlite3.Connection, event: Event) -> None:
    last = db.execute("SELECT MAX(sequence) FROM events WHERE prediction_id=?", (event.prediction_id,)).fetchone()[0]
    if (last or 0) != event.sequence - 1:
        raise SequenceConflict(f"event {event.sequence} of {event.prediction_id} does not follow {last}")


def _parse(rows: list) -> list[Prediction]:
    return [Prediction.model_validate_json(r[0]) for r in rows]


def _write(db: sqlite3.Connection, event: Event, row: bool = True, keep_inputs: bool = False) -> None:
    """Insert the event (and update the prediction's row to its state) inside the caller's transaction."""
    pred = event.prediction
    assert pred is not None
    if row:
        body, snapshot = snapshots.body_and_snapshot(pred)
        db.execute("UPDATE predictions SET status=?, body=? WHERE id=?", (pred.status.value, body, pred.id))
        if pred.status.terminal:
            _ended(db, pred, keep_inputs)
    else:
        snapshot = snapshots.snapshot(pred)
    db.execute("INSERT INTO events VALUES (?,?,?,?,?)", (pred.id, event.sequence, event.type.value,
                                                        event.time.isoformat(), snapshot))


def _ended(db: sqlite3.Connection, pred: Prediction, keep_inputs: bool) -> None:
    """A prediction just became terminal: what only a re-run needed goes, its expiry clock starts and its
    callback is queued, all in the transaction of its terminal event."""
    db.execute("DELETE FROM element_results WHERE prediction_id=?", (pred.id,))
    if not keep_inputs:
        db.execute("DELETE FROM inputs WHERE prediction_id=?", (pred.id,))
    ended = (pred.completed_at or utcnow()).timestamp()
    db.execute("INSERT OR IGNORE INTO terminal VALUES (?,?,?)", (pred.id, ended, int(not keep_inputs)))
    if pred.callback_url:
        db.execute("INSERT OR IGNORE INTO callbacks (prediction_id) VALUES (?)", (pred.id,))


def _backfill_terminal(db: sqlite3.Connection, keep_inputs: bool) -> None:
    """Terminal predictions stored before the terminal table existed: recorded once, when it is created."""
    rows = db.execute("SELECT id, json_extract(body, '$.completed_at'), created_at FROM predictions "
                      "WHERE status IN ('completed', 'failed')").fetchall()
    db.executemany("INSERT OR IGNORE INTO terminal VALUES (?,?,?)",
                   [(ident, datetime.fromisoformat(completed or created).timestamp(), int(not keep_inputs))
                    for ident, completed, created in rows])


def _ids_clause(ids: list[str]) -> str:
    return ",".join("?" * len(ids))


MAX_BATCH = 256  # operations in one transaction: bounds how long the first of them waits for its commit


class Store:
    shared = False  # one process: nothing else writes these records

    def __init__(self, path: Path, keep_inputs: bool = False):
        self.path = path
        self.keep_inputs = keep_inputs  # retention_keep_inputs: inline inputs outlive the terminal save
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
                loop.call_soon_threadsafe(snapshots.resolve, self._transaction(batch))
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
            if db.execute("PRAGMA page_count").fetchone()[0] == 0:  # a new database: it can give pages back
                db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
            had_terminal = db.execute("SELECT 1 FROM sqlite_master WHERE name='terminal'").fetchone()
            db.executescript(SCHEMA)
            if not had_terminal:
                _backfill_terminal(db, self.keep_inputs)
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
            events = [(pred.id, 1, EventType.STATUS_CHANGED.value, now, snapshots.snapshot(pred))]
            for status in then:
                pred.transition(status)
                pred.sequence += 1
                events.append((pred.id, pred.sequence, EventType.STATUS_CHANGED.value, now, snapshots.snapshot(pred)))
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
        element_row = snapshots.element_row(pred.id, element) if element else None
        state = snapshots.next_event(pred, event)
        keep_inputs = self.keep_inputs

        def _save(db: sqlite3.Connection) -> Event:
            # One savepoint: the row and its event commit together or not at all.
            _check_follows(db, state)
            if element_row:
                db.execute("INSERT OR REPLACE INTO element_results VALUES (?,?,?)", element_row)
            _write(db, state, keep_inputs=keep_inputs)
            return state

        saved = self._run(_save)
        saved.add_done_callback(partial(snapshots.keep_sequence, pred, state.sequence))
        return saved

    def save_last_element(self, pred: Prediction, element: tuple[int, Any], finish: Callable[[Prediction], None],
                          ) -> asyncio.Future[tuple[Event, Event]]:
        """The last element's result with its PROGRESS event, then `finish(pred)` (its terminal
        transition) with that event, in one transaction: a commit fewer on every prediction's path."""
        element_row = snapshots.element_row(pred.id, element)
        progress = snapshots.next_event(pred, EventType.PROGRESS)
        finish(pred)
        final = snapshots.next_event(pred, EventType.STATUS_CHANGED)
        keep_inputs = self.keep_inputs

        def _save(db: sqlite3.Connection) -> tuple[Event, Event]:
            # One savepoint: the result, its progress and the terminal transition.
            _check_follows(db, progress)
            db.execute("INSERT OR REPLACE INTO element_results VALUES (?,?,?)", element_row)
            _write(db, progress, row=False)  # the final event's row replaces it in this transaction
            _write(db, final, keep_inputs=keep_inputs)
            return progress, final

        saved = self._run(_save)
        saved.add_done_callback(partial(snapshots.keep_sequence, pred, progress.sequence))
        return saved

    async def get(self, prediction_id: str) -> Prediction | None:
        def _get(db: sqlite3.Connection) -> Prediction | None:
            row = db.execute("SELECT body FROM predictions WHERE id=?", (prediction_id,)).fetchone()
            return Prediction.model_validate_json(row[0]) if row else None

        return await self._run(_get)

    async def list(self, owner: str, *, status: Status | None, domain: str, after: Cursor | None,
                   limit: int, request_id: str = "", full: bool = True) -> list[Prediction]:
        """Newest first. Not `full`: without their responses (left out by SQLite, never parsed)."""
        column = "body" if full else "json_remove(body, '$.response')"
        sql = f"SELECT {column} FROM predictions WHERE owner=?"
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
        return await self._run(lambda db: _parse(db.execute(sql, args).fetchall()))

    async def with_status(self, *statuses: Status) -> list[Prediction]:
        marks = ",".join("?" * len(statuses))
        return await self._run(lambda db: _parse(db.execute(
            f"SELECT body FROM predictions WHERE status IN ({marks}) ORDER BY created_at, id",
            [s.value for s in statuses]).fetchall()))

    async def events_after(self, prediction_id: str, sequence: int, limit: int = 500) -> list[Event]:
        def _events(db: sqlite3.Connection) -> list[Event]:
            rows = db.execute("SELECT sequence, type, time, snapshot FROM events WHERE prediction_id=? AND "
                              "sequence>? ORDER BY sequence LIMIT ?", (prediction_id, sequence, limit)).fetchall()
            events = [Event(prediction_id, seq, EventType(kind), datetime.fromisoformat(time),
                            Prediction.model_validate_json(snap)) for seq, kind, time, snap in rows]
            final = events[-1].prediction if events else None
            if final is not None and final.status.terminal:  # its response is the row's (see snapshot)
                row = db.execute("SELECT body FROM predictions WHERE id=?", (prediction_id,)).fetchone()
                final.response = Prediction.model_validate_json(row[0]).response if row else None
            return events

        return await self._run(_events)

    # --- per-element results (a resumed or re-queued prediction skips the elements already done)

    async def elements(self, prediction_id: str) -> dict[int, Any]:
        return await self._run(lambda db: {idx: json.loads(text) for idx, text in db.execute(
            "SELECT idx, result FROM element_results WHERE prediction_id=?", (prediction_id,)).fetchall()})

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

    # --- retention (jobs/retention.py): bounded batches, each one store operation

    async def inputs_to_release(self, limit: int) -> list[str]:
        """Terminal predictions whose input files are still to be removed."""
        return await self._run(lambda db: [r[0] for r in db.execute(
            "SELECT prediction_id FROM terminal WHERE release_inputs=1 LIMIT ?", (limit,)).fetchall()])

    async def inputs_released(self, ids: list[str]) -> None:
        await self._run(lambda db: db.execute(
            f"UPDATE terminal SET release_inputs=0 WHERE prediction_id IN ({_ids_clause(ids)})", ids))

    async def delete_expired(self, ended_before: float, limit: int) -> list[str]:
        """Delete up to `limit` predictions that ended before `ended_before` (a Unix time) and have no callback
        still to deliver, with everything stored for them; return their ids."""
        def _delete(db: sqlite3.Connection) -> list[str]:
            ids = [r[0] for r in db.execute(
                "SELECT prediction_id FROM terminal t WHERE ended < ? AND NOT EXISTS "
                "(SELECT 1 FROM callbacks c WHERE c.prediction_id = t.prediction_id) ORDER BY ended LIMIT ?",
                (ended_before, limit)).fetchall()]
            if ids:
                marks = _ids_clause(ids)
                db.execute(f"DELETE FROM predictions WHERE id IN ({marks})", ids)
                for table in ("events", "element_results", "inputs", "terminal"):
                    db.execute(f"DELETE FROM {table} WHERE prediction_id IN ({marks})", ids)
            return ids

        return await self._run(_delete)

    async def missing_predictions(self, ids: list[str]) -> set[str]:
        """Those of `ids` that are no prediction (the orphan sweep's question)."""
        def _missing(db: sqlite3.Connection) -> set[str]:
            found = {r[0] for r in db.execute(f"SELECT id FROM predictions WHERE id IN ({_ids_clause(ids)})", ids)}
            return set(ids) - found

        return await self._run(_missing)

    async def missing_files(self, ids: list[str]) -> set[str]:
        def _missing(db: sqlite3.Connection) -> set[str]:
            found = {r[0] for r in db.execute(f"SELECT id FROM files WHERE id IN ({_ids_clause(ids)})", ids)}
            return set(ids) - found

        return await self._run(_missing)

    async def give_back_pages(self, pages: int) -> None:
        """Return up to `pages` free pages to the file system (a database created with auto_vacuum; a no-op on
        an older one). Outside any transaction, between batches: it commits on its own."""
        def _vacuum() -> None:
            if self._db is not None:
                self._db.executescript(f"PRAGMA incremental_vacuum({int(pages)});")

        await asyncio.get_running_loop().run_in_executor(self._pool, _vacuum)

    # --- the callback outbox (jobs/callbacks.py): a row from the terminal save until delivered or given up

    async def pending_callbacks(self) -> list[str]:
        return await self._run(lambda db: [r[0] for r in db.execute(
            "SELECT prediction_id FROM callbacks ORDER BY rowid").fetchall()])

    async def callback_attempts(self, prediction_id: str) -> int | None:
        """Delivery attempts made so far; None when no callback is queued for the prediction."""
        row = await self._run(lambda db: db.execute(
            "SELECT attempts FROM callbacks WHERE prediction_id=?", (prediction_id,)).fetchone())
        return row[0] if row else None

    async def count_callback_attempt(self, prediction_id: str) -> None:
        await self._run(lambda db: db.execute(
            "UPDATE callbacks SET attempts=attempts+1 WHERE prediction_id=?", (prediction_id,)))

    async def callback_done(self, prediction_id: str) -> None:
        await self._run(lambda db: db.execute("DELETE FROM callbacks WHERE prediction_id=?", (prediction_id,)))
