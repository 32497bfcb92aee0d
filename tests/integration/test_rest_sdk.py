"""The official vlmrun SDK, unchanged, against the live server's REST API: VLMRun(api_key, base_url=.../v1) as a
team moving from the hosted API would use it. Image and document generate (sync and batch), uploads with
de-duplication (direct and presigned), predictions get/list/wait, domains, models, schemas, the hub, the error
class the SDK raises for each status it maps (400, 401, 404, 429, 5xx), and a webhook checked with the SDK's
own signature verification. The SDK runs in a venv of its own (see rest_helpers), as an outside client."""

from __future__ import annotations

import asyncio
import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from tests.conftest import TEST_SETTINGS, ServerProcess, pdf, text_png
from tests.integration.rest_helpers import CallbackReceiver, rest_url, run_sdk, sdk_python
from vlmgrpc.inference.embedded import EmbeddedTriton
from vlmgrpc.settings import REPO_ROOT

pytestmark = pytest.mark.integration
SECRET = "webhook-secret"
PRELUDE = """
import json, os, sys, time
from pathlib import Path
from vlmrun.client import VLMRun
from vlmrun.client import exceptions as E
c = VLMRun(api_key=os.environ["KEY"], base_url=os.environ["URL"], max_retries=1,
           require_api_key=not os.environ.get("LAZY"))
def out(**kw):
    print(json.dumps(kw, default=str))
"""


@pytest.fixture(scope="module")
async def triton(tmp_path_factory):
    """One Triton (ocr and the detector) for both servers of this module."""
    embedded = EmbeddedTriton(REPO_ROOT / "triton_models", tmp_path_factory.mktemp("rest-triton"),
                              models={"ocr": {}, "detector": {}})
    await embedded.start()
    yield embedded
    await embedded.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, triton):
    srv = ServerProcess(tmp_path_factory.mktemp("rest"), **TEST_SETTINGS, triton_url=triton.grpc_url,
                        models="ocr,detector", auth_tokens="tok-a=alice,tok-b=bob", callback_secret=SECRET).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def python():
    return sdk_python()


@pytest.fixture
def sdk(python, server, tmp_path):
    def run(script: str, key: str = "tok-a", srv: ServerProcess | None = None, **env: str) -> dict:
        return run_sdk(python, tmp_path, PRELUDE + script, KEY=key, URL=rest_url(srv or server), **env)
    return run


def test_constructor_health_check_accepts_a_valid_key_and_refuses_others(sdk):
    result = sdk("""
out(healthy=c.healthcheck())
try:
    VLMRun(api_key="not-a-token", base_url=os.environ["URL"], max_retries=1)
    out(refused=None)
except E.AuthenticationError as exc:
    out(healthy=True, refused=type(exc).__name__)
""")
    assert result == {"healthy": True, "refused": "AuthenticationError"}


def test_image_generate_sync_batch_and_detection(sdk, tmp_path):
    (tmp_path / "page.png").write_bytes(text_png(["Hello REST", "second line"]))
    from skimage import data  # the detector tests' photograph: a person

    Image.fromarray(data.astronaut()).save(tmp_path / "astronaut.png")
    result = sdk("""
sync = c.image.generate(domain="document.ocr", images=[Path("page.png")])
batch = c.image.generate(domain="document.ocr", images=[Path("page.png")], batch=True)
waited = c.predictions.wait(batch.id, timeout=60, sleep=1)
found = c.image.generate(domain="image.object-detection", images=[Path("astronaut.png")])
out(sync=[sync.status, sync.response["text"], sync.usage.elements_processed, sync.usage.element_type],
    batch=batch.status, waited=[waited.status, waited.response["text"]],
    labels=[d["label"] for d in found.response["detections"]], found_status=found.status)
""")
    assert result["sync"][0] == "completed" and "Hello REST" in result["sync"][1]
    assert result["sync"][2:] == [1, "image"]
    assert result["batch"] in ("pending", "enqueued", "running", "completed")
    assert result["waited"][0] == "completed" and "Hello REST" in result["waited"][1]
    assert result["found_status"] == "completed" and "person" in result["labels"]


def test_document_generate_uploads_once_then_reuses_the_file(sdk, tmp_path):
    (tmp_path / "doc.pdf").write_bytes(pdf(2))
    result = sdk("""
first = c.files.upload(Path("doc.pdf"))
again = c.files.upload(Path("doc.pdf"))
forced = c.files.upload(Path("doc.pdf"), force=True)
pred = c.document.generate(file=Path("doc.pdf"), domain="document.ocr", batch=True)
done = c.predictions.wait(pred.id, timeout=90, sleep=1)
by_id = c.document.generate(file=first.id, domain="document.ocr", batch=False)
listed = [f.id for f in c.files.list(limit=100)]
got = c.files.get(first.id)
deleted = c.files.delete(forced.id)
after = [f.id for f in c.files.list(limit=100)]
out(first=first.id, again=again.id, forced=forced.id, bytes=first.bytes, name=first.filename, status=pred.status,
    done=[done.status, done.usage.elements_processed, done.usage.element_type, len(done.response["pages"])],
    by_id=[by_id.status, "Page 2 heading" in by_id.response["text"]], listed=listed, got=got.id,
    deleted=deleted.id, after=after)
""")
    assert result["again"] == result["first"] != result["forced"]  # de-duplicated unless forced
    assert result["bytes"] > 0 and result["name"] == "doc.pdf"
    assert result["status"] in ("pending", "enqueued", "running", "completed")
    assert result["done"] == ["completed", 2, "page", 2]
    assert result["by_id"] == ["completed", True]
    assert {result["first"], result["forced"]} <= set(result["listed"])
    assert result["got"] == result["first"] and result["deleted"] == result["forced"]
    assert result["forced"] not in result["after"] and result["first"] in result["after"]


def test_large_file_flow_presigned_put_and_verify(sdk, tmp_path):
    (tmp_path / "big.pdf").write_bytes(pdf(3))
    result = sdk("""
f = c.files.upload(Path("big.pdf"), method="presigned-url")
pred = c.document.generate(file=f.id, domain="document.ocr", batch=False)
out(id=f.id, bytes=f.bytes, status=pred.status, pages=len(pred.response["pages"]))
""")
    assert result["id"].startswith("file-") and result["bytes"] == len(pdf(3))
    assert result["status"] == "completed" and result["pages"] == 3


def test_document_from_url(sdk, tmp_path):
    (tmp_path / "served.pdf").write_bytes(pdf(1))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        result = sdk(f"""
pred = c.document.generate(url="http://127.0.0.1:{httpd.server_port}/served.pdf", domain="document.ocr")
out(status=pred.status, pred_id=pred.id)
done = c.predictions.wait(pred.id, timeout=60, sleep=1)
out(status=done.status, text=done.response["text"])
""")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result["status"] == "completed" and "Page 1 heading" in result["text"]


def test_predictions_get_and_list_are_per_tenant(sdk, tmp_path):
    (tmp_path / "page.png").write_bytes(text_png(["listed"]))
    mine = sdk("""
p = c.image.generate(domain="document.ocr", images=[Path("page.png")])
got = c.predictions.get(p.id)
listed = c.predictions.list(limit=50)
skipped = c.predictions.list(skip=1, limit=1)
out(id=p.id, got=[got.id, got.status, got.domain], listed=[x.id for x in listed], skipped=[x.id for x in skipped])
""")
    assert mine["got"] == [mine["id"], "completed", "document.ocr"]
    assert mine["id"] == mine["listed"][0] and mine["skipped"] == mine["listed"][1:2]
    theirs = sdk(f"""
try:
    c.predictions.get({mine["id"]!r})
    out(error=None)
except E.ResourceNotFoundError as exc:
    out(error=type(exc).__name__, listed=[x.id for x in c.predictions.list(limit=50)])
""", key="tok-b")
    assert theirs["error"] == "ResourceNotFoundError" and mine["id"] not in theirs["listed"]


def test_catalogue_domains_models_schema_and_hub(sdk):
    result = sdk("""
domains = [d.domain for d in c.list_domains()]
models = [(m.model, m.domain) for m in c.models.list()]
schema = c.get_schema("document.invoice")
grounded = c.get_schema("document.ocr", config=__import__("vlmrun.client.types", fromlist=["x"]).GenerationConfig(
    grounding=True))
hub = c.hub.info()
hub_domains = [d.domain for d in c.hub.list_domains()]
hub_schema = c.hub.get_schema("document.receipt")
typed = c.get_type("document.invoice")
out(domains=domains, models=models, schema=[schema.domain, schema.gql_stmt, schema.schema_hash,
    "properties" in schema.json_schema], grounded="text_metadata" in json.dumps(grounded.json_schema),
    hub=hub.version, hub_domains=hub_domains, hub_schema=[hub_schema.domain, hub_schema.schema_version],
    typed=typed.__name__)
""")
    assert {"document.ocr", "document.invoice", "image.object-detection"} <= set(result["domains"])
    assert ["ocr", "document.ocr"] in result["models"] and ["detector", "image.object-detection"] in result["models"]
    assert result["schema"][0] == "document.invoice" and result["schema"][1] == "" and result["schema"][3]
    assert result["grounded"]
    assert result["hub"] == "0.1.35" and "document.receipt" in result["hub_domains"]
    assert result["hub_schema"] == ["document.receipt", "0.1.35"]
    assert result["typed"]


def test_error_classes_for_400_401_and_404(sdk, tmp_path):
    (tmp_path / "page.png").write_bytes(text_png(["x"]))
    result = sdk("""
errors = {}
for name, call in {
    "400": lambda: c.image.generate(domain="no.such-domain", images=[Path("page.png")]),
    "404": lambda: c.predictions.get("no-such-prediction"),
    "404-file": lambda: c.files.get("file-00000000000000000000000000000000"),
}.items():
    try:
        call()
        errors[name] = None
    except E.APIError as exc:
        errors[name] = [type(exc).__name__, exc.http_status, exc.error_type]
c.api_key = "a-wrong-token"  # the constructor's check passed with the right one
try:
    c.predictions.list()
except E.APIError as exc:
    errors["401"] = [type(exc).__name__, exc.http_status, exc.error_type]
out(**errors)
""")
    assert result["400"] == ["ValidationError", 400, "UNKNOWN_DOMAIN"]
    assert result["404"] == ["ResourceNotFoundError", 404, "PREDICTION_NOT_FOUND"]
    assert result["404-file"] == ["ResourceNotFoundError", 404, "FILE_NOT_FOUND"]
    assert result["401"] == ["AuthenticationError", 401, "INVALID_TOKEN"]


def test_webhook_is_verified_by_the_sdk(sdk, tmp_path):
    (tmp_path / "page.png").write_bytes(text_png(["webhook"]))
    receiver = CallbackReceiver()
    try:
        made = sdk(f"""
p = c.document.generate(file=c.files.upload(Path("page.png")).id, domain="document.ocr", batch=True,
                        callback_url={receiver.url!r})
out(id=p.id)
""")
        body, headers = receiver.wait()[0]
    finally:
        receiver.close()
    (tmp_path / "body.bin").write_bytes(body)
    verified = sdk(f"""
from vlmrun.common.webhook import verify_webhook
raw = Path("body.bin").read_bytes()
out(ok=verify_webhook(raw, {headers.get("X-VLMRun-Signature")!r}, {SECRET!r}),
    wrong_secret=verify_webhook(raw, {headers.get("X-VLMRun-Signature")!r}, "other"),
    tampered=verify_webhook(raw + b" ", {headers.get("X-VLMRun-Signature")!r}, {SECRET!r}))
""")
    assert verified == {"ok": True, "wrong_secret": False, "tampered": False}
    payload = json.loads(body)
    assert payload["id"] == made["id"] and payload["status"] == "completed"


# --- 429 and 5xx: a server with one worker and a queue of one, on a Triton the last test stops


@pytest.fixture(scope="module")
def small_server(tmp_path_factory, triton):
    srv = ServerProcess(tmp_path_factory.mktemp("rest-small"), **TEST_SETTINGS, triton_url=triton.grpc_url,
                        models="ocr,detector", workers=1, queue_size=1, health_poll_s=0.2,
                        triton_unavailable_budget_s=1).start()
    yield srv
    srv.stop()


def test_queue_full_is_a_rate_limit_error(sdk, small_server, tmp_path):
    (tmp_path / "long.pdf").write_bytes(pdf(40, scanned=True))
    result = sdk("""
f = c.files.upload(Path("long.pdf"))
made, error = [], None
for _ in range(6):
    try:
        made.append(c.document.generate(file=f.id, domain="document.ocr", batch=True).id)
    except E.RateLimitError as exc:
        error = [type(exc).__name__, exc.http_status, exc.error_type]
        break
for pid in made:
    c.requestor.request(method="POST", url=f"predictions/{pid}/cancel")
out(error=error, made=len(made))
""", srv=small_server)
    assert result["error"] == ["RateLimitError", 429, "QUEUE_FULL"] and result["made"] >= 2


async def test_triton_gone_is_a_server_error(sdk, small_server, triton, tmp_path):
    (tmp_path / "page.png").write_bytes(text_png(["down"]))
    await triton.stop()
    result = await asyncio.to_thread(sdk, """
time.sleep(2)  # the server polls Triton's readiness every 0.2 s
errors = {}
for name, call in {"health": c.healthcheck,
                   "generate": lambda: c.image.generate(domain="document.ocr", images=[Path("page.png")])}.items():
    try:
        call()
        errors[name] = None
    except E.ServerError as exc:
        errors[name] = [type(exc).__name__, exc.http_status, exc.error_type]
out(**errors)
""", srv=small_server, LAZY="1")  # LAZY: no health check in the constructor (require_api_key=False)
    assert result["health"][:2] == ["ServerError", 503]
    assert result["generate"] == ["ServerError", 503, "MODEL_NOT_READY"]
