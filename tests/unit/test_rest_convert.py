"""REST bodies to job submissions (rest/convert.py), the REST port setting, and the OpenAPI document's
coverage of the route table."""

from __future__ import annotations

import base64

import pytest

from vlmgrpc.errors import ServiceError
from vlmgrpc.jobs.model import Kind
from vlmgrpc.rest import convert, models, openapi
from vlmgrpc.rest.routes import ROUTES, window
from vlmgrpc.rest.server import rest_port
from vlmgrpc.settings import Settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


async def test_image_inputs_data_urls_base64_urls_and_file_ids():
    req = models.ImageGenerateRequest(domain="document.ocr", images=[
        "data:image/png;base64," + base64.b64encode(PNG).decode(), base64.b64encode(PNG).decode(),
        "https://example.com/a.png", "file-" + "a" * 32])
    sub = await convert.submission(req, "alice", Kind.IMAGE, max_image_bytes=1024)
    assert [(i.data, i.url, i.file_id) for i in sub.inputs] == [
        (PNG, None, None), (PNG, None, None), (None, "https://example.com/a.png", None),
        (None, None, "file-" + "a" * 32)]
    assert (sub.owner, sub.batch, sub.model, sub.config) == ("alice", False, "vlm-1", {})


@pytest.mark.parametrize(("value", "reason"), [("%%%", "INVALID_IMAGE"), ("data:image/png,abc", "INVALID_URL"),
                                               ("A" * 4000, "INPUT_TOO_LARGE")])
async def test_bad_images_are_refused_with_their_index(value, reason):
    req = models.ImageGenerateRequest(domain="document.ocr", images=["file-" + "0" * 32, value])
    with pytest.raises(ServiceError) as caught:
        await convert.submission(req, "t", Kind.IMAGE, max_image_bytes=1024)
    assert caught.value.reason == reason
    assert caught.value.violations[0][0] == "images[1]"


async def test_document_stream_is_batch_and_config_drops_unset_fields():
    req = models.DocumentGenerateRequest(domain="document.ocr", file_id="file-" + "1" * 32, stream=True, batch=False,
                                         config={"temperature": 0.0, "grounding": True, "skills": [1]},
                                         metadata={"environment": "prod", "session_id": None})
    sub = await convert.submission(req, "t", Kind.DOCUMENT, max_image_bytes=1, idempotency_key="key-1")
    assert sub.batch is True and sub.request_id == "key-1"
    assert sub.config == {"temperature": 0.0, "grounding": True}
    assert sub.metadata == {"environment": "prod"}


def test_field_errors_become_violations():
    with pytest.raises(ServiceError) as caught:
        convert.validate(models.ImageGenerateRequest, {"domain": 1, "images": "x"})
    assert caught.value.reason == "INVALID_REQUEST"
    assert {f for f, _ in caught.value.violations} == {"domain", "images"}
    with pytest.raises(ServiceError):
        convert.validate(models.SchemaRequest, ["not", "an", "object"])


def test_rest_port_follows_the_grpc_port_unless_set():
    assert rest_port(Settings(port=50051), 50051) == 50052
    assert rest_port(Settings(port=0), 43210) == 0  # tests: a free port, as gRPC's
    assert rest_port(Settings(rest_port=8080), 50051) == 8080
    assert rest_port(Settings(rest_port=0), 50051) is None
    assert Settings(rest_port="").rest_port is None


async def test_window_pages_through_tokens():
    items = list(range(25))

    async def fetch(size: int, token: str):
        start = int(token or 0)
        page = items[start:start + size]
        return page, str(start + size) if start + size < len(items) else ""

    assert await window(fetch, 0, 10) == items[:10]
    assert await window(fetch, 20, 10) == items[20:]
    assert await window(fetch, 30, 5) == []


def test_openapi_documents_every_route_and_its_models():
    doc = openapi.document("1.0")
    served = {(r.method.lower(), r.path) for r in ROUTES}
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert served == documented
    schemas = doc["components"]["schemas"]
    assert "gql_stmt" in schemas["SchemaResponse"]["required"]
    assert doc["paths"]["/v1/files"]["post"]["responses"].keys() >= {"201", "400", "401"}
    assert doc["paths"]["/v1/health"]["get"]["security"] == []
