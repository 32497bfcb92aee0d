"""Three replicas on one PostgreSQL (tests/pg_server.py) and one embedded Triton: replica a starts it, b and c
use it through triton_url. They share the blob directory (inputs and uploads), each has its own data directory.
Every replica sees every prediction; changes are made where the prediction is held; a killed replica's work is
taken over."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import TEST_SETTINGS, ServerProcess, pdf
from tests.integration.helpers import status_name, terminal, wait_for, watch_all
from tests.integration.test_postgres import _check_history, _fresh_database, _rows, _submit
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc_client import Client

pytestmark = pytest.mark.integration
LEASE_S = 2.0
# One page at a time, so a document is still running when a test acts on it.
REPLICA_SETTINGS = {**TEST_SETTINGS, "claim_lease_s": LEASE_S, "pages_in_flight": 1}


class Trio:
    def __init__(self, url: str, servers: dict[str, ServerProcess]):
        self.url = url
        self.servers = servers

    def client(self, name: str) -> Client:
        return Client(self.servers[name].target)

    async def holder(self, prediction_id: str) -> str | None:
        rows = await _rows(self.url, f"SELECT replica FROM claims WHERE prediction_id='{prediction_id}'")
        return rows[0]["replica"] if rows else None


@pytest.fixture(scope="module")
def trio(tmp_path_factory):
    base = tmp_path_factory.mktemp("replicas")
    server_url = _server_url()
    url = asyncio.run(_fresh_database(server_url))
    shared = base / "shared"
    # a has one worker: what it accepts while busy waits in its queue, for b and c to take (the shared queue).
    servers = {"a": _replica(base / "a", shared, database_url=url, replica_id="a", workers=1).start()}
    triton = re.findall(r"\(Triton (\S+), models", servers["a"].log.read_text())[-1]
    for name in ("b", "c"):
        servers[name] = _replica(base / name, shared, database_url=url, replica_id=name, triton_url=triton).start()
    yield Trio(url, servers)
    for name in ("c", "b", "a"):  # a last: the others use its Triton
        if servers[name].proc and servers[name].proc.poll() is None:
            servers[name].stop()


def _replica(own: Path, shared: Path, **settings: object) -> ServerProcess:
    """A replica with its own data directory (and log), on the shared blob directory."""
    return ServerProcess(own, **REPLICA_SETTINGS, blob_dir=shared, **settings)


def _server_url() -> str:
    from tests import pg_server

    return pg_server.shared().url


def _summary(events: list[pb.PredictionEvent]) -> list[tuple]:
    return [(e.sequence, e.type, e.prediction.status, e.prediction.progress.done) for e in events]


async def test_submitted_on_one_replica_watched_on_the_others_with_the_same_events(trio):
    async with trio.client("a") as a, trio.client("b") as b, trio.client("c") as c:
        pages = 8
        pred = await _submit(a, pdf(pages, scanned=True))
        on_b, on_c = await asyncio.gather(watch_all(b, pred.id, after=0), watch_all(c, pred.id, after=0))
        on_a = await watch_all(a, pred.id, after=0)
    _check_history(on_b, pages)
    assert _summary(on_b) == _summary(on_c) == _summary(on_a)  # in order, no gap, the same on every replica
    assert on_b[-1].prediction.response == on_a[-1].prediction.response


async def test_pause_on_b_resume_on_c_cancel_on_a_each_where_the_job_runs(trio):
    async with trio.client("a") as a, trio.client("b") as b, trio.client("c") as c:
        pages = 40
        pred = await _submit(a, pdf(pages, scanned=True))
        watching = asyncio.create_task(watch_all(b, pred.id, after=0))
        await wait_for(a, pred.id, lambda p: p.progress.done >= 1)
        assert await trio.holder(pred.id) == "a"

        paused = (await b.predictions.PausePrediction(ps.PausePredictionRequest(id=pred.id))).prediction
        assert status_name(paused.status) == "paused"  # answered once a had stopped it
        assert await trio.holder(pred.id) is None
        await asyncio.sleep(0.5)
        still = (await c.predictions.GetPrediction(ps.GetPredictionRequest(id=pred.id))).prediction
        assert still.progress.done == paused.progress.done < pages  # nothing runs while paused

        resumed = (await c.predictions.ResumePrediction(ps.ResumePredictionRequest(id=pred.id))).prediction
        assert status_name(resumed.status) in ("enqueued", "running")
        await wait_for(b, pred.id, lambda p: p.progress.done > paused.progress.done)
        assert await trio.holder(pred.id) == "c"  # runs where it was resumed

        cancelled = (await a.predictions.CancelPrediction(ps.CancelPredictionRequest(id=pred.id))).prediction
        assert status_name(cancelled.status) == "failed" and cancelled.progress.done < pages
        events = await watching
    sequences = [e.sequence for e in events]
    assert sequences == list(range(1, len(events) + 1))
    statuses = [status_name(e.prediction.status) for e in events if e.type == pb.PREDICTION_EVENT_TYPE_STATUS_CHANGED]
    assert statuses[-1] == "failed" and "paused" in statuses
    done = [e.prediction.progress.done for e in events if e.type == pb.PREDICTION_EVENT_TYPE_PROGRESS]
    assert done == sorted(done) and len(done) == len(set(done))  # no page counted twice
    assert await trio.holder(pred.id) is None


async def test_the_same_request_id_on_two_replicas_at_once_makes_one_prediction(trio):
    async with trio.client("a") as a, trio.client("b") as b:
        document = pdf(1)
        made = await asyncio.gather(*[_submit(client, document, request_id="req-twice")
                                      for client in (a, b, a, b)])
        assert len({p.id for p in made}) == 1
        assert status_name((await terminal(b, made[0].id)).status) == "completed"
    rows = await _rows(trio.url, "SELECT id FROM predictions WHERE request_id='req-twice'")
    assert len(rows) == 1


async def test_work_queued_on_a_busy_replica_is_taken_by_idle_ones(trio):
    pages = 6
    async with trio.client("a") as a:
        preds = [await _submit(a, pdf(pages, scanned=True)) for _ in range(4)]  # a runs one; three wait there
        held: dict[str, set[str]] = {p.id: set() for p in preds}
        finals = []
        for pred in preds:
            while True:
                for other in preds:
                    if holder := await trio.holder(other.id):
                        held[other.id].add(holder)
                current = (await a.predictions.GetPrediction(ps.GetPredictionRequest(id=pred.id))).prediction
                if status_name(current.status) in ("completed", "failed"):
                    finals.append(current)
                    break
                await asyncio.sleep(0.05)
        histories = [await watch_all(a, p.id, after=0) for p in preds]
    assert [status_name(p.status) for p in finals] == ["completed"] * 4
    assert held[preds[0].id] == {"a"}
    assert set().union(*held.values()) - {"a"}, held  # queued work went to the idle replicas
    for events in histories:
        _check_history(events, pages)  # wherever it ran: one history, every page once


async def test_a_killed_replica_s_document_is_finished_by_another_with_every_page_once(trio):
    pages = 20
    async with trio.client("b") as b:
        pred = await _submit(b, pdf(pages, scanned=True))  # b is idle: it runs it
    async with trio.client("a") as a, trio.client("c") as c:
        watchers = [asyncio.create_task(watch_all(client, pred.id, after=0)) for client in (a, c)]
        await wait_for(a, pred.id, lambda p: p.progress.done >= 2)
        assert await trio.holder(pred.id) == "b"
        trio.servers["b"].stop(signal.SIGKILL)
        [row] = await _rows(trio.url, f"SELECT status, body::jsonb->>'done' AS done FROM predictions "
                                      f"WHERE id='{pred.id}'")
        assert row["status"] == "running" and int(row["done"]) < pages, dict(row)  # killed mid-document
        final = await terminal(c, pred.id, timeout_s=60)
        assert status_name(final.status) == "completed"
        on_a, on_c = await asyncio.gather(*watchers)
        stored = await watch_all(a, pred.id, after=0)
    for events in (on_a, on_c):
        _check_history(events, pages)  # no gap across the takeover, each page once, one COMPLETED
        assert _summary(events) == _summary(stored)
    taken = [e for e in on_a if "taken over" in e.prediction.message]
    assert taken, [e.prediction.message for e in on_a]
    pages_answered = await _rows(trio.url, f"SELECT count(*) AS n FROM events WHERE prediction_id='{pred.id}' "
                                           "AND type='progress'")
    assert pages_answered[0]["n"] == pages
    conn = await asyncpg.connect(trio.url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM claims WHERE replica='b'") == 0
    finally:
        await conn.close()
