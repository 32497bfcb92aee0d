"""The `transformers` Triton model on a real embedded tritonserver (CPU) with tiny random checkpoints.

One model repository holds a copy of triton_models/transformers per family (tiny_llava, tiny_idefics3,
tiny_qwen2_vl, ...), each pointing at a checkpoint built offline in tmp_path. Qwen2-VL/2.5-VL and SmolVLM
have processors that need torchvision, so they also cover the engine's image-processor + tokenizer path.
Random weights make the text noise, so the tests check the contract: schema-valid JSON, streaming,
cancellation, batching, errors.
"""

import asyncio
import io
import json
import re
import shutil
import time
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import pytest_asyncio
from PIL import Image
from tritonclient.grpc import InferInput
from tritonclient.grpc.aio import InferenceServerClient
from vlm_engines.testing import tiny
from vlm_engines.transformers import EngineOptions

from vlmgrpc.inference.embedded import EmbeddedTriton

pytestmark = pytest.mark.integration

MODEL_DIR = Path(__file__).resolve().parents[2] / "triton_models" / "transformers"
FAMILIES = tiny.FAMILIES  # llava, idefics3, qwen2_vl, qwen2_5_vl, smolvlm
MAX_IMAGES = 4
INVOICE = {
    "type": "object",
    "properties": {
        "invoice_number": {"type": "string"},
        "status": {"type": "string", "enum": ["paid", "unpaid", "overdue"]},
        "vendor": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "address": {"type": ["string", "null"]},
                           "vat_id": {"anyOf": [{"type": "string", "maxLength": 20}, {"type": "null"}]}},
            "required": ["name", "address", "vat_id"],
        },
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"description": {"type": "string"}, "quantity": {"type": "integer", "minimum": 0},
                               "unit_price": {"type": "number"}, "tags": {"type": "array",
                                                                          "items": {"type": "string"}}},
                "required": ["description", "quantity", "unit_price"],
            },
            "maxItems": 4,
        },
        "total": {"type": "number", "minimum": 0},
        "currency": {"type": ["string", "null"], "enum": ["EUR", "USD", None]},
        "paid": {"type": "boolean"},
        "due_date": {"type": ["string", "null"]},
    },
    "required": ["invoice_number", "status", "vendor", "items", "total", "currency", "paid", "due_date"],
}
# A string of at least 600 characters: generation cannot end early (no stop token before it closes).
LONG = {"type": "object", "properties": {"text": {"type": "string", "minLength": 600}}, "required": ["text"]}


def png(color: str, size: tuple[int, int] = (96, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def _tensor(name: str, values: list[bytes]) -> InferInput:
    tensor = InferInput(name, [1, len(values)], "BYTES")  # leading batch dim (max_batch_size 8)
    tensor.set_data_from_numpy(np.array([values], dtype=np.object_).reshape(1, len(values)))
    return tensor


def inputs(images: list[bytes], prompt: str = "Extract the invoice fields as JSON.", config: dict | str | None = None,
           domain: str = "document.invoice") -> list[InferInput]:
    out = [_tensor("IMAGES", images), _tensor("DOMAIN", [domain.encode()]), _tensor("PROMPT", [prompt.encode()])]
    if config is not None:
        out.append(_tensor("CONFIG", [(config if isinstance(config, str) else json.dumps(config)).encode()]))
    return out


def _open(client, model: str, tensors: list[InferInput]):
    async def requests():
        yield {"model_name": model, "inputs": tensors}

    return client.stream_infer(requests(), stream_timeout=120)


async def infer(client, model: str, tensors: list[InferInput]) -> tuple[list[tuple[dict, bool]], str | None]:
    """One streamed request: ([(message, final flag)], error message or None)."""
    messages = []
    async for result, error in _open(client, model, tensors):
        if error is not None:
            return messages, str(error.message())
        final = result.get_response().parameters["triton_final_response"].bool_param
        messages.append((json.loads(result.as_numpy("RESPONSE").reshape(-1)[0]), final))
        if final:
            break
    return messages, None


def final_of(messages: list[tuple[dict, bool]]) -> dict:
    """Check the stream shape (deltas in order, then one final) and return the final message."""
    *deltas, (last, is_final) = messages
    assert is_final and "result" in last, last
    assert all(not f and set(m) == {"index", "delta"} for m, f in deltas)
    assert "".join(m["delta"] for m, _ in deltas) == last["text"]
    assert last["usage"]["prompt_tokens"] > 0 and last["usage"]["completion_tokens"] > 0
    return last


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("transformers")
    repo = root / "models"
    for family in FAMILIES:
        ckpt = tiny.build(family, root / "ckpt" / family)
        model = repo / f"tiny_{family}"
        shutil.copytree(MODEL_DIR, model, ignore=shutil.ignore_patterns("__pycache__"))
        config = (model / "config.pbtxt").read_text()
        # Short strings let the random model fill many fields; a small max_images keeps that check cheap.
        for key, value in (("model_path", str(ckpt)), ("json_max_string_length", "48"),
                           ("max_images", str(MAX_IMAGES))):
            config, n = re.subn(rf'(key: "{key}".*\n\s*value {{ string_value: )"[^"]*"', rf'\1"{value}"', config)
            assert n == 1, key
        (model / "config.pbtxt").write_text(config)
    return repo


@pytest_asyncio.fixture(scope="module")
async def triton(repo, tmp_path_factory):
    server = EmbeddedTriton(repo, tmp_path_factory.mktemp("triton"), startup_timeout_s=180)
    started = time.monotonic()
    await server.start()
    print(f"embedded Triton with {len(FAMILIES)} tiny VLMs ready in {time.monotonic() - started:.1f}s")
    yield server
    await server.stop()


@pytest_asyncio.fixture(scope="module")
async def client(triton):
    async with InferenceServerClient(triton.grpc_url) as c:
        yield c


async def _log_match(triton, pattern: str, timeout_s: float = 10) -> re.Match:
    deadline = time.monotonic() + timeout_s
    while True:
        found = re.findall(pattern, triton.log_path.read_text(errors="replace"))
        if found or time.monotonic() > deadline:
            assert found, f"{pattern!r} not in the log\n{triton.log_tail()}"
            return found[-1]
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("family", FAMILIES)
async def test_json_schema_answer_validates(client, family):
    config = {"json_schema": INVOICE, "max_tokens": 700, "temperature": 0.8}
    started = time.monotonic()
    messages, error = await infer(client, f"tiny_{family}", inputs([png("white"), png("navy", (64, 128))],
                                                                   config=config))
    elapsed = time.monotonic() - started
    assert error is None
    final = final_of(messages)
    jsonschema.validate(final["result"], INVOICE)
    assert json.loads(final["text"]) == final["result"]
    assert final["finish_reason"] in ("stop", "length") and final["batch_size"] == 1
    assert final["usage"]["completion_tokens"] <= 700
    assert len(messages) >= 2, "the answer should have streamed"
    # Deltas are coalesced: about one per 50 ms, far fewer than tokens.
    assert len(messages) - 1 <= elapsed / 0.05 + 2, (len(messages), elapsed)


def test_empty_model_path_fails_clearly():
    with pytest.raises(ValueError, match="model_path is empty"):
        EngineOptions.from_params({"model_path": "", "device": "cpu"})


async def test_free_text_gives_content(client):
    messages, error = await infer(client, "tiny_llava", inputs([png("white")], "Describe the page.",
                                                               {"max_tokens": 40, "temperature": 0}))
    assert error is None
    final = final_of(messages)
    assert final["result"] == {"content": final["text"]}
    assert final["usage"]["completion_tokens"] <= 40
    # Greedy is deterministic.
    again, _ = await infer(client, "tiny_llava", inputs([png("white")], "Describe the page.",
                                                        {"max_tokens": 40, "temperature": 0}))
    assert final_of(again)["text"] == final["text"]


async def test_cancel_stops_generation(client, triton):
    stream = _open(client, "tiny_idefics3", inputs([png("white")], config={
        "json_schema": LONG, "max_tokens": 2000, "temperature": 1.0}))
    async for result, error in stream:
        assert error is None
        assert "delta" in json.loads(result.as_numpy("RESPONSE").reshape(-1)[0])
        break  # first delta: cancel now
    stream.cancel()
    tokens, limit = map(int, await _log_match(triton, r"request cancelled after (\d+) of max (\d+) tokens"))
    assert limit == 2000 and tokens < 300, tokens  # a complete answer needs more than 600 characters
    messages, error = await infer(client, "tiny_idefics3", inputs([png("white")], "Hi", {"max_tokens": 5}))
    assert error is None and final_of(messages)["usage"]["completion_tokens"] <= 5


async def test_concurrent_requests_share_one_generate(client):
    model = "tiny_qwen2_vl"
    # A long request occupies the model, so the next three queue and arrive in one execute() call.
    started = asyncio.Event()
    blocker_messages = []

    async def blocker():
        config = {"json_schema": {**LONG, "properties": {"text": {"type": "string", "minLength": 1500}}},
                  "max_tokens": 2000, "temperature": 1.0}
        async for result, error in _open(client, model, inputs([png("white")], config=config)):
            assert error is None, error
            started.set()
            blocker_messages.append((json.loads(result.as_numpy("RESPONSE").reshape(-1)[0]),
                                     result.get_response().parameters["triton_final_response"].bool_param))
            if blocker_messages[-1][1]:
                return

    task = asyncio.ensure_future(blocker())
    await asyncio.wait_for(started.wait(), 30)
    assert not task.done()
    free, constrained, broken = await asyncio.gather(
        infer(client, model, inputs([png("white")], "Describe.", {"max_tokens": 30, "temperature": 0.5})),
        infer(client, model, inputs([png("white"), png("red")], config={"json_schema": INVOICE, "max_tokens": 600})),
        infer(client, model, inputs([b"not an image"])),
    )
    # The broken request fails alone, before the batch is formed; the other two share one generate().
    assert broken[0] == [] and broken[1].startswith("INVALID_IMAGE: element 0"), broken
    assert final_of(free[0])["batch_size"] == 2
    answer = final_of(constrained[0])
    assert answer["batch_size"] == 2
    jsonschema.validate(answer["result"], INVOICE)
    await asyncio.wait_for(task, 60)
    assert final_of(blocker_messages)["batch_size"] == 1


@pytest.mark.parametrize(("tensors", "reason"), [
    (inputs([]), "MISSING_INPUT"),
    (inputs([png("white")] * (MAX_IMAGES + 1)), "TOO_MANY_IMAGES"),
    (inputs([png("white")], config="{not json"), "INVALID_CONFIG"),
    (inputs([png("white")], config={"max_tokens": 0}), "INVALID_CONFIG"),
    (inputs([png("white")], config={"json_schema": {"type": "object", "properties": 3}}), "INVALID_CONFIG"),
    (inputs([png("white"), b"\x89PNG broken"]), "INVALID_IMAGE"),
    (inputs([png("white")], prompt=""), "MISSING_INPUT"),
], ids=["no-images", "too-many-images", "config-not-json", "bad-max-tokens", "bad-schema", "bad-image", "no-prompt"])
async def test_bad_input_has_a_reason(client, tensors, reason):
    messages, error = await infer(client, "tiny_llava", tensors)
    assert messages == [] and error is not None and error.startswith(f"{reason}: "), error


async def test_throughput_batch_1_vs_8(client):
    """Tokens/s of the tiny model on CPU at batch 1 and 8 (printed; -s shows it)."""
    config = {"json_schema": {"type": "object", "properties": {"t": {"type": "string", "minLength": 400,
                                                                     "maxLength": 400}}, "required": ["t"]},
              "max_tokens": 400, "temperature": 1.0}
    rates = {}
    for n in (1, 8):
        started = time.monotonic()
        results = await asyncio.gather(*(infer(client, "tiny_llava", inputs([png("white")], config=config))
                                         for _ in range(n)))
        elapsed = time.monotonic() - started
        finals = [final_of(m) for m, error in results if error is None]
        assert len(finals) == n
        rates[n] = sum(f["usage"]["completion_tokens"] for f in finals) / elapsed
        print(f"batch {n} (generate batch sizes {sorted(f['batch_size'] for f in finals)}): "
              f"{rates[n]:.0f} tokens/s, {elapsed:.2f}s")
    assert rates[8] > rates[1]
