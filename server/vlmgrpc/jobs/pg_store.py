"""PostgreSQL persistence (database_url): the same tables, operations and guarantees as jobs/store.py.

asyncpg with a pool. Operations run in the order they were called, as in the embedded store: a queue drained
by one writer that runs what has gathered in one transaction, each operation in its own savepoint (one that
fails is rolled back alone), and answers callers once it commits. Group commit under load, and a read made
after a save (awaited or not) sees it.

Across replicas, the database keeps what memory cannot: a request id is unique per tenant (the partial
unique index; ON CONFLICT waits for a concurrent insert's commit), two writers of one prediction's events
collide on (prediction_id, sequence) rather than both writing (SequenceConflict), and a prediction waiting or
running is claimed by one replica (jobs/pg_claims.py): each save checks the claim is its own (ClaimLost
otherwise), so a replica whose lease ran out cannot write over the one that took its work. Every committed
event is announced with NOTIFY (jobs/replicas.py relays them to the watchers of other replicas).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from importlib import resources
from typing import Any

import asyncpg

from vlmgrpc.jobs import snapshots
from vlmgrpc.jobs.model import Prediction, Status, utcnow
from vlmgrpc.jobs.records import ClaimLost, Cursor, Event, EventType, SequenceConflict

log = logging.getLogger(__name__)
MAX_BATCH = 256  # operations in one transaction: bounds how long the first of them waits for its commit
MIGRATIONS = "vlmgrpc.jobs.migrations.postgres"
MIGRATION_LOCK = 0x766C6D01  # advisory lock keys ("vlm" + n): schema changes, and one process per replica id
REPLICA_LOCK = 0x766C6D02
EVENTS_CHANNEL = "vlm_events"  # NOTIFY payload: "<replica> <id>:<sequence> ..." for each committed event
NOTIFY_BYTES = 7900  # PostgreSQL's payload limit is 8000 bytes
ACTIVE = (Status.PENDING.value, Status.ENQUEUED.value, Status.RUNNING.value)  # statuses that hold a claim

Op = Callable[[asyncpg.Connection], Awaitable[Any]]


def _parse(rows: list) -> list[Prediction]:
    return [Prediction.model_validate_json(r[0]) for r in rows]


async def migrate(conn: asyncpg.Connection) -> list[int]:
    """Apply the versioned SQL files not yet applied, in order, each in its own transaction; return them."""
    await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                       "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
    files = sorted((f for f in resources.files(MIGRATIONS).iterdir() if f.name.endswith(".sql")),
                   key=lambda f: f.name)
    applied = []
    for file in files:
        version = int(file.name.split("_", 1)[0])
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)  # replicas starting at once
            if await conn.fetchval("SELECT 1 FROM schema_migrations WHERE version=$1", version):
                continue
            await conn.execute(file.read_text())
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            applied.append(version)
    return applied


async def _check_follows(conn: asyncpg.Connection, event: Event) -> None:
    last = await conn.fetchval("SELECT MAX(sequence) FROM events WHERE prediction_id=$1", event.prediction_id)
    if (last or 0) != event.sequence - 1:
        raise SequenceConflict(f"event {event.sequence} of {event.prediction_id} does not follow {last}")


def _deliver(callback: Callable[[str], None], _conn, _pid, _channel, payload: str) -> None:
    try:
        callback(payload)
    except Exception:  # one bad message must not stop the listener
        log.exception("PostgreSQL: a NOTIFY on %s could not be handled", _channel)


class PgStore:
    shared = True  # other processes (replicas) use the same records

    def __init__(self, url: str, keep_inputs: bool = False, pool_size: int = 10, replica: str = "",
                 lease_s: float = 10.0):
        self.url = url
        self.keep_inputs = keep_inputs  # retention_keep_inputs: inline inputs outlive the terminal save
        self.pool_size = pool_size
        self.replica = replica or uuid.uuid4().hex[:12]  # names this process's claims
        self.lease_s = lease_s  # a claim not renewed for this long may be taken by another replica
        self._pool: asyncpg.Pool | None = None
        self._holder: asyncpg.Connection | None = None  # holds the replica lock and the LISTENs while open
        self._ops: deque[tuple[Op, asyncio.Future]] = deque()
        self._writer: asyncio.Task | None = None
        self._notes: list[str] = []  # events committed by the transaction in progress, announced with it
        self._listeners: list[tuple[str, Callable[[str], None]]] = []
        self._reconnected: list[Callable[[], None]] = []
        self._reconnecting: asyncio.Task | None = None

    async def open(self) -> None:
        holder = await self._connect_holder()
        await migrate(holder)
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=self.pool_size)

    async def _connect_holder(self) -> asyncpg.Connection:
        holder = await asyncpg.connect(self.url)
        if not await holder.fetchval("SELECT pg_try_advisory_lock($1, hashtext($2))", REPLICA_LOCK, self.replica):
            await holder.close()
            raise RuntimeError(f"another process is replica {self.replica!r} on this database: give each replica "
                               "its own replica_id (see the README, PostgreSQL)")
        for channel, callback in self._listeners:
            await holder.add_listener(channel, partial(_deliver, callback))
        holder.add_termination_listener(self._holder_lost)
        self._holder = holder
        return holder

    def _holder_lost(self, _conn: asyncpg.Connection) -> None:
        if self._holder is not None and self._pool is not None:  # not a close
            self._holder = None
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect(), name="pg-listen")

    async def _reconnect(self) -> None:
        """The listening connection broke: connect again, and tell who listens that announcements were missed."""
        delay = 0.5
        while self._pool is not None:
            try:
                await self._connect_holder()
            except Exception as exc:
                log.warning("PostgreSQL: listening connection lost, reconnecting in %.1f s (%s)", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
                continue
            for hook in self._reconnected:
                hook()
            return

    def on_reconnect(self, hook: Callable[[], None]) -> None:
        self._reconnected.append(hook)

    async def close(self) -> None:
        if self._pool is not None:
            await self._run(lambda conn: asyncio.sleep(0))  # every operation queued before this one has committed
            pool, self._pool = self._pool, None
            await pool.close()
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        if self._holder is not None:
            holder, self._holder = self._holder, None
            await holder.close()

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call `callback(payload)` for each NOTIFY on `channel`, from any replica, for as long as the store is open
        (a broken connection is made again; NOTIFYs sent meanwhile are lost: see on_reconnect)."""
        assert self._holder is not None
        self._listeners.append((channel, callback))
        await self._holder.add_listener(channel, partial(_deliver, callback))

    def notify(self, channel: str, payload: str) -> asyncio.Future:
        """NOTIFY in the ordered queue: delivered once what was saved before it has committed."""
        return self._run(lambda conn: conn.execute("SELECT pg_notify($1, $2)", channel, payload))

    def run(self, op: Op) -> asyncio.Future:
        """Run `op(connection)` in the ordered queue, in the transaction of its batch (its own savepoint)."""
        return self._run(op)

    def connection(self):
        """A pooled connection outside the ordered queue (lease renewal must not wait behind a backlog)."""
        assert self._pool is not None, "the store is closed"
        return self._pool.acquire()

    # --- the ordered queue of operations

    def _run(self, fn: Op) -> asyncio.Future:
        # Queued now, not when awaited: operations run (and commit) in the order they were called.
        future = asyncio.get_running_loop().create_future()
        self._ops.append((fn, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._drain(), name="pg-store-writer")
        return future

    async def _drain(self) -> None:
        while self._ops:
            batch = [self._ops.popleft() for _ in range(min(MAX_BATCH, len(self._ops)))]
            snapshots.resolve(await self._transaction(batch))

    async def _transaction(self, batch: list) -> list[tuple[asyncio.Future, Any, BaseException | None]]:
        if self._pool is None:
            return [(future, None, RuntimeError("the store is closed")) for _, future in batch]
        results: list[tuple[asyncio.Future, Any, BaseException | None]] = []
        self._notes = []
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                for fn, future in batch:
                    try:
                        async with conn.transaction():  # a savepoint: this operation's changes only are undone
                            results.append((future, await fn(conn), None))
                    except Exception as exc:
                        results.append((future, None, exc))
                await self._announce(conn)
        except Exception as exc:  # the transaction itself failed (connection lost): nothing committed
            return [(future, None, exc) for _, future in batch]
        return results

    async def _announce(self, conn: asyncpg.Connection) -> None:
        """NOTIFY the batch's events: PostgreSQL delivers them when (and only if) the transaction commits."""
        notes, self._notes = self._notes, []
        chunk = self.replica
        for note in notes:
            if len(chunk) + len(note) + 1 > NOTIFY_BYTES:
                await conn.execute("SELECT pg_notify($1, $2)", EVENTS_CHANNEL, chunk)
                chunk = self.replica
            chunk += " " + note
        if chunk != self.replica:
            await conn.execute("SELECT pg_notify($1, $2)", EVENTS_CHANNEL, chunk)

    # --- claims: only the holder writes a prediction that waits or runs

    async def _fence(self, conn: asyncpg.Connection, pred: Prediction) -> None:
        """This replica may write `pred`: it holds its claim (and marks it started or not), or no one does (paused)
        and this write claims it if it makes it wait or run again. The claim's row stays locked until commit, so a
        takeover waits for this write or skips it."""
        started = pred.status is Status.RUNNING
        if await conn.fetchval("UPDATE claims SET started=$3, lease_until=now() + make_interval(secs => $4) "
                               "WHERE prediction_id=$1 AND replica=$2 RETURNING 1",
                               pred.id, self.replica, started, self.lease_s):  # a save renews its lease too
            return
        holder = await conn.fetchval("SELECT replica FROM claims WHERE prediction_id=$1", pred.id)
        if holder is None:
            if pred.status.value not in ACTIVE:
                return
            if await conn.fetchval(
                    "INSERT INTO claims VALUES ($1, $2, now() + make_interval(secs => $3), $4) ON CONFLICT DO NOTHING "
                    "RETURNING 1", pred.id, self.replica, self.lease_s, started):
                return
        raise ClaimLost(pred.id, holder or "another", self.replica)

    async def _write(self, conn: asyncpg.Connection, event: Event, row: bool = True) -> None:
        """Insert the event (and update the prediction's row to its state) inside the caller's transaction."""
        pred = event.prediction
        assert pred is not None
        if row:
            body, snapshot = snapshots.body_and_snapshot(pred)
            await conn.execute("UPDATE predictions SET status=$1, body=$2 WHERE id=$3", pred.status.value, body,
                               pred.id)
            if pred.status.value not in ACTIVE:  # paused or ended: no one holds it now
                await conn.execute("DELETE FROM claims WHERE prediction_id=$1", pred.id)
            if pred.status.terminal:
                await self._ended(conn, pred)
        else:
            snapshot = snapshots.snapshot(pred)
        try:
            await conn.execute("INSERT INTO events VALUES ($1,$2,$3,$4,$5)", pred.id, event.sequence,
                               event.type.value, event.time.isoformat(), snapshot)
        except asyncpg.UniqueViolationError as exc:  # another writer stored this sequence first
            raise SequenceConflict(f"event {event.sequence} of {pred.id} is already stored") from exc

    async def _ended(self, conn: asyncpg.Connection, pred: Prediction) -> None:
        """A prediction just became terminal: what only a re-run needed goes, its expiry clock starts and its
        callback is queued (for this replica to deliver), all in the transaction of its terminal event."""
        await conn.execute("DELETE FROM element_results WHERE prediction_id=$1", pred.id)
        if not self.keep_inputs:
            await conn.execute("DELETE FROM inputs WHERE prediction_id=$1", pred.id)
        ended = (pred.completed_at or utcnow()).timestamp()
        await conn.execute("INSERT INTO terminal VALUES ($1,$2,$3) ON CONFLICT DO NOTHING", pred.id, ended,
                           not self.keep_inputs)
        if pred.callback_url:
            await conn.execute("INSERT INTO callbacks (prediction_id, replica, lease_until) VALUES "
                               "($1, $2, now() + make_interval(secs => $3)) ON CONFLICT DO NOTHING",
                               pred.id, self.replica, self.lease_s)

    # --- predictions

    async def create(self, pred: Prediction, then: Status | tuple[Status, ...] = (),
                     inputs: dict[int, bytes] | None = None) -> tuple[Prediction, bool]:
        """As Store.create; a request id known to the database (from any process) returns its prediction."""
        then = (then,) if isinstance(then, Status) else then

        async def _create(conn: asyncpg.Connection) -> tuple[Prediction, bool]:
            if pred.request_id:
                body = await conn.fetchval("SELECT body FROM predictions WHERE owner=$1 AND request_id=$2",
                                           pred.owner, pred.request_id)
                if body:
                    return Prediction.model_validate_json(body), False
            pred.sequence = 1
            now = utcnow().isoformat()
            events = [(pred.id, 1, EventType.STATUS_CHANGED.value, now, snapshots.snapshot(pred))]
            for status in then:
                pred.transition(status)
                pred.sequence += 1
                events.append((pred.id, pred.sequence, EventType.STATUS_CHANGED.value, now, snapshots.snapshot(pred)))
            inserted = await conn.fetchval(
                "INSERT INTO predictions VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT (owner, request_id) "
                "WHERE request_id <> '' DO NOTHING RETURNING id", pred.id, pred.owner, pred.request_id,
                pred.created_at.isoformat(), pred.status.value, pred.domain, pred.model_dump_json())
            if inserted is None:  # another process committed this request id meanwhile
                body = await conn.fetchval("SELECT body FROM predictions WHERE owner=$1 AND request_id=$2",
                                           pred.owner, pred.request_id)
                return Prediction.model_validate_json(body), False
            await conn.executemany("INSERT INTO events VALUES ($1,$2,$3,$4,$5)", events)
            if pred.status.value in ACTIVE:  # this replica's from the start: its queue or a worker has it
                await conn.execute("INSERT INTO claims VALUES ($1, $2, now() + make_interval(secs => $3), $4)",
                                   pred.id, self.replica, self.lease_s, pred.status is Status.RUNNING)
            if inputs:
                await conn.executemany("INSERT INTO inputs VALUES ($1,$2,$3)",
                                       [(pred.id, idx, data) for idx, data in inputs.items()])
            self._notes.extend(f"{pred.id}:{e[1]}" for e in events)
            return pred, True

        return await self._run(_create)

    def save(self, pred: Prediction, event: EventType, element: tuple[int, Any] | None = None,
             ) -> asyncio.Future[Event]:
        """As Store.save: the row, its event (and an element's result) commit together, in call order."""
        element_row = snapshots.element_row(pred.id, element) if element else None
        state = snapshots.next_event(pred, event)

        async def _save(conn: asyncpg.Connection) -> Event:
            assert state.prediction is not None
            await self._fence(conn, state.prediction)
            await _check_follows(conn, state)
            if element_row:
                await conn.execute("INSERT INTO element_results VALUES ($1,$2,$3) ON CONFLICT (prediction_id, idx) "
                                   "DO UPDATE SET result=EXCLUDED.result", *element_row)
            await self._write(conn, state)
            self._notes.append(f"{state.prediction_id}:{state.sequence}")
            return state

        saved = self._run(_save)
        saved.add_done_callback(partial(snapshots.keep_sequence, pred, state.sequence))
        return saved

    def save_last_element(self, pred: Prediction, element: tuple[int, Any], finish: Callable[[Prediction], None],
                          ) -> asyncio.Future[tuple[Event, Event]]:
        """As Store.save_last_element: the last result, its PROGRESS event and the terminal transition."""
        element_row = snapshots.element_row(pred.id, element)
        progress = snapshots.next_event(pred, EventType.PROGRESS)
        finish(pred)
        final = snapshots.next_event(pred, EventType.STATUS_CHANGED)

        async def _save(conn: asyncpg.Connection) -> tuple[Event, Event]:
            assert progress.prediction is not None
            await self._fence(conn, progress.prediction)
            await _check_follows(conn, progress)
            await conn.execute("INSERT INTO element_results VALUES ($1,$2,$3) ON CONFLICT (prediction_id, idx) "
                               "DO UPDATE SET result=EXCLUDED.result", *element_row)
            await self._write(conn, progress, row=False)  # the final event's row replaces it in this transaction
            await self._write(conn, final)
            self._notes.extend(f"{e.prediction_id}:{e.sequence}" for e in (progress, final))
            return progress, final

        saved = self._run(_save)
        saved.add_done_callback(partial(snapshots.keep_sequence, pred, progress.sequence))
        return saved

    async def get(self, prediction_id: str) -> Prediction | None:
        async def _get(conn: asyncpg.Connection) -> Prediction | None:
            body = await conn.fetchval("SELECT body FROM predictions WHERE id=$1", prediction_id)
            return Prediction.model_validate_json(body) if body else None

        return await self._run(_get)

    async def list(self, owner: str, *, status: Status | None, domain: str, after: Cursor | None,
                   limit: int, request_id: str = "", full: bool = True) -> list[Prediction]:
        """Newest first. Not `full`: without their responses (left out by PostgreSQL, never parsed)."""
        column = "body" if full else "(body::jsonb - 'response')::text"
        args: list[Any] = [owner]
        sql = f"SELECT {column} FROM predictions WHERE owner=$1"

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if request_id:
            sql += f" AND request_id={arg(request_id)}"
        if status:
            sql += f" AND status={arg(status.value)}"
        if domain:
            sql += f" AND domain={arg(domain)}"
        if after:
            created, ident = arg(after.created_at), arg(after.id)
            sql += f" AND (created_at < {created} OR (created_at = {created} AND id < {ident}))"
        sql += f" ORDER BY created_at DESC, id DESC LIMIT {arg(limit)}"
        return await self._run(lambda conn: self._fetch_parsed(conn, sql, args))

    @staticmethod
    async def _fetch_parsed(conn: asyncpg.Connection, sql: str, args: list) -> list[Prediction]:
        return _parse(await conn.fetch(sql, *args))

    async def with_status(self, *statuses: Status) -> list[Prediction]:
        return await self._run(lambda conn: self._fetch_parsed(
            conn, "SELECT body FROM predictions WHERE status = ANY($1::text[]) ORDER BY created_at, id",
            [[s.value for s in statuses]]))

    async def events_after(self, prediction_id: str, sequence: int, limit: int = 500) -> list[Event]:
        async def _events(conn: asyncpg.Connection) -> list[Event]:
            rows = await conn.fetch("SELECT sequence, type, time, snapshot FROM events WHERE prediction_id=$1 AND "
                                    "sequence>$2 ORDER BY sequence LIMIT $3", prediction_id, sequence, limit)
            events = [Event(prediction_id, r["sequence"], EventType(r["type"]), datetime.fromisoformat(r["time"]),
                            Prediction.model_validate_json(r["snapshot"])) for r in rows]
            final = events[-1].prediction if events else None
            if final is not None and final.status.terminal:  # its response is the row's (see snapshots.snapshot)
                body = await conn.fetchval("SELECT body FROM predictions WHERE id=$1", prediction_id)
                final.response = Prediction.model_validate_json(body).response if body else None
            return events

        return await self._run(_events)

    async def committed_events(self, ranges: dict[str, tuple[int, int]]) -> list[Event]:
        """The events of several predictions, each from its first to its last sequence, in one query on a pooled
        connection: they are announced once committed, so no ordered read is needed (relaying them to watchers)."""
        ids = list(ranges)
        async with self.connection() as conn:
            rows = await conn.fetch(
                "SELECT e.prediction_id, e.sequence, e.type, e.time, e.snapshot FROM events e JOIN "
                "unnest($1::text[], $2::int[], $3::int[]) AS r(id, first, last) ON e.prediction_id = r.id AND "
                "e.sequence BETWEEN r.first AND r.last ORDER BY e.prediction_id, e.sequence",
                ids, [ranges[i][0] for i in ids], [ranges[i][1] for i in ids])
            events = [Event(r["prediction_id"], r["sequence"], EventType(r["type"]), datetime.fromisoformat(r["time"]),
                            Prediction.model_validate_json(r["snapshot"])) for r in rows]
            ended = {e.prediction_id: e for e in events if e.prediction is not None and e.prediction.status.terminal}
            if ended:  # a terminal event's response is the row's (see snapshots.snapshot)
                for row in await conn.fetch("SELECT id, body FROM predictions WHERE id = ANY($1::text[])", list(ended)):
                    final = ended[row["id"]].prediction
                    assert final is not None
                    final.response = Prediction.model_validate_json(row["body"]).response
        return events

    # --- per-element results and inline inputs

    async def elements(self, prediction_id: str) -> dict[int, Any]:
        rows = await self._run(lambda conn: conn.fetch(
            "SELECT idx, result FROM element_results WHERE prediction_id=$1", prediction_id))
        return {r["idx"]: json.loads(r["result"]) for r in rows}

    async def input(self, prediction_id: str, idx: int) -> bytes | None:
        return await self._run(lambda conn: conn.fetchval(
            "SELECT data FROM inputs WHERE prediction_id=$1 AND idx=$2", prediction_id, idx))

    # --- files (the body is the file service's own JSON)

    async def put_file(self, file_id: str, owner: str, created_at: str, body: str) -> None:
        await self._run(lambda conn: conn.execute("INSERT INTO files VALUES ($1,$2,$3,$4)",
                                                  file_id, owner, created_at, body))

    async def get_file(self, file_id: str) -> tuple[str, str] | None:
        """(owner, body) of a file."""
        row = await self._run(lambda conn: conn.fetchrow("SELECT owner, body FROM files WHERE id=$1", file_id))
        return (row["owner"], row["body"]) if row else None

    async def list_files(self, owner: str, after: Cursor | None, limit: int) -> list[str]:
        if after:
            sql = ("SELECT body FROM files WHERE owner=$1 AND (created_at < $2 OR (created_at = $2 AND id < $3)) "
                   "ORDER BY created_at DESC, id DESC LIMIT $4")
            args = [owner, after.created_at, after.id, limit]
        else:
            sql = "SELECT body FROM files WHERE owner=$1 ORDER BY created_at DESC, id DESC LIMIT $2"
            args = [owner, limit]
        return [r[0] for r in await self._run(lambda conn: conn.fetch(sql, *args))]

    async def delete_file(self, file_id: str) -> bool:
        status = await self._run(lambda conn: conn.execute("DELETE FROM files WHERE id=$1", file_id))
        return status != "DELETE 0"

    # --- retention (jobs/retention.py): bounded batches, each one store operation

    async def inputs_to_release(self, limit: int) -> list[str]:
        rows = await self._run(lambda conn: conn.fetch(
            "SELECT prediction_id FROM terminal WHERE release_inputs LIMIT $1", limit))
        return [r[0] for r in rows]

    async def inputs_released(self, ids: list[str]) -> None:
        await self._run(lambda conn: conn.execute(
            "UPDATE terminal SET release_inputs=false WHERE prediction_id = ANY($1::text[])", ids))

    async def delete_expired(self, ended_before: float, limit: int) -> list[str]:
        """As Store.delete_expired: up to `limit` predictions ended before `ended_before`, callbacks delivered."""
        async def _delete(conn: asyncpg.Connection) -> list[str]:
            ids = [r[0] for r in await conn.fetch(
                "SELECT prediction_id FROM terminal t WHERE ended < $1 AND NOT EXISTS "
                "(SELECT 1 FROM callbacks c WHERE c.prediction_id = t.prediction_id) ORDER BY ended LIMIT $2",
                ended_before, limit)]
            if ids:
                await conn.execute("DELETE FROM predictions WHERE id = ANY($1::text[])", ids)
                for table in ("events", "element_results", "inputs", "terminal"):
                    await conn.execute(f"DELETE FROM {table} WHERE prediction_id = ANY($1::text[])", ids)
            return ids

        return await self._run(_delete)

    async def missing_predictions(self, ids: list[str]) -> set[str]:
        rows = await self._run(lambda conn: conn.fetch("SELECT id FROM predictions WHERE id = ANY($1::text[])", ids))
        return set(ids) - {r[0] for r in rows}

    async def missing_files(self, ids: list[str]) -> set[str]:
        rows = await self._run(lambda conn: conn.fetch("SELECT id FROM files WHERE id = ANY($1::text[])", ids))
        return set(ids) - {r[0] for r in rows}

    async def give_back_pages(self, pages: int) -> None:
        """Nothing to do: PostgreSQL's autovacuum reuses and returns the space of deleted rows itself."""

    # --- the callback outbox (jobs/callbacks.py)

    async def pending_callbacks(self) -> list[str]:
        """Callbacks to deliver here, oldest first: this replica's own (a restart), and those whose replica stopped
        renewing their lease; taken (locked rows skipped), so two replicas never deliver one at once."""
        rows = await self._run(lambda conn: conn.fetch(
            "UPDATE callbacks SET replica=$1, lease_until=now() + make_interval(secs => $2) WHERE prediction_id IN "
            "(SELECT prediction_id FROM callbacks WHERE replica=$1 OR lease_until < now() FOR UPDATE SKIP LOCKED) "
            "RETURNING prediction_id, queued", self.replica, self.lease_s))
        return [r[0] for r in sorted(rows, key=lambda r: r[1])]

    async def callback_attempts(self, prediction_id: str) -> int | None:
        """Delivery attempts made so far; None when no callback is queued for the prediction."""
        return await self._run(lambda conn: conn.fetchval(
            "SELECT attempts FROM callbacks WHERE prediction_id=$1", prediction_id))

    async def count_callback_attempt(self, prediction_id: str) -> None:
        await self._run(lambda conn: conn.execute(
            "UPDATE callbacks SET attempts=attempts+1 WHERE prediction_id=$1", prediction_id))

    async def callback_done(self, prediction_id: str) -> None:
        await self._run(lambda conn: conn.execute("DELETE FROM callbacks WHERE prediction_id=$1", prediction_id))
