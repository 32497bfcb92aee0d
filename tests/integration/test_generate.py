"""End to end through the real server and the real embedded Triton: submit, watch, read results."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.conftest import pdf, text_png
from tests.integration.helpers import rpc_error, status_name, terminal, watch_all
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import file_service_pb2 as file_pb
from vlmgrpc.api.vlm.v1 import hub_service_pb2 as hub_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc_client import Client

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(server):
    async with Client(server.target) as c:
        yield c


def response(pred: pb.Prediction) -> dict:
    return json_format.MessageToDict(pred.response)


async def test_image_with_printed_text_completes_with_that_text(client):
    image = text_png(["Invoice number 12345", "Total due 98.50 EUR"])
    reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="document.ocr", images=[pb.ImageInput(data=image)]), timeout=120)
    pred = reply.prediction
    assert status_name(pred.status) == "completed", pred.error.message
    text = response(pred)["text"]
    assert "Invoice number 12345" in text
    assert "Total due 98.50 EUR" in text
    line = response(pred)["pages"][0]["lines"][0]
    assert 0.0 <= line["confidence"] <= 1.0 and all(0.0 <= v <= 1.0 for v in line["bbox"]["xywh"])
    assert pred.usage.elements_processed == 1 and pred.usage.element_type == "image"
    assert pred.usage.credits_used == 1
    assert pred.completed_at.seconds >= pred.created_at.seconds


async def test_markdown_of_a_pdf_in_reading_order(client):
    reply = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
        domain="document.markdown", document=pb.DocumentInput(data=pdf(2)), batch=False), timeout=120)
    pred = reply.prediction
    assert status_name(pred.status) == "completed", pred.error.message
    pages = response(pred)["pages"]
    assert [p["page_index"] for p in pages] == [0, 1]
    content = pages[1]["content"]
    assert content.index("Page 2 heading") < content.index("Body line number 2")
    assert pred.usage.element_type == "page" and pred.usage.elements_processed == 2


async def test_batch_pdf_watched_from_submission_sees_every_transition_and_resumes_without_gap(client):
    reply = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
        domain="document.ocr", document=pb.DocumentInput(data=pdf(4))))  # documents default to batch
    pred = reply.prediction
    assert status_name(pred.status) in ("pending", "enqueued", "running")  # answered at once
    events = await watch_all(client, pred.id, after=0)
    sequences = [e.sequence for e in events]
    assert sequences == list(range(1, len(events) + 1)), sequences
    statuses = [status_name(e.prediction.status) for e in events]
    changes = [s for i, s in enumerate(statuses) if i == 0 or s != statuses[i - 1]]
    assert changes == ["pending", "enqueued", "running", "completed"], statuses
    progress = [e.prediction.progress.done for e in events if e.type == pb.PREDICTION_EVENT_TYPE_PROGRESS]
    assert progress == [1, 2, 3, 4]
    assert all(e.prediction.progress.total == 4 for e in events)
    final = events[-1].prediction
    assert "Page 4 heading" in response(final)["text"]
    # Resume from the middle: exactly the events after it, the same ones.
    middle = sequences[len(sequences) // 2]
    resumed = await watch_all(client, pred.id, after=middle)
    assert [e.sequence for e in resumed] == sequences[middle:]
    assert [e.prediction.status for e in resumed] == [e.prediction.status for e in events[middle:]]
    # A fresh watch of a finished prediction: one snapshot, then the stream closes OK.
    snapshot = await watch_all(client, pred.id)
    assert len(snapshot) == 1 and snapshot[0].type == pb.PREDICTION_EVENT_TYPE_SNAPSHOT
    assert snapshot[0].sequence == sequences[-1]


async def test_generate_stream_ends_after_the_terminal_event(client):
    request = img_pb.ImageServiceGenerateStreamRequest(domain="document.ocr",
                                                       images=[pb.ImageInput(data=text_png(["Streaming works"]))])
    events = [m.event async for m in client.images.GenerateStream(request, timeout=120)]
    assert status_name(events[0].prediction.status) == "pending"
    assert status_name(events[-1].prediction.status) == "completed"
    assert "Streaming works" in response(events[-1].prediction)["text"]


async def test_heartbeats_while_idle(client):
    reply = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
        domain="document.ocr", document=pb.DocumentInput(data=pdf(20, scanned=True))))  # ~1 s of OCR
    pred_id = reply.prediction.id
    paused = await client.predictions.PausePrediction(ps.PausePredictionRequest(id=pred_id))
    assert status_name(paused.prediction.status) == "paused"
    call = client.predictions.WatchPrediction(ps.WatchPredictionRequest(id=pred_id), timeout=30)
    first = (await call.read()).event
    second = (await call.read()).event
    assert first.type == pb.PREDICTION_EVENT_TYPE_SNAPSHOT
    assert second.type == pb.PREDICTION_EVENT_TYPE_HEARTBEAT and second.sequence == first.sequence
    call.cancel()
    await client.predictions.ResumePrediction(ps.ResumePredictionRequest(id=pred_id))
    assert status_name((await terminal(client, pred_id)).status) == "completed"


async def test_idempotent_resubmission_returns_the_same_prediction(client):
    request = img_pb.ImageServiceGenerateRequest(id="req-idem-1", domain="document.ocr", batch=True,
                                                 images=[pb.ImageInput(data=text_png(["Only once"]))])
    first = (await client.images.Generate(request)).prediction
    second = (await client.images.Generate(request)).prediction
    assert first.id == second.id and first.request_id == "req-idem-1"
    await terminal(client, first.id)
    listed = await client.predictions.ListPredictions(ps.ListPredictionsRequest(page_size=1000))
    assert sum(p.request_id == "req-idem-1" for p in listed.predictions) == 1
    other = img_pb.ImageServiceGenerateRequest(id="req-idem-1", domain="document.ocr", batch=True,
                                               images=[pb.ImageInput(data=text_png(["Something else"]))])
    code, reason, _ = await rpc_error(client.images.Generate(other))
    assert code == grpc.StatusCode.ALREADY_EXISTS and reason == "REQUEST_ID_REUSED"


async def test_upload_then_generate_by_file_id(client):
    data = pdf(2)
    uploaded = await client.upload(data, "two-pages.pdf", "application/pdf", chunk_size=1000)
    assert uploaded.bytes == len(data) and uploaded.detected_type == "application/pdf"
    fetched = (await client.files.GetFile(file_pb.GetFileRequest(id=uploaded.id))).file
    assert fetched.sha256 == uploaded.sha256
    reply = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
        domain="document.ocr", document=pb.DocumentInput(file_id=uploaded.id), batch=False), timeout=120)
    assert status_name(reply.prediction.status) == "completed"
    assert "Body line number 2" in response(reply.prediction)["text"]


async def test_list_predictions_pages_without_gaps(client):
    for i in range(3):
        await client.images.Generate(img_pb.ImageServiceGenerateRequest(
            domain="document.ocr", batch=True, images=[pb.ImageInput(data=text_png([f"List {i}"]))]))
    everything = (await client.predictions.ListPredictions(ps.ListPredictionsRequest(page_size=1000))).predictions
    seen, token = [], ""
    while True:
        page = await client.predictions.ListPredictions(ps.ListPredictionsRequest(page_size=2, page_token=token))
        seen += [p.id for p in page.predictions]
        token = page.next_page_token
        if not token:
            break
    assert seen == [p.id for p in everything]
    code, reason, _ = await rpc_error(client.predictions.ListPredictions(
        ps.ListPredictionsRequest(page_size=2, page_token="not-a-token")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and reason == "INVALID_PAGE_TOKEN"


async def test_health_reflection_and_hub(client, server):
    health = health_pb2_grpc.HealthStub(client.channel)
    for service in ("", "vlm.v1.ImageService"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(client.channel)
    replies = [r async for r in stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(
        list_services="")]))]
    names = {s.name for s in replies[0].list_services_response.service}
    assert {"vlm.v1.ImageService", "vlm.v1.DocumentService", "vlm.v1.PredictionService", "vlm.v1.FileService",
            "vlm.v1.HubService", "grpc.health.v1.Health"} <= names
    domains = (await client.hub.ListDomains(hub_pb.ListDomainsRequest(served_only=True))).domains
    served = {d.domain for d in domains}
    assert {"document.ocr", "document.markdown", "document.invoice", "document.presentation",
            "image.object-detection", "image.person-detection"} <= served
    assert "image.caption" not in served  # no captioning model on CPU
    schema = await client.hub.GetSchema(hub_pb.GetSchemaRequest(domain="document.invoice"))
    assert "properties" in json_format.MessageToDict(schema.json_schema) and len(schema.schema_hash) == 8
