"""The catalogue through the real server: every seed domain has a schema, the models say what they serve, and
every answer the service gives validates against the schema it publishes."""

from __future__ import annotations

import grpc
import jsonschema
import pytest
from google.protobuf import json_format, struct_pb2

from tests.conftest import pdf, text_png
from tests.integration.helpers import published_schema, rpc_error, status_name
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import hub_service_pb2 as hub_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import model_service_pb2 as model_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc_client import Client, response

pytestmark = pytest.mark.integration

# The domains named by the two API pages we mirror (../shared/seeds/): 9 image domains, 16 document domains.
SEED_DOMAINS = {
    "aerospace.remote-sensing", "document.invoice", "document.markdown", "document.receipt", "document.resume",
    "image.caption", "image.object-detection", "image.person-detection", "retail.product-catalog",
    "document.ocr", "document.generative", "document.presentation", "document.utility-bill",
    "document.bank-statement", "document.us-drivers-license", "healthcare.patient-referral",
    "healthcare.patient-medical-history", "healthcare.patient-consent", "healthcare.patient-intake",
    "healthcare.patient-insurance-card", "healthcare.patient-identification",
}


@pytest.fixture
async def client(server):
    async with Client(server.target) as c:
        yield c


def hub_domains() -> set[str]:
    from vlmrun.hub.registry import registry

    return set(registry.list_schemas())


async def test_every_seed_and_hub_domain_is_listed_with_a_valid_schema(client):
    listed = {d.domain: d for d in (await client.hub.ListDomains(hub_pb.ListDomainsRequest())).domains}
    assert len(SEED_DOMAINS) == 21
    assert SEED_DOMAINS <= set(listed), SEED_DOMAINS - set(listed)
    assert hub_domains() <= set(listed), hub_domains() - set(listed)
    for domain in sorted(set(listed)):
        reply = await client.hub.GetSchema(hub_pb.GetSchemaRequest(domain=domain))
        schema = json_format.MessageToDict(reply.json_schema)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert reply.description and reply.schema_version and len(reply.schema_hash) == 8, domain
        assert listed[domain].supported_inputs, domain


async def test_list_domains_and_list_models_say_which_model_serves_what(client):
    models = (await client.models.ListModels(model_pb.ListModelsRequest())).models
    ocr = next(m for m in models if m.id == "ocr")
    assert ocr.ready and ocr.engine == "document" and ocr.protocol == "vlmgrpc" and not ocr.follows_json_schema
    assert {"document.ocr", "document.markdown", "document.invoice", "document.presentation"} <= set(ocr.domains)
    listed = {d.domain: d for d in (await client.hub.ListDomains(hub_pb.ListDomainsRequest())).domains}
    assert list(listed["document.ocr"].models) == ["ocr"] and listed["document.ocr"].served
    assert list(listed["document.invoice"].models) == ["ocr"] and listed["document.invoice"].served
    assert not listed["image.caption"].models and not listed["image.caption"].served
    detector = next(m for m in models if m.id == "detector")
    assert detector.ready and set(detector.domains) == {"image.object-detection", "image.person-detection"}
    served = (await client.hub.ListDomains(hub_pb.ListDomainsRequest(served_only=True))).domains
    assert {d.domain for d in served} == {*ocr.domains, "image.object-detection", "image.person-detection"}


async def test_ocr_and_markdown_answers_validate_against_the_published_schema(client):
    for domain in ("document.ocr", "document.markdown"):
        schema = await published_schema(client, domain)
        reply = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
            domain=domain, document=pb.DocumentInput(data=pdf(2)), batch=False), timeout=120)
        pred = reply.prediction
        assert status_name(pred.status) == "completed", pred.error.message
        answer = response(pred)
        jsonschema.validate(answer, schema, format_checker=jsonschema.FormatChecker())
        assert [p["page_index"] for p in answer["pages"]] == [0, 1]
        assert all(isinstance(p["width"], int) and p["width"] > 0 for p in answer["pages"])
        image = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
            domain=domain, images=[pb.ImageInput(data=text_png(["Total 12.00"]))]), timeout=120)
        jsonschema.validate(response(image.prediction), schema)


async def test_grounding_and_confidence_in_vlm_run_form(client):
    schema = await published_schema(client, "document.ocr", grounding=True, confidence=True)
    reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="document.ocr", images=[pb.ImageInput(data=text_png(["Invoice 77", "Due 2026-01-31"]))],
        config=pb.GenerationConfig(grounding=True, confidence=True)), timeout=120)
    answer = response(reply.prediction)
    jsonschema.validate(answer, schema)
    line = answer["pages"][0]["lines"][0]
    meta = line["text_metadata"]
    assert meta["confidence"] in ("hi", "med", "low")
    assert meta["bboxes"] == [{"xywh": line["bbox"]["xywh"], "page": 0}]
    assert all(0 <= v <= 1 for v in meta["bboxes"][0]["xywh"])
    # Confidence alone: levels, no boxes.
    reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="document.ocr", images=[pb.ImageInput(data=text_png(["Invoice 77"]))],
        config=pb.GenerationConfig(confidence=True)), timeout=120)
    assert set(response(reply.prediction)["pages"][0]["lines"][0]["text_metadata"]) == {"confidence"}


async def test_usage_reports_elements_steps_and_configured_credits(client):
    reply = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
        domain="document.markdown", document=pb.DocumentInput(data=pdf(3)), batch=False), timeout=120)
    usage = reply.prediction.usage
    assert (usage.elements_processed, usage.element_type, usage.steps) == (3, "page", 3)
    assert usage.credits_used == 8  # 3 pages at 2.5 credits (the server's credit_prices), rounded up
    reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="document.ocr", images=[pb.ImageInput(data=text_png(["a"])), pb.ImageInput(data=text_png(["b"]))]),
        timeout=120)
    assert (reply.prediction.usage.credits_used, reply.prediction.usage.element_type) == (2, "image")


async def test_a_request_naming_a_model(client):
    image = [pb.ImageInput(data=text_png(["Named model"]))]
    reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="document.ocr", images=image, model="ocr"), timeout=120)
    assert reply.prediction.model == "ocr" and status_name(reply.prediction.status) == "completed"
    reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="document.ocr", images=image, model="vlm-1"), timeout=120)  # what the VLM Run SDKs send
    assert reply.prediction.model == "ocr"
    code, reason, violations = await rpc_error(client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="document.ocr", images=image, model="gpt-17")))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_MODEL")
    assert violations[0][0] == "model" and "ocr" in violations[0][1]
    code, reason, _ = await rpc_error(client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="image.caption", images=image, model="ocr")))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "DOMAIN_NOT_SERVED")


def _struct(value: dict) -> struct_pb2.Struct:
    msg = struct_pb2.Struct()
    msg.update(value)
    return msg


async def test_a_json_schema_is_checked_on_arrival(client):
    image = [pb.ImageInput(data=text_png(["x"]))]

    async def refused(schema: dict) -> tuple[grpc.StatusCode, str, list]:
        return await rpc_error(client.images.Generate(img_pb.ImageServiceGenerateRequest(
            domain="document.ocr", images=image, config=pb.GenerationConfig(json_schema=_struct(schema)))))

    code, reason, violations = await refused({"type": "objekt"})
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_JSON_SCHEMA")
    assert violations[0][0] == "config.json_schema" and "objekt" in violations[0][1]
    code, reason, _ = await refused({"type": "object", "description": "x" * 70_000})
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_JSON_SCHEMA")
    # A valid schema, but the OCR engine cannot decode to a schema: said at once, not after retries.
    code, reason, _ = await refused({"type": "object", "properties": {"total": {"type": "number"}}})
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "SCHEMA_NOT_SUPPORTED")


def _photo(name: str) -> bytes:
    import io

    import skimage.data
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(getattr(skimage.data, name)()).convert("RGB").save(out, "PNG")
    return out.getvalue()


async def test_detections_through_the_service_validate_and_find_the_person(client):
    for domain in ("image.person-detection", "image.object-detection"):
        reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
            domain=domain, images=[pb.ImageInput(data=_photo("astronaut"))]), timeout=120)
        pred = reply.prediction
        assert status_name(pred.status) == "completed" and pred.model == "detector", pred.error.message
        answer = response(pred)
        jsonschema.validate(answer, await published_schema(client, domain))
        assert any(d["label"] == "person" for d in answer["detections"]), answer
    code, reason, _ = await rpc_error(client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="image.object-detection", images=[pb.ImageInput(data=_photo("astronaut"))] * 2)))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "TOO_MANY_PAGES")
