"""The `ocr` Triton model (the CPU document engine) on a real embedded tritonserver, called over gRPC streaming."""

import asyncio
import io
import json
import os
import shutil
import signal
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import pytest_asyncio
from PIL import Image, ImageDraw, ImageFont
from tritonclient.grpc import InferInput
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from vlmgrpc.inference.embedded import EmbeddedTriton, TritonStartError

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2] / "triton_models"
MODEL = "ocr"


def render(lines: list[tuple[str, int]], size: tuple[int, int] = (900, 420)) -> bytes:
    """PNG with one text line per (text, font px); Pillow's bundled scalable font, no system fonts."""
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    y = 30
    for text, px in lines:
        draw.text((40, y), text, font=ImageFont.load_default(size=px), fill="black")
        y += int(px * 1.9)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _bytes_input(name: str, values: list[bytes]) -> InferInput:
    tensor = InferInput(name, [len(values)], "BYTES")
    tensor.set_data_from_numpy(np.array(values, dtype=np.object_))
    return tensor


async def infer(
    client: InferenceServerClient, images: list[bytes], domain: str, config: str | None = None
) -> tuple[list[tuple[dict, bool]], str | None]:
    """Run one streamed request; return ([(response json, final flag)], error message or None)."""
    inputs = [_bytes_input("IMAGES", images), _bytes_input("DOMAIN", [domain.encode()])]
    if config is not None:
        inputs.append(_bytes_input("CONFIG", [config.encode()]))

    async def requests():
        yield {"model_name": MODEL, "inputs": inputs}

    responses: list[tuple[dict, bool]] = []
    async for result, error in client.stream_infer(requests(), stream_timeout=60):
        if error is not None:
            return responses, str(error.message())
        final = result.get_response().parameters["triton_final_response"].bool_param
        responses.append((json.loads(result.as_numpy("RESPONSE")[0]), final))
        if final:
            break
    return responses, None


@pytest_asyncio.fixture(scope="module")
async def triton(tmp_path_factory):
    server = EmbeddedTriton(REPO, tmp_path_factory.mktemp("triton"), startup_timeout_s=90, restart_backoff_max_s=2,
                            models={MODEL: {}})
    started = time.monotonic()
    await server.start()
    print(f"embedded Triton ready in {time.monotonic() - started:.1f}s at {server.grpc_url}")
    supervisor = asyncio.create_task(server.supervise())
    yield server
    await server.stop()
    await asyncio.wait_for(supervisor, 10)
    assert not list(Path("/dev/shm").glob(server.shm_prefix + "*")), "shm regions left behind"


@pytest_asyncio.fixture(scope="module")
async def client(triton):
    async with InferenceServerClient(triton.grpc_url) as c:
        yield c


async def test_config_announces_domains(client):
    config = await client.get_model_config(MODEL, as_json=True)
    domains = config["config"]["parameters"]["domains"]["string_value"].split(",")
    assert domains[:2] == ["document.ocr", "document.markdown"]
    assert {"document.invoice", "document.receipt", "document.bank-statement", "document.presentation"} <= set(domains)


async def test_ocr_reads_text_with_normalised_boxes(client):
    png = render([("Invoice number 12345", 32), ("Total amount due 99.50", 32)])
    started = time.monotonic()
    responses, error = await infer(client, [png], "document.ocr")
    print(f"OCR of one 900x420 page: {time.monotonic() - started:.2f}s")
    assert error is None
    assert len(responses) == 1
    body, final = responses[0]
    assert final
    assert (body["index"], body["width"], body["height"]) == (0, 900, 420)
    text = body["result"]["text"].lower()
    for word in ("invoice", "number", "12345", "total", "amount", "due", "99.50"):
        assert word in text
    lines = body["result"]["lines"]
    assert [ln["text"].lower() for ln in lines] == text.split("\n")
    assert "invoice" in lines[0]["text"].lower() and "total" in lines[1]["text"].lower()
    for line in lines:
        assert 0.0 <= line["confidence"] <= 1.0
        x, y, w, h = line["bbox"]["xywh"]
        assert 0 <= x <= 1 and 0 <= y <= 1 and 0 < w <= 1 and 0 < h <= 1
        assert x + w <= 1.0001 and y + h <= 1.0001
    assert lines[0]["bbox"]["xywh"][1] < lines[1]["bbox"]["xywh"][1]


async def test_two_images_two_responses_in_order(client):
    pages = [render([("Alpha page one", 32)], (640, 320)), render([("Bravo page two", 32)], (640, 320))]
    responses, error = await infer(client, pages, "document.ocr")
    assert error is None
    assert [body["index"] for body, _ in responses] == [0, 1]
    assert [final for _, final in responses] == [False, True]
    assert "alpha" in responses[0][0]["result"]["text"].lower()
    assert "bravo" in responses[1][0]["result"]["text"].lower()


async def test_markdown_turns_a_larger_first_line_into_a_heading(client):
    png = render([("Quarterly Report", 56), ("Revenue grew in March", 28), ("Costs fell in April", 28)])
    responses, error = await infer(client, [png], "document.markdown")
    assert error is None
    result = responses[0][0]["result"]
    assert result["tables"] == [] and result["figures"] == []
    md_lines = result["content"].split("\n")
    assert md_lines[0].startswith("#") and "quarterly report" in md_lines[0].lower()
    body = result["content"].lower()
    assert "revenue grew in march" in body and "costs fell in april" in body
    assert all(not ln.startswith("#") for ln in md_lines[1:])


async def test_blank_page_gives_empty_results(client):
    buf = io.BytesIO()
    Image.new("RGB", (400, 300), "white").save(buf, "JPEG")
    responses, error = await infer(client, [buf.getvalue(), buf.getvalue()], "document.ocr")
    assert error is None
    assert responses[0][0]["result"] == {"text": "", "lines": []}
    responses, error = await infer(client, [buf.getvalue()], "document.markdown")
    assert error is None
    assert responses[0][0]["result"]["content"] == ""


async def test_unserved_domain_is_refused(client):
    responses, error = await infer(client, [render([("Hello", 32)])], "image.caption")
    assert responses == []
    assert error.startswith("DOMAIN_NOT_SERVED: ")
    assert "image.caption" in error and "document.ocr" in error


async def test_a_structured_domain_needs_the_schema_to_fill(client):
    responses, error = await infer(client, [render([("Invoice No: 42", 32)])], "document.invoice")
    assert responses == []
    assert error.startswith("MISSING_INPUT: ") and "json_schema" in error


async def test_corrupt_image_is_invalid(client):
    responses, error = await infer(client, [b"\x89PNG\r\n\x1a\n not really a png"], "document.ocr")
    assert responses == []
    assert error.startswith("INVALID_IMAGE: element 0")


async def test_decompression_bomb_is_invalid(client):
    buf = io.BytesIO()
    Image.new("1", (8000, 8000), 1).save(buf, "PNG")  # 64 Mpx > max_image_pixels (50 Mpx), 23 KB
    responses, error = await infer(client, [render([("Fine", 32)]), buf.getvalue()], "document.ocr")
    assert responses == []  # checked before any page is processed
    assert error.startswith("INVALID_IMAGE: element 1 is too large")


async def test_bad_config_is_invalid(client):
    png = render([("Hello", 32)])
    _, error = await infer(client, [png], "document.ocr", config="{not json")
    assert error.startswith("INVALID_CONFIG: ")
    _, error = await infer(client, [png], "document.ocr", config='{"max_tokens": -3}')
    assert error.startswith("INVALID_CONFIG: max_tokens")


async def test_cancelled_stream_stops_between_images(triton, client):
    pages = [render([(f"Cancelled page {i}", 32)], (640, 320)) for i in range(8)]
    inputs = [_bytes_input("IMAGES", pages), _bytes_input("DOMAIN", [b"document.ocr"])]

    async def requests():
        yield {"model_name": MODEL, "inputs": inputs}

    stream = client.stream_infer(requests())
    async for _, error in stream:
        assert error is None
        stream.cancel()  # after the first page: the model must notice and skip the rest
        break
    deadline = time.monotonic() + 20
    while "ocr: request cancelled after" not in triton.log_tail(200):
        assert time.monotonic() < deadline, triton.log_tail()
        await asyncio.sleep(0.1)
    responses, error = await infer(client, [pages[0]], "document.ocr")
    assert error is None and "cancelled page 0" in responses[0][0]["result"]["text"].lower()


async def test_load_fails_when_domains_disagree_with_engine(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(REPO / MODEL, repo / MODEL, ignore=shutil.ignore_patterns("__pycache__"))
    config = repo / MODEL / "config.pbtxt"
    text = config.read_text()
    served = text.split('key: "domains"')[1].split('"')[1]
    config.write_text(text.replace(served, "document.ocr,image.caption"))
    server = EmbeddedTriton(repo, tmp_path / "work", startup_timeout_s=60)
    try:
        with pytest.raises(TritonStartError, match="disagrees with engine 'document'"):
            await server.start()
    finally:
        await server.stop()


async def test_supervisor_relaunches_a_killed_server(triton, client):
    # Last in the module: it kills the server the other tests use.
    old_pid = triton.pid
    assert old_pid is not None and triton.restarts == 0
    os.kill(old_pid, signal.SIGKILL)
    started = time.monotonic()
    deadline = started + 60
    png = render([("Back again", 32)], (640, 320))
    while True:
        try:
            responses, error = await infer(client, [png], "document.ocr")
            if error is None and responses and triton.pid not in (None, old_pid):
                break
        except (grpc.RpcError, InferenceServerException):
            pass  # connection refused while the new process starts
        assert time.monotonic() < deadline, f"no answer after the kill\n{triton.log_tail()}"
        await asyncio.sleep(0.2)
    print(f"answering again {time.monotonic() - started:.1f}s after kill -9")
    assert triton.restarts == 1
    assert "back again" in responses[0][0]["result"]["text"].lower()
