"""Bearer-token tenants: each sees only its own predictions and files; limits per tenant;
URL inputs and callbacks refuse non-public addresses."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import TEST_SETTINGS, ServerProcess, pdf, text_png
from tests.integration.helpers import rpc_error, terminal
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import file_service_pb2 as file_pb
from vlmgrpc.api.vlm.v1 import hub_service_pb2 as hub_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc_client import Client

pytestmark = pytest.mark.integration
NOT_FOUND = grpc.StatusCode.NOT_FOUND


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    settings = {**TEST_SETTINGS, "allow_private_urls": False}
    srv = ServerProcess(tmp_path_factory.mktemp("secured"), **settings, auth_tokens="tok-a=alice,tok-b=bob",
                        max_streams_per_tenant=2).start()
    yield srv
    srv.stop()


async def test_calls_without_a_valid_token_are_refused_but_health_is_open(secured):
    async with Client(secured.target) as anonymous, Client(secured.target, token="wrong") as wrong:
        code, reason, _ = await rpc_error(anonymous.predictions.ListPredictions(ps.ListPredictionsRequest()))
        assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "MISSING_TOKEN")
        code, reason, _ = await rpc_error(wrong.hub.ListDomains(hub_pb.ListDomainsRequest()))
        assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN")
        code, reason, _ = await rpc_error(anonymous.upload(b"abc", "a.txt"))
        assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "MISSING_TOKEN")
        health = health_pb2_grpc.HealthStub(anonymous.channel)
        reply = await health.Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_tenants_cannot_reach_each_others_predictions_or_files(secured):
    async with Client(secured.target, token="tok-a") as alice, Client(secured.target, token="tok-b") as bob:
        pred = (await alice.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
            id="shared-request-id", domain="document.ocr", document=pb.DocumentInput(data=pdf(3))))).prediction
        file = await alice.upload(pdf(1), "alice.pdf", "application/pdf")
        pid = pred.id
        for call in (bob.predictions.GetPrediction(ps.GetPredictionRequest(id=pid)),
                     bob.predictions.CancelPrediction(ps.CancelPredictionRequest(id=pid)),
                     bob.predictions.PausePrediction(ps.PausePredictionRequest(id=pid)),
                     bob.predictions.ResumePrediction(ps.ResumePredictionRequest(id=pid)),
                     bob.files.GetFile(file_pb.GetFileRequest(id=file.id)),
                     bob.files.DeleteFile(file_pb.DeleteFileRequest(id=file.id)),
                     bob.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
                         domain="document.ocr", document=pb.DocumentInput(file_id=file.id)))):
            code, _, _ = await rpc_error(call)
            assert code == NOT_FOUND
        code, _, _ = await rpc_error(_drain(bob.predictions.WatchPrediction(ps.WatchPredictionRequest(id=pid))))
        assert code == NOT_FOUND
        code, _, _ = await rpc_error(_drain(bob.files.DownloadFile(file_pb.DownloadFileRequest(id=file.id))))
        assert code == NOT_FOUND
        listed = await bob.predictions.ListPredictions(ps.ListPredictionsRequest())
        assert pid not in [p.id for p in listed.predictions]
        assert file.id not in [f.id for f in (await bob.files.ListFiles(file_pb.ListFilesRequest())).files]
        # The same request id from another tenant is another prediction.
        own = (await bob.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
            id="shared-request-id", domain="document.ocr", document=pb.DocumentInput(data=pdf(1))))).prediction
        assert own.id != pid
        # Alice still has everything, untouched by Bob's attempts.
        final = await terminal(alice, pid)
        assert final.status == pb.PREDICTION_STATUS_COMPLETED
        data = b"".join([m.chunk async for m in alice.files.DownloadFile(file_pb.DownloadFileRequest(id=file.id))])
        assert len(data) == file.bytes


async def test_streams_per_tenant_are_limited(secured):
    async with Client(secured.target, token="tok-a") as alice, Client(secured.target, token="tok-b") as bob:
        pred = (await alice.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
            domain="document.ocr", document=pb.DocumentInput(data=pdf(20, scanned=True))))).prediction
        await alice.predictions.PausePrediction(ps.PausePredictionRequest(id=pred.id))  # its watches stay open
        calls = [alice.predictions.WatchPrediction(ps.WatchPredictionRequest(id=pred.id)) for _ in range(2)]
        for call in calls:
            await call.read()  # both open
        code, reason, _ = await rpc_error(_drain(alice.predictions.WatchPrediction(
            ps.WatchPredictionRequest(id=pred.id))))
        assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_STREAMS")
        bobs = (await bob.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
            domain="document.ocr", document=pb.DocumentInput(data=pdf(1))))).prediction
        assert len([e async for e in bob.predictions.WatchPrediction(ps.WatchPredictionRequest(id=bobs.id))]) >= 1
        for call in calls:
            call.cancel()
        await alice.predictions.CancelPrediction(ps.CancelPredictionRequest(id=pred.id))


@pytest.mark.parametrize("url,field,reason", [
    ("http://127.0.0.1:9/x.png", "images[0].url", "URL_NOT_ALLOWED"),
    ("http://localhost/x.png", "images[0].url", "URL_NOT_ALLOWED"),
    ("http://169.254.169.254/latest/meta-data", "images[0].url", "URL_NOT_ALLOWED"),
    ("http://[::1]/x.png", "images[0].url", "URL_NOT_ALLOWED"),
    ("http://10.1.2.3/x.png", "images[0].url", "URL_NOT_ALLOWED"),
])
async def test_url_inputs_to_non_public_addresses_are_refused(secured, url, field, reason):
    async with Client(secured.target, token="tok-a") as alice:
        code, got, violations = await rpc_error(alice.images.Generate(img_pb.ImageServiceGenerateRequest(
            domain="document.ocr", images=[pb.ImageInput(url=url)])))
        assert (code, got) == (grpc.StatusCode.INVALID_ARGUMENT, reason)
        assert field in [f for f, _ in violations]


async def test_callbacks_to_non_public_addresses_are_refused(secured):
    async with Client(secured.target, token="tok-a") as alice:
        for url in ("http://127.0.0.1:8080/hook", "http://192.168.1.10/hook", "http://localhost/hook"):
            code, reason, _ = await rpc_error(alice.images.Generate(img_pb.ImageServiceGenerateRequest(
                domain="document.ocr", callback_url=url, images=[pb.ImageInput(data=text_png(["x"]))])))
            assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "CALLBACK_URL_NOT_ALLOWED")


async def _drain(stream):
    async for _ in stream:
        pass
