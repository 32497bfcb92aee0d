"""Vision-language models through the whole service: tiny randomly initialised LLaVA and Idefics3 checkpoints
built offline, served by the transformers engine in the real embedded Triton, plus the same LLaVA behind a
model that speaks Triton's vLLM-backend tensor contract. Random weights, constrained decoding: every answer
must validate against the schema the service publishes (or the request's own)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from pathlib import Path

import grpc
import jsonschema
import pytest
from google.protobuf import struct_pb2

from tests.conftest import TEST_SETTINGS, ServerProcess, pdf, text_png
from tests.integration.helpers import published_schema, status_name, terminal
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import hub_service_pb2 as hub_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import model_service_pb2 as model_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc_client import Client, error_reason, response

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_MODEL = ROOT / "tests" / "triton_models" / "vllm_contract"
FAMILIES = ("llava", "idefics3")


def _model_folder(repo: Path, name: str, source: Path) -> None:
    """A model folder named `name` running `source`'s model.py (Triton names a model after its folder)."""
    folder = repo / name
    folder.mkdir(parents=True)
    (folder / "1").symlink_to(source / "1")
    shutil.copy(source / "config.pbtxt", folder / "config.pbtxt")


@pytest.fixture(scope="module")
def vlm_server(tmp_path_factory):
    from vlm_engines.testing import tiny

    root = tmp_path_factory.mktemp("vlm")
    checkpoints = {family: tiny.build(family, root / "checkpoints" / family) for family in FAMILIES}
    repo = root / "repo"
    _model_folder(repo, "ocr", ROOT / "triton_models" / "ocr")
    for family in FAMILIES:
        _model_folder(repo, family, ROOT / "triton_models" / "transformers")
    _model_folder(repo, "vllm_llava", CONTRACT_MODEL)
    params = {"max_new_tokens": "100000", "device": "cpu"}
    models = [{"name": "ocr"},
              *({"name": f, "params": {**params, "model_path": str(checkpoints[f])}} for f in FAMILIES),
              {"name": "vllm_llava", "protocol": "vllm", "tokenizer_path": str(checkpoints["llava"]),
               "params": {**params, "model_path": str(checkpoints["llava"])}}]
    srv = ServerProcess(root / "server", **TEST_SETTINGS, model_repository=repo, models=json.dumps(models),
                        workers=4).start(timeout_s=240)
    yield srv
    srv.stop()


@pytest.fixture
async def client(vlm_server):
    async with Client(vlm_server.target) as c:
        yield c


def _struct(value: dict) -> struct_pb2.Struct:
    msg = struct_pb2.Struct()
    msg.update(value)
    return msg


async def test_models_are_listed_with_what_they_serve(client):
    models = {m.id: m for m in (await client.models.ListModels(model_pb.ListModelsRequest())).models}
    assert set(models) == {"ocr", *FAMILIES, "vllm_llava"}
    for name in (*FAMILIES, "vllm_llava"):
        assert models[name].ready and models[name].follows_json_schema
        assert "document.invoice" in models[name].domains and "image.caption" in models[name].domains
    assert models["vllm_llava"].protocol == "vllm" and models["llava"].engine == "transformers"
    domains = {d.domain: d for d in (await client.hub.ListDomains(hub_pb.ListDomainsRequest())).domains}
    assert list(domains["document.ocr"].models)[0] == "ocr"  # the OCR engine first: settings order
    assert list(domains["document.invoice"].models) == ["ocr", *FAMILIES, "vllm_llava"]  # the CPU extractor too


@pytest.mark.parametrize("model", [*FAMILIES, "vllm_llava"])
async def test_invoice_of_a_two_page_pdf_validates(client, model):
    reply = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
        domain="document.invoice", model=model, document=pb.DocumentInput(data=pdf(2)), batch=False,
        config=pb.GenerationConfig(max_tokens=400)), timeout=240)
    pred = reply.prediction
    assert status_name(pred.status) == "completed", pred.error.message
    assert pred.model == model
    jsonschema.validate(response(pred), await published_schema(client, "document.invoice"),
                        format_checker=jsonschema.FormatChecker())
    assert (pred.usage.elements_processed, pred.usage.element_type) == (2, "page")
    assert pred.usage.steps >= 1 and pred.progress.done == 2


async def test_image_caption_goes_to_the_first_vlm_and_validates(client):
    reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="image.caption", images=[pb.ImageInput(data=text_png(["A red bicycle"]))],
        config=pb.GenerationConfig(max_tokens=300, prompt="Describe the picture.")), timeout=240)
    pred = reply.prediction
    assert status_name(pred.status) == "completed", pred.error.message
    assert pred.model == "llava"
    jsonschema.validate(response(pred), await published_schema(client, "image.caption"))


async def test_a_request_with_its_own_json_schema_is_answered_and_validated_against_it(client):
    schema = {"type": "object", "properties": {
        "total": {"type": "number", "description": "the amount due"},
        "currency": {"type": "string", "enum": ["EUR", "USD"]},
        "lines": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"},
                                                                                "qty": {"type": "integer"}},
                                              "required": ["sku", "qty"]}, "maxItems": 3}},
        "required": ["total", "currency", "lines"]}
    reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="document.ocr", images=[pb.ImageInput(data=text_png(["Total 12.00 EUR"]))],
        config=pb.GenerationConfig(json_schema=_struct(schema), max_tokens=300)), timeout=240)
    pred = reply.prediction
    assert status_name(pred.status) == "completed", pred.error.message
    assert pred.model == "llava"  # the OCR engine cannot follow a custom schema: the first VLM can
    answer = response(pred)
    jsonschema.validate(answer, schema)
    assert isinstance(answer["lines"], list)


async def test_an_answer_that_breaks_the_schema_is_retried_then_fails_with_the_reason(client):
    # xgrammar cannot enforce a multipleOf above 1024 (it warns and ignores it), so the constrained
    # answer is a well-formed integer >= 1 that the service's own validation refuses.
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1, "multipleOf": 7919}},
              "required": ["n"]}
    reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="image.caption", images=[pb.ImageInput(data=text_png(["7"]))],
        config=pb.GenerationConfig(json_schema=_struct(schema), max_retries=1, max_tokens=40)), timeout=240)
    pred = reply.prediction
    assert status_name(pred.status) == "failed"
    assert pred.error.code == grpc.StatusCode.INTERNAL.value[0]
    assert pred.error.message.startswith("SCHEMA_VALIDATION_FAILED: ")
    assert "multiple of 7919" in pred.error.message and "2 time(s)" in pred.error.message
    assert pred.usage.steps == 2  # the first answer and one retry
    assert pred.response.WhichOneof("kind") is None  # no answer that breaks the schema is returned


async def test_deltas_stream_in_order_before_completed(client):
    events = [msg.event async for msg in client.documents.GenerateStream(doc_pb.DocumentServiceGenerateStreamRequest(
        domain="document.invoice", model="idefics3", document=pb.DocumentInput(data=pdf(1)),
        config=pb.GenerationConfig(max_tokens=300)), timeout=240)]
    deltas = [e for e in events if e.type == pb.PREDICTION_EVENT_TYPE_OUTPUT_DELTA]
    assert deltas, "no output delta arrived"
    final = events[-1]
    assert status_name(final.prediction.status) == "completed", final.prediction.error.message
    assert events.index(deltas[-1]) < len(events) - 1  # every delta before the terminal event
    offset = 0
    for event in deltas:
        assert event.output_delta.offset == offset and event.output_delta.element_index == 0
        offset += len(event.output_delta.text)
    text = "".join(e.output_delta.text for e in deltas)
    assert json.loads(text) == response(final.prediction)
    live_only = (pb.PREDICTION_EVENT_TYPE_OUTPUT_DELTA, pb.PREDICTION_EVENT_TYPE_HEARTBEAT)
    stored = [e.sequence for e in events if e.type not in live_only]
    assert stored == list(range(1, len(stored) + 1))  # deltas take no sequence number of their own
    assert all(d.sequence <= final.sequence for d in deltas)


async def test_markdown_page_by_page_is_free_text(client):
    reply = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
        domain="document.markdown", model="llava", document=pb.DocumentInput(data=pdf(2)), batch=False,
        config=pb.GenerationConfig(max_tokens=60)), timeout=240)
    pred = reply.prediction
    assert status_name(pred.status) == "completed", pred.error.message
    answer = response(pred)
    jsonschema.validate(answer, await published_schema(client, "document.markdown"))
    assert [p["page_index"] for p in answer["pages"]] == [0, 1] and pred.usage.steps == 2


def triton_log(server: ServerProcess) -> str:
    return (server.data_dir / "triton" / "triton.log").read_text(errors="replace")


@pytest.mark.parametrize("model", ["llava", "vllm_llava"])
async def test_cancel_stops_generation_on_the_model(client, vlm_server, model):
    reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="image.caption", model=model, images=[pb.ImageInput(data=text_png(["long"]))], batch=True,
        config=pb.GenerationConfig(max_tokens=60000, temperature=1.0, max_retries=0)), timeout=60)
    pred_id = reply.prediction.id
    stream = client.predictions.WatchPrediction(ps.WatchPredictionRequest(id=pred_id), timeout=240)
    async for msg in stream:
        if msg.event.type == pb.PREDICTION_EVENT_TYPE_OUTPUT_DELTA:
            break
    stream.cancel()
    started = time.monotonic()
    await client.predictions.CancelPrediction(ps.CancelPredictionRequest(id=pred_id), timeout=30)
    cancelled = await terminal(client, pred_id, timeout_s=30)
    assert time.monotonic() - started < 5
    assert status_name(cancelled.status) == "failed" and "CANCELLED" in cancelled.error.message
    # The model is free at once: a short request right after is answered quickly. Had the cancelled row
    # kept generating its 60,000 tokens, this one would wait behind it (one instance, one generate()).
    started = time.monotonic()
    quick = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="image.caption", model=model, images=[pb.ImageInput(data=text_png(["short"]))],
        config=pb.GenerationConfig(max_tokens=400)), timeout=60)
    assert status_name(quick.prediction.status) == "completed", quick.prediction.error.message
    assert time.monotonic() - started < 20
    # The model says where it stopped: a handful of tokens into the 60,000 it was allowed.
    pattern = r"request cancelled after (\d+) of max 60000 tokens"
    stopped = [int(n) for n in re.findall(pattern, triton_log(vlm_server))]
    assert stopped and stopped[-1] < 2000, stopped


async def test_a_synchronous_caller_that_cancels_its_call_stops_the_generation(client, vlm_server):
    call = client.images.Generate(img_pb.ImageServiceGenerateRequest(
        id="abandoned-call", domain="document.markdown", model="llava", images=[pb.ImageInput(data=text_png(["x"]))],
        config=pb.GenerationConfig(max_tokens=60000, max_retries=0)), timeout=240)  # greedy free text: long
    pred = None
    for _ in range(100):  # find the prediction the call made (by its request id), then see it generate
        listed = (await client.predictions.ListPredictions(ps.ListPredictionsRequest(page_size=5))).predictions
        pred = next((p for p in listed if p.request_id == "abandoned-call"), None)
        if pred is not None and status_name(pred.status) == "running":
            break
        await asyncio.sleep(0.1)
    assert pred is not None
    call.cancel()
    ended = await terminal(client, pred.id, timeout_s=30)
    assert status_name(ended.status) == "failed" and "CANCELLED" in ended.error.message


async def test_two_concurrent_requests_share_a_batch(client, vlm_server):
    async def caption(i: int):
        return await client.images.Generate(img_pb.ImageServiceGenerateRequest(
            domain="image.caption", model="idefics3", images=[pb.ImageInput(data=text_png([f"Picture {i}"]))],
            config=pb.GenerationConfig(max_tokens=200)), timeout=240)

    # A long request first keeps the model's one generate() busy, so the two that follow queue in Triton
    # together and its dynamic batcher hands both to the next execute() (on a loaded machine two requests sent
    # "at once" through the service can otherwise reach Triton further apart than its 10 ms window).
    blocker = asyncio.ensure_future(client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="document.markdown", model="idefics3", images=[pb.ImageInput(data=text_png(["busy"]))],
        config=pb.GenerationConfig(max_tokens=1200)), timeout=240))
    await asyncio.sleep(0.3)
    before = triton_log(vlm_server).count("generate batch=2 ")
    replies = await asyncio.gather(caption(1), caption(2))
    await blocker
    assert all(status_name(r.prediction.status) == "completed" for r in replies)
    # The engine logs each generate() call with its number of rows once the call returns, which can be just
    # after its answers reached us: both requests were one call.
    deadline = time.monotonic() + 10
    while triton_log(vlm_server).count("generate batch=2 ") <= before:
        assert time.monotonic() < deadline, "no generate() call with both requests"
        await asyncio.sleep(0.1)


async def test_bad_requests_to_a_vlm_get_clear_errors(client):
    try:
        await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
            domain="document.invoice", model="llava", document=pb.DocumentInput(data=pdf(17)), batch=False))
        raise AssertionError("accepted")
    except grpc.aio.AioRpcError as err:
        reason, violations = error_reason(err)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and reason == "TOO_MANY_PAGES"
        assert "16" in err.details() and violations
