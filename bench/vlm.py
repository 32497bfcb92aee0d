"""A vision-language model through the service against direct Triton calls to the same model.

A tiny randomly initialised LLaVA checkpoint (built offline, vlm_engines.testing.tiny) served by the
transformers engine in one embedded Triton; the service, with its default settings, fronts it. Both paths ask
the same thing: domain image.caption on one 64x64 image, the same instructions (built from the domain's schema
by the service's own prompt builder), the same JSON-schema constraint and token budget.

- direct: tritonclient.grpc.aio stream_infer to the model; time to the first delta message, then to the final.
- service: ImageService.GenerateStream; time to the first OUTPUT_DELTA event, then to the terminal event.

Closed loop at concurrency 1 and 8, the paths alternating in rounds (ABBA). Tokens per second are the model's
own count of generated tokens (usage.output_tokens through the service) over wall time.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tritonclient.grpc import InferInput
from tritonclient.grpc.aio import InferenceServerClient

from bench import common
from bench.gateway import small_png
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.catalog import Catalog
from vlmgrpc.inference import prompts
from vlmgrpc.inference.embedded import EmbeddedTriton
from vlmgrpc_client import Client

NAME = "vlm"
MODEL = "tiny_llava"
DOMAIN = "image.caption"
MAX_TOKENS = 160
FULL = ((1, 24), (8, 48))  # (concurrency, requests per path)
SMOKE = ((1, 2), (8, 8))
ROUNDS = 2


def _input(name: str, values: list[bytes]) -> InferInput:
    tensor = InferInput(name, [1, len(values)], "BYTES")  # the model batches: a leading batch dim of 1
    tensor.set_data_from_numpy(np.array([values], dtype=np.object_))
    return tensor


class Direct:
    def __init__(self, url: str, image: bytes, schema: dict, prompt: str):
        self.client = InferenceServerClient(url)
        config = json.dumps({"json_schema": schema, "max_tokens": MAX_TOKENS}).encode()
        self.inputs = [_input("IMAGES", [image]), _input("DOMAIN", [DOMAIN.encode()]),
                       _input("PROMPT", [prompt.encode()]), _input("CONFIG", [config])]

    async def call(self) -> tuple[float, float, int]:
        async def requests():
            yield {"model_name": MODEL, "inputs": self.inputs}

        started = time.perf_counter()
        first = None
        async for result, error in self.client.stream_infer(requests()):
            if error is not None:
                raise RuntimeError(f"direct: {error}")
            body = json.loads(result.as_numpy("RESPONSE").reshape(-1)[0])
            if "delta" in body and first is None:
                first = time.perf_counter() - started
            if "result" in body:
                total = time.perf_counter() - started
                return first if first is not None else total, total, body["usage"]["completion_tokens"]
        raise RuntimeError("direct: the stream ended without a final answer")

    async def close(self) -> None:
        await self.client.close()


class Service:
    def __init__(self, target: str, image: bytes):
        self.client = Client(target)
        self.request = img_pb.ImageServiceGenerateStreamRequest(
            domain=DOMAIN, model=MODEL, images=[pb.ImageInput(data=image)],
            config=pb.GenerationConfig(max_tokens=MAX_TOKENS))

    async def call(self) -> tuple[float, float, int]:
        started = time.perf_counter()
        first = None
        async for msg in self.client.images.GenerateStream(self.request, timeout=300):
            event = msg.event
            if event.type == pb.PREDICTION_EVENT_TYPE_OUTPUT_DELTA and first is None:
                first = time.perf_counter() - started
            if event.prediction.status == pb.PREDICTION_STATUS_COMPLETED:
                total = time.perf_counter() - started
                return first if first is not None else total, total, event.prediction.usage.output_tokens
            if event.prediction.status == pb.PREDICTION_STATUS_FAILED:
                raise RuntimeError(f"service: {event.prediction.error.message}")
        raise RuntimeError("service: the stream ended before the prediction did")

    async def close(self) -> None:
        await self.client.close()


def _stats(samples: list[tuple[float, float, int]], wall: float) -> dict[str, Any]:
    ttfd = common.summary([s[0] for s in samples])
    tokens = sum(s[2] for s in samples)
    return {"first_delta_p50_ms": ttfd["p50_ms"], "first_delta_p99_ms": ttfd["p99_ms"],
            "answer_p50_ms": common.summary([s[1] for s in samples])["p50_ms"],
            "tokens_per_s": tokens / wall, "tokens": tokens, "requests": len(samples)}


async def run(smoke: bool) -> dict[str, Any]:
    from vlm_engines.testing import tiny

    workdir = Path(tempfile.mkdtemp(prefix="bench-vlm-"))
    checkpoint = await asyncio.to_thread(tiny.build, "llava", workdir / "checkpoint")
    repo = workdir / "models"
    (repo / MODEL).mkdir(parents=True)
    (repo / MODEL / "1").symlink_to(common.ROOT / "triton_models" / "transformers" / "1")
    shutil.copy(common.ROOT / "triton_models" / "transformers" / "config.pbtxt", repo / MODEL / "config.pbtxt")
    params = {"model_path": str(checkpoint), "device": "cpu"}
    triton = EmbeddedTriton(repo, workdir / "triton", models={MODEL: params})
    await triton.start()
    srv = direct = service = None
    try:
        schema = Catalog().schema(DOMAIN).json_schema
        prompt = prompts.instructions(DOMAIN, schema, "", "image", 1)
        image = small_png()
        srv = await asyncio.to_thread(common.start_service, workdir / "service", triton.grpc_url,
                                      json.dumps([{"name": MODEL}]))  # default settings otherwise
        direct, service = Direct(triton.grpc_url, image, schema, prompt), Service(srv.target, image)
        paths = {"direct": direct.call, "service": service.call}
        for call in paths.values():
            await common.closed_loop(call, 2, 2)
        levels = []
        for concurrency, total in (SMOKE if smoke else FULL):
            merged: dict[str, list] = {name: [] for name in paths}
            wall = dict.fromkeys(paths, 0.0)
            for r in range(ROUNDS):
                for name in (list(paths) if r % 2 == 0 else list(paths)[::-1]):
                    samples, seconds = await common.closed_loop(paths[name], concurrency, max(1, total // ROUNDS))
                    merged[name] += samples
                    wall[name] += seconds
            level = {"concurrency": concurrency, **{n: _stats(merged[n], wall[n]) for n in paths}}
            d, s = level["direct"], level["service"]
            level["ratio"] = {"tokens_per_s": s["tokens_per_s"] / d["tokens_per_s"],
                              "first_delta_p50": s["first_delta_p50_ms"] / d["first_delta_p50_ms"]}
            levels.append(level)
            print(f"  c={concurrency}: direct {d['tokens_per_s']:.0f} tok/s, first delta {d['first_delta_p50_ms']:.0f}"
                  f" ms | service {s['tokens_per_s']:.0f} tok/s, first delta {s['first_delta_p50_ms']:.0f} ms",
                  flush=True)
        result = {"smoke": smoke, "setup": {"model": "tiny random LLaVA (vlm_engines.testing.tiny), CPU",
                                            "domain": DOMAIN, "max_tokens": MAX_TOKENS,
                                            "service_settings": "defaults (models = the tiny model)"},
                  "levels": levels, "targets": {}}
        by_c = {lv["concurrency"]: lv for lv in levels}
        for c in (1, 8):
            if c in by_c:
                ratio = by_c[c]["ratio"]
                result["targets"][f"tokens_c{c}"] = {
                    "target": f"VLM tokens/s and time to first delta through the service vs direct, concurrency {c} "
                              "(reported, no fixed target)",
                    "measured": f"{ratio['tokens_per_s']:.2f} x tokens/s ({by_c[c]['service']['tokens_per_s']:.0f} vs "
                                f"{by_c[c]['direct']['tokens_per_s']:.0f}); first delta p50 "
                                f"{by_c[c]['service']['first_delta_p50_ms']:.0f} vs "
                                f"{by_c[c]['direct']['first_delta_p50_ms']:.0f} ms",
                    "met": True}
        common.write_result(NAME, result)
        return result
    finally:
        await common.shut_down((direct, service), (srv,), triton, workdir)
