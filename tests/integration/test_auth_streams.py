"""With auth_tokens set: every streaming RPC needs a token too (server streams, not only unary calls and uploads),
while health (Check and Watch) and reflection stay open."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.conftest import TEST_SETTINGS, ServerProcess, pdf, text_png
from tests.integration.helpers import rpc_error
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import file_service_pb2 as file_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc_client import Client

pytestmark = pytest.mark.integration
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("auth-streams"), **TEST_SETTINGS, auth_tokens="tok-a=alice").start()
    yield srv
    srv.stop()


async def _drain(stream) -> None:
    async for _ in stream:
        pass


async def test_streaming_rpcs_need_a_token(secured):
    async with Client(secured.target, token="tok-a") as alice:
        pred = (await alice.images.Generate(img_pb.ImageServiceGenerateRequest(
            domain="document.ocr", batch=True, images=[pb.ImageInput(data=text_png(["mine"]))]))).prediction
        file = await alice.upload(pdf(1), "a.pdf", "application/pdf")
    async with Client(secured.target) as anonymous, Client(secured.target, token="wrong") as wrong:
        for caller, expected in ((anonymous, "MISSING_TOKEN"), (wrong, "INVALID_TOKEN")):
            streams = {
                "WatchPrediction": caller.predictions.WatchPrediction(ps.WatchPredictionRequest(id=pred.id)),
                "ImageService.GenerateStream": caller.images.GenerateStream(img_pb.ImageServiceGenerateRequest(
                    domain="document.ocr", images=[pb.ImageInput(data=text_png(["x"]))])),
                "DocumentService.GenerateStream": caller.documents.GenerateStream(
                    doc_pb.DocumentServiceGenerateRequest(domain="document.ocr",
                                                          document=pb.DocumentInput(data=pdf(1)))),
                "DownloadFile": caller.files.DownloadFile(file_pb.DownloadFileRequest(id=file.id)),
            }
            for name, stream in streams.items():
                code, reason, _ = await rpc_error(_drain(stream))
                assert (code, reason) == (UNAUTHENTICATED, expected), name


async def test_health_and_reflection_are_open_without_a_token(secured):
    async with Client(secured.target) as anonymous:
        health = health_pb2_grpc.HealthStub(anonymous.channel)
        reply = await health.Check(health_pb2.HealthCheckRequest(service="vlm.v1.PredictionService"))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        watch = health.Watch(health_pb2.HealthCheckRequest())  # the streaming health RPC too
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
        reflection = reflection_pb2_grpc.ServerReflectionStub(anonymous.channel)
        replies = [r async for r in reflection.ServerReflectionInfo(iter([
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="vlm.v1.PredictionService")]))]
        names = {s.name for s in replies[0].list_services_response.service}
        assert {"vlm.v1.PredictionService", "grpc.health.v1.Health"} <= names
        assert replies[1].file_descriptor_response.file_descriptor_proto  # descriptors served, not refused
