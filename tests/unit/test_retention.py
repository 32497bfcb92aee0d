"""Retention (jobs/retention.py) on a real store and real files under tmp_path."""

from __future__ import annotations

import asyncio

import pytest

from vlmgrpc.jobs.blobs import Blobs
from vlmgrpc.jobs.model import InputRef, Kind, Prediction, Status
from vlmgrpc.jobs.records import EventType
from vlmgrpc.jobs.retention import Retention
from vlmgrpc.jobs.store import Store
from vlmgrpc.settings import Settings


@pytest.fixture
async def store(tmp_path):
    s = Store(tmp_path / "vlmgrpc.sqlite3")
    await s.open()
    yield s
    await s.close()


def _retention(tmp_path, store: Store, **settings) -> Retention:
    return Retention(Settings(data_dir=tmp_path, **settings), store, Blobs(tmp_path))


async def _submitted(store: Store, blobs: Blobs, ident: str) -> Prediction:
    """A running prediction with one input file, as a submission leaves it."""
    await blobs.write(f"inputs/{ident}/0", b"%PDF-1.7 bytes")
    pred = Prediction(id=ident, owner="alice", kind=Kind.DOCUMENT, domain="document.ocr", batch=True,
                      inputs=[InputRef(blob=f"inputs/{ident}/0", media_type="application/pdf")])
    pred, _ = await store.create(pred, then=(Status.ENQUEUED, Status.RUNNING))
    return pred


async def _end(store: Store, pred: Prediction) -> None:
    pred.response = {"text": "done"}
    pred.transition(Status.COMPLETED)
    await store.save(pred, EventType.STATUS_CHANGED)


async def test_a_sweep_releases_the_inputs_of_ended_predictions_only(tmp_path, store):
    retention = _retention(tmp_path, store)
    ended, running = await _submitted(store, retention.blobs, "ended"), await _submitted(store, retention.blobs, "run")
    await _end(store, ended)
    assert await retention.sweep() == (1, 0)
    assert not (tmp_path / "inputs" / "ended").exists()
    assert (tmp_path / "inputs" / "run" / "0").exists()
    assert (await store.get("ended")).response == {"text": "done"}  # the prediction itself is kept
    assert await retention.sweep() == (0, 0)  # released once
    assert running.status is Status.RUNNING


async def test_kept_inputs_stay_until_the_prediction_expires(tmp_path):
    store = Store(tmp_path / "vlmgrpc.sqlite3", keep_inputs=True)
    await store.open()
    try:
        retention = _retention(tmp_path, store, retention_keep_inputs=True, retention_terminal_s=0.001)
        pred = await _submitted(store, retention.blobs, "kept")
        await _end(store, pred)
        assert (tmp_path / "inputs" / "kept" / "0").exists()
        await asyncio.sleep(0.01)  # past its retention
        assert await retention.sweep() == (0, 1)
        assert not (tmp_path / "inputs" / "kept").exists()
    finally:
        await store.close()


async def test_expired_predictions_are_deleted_in_bounded_batches(tmp_path, store):
    retention = _retention(tmp_path, store, retention_terminal_s=0.001, retention_batch=3)
    calls: list[int] = []
    delete = store.delete_expired

    async def counted(ended_before: float, limit: int) -> list[str]:
        ids = await delete(ended_before, limit)
        calls.append(len(ids))
        return ids

    store.delete_expired = counted  # the real method, counted: how many each store operation deleted
    for i in range(7):
        await _end(store, await _submitted(store, retention.blobs, f"p{i}"))
    await _submitted(store, retention.blobs, "running")
    assert await retention.sweep() == (7, 7)
    assert calls == [3, 3, 1, 0]
    assert [await store.get(f"p{i}") for i in range(7)] == [None] * 7
    assert await store.get("running") is not None
    assert sorted(p.name for p in (tmp_path / "inputs").iterdir()) == ["running"]


async def test_the_orphan_sweep_removes_what_no_committed_row_refers_to(tmp_path, store):
    retention = _retention(tmp_path, store)
    blobs = retention.blobs
    await _submitted(store, blobs, "committed")
    await blobs.write("inputs/never-committed/0", b"bytes of a submission killed before its commit")
    await blobs.write("inputs/committed/1.part", b"half")
    await blobs.write("files/file-recorded", b"upload")
    await store.put_file("file-recorded", "alice", "2025-01-01T00:00:00+00:00", "{}")
    await blobs.write("files/file-unrecorded", b"renamed, then killed before put_file")
    await blobs.write("files/file-upload.part", b"an upload in progress at the crash")
    assert await retention.sweep_orphans() == 4
    assert sorted(p.name for p in (tmp_path / "inputs").iterdir()) == ["committed"]
    assert sorted(p.name for p in (tmp_path / "inputs" / "committed").iterdir()) == ["0"]
    assert sorted(p.name for p in (tmp_path / "files").iterdir()) == ["file-recorded"]
    assert await retention.sweep_orphans() == 0


async def test_the_orphan_sweep_of_an_empty_data_directory_does_nothing(tmp_path, store):
    assert await _retention(tmp_path, store).sweep_orphans() == 0
