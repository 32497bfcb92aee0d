"""The service on PostgreSQL (database_url) instead of its embedded SQLite: the real server, the real embedded
Triton and a real PostgreSQL (tests/pg_server.py), each test on a database of its own."""

from __future__ import annotations

import signal
import uuid

import asyncpg
import pytest

from tests.conftest import TEST_SETTINGS, ServerProcess, pdf
from tests.integration.helpers import status_name, terminal, wait_for, watch_all
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc_client import Client

pytestmark = pytest.mark.integration


async def _fresh_database(server_url: str) -> str:
    """A new, empty database on the test server; its URL."""
    name = "svc_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server_url.rsplit("/", 1)[0] + "/" + name


async def _rows(url: str, sql: str) -> list:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def _submit(client: Client, document: bytes, request_id: str = "") -> pb.Prediction:
    return (await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
        id=request_id, domain="document.ocr", document=pb.DocumentInput(data=document), batch=True))).prediction


def _check_history(events: list[pb.PredictionEvent], pages: int) -> None:
    """One history, whole: sequences 1..n with no gap or repeat, every page counted once, one COMPLETED."""
    sequences = [e.sequence for e in events]
    assert sequences == list(range(1, len(events) + 1)), sequences
    completed = [e for e in events if e.type == pb.PREDICTION_EVENT_TYPE_STATUS_CHANGED
                 and status_name(e.prediction.status) == "completed"]
    assert len(completed) == 1
    final = completed[0].prediction
    assert final.progress.done == final.progress.total == pages
    done = [e.prediction.progress.done for e in events if e.type == pb.PREDICTION_EVENT_TYPE_PROGRESS]
    assert done == sorted(done) and len(done) == len(set(done)), done  # no page counted twice


async def test_a_prediction_lives_in_postgresql_and_outlives_a_kill(postgres_url, tmp_path):
    url = await _fresh_database(postgres_url)
    srv = ServerProcess(tmp_path / "data", **TEST_SETTINGS, database_url=url).start()
    try:
        async with Client(srv.target) as client:
            small_doc = pdf(2)
            small = await _submit(client, small_doc, request_id="req-small")
            assert status_name((await terminal(client, small.id)).status) == "completed"
            _check_history(await watch_all(client, small.id, after=0), 2)

            pages = 30
            big = await _submit(client, pdf(pages, scanned=True))
            await wait_for(client, big.id, lambda p: p.progress.done >= 2)
        srv.stop(signal.SIGKILL)
        [row] = await _rows(url, f"SELECT status, body::jsonb->>'done' AS done FROM predictions "
                                 f"WHERE id='{big.id}'")
        assert row["status"] == "running" and 2 <= int(row["done"]) < pages, dict(row)  # killed mid-document
        srv.start()  # the same database: what was accepted is there, and the document is taken up again
        async with Client(srv.target) as client:
            again = await _submit(client, small_doc, request_id="req-small")
            assert again.id == small.id  # the request id is known to the database, not to a process
            assert status_name((await terminal(client, big.id)).status) == "completed"
            _check_history(await watch_all(client, big.id, after=0), pages)
            listed = await client.predictions.ListPredictions(ps.ListPredictionsRequest())
            assert {p.id for p in listed.predictions} == {small.id, big.id}
    finally:
        srv.stop()
    assert not (tmp_path / "data" / "vlmgrpc.sqlite3").exists()  # nothing went to the embedded store
    rows = await _rows(url, "SELECT id, status FROM predictions ORDER BY id")
    assert sorted((r["id"], r["status"]) for r in rows) == sorted([(small.id, "completed"), (big.id, "completed")])


async def test_a_second_process_under_the_same_replica_id_is_refused(postgres_url, tmp_path):
    """Two processes under one replica id would both take its claims for theirs: the second is refused with a
    reason, and the first is unharmed (replicas each have their own id: test_replicas.py)."""
    url = await _fresh_database(postgres_url)
    first = ServerProcess(tmp_path / "a", **TEST_SETTINGS, database_url=url, replica_id="one").start()
    try:
        second = ServerProcess(tmp_path / "b", **TEST_SETTINGS, database_url=url, replica_id="one")
        with pytest.raises(RuntimeError, match="another process is replica 'one' on this database"):
            second.start()
        async with Client(first.target) as client:
            pred = await _submit(client, pdf(1))
            assert status_name((await terminal(client, pred.id)).status) == "completed"
    finally:
        first.stop()
