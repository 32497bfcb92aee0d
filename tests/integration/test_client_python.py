"""The Python client's facade (vlmgrpc_client.VLMClient / AsyncVLMClient) against the live server: generate,
files, predictions, hub, models, typed results and typed errors, sync and asyncio; and the client package
installed alone in a fresh venv, without the server or its dependencies."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from PIL import Image
from pydantic import BaseModel

from tests.conftest import ROOT, pdf, text_png
from vlmgrpc_client import AsyncVLMClient, VLMClient, errors
from vlmgrpc_client.retry import RetryPolicy

pytestmark = pytest.mark.integration


class Line(BaseModel):
    text: str


class Page(BaseModel):
    lines: list[Line]


class MyOcr(BaseModel):  # the caller's own model of document.ocr (a subset of its schema)
    text: str
    pages: list[Page]


@pytest.fixture(scope="module")
def client(server):
    with VLMClient(server.target, timeout=60) as c:
        yield c


@pytest.fixture
def pdf_path(tmp_path) -> Path:
    path = tmp_path / "two-pages.pdf"
    path.write_bytes(pdf(2))
    return path


def test_image_generate_from_pil_path_and_bytes_with_typed_results(client, tmp_path):
    png = text_png(["Hello client", "Second line"])
    path = tmp_path / "page.png"
    path.write_bytes(png)
    pil = Image.open(io.BytesIO(png))
    for source in (pil, path, png):
        prediction = client.image.generate(images=[source], domain="document.ocr")
        assert prediction.status == "completed", prediction.error
        assert "Hello client" in prediction.response["text"]
        assert prediction.usage.elements_processed == 1 and prediction.request_id  # it carried a request id
    typed = client.image.generate(images=[png], domain="document.ocr", autocast=True)
    assert type(typed.response).__name__ == "OcrDocument"  # built from GetSchema's JSON schema
    assert "Hello client" in typed.response.text and typed.response.pages[0].lines[0].text
    own = client.predictions.get(typed.id, response_model=MyOcr)
    assert isinstance(own.response, MyOcr) and own.response.pages[0].lines


def test_document_generate_wait_and_watch(client, pdf_path):
    accepted = client.document.generate(file=pdf_path, domain="document.ocr")  # a path is uploaded first
    assert accepted.status in ("pending", "enqueued", "running", "completed") and accepted.batch
    done = client.predictions.wait(accepted.id, timeout=60)
    assert done.status == "completed" and done.progress.done == done.progress.total == 2
    assert [p["page_index"] for p in done.response["pages"]] == [0, 1]
    history = list(client.predictions.watch(done.id, after_sequence=0))
    assert [e.sequence for e in history] == list(range(1, len(history) + 1))
    assert history[-1].prediction.status == "completed" and history[-1].prediction.response is not None
    resumed = list(client.predictions.watch(done.id, after_sequence=3))  # what a dropped watch resumes with
    assert [e.sequence for e in resumed] == [e.sequence for e in history[3:]]
    snapshot = list(client.predictions.watch(done.id))
    assert [e.type for e in snapshot] == ["snapshot"] and snapshot[0].prediction.terminal
    # A document's live stream (GenerateStream): every event in order, page progress included.
    events = list(client.document.generate_stream(file=pdf_path.read_bytes(), domain="document.markdown"))
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert [e.prediction.progress.done for e in events if e.type == "progress"] == [1, 2]
    assert events[-1].prediction.status == "completed" and events[-1].prediction.response["pages"]


def test_files_upload_with_progress_then_use_list_and_delete(client, pdf_path):
    seen = []
    info = client.files.upload(pdf_path, chunk_size=16 * 1024, progress=lambda sent, total: seen.append((sent, total)))
    size = pdf_path.stat().st_size
    assert info.id.startswith("file-") and info.bytes == size and info.detected_type == "application/pdf"
    assert seen[0] == (0, size) and seen[-1] == (size, size) and len(seen) >= 2
    assert [s for s, _ in seen] == sorted(s for s, _ in seen)
    assert client.files.get(info.id).sha256 == info.sha256
    assert info.id in [f.id for f in client.files.list(page_size=100)]
    assert client.files.download(info.id) == pdf_path.read_bytes()
    prediction = client.document.generate(file=info.id, domain="document.ocr", batch=False)
    assert prediction.status == "completed" and prediction.progress.done == 2
    assert client.files.delete(info.id) is True
    with pytest.raises(errors.NotFoundError) as lost:
        client.files.get(info.id)
    assert lost.value.reason == "FILE_NOT_FOUND"


def _submit_slow(client: VLMClient, pages: int = 10):
    return client.document.generate(file=pdf(pages, scanned=True), domain="document.ocr", batch=True)


def test_pause_resume_cancel_and_list(client):
    slow = _submit_slow(client)
    for event in client.predictions.watch(slow.id, timeout=60):
        if event.type == "progress":  # the first page is done: pause between pages
            paused = client.predictions.pause(slow.id)
            break
    assert paused.status == "paused" and paused.progress.done < paused.progress.total
    assert client.predictions.get(slow.id).status == "paused"
    assert slow.id in [p.id for p in client.predictions.list(status="paused", page_size=100)]
    assert client.predictions.resume(slow.id).status == "enqueued"
    assert client.predictions.wait(slow.id, timeout=60).progress.done == 10

    doomed = _submit_slow(client)
    cancelled = client.predictions.cancel(doomed.id)
    assert cancelled.status == "failed" and cancelled.error.reason == "CANCELLED"
    with pytest.raises(errors.PredictionFailedError) as failed:  # the SDK's wait would spin until its timeout
        client.predictions.wait(doomed.id, timeout=30)
    assert failed.value.reason == "CANCELLED" and failed.value.prediction.id == doomed.id
    with pytest.raises(errors.FailedPreconditionError) as again:
        client.predictions.cancel(doomed.id)
    assert again.value.reason == "ALREADY_TERMINAL"
    page = client.predictions.list(domain="document.ocr", page_size=2)
    assert len(page) == 2 and page.next_page_token
    assert page[0].created_at >= page[1].created_at  # newest first


def test_typed_errors_carry_reason_and_field_violations(client):
    with pytest.raises(errors.InvalidArgumentError) as unknown:
        client.image.generate(images=[text_png(["x"])], domain="no.such-domain")
    assert unknown.value.reason == "UNKNOWN_DOMAIN"
    assert [v.field for v in unknown.value.violations] == ["domain"]
    with pytest.raises(errors.FailedPreconditionError) as not_served:
        client.image.generate(images=[text_png(["x"])], domain="image.caption")
    assert not_served.value.reason == "DOMAIN_NOT_SERVED"
    with pytest.raises(errors.NotFoundError) as missing:
        client.predictions.get("no-such-prediction")
    assert missing.value.reason == "PREDICTION_NOT_FOUND"
    with pytest.raises(errors.InvalidArgumentError) as bad_image:
        client.image.generate(images=[b"not an image"], domain="document.ocr")
    assert bad_image.value.violations and bad_image.value.violations[0].field == "images[0].data"


def test_resubmitting_a_request_id_is_safe(client):
    request_id = str(uuid.uuid4())
    png = text_png(["same request"])
    first = client.image.generate(images=[png], domain="document.ocr", request_id=request_id)
    second = client.image.generate(images=[png], domain="document.ocr", request_id=request_id)
    assert first.id == second.id and second.request_id == request_id
    with pytest.raises(errors.AlreadyExistsError) as reused:
        client.image.generate(images=[text_png(["another"])], domain="document.ocr", request_id=request_id)
    assert reused.value.reason == "REQUEST_ID_REUSED"


def test_hub_and_models(client):
    domains = {d.domain: d for d in client.hub.list_domains()}
    assert domains["document.ocr"].served and "ocr" in domains["document.ocr"].models
    assert set(d.domain for d in client.hub.list_domains(served_only=True)) < set(domains)
    for name in domains:  # every published schema becomes a model
        schema = client.hub.get_schema(name)
        assert schema.schema_hash and issubclass(schema.response_model(), BaseModel), name
    grounded = client.hub.get_schema("document.invoice", grounding=True)
    assert "_metadata" in json.dumps(grounded.json_schema)
    with pytest.raises(errors.NotFoundError):
        client.hub.get_schema("no.such-domain")
    models = {m.id: m for m in client.models.list()}
    assert models["ocr"].ready and "document.ocr" in models["ocr"].domains


def test_an_unreachable_server_is_retried_then_raises_unavailable():
    policy = RetryPolicy(max_attempts=3, initial_backoff_s=0.05, max_backoff_s=0.05, jitter_s=0.0)
    with VLMClient("127.0.0.1:1", retry=policy, timeout=10) as dead, pytest.raises(errors.UnavailableError):
        dead.models.list()


async def test_the_async_flavour(server, pdf_path):
    async with AsyncVLMClient(server.target, timeout=60) as client:
        prediction = await client.image.generate(images=[text_png(["Async hello"])], domain="document.ocr",
                                                 autocast=True)
        assert prediction.status == "completed" and "Async hello" in prediction.response.text
        info = await client.files.upload(pdf_path)
        accepted = await client.document.generate(file=info.id, domain="document.ocr", batch=True)
        done = await client.predictions.wait(accepted.id, timeout=60, response_model=MyOcr)
        assert isinstance(done.response, MyOcr) and len(done.response.pages) == 2
        events = [e async for e in client.document.generate_stream(file=pdf_path, domain="document.ocr")]
        assert events[-1].prediction.status == "completed"
        assert [e.sequence for e in events] == list(range(1, len(events) + 1))
        assert (await client.predictions.get(done.id)).status == "completed"
        assert any(m.id == "ocr" for m in await client.models.list())
        assert (await client.hub.get_schema("document.ocr")).json_schema["properties"]["pages"]
        doomed = await client.document.generate(file=pdf(10, scanned=True), domain="document.ocr")
        await client.predictions.pause(doomed.id)
        assert (await client.predictions.resume(doomed.id)).status == "enqueued"
        await client.predictions.cancel(doomed.id)
        with pytest.raises(errors.PredictionFailedError) as failed:
            await client.predictions.wait(doomed.id, timeout=30)
        assert failed.value.reason == "CANCELLED"
        with pytest.raises(errors.InvalidArgumentError) as unknown:
            await client.document.generate(file=b"%PDF-1.4", domain="no.such-domain")
        assert unknown.value.reason == "UNKNOWN_DOMAIN"
        assert len(await client.files.list()) >= 1 and await client.files.delete(info.id)


def test_the_sync_client_works_from_threads(client):
    results = []

    def run():
        results.append(client.image.generate(images=[text_png(["threads"])], domain="document.ocr").status)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == ["completed"] * 4


@pytest.mark.timeout(180)
def test_the_client_installs_and_runs_alone(server, tmp_path):
    """pip install ./clients/python into a bare venv: it imports, talks to the server, and brings neither the
    server nor its dependencies (Triton, pymupdf, onnxruntime) along. pip's cache makes a rerun take ~15 s."""
    source = tmp_path / "src"  # built from a copy: an in-tree build leaves build/ and egg-info behind
    shutil.copytree(ROOT / "clients" / "python", source, ignore=shutil.ignore_patterns("__pycache__", "build",
                                                                                     "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    python, vlmctl = venv / "bin" / "python", venv / "bin" / "vlmctl"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source)],
                   check=True, timeout=150, capture_output=True)
    script = f"""
import importlib.util, json
absent = [m for m in ("vlmgrpc", "pymupdf", "tritonclient", "onnxruntime", "pytriton", "PIL")
          if importlib.util.find_spec(m)]
from vlmgrpc_client import VLMClient
with VLMClient({server.target!r}) as c:
    p = c.document.generate(file=bytes.fromhex({pdf(1).hex()!r}), domain="document.ocr", batch=False)
    print(json.dumps({{"absent": absent, "status": p.status, "text": p.response["text"]}}))
"""
    out = subprocess.run([str(python), "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["absent"] == []  # none of them importable there
    assert result["status"] == "completed" and "Page 1 heading" in result["text"]
    cli = subprocess.run([str(vlmctl), "--target", server.target, "--json", "models"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "ocr" in [m["id"] for m in json.loads(cli.stdout)]
