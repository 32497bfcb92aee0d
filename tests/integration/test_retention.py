"""Retention against the real server: inputs released at the end, predictions kept for retention_terminal_s
then NOT_FOUND (get, watch with a resume point), what a crash left removed at start-up; the list view."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import grpc
import pytest
from google.protobuf import json_format

from tests.conftest import TEST_SETTINGS, ServerProcess, pdf, text_png
from tests.integration.helpers import rpc_error, terminal, watch_all
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc_client import AsyncVLMClient, Client, errors

pytestmark = pytest.mark.integration
KEPT_S = 3.0


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory):
    """A server that keeps ended predictions for KEPT_S seconds, and left-overs of a crash in its data
    directory before it starts."""
    data = tmp_path_factory.mktemp("retention")
    (data / "inputs" / "never-committed").mkdir(parents=True)
    (data / "inputs" / "never-committed" / "0").write_bytes(b"a submission killed before its commit")
    (data / "files").mkdir()
    (data / "files" / "file-unrecorded").write_bytes(b"an upload renamed, then killed before its record")
    (data / "files" / "file-x.part").write_bytes(b"an upload in progress at the crash")
    crash = time.time() - 2 * 86400  # long ago: with a shared store, only entries a day old count as orphans
    for path in [*(data / "inputs").iterdir(), *(data / "files").iterdir()]:
        os.utime(path, (crash, crash))
    (data / "inputs" / "in-flight").mkdir()  # young: another replica's submission, not committed yet
    srv = ServerProcess(data, **TEST_SETTINGS, retention_terminal_s=KEPT_S, retention_sweep_s=0.3).start()
    yield srv
    srv.stop()


async def _until(condition, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_what_a_crash_left_is_removed_at_start_up(short_lived):
    data = short_lived.data_dir
    assert not (data / "inputs" / "never-committed").exists()
    assert sorted(p.name for p in (data / "files").iterdir()) == []
    # One process on its own store removes every orphan; replicas on a shared one leave the young alone.
    assert (data / "inputs" / "in-flight").exists() is (os.environ.get("VLM_TEST_STORE") == "postgres")


async def test_an_ended_prediction_is_kept_for_its_retention_then_not_found(short_lived):
    data = short_lived.data_dir
    async with Client(short_lived.target) as client:
        reply = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
            domain="document.ocr", document=pb.DocumentInput(data=pdf(2)), batch=True))
        pred_id = reply.prediction.id  # a document is kept under inputs/<id> while it runs
        ended = await terminal(client, pred_id)
        assert ended.status == pb.PREDICTION_STATUS_COMPLETED

        async def released() -> bool:
            return not (data / "inputs" / pred_id).exists()

        await _until(released, KEPT_S)  # inputs go at the next sweep, well before the prediction
        # Still there: get, and a watch resumed from any point (the terminal event with its response).
        got = (await client.predictions.GetPrediction(ps.GetPredictionRequest(id=pred_id))).prediction
        assert "Body line number 2" in json_format.MessageToDict(got.response)["text"]
        events = await watch_all(client, pred_id, after=1)
        assert [e.sequence for e in events] == list(range(2, 2 + len(events)))
        assert events[-1].prediction.status == pb.PREDICTION_STATUS_COMPLETED
        assert "Body line number 2" in json_format.MessageToDict(events[-1].prediction.response)["text"]

        async def gone() -> bool:
            try:
                await client.predictions.GetPrediction(ps.GetPredictionRequest(id=pred_id))
            except grpc.aio.AioRpcError as err:
                assert err.code() == grpc.StatusCode.NOT_FOUND
                return True
            return False

        await _until(gone, KEPT_S + 10)
        code, _, _ = await rpc_error(watch_all(client, pred_id, after=2))
        assert code == grpc.StatusCode.NOT_FOUND
        listed = await client.predictions.ListPredictions(ps.ListPredictionsRequest(page_size=1000))
        assert pred_id not in [p.id for p in listed.predictions]


async def test_list_leaves_responses_out_unless_the_full_view_is_asked(server):
    async with Client(server.target) as client:
        reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
            domain="document.ocr", images=[pb.ImageInput(data=text_png(["Listed text"]))], batch=False), timeout=120)
        assert reply.prediction.status == pb.PREDICTION_STATUS_COMPLETED
        pred_id = reply.prediction.id
        for view in (ps.PREDICTION_VIEW_UNSPECIFIED, ps.PREDICTION_VIEW_BASIC):
            page = await client.predictions.ListPredictions(ps.ListPredictionsRequest(page_size=1000, view=view))
            [listed] = [p for p in page.predictions if p.id == pred_id]
            assert not listed.HasField("response")
            assert listed.status == pb.PREDICTION_STATUS_COMPLETED and listed.progress.done == 1
            assert listed.usage.elements_processed == 1
        page = await client.predictions.ListPredictions(ps.ListPredictionsRequest(
            page_size=1000, view=ps.PREDICTION_VIEW_FULL))
        [listed] = [p for p in page.predictions if p.id == pred_id]
        assert "Listed text" in json_format.MessageToDict(listed.response)["text"]
        code, reason, _ = await rpc_error(client.predictions.ListPredictions(ps.ListPredictionsRequest(view=7)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and reason == "INVALID_VIEW"


async def test_the_python_client_and_vlmctl_list_basic_by_default_and_full_on_request(server, tmp_path):
    async with AsyncVLMClient(server.target, timeout=60) as client:
        done = await client.image.generate(images=[text_png(["Client listed"])], domain="document.ocr")
        assert done.status == "completed"
        basic = [p for p in await client.predictions.list(page_size=1000) if p.id == done.id]
        full = [p for p in await client.predictions.list(page_size=1000, view="full") if p.id == done.id]
        assert basic[0].response is None and basic[0].status == "completed"
        assert "Client listed" in full[0].response["text"]
        with pytest.raises(errors.InputError):
            await client.predictions.list(view="everything")
    cli = [sys.executable, "-m", "vlmgrpc_client", "--target", server.target, "list", "--json", "--limit", "1000"]
    basic_out = json.loads(subprocess.run(cli, capture_output=True, check=True, timeout=60).stdout)
    full_out = json.loads(subprocess.run([*cli, "--full"], capture_output=True, check=True, timeout=60).stdout)
    [basic_cli] = [p for p in basic_out["predictions"] if p["id"] == done.id]
    [full_cli] = [p for p in full_out["predictions"] if p["id"] == done.id]
    assert basic_cli["response"] is None and "Client listed" in full_cli["response"]["text"]
