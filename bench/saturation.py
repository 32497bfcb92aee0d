"""Does the service keep a batching model busy? The `latency` model (bench/triton_models/latency) answers every
request after 0.2 s and runs any number at once, like a GPU model that batches dozens. The service runs with
its DEFAULT settings (only `models` names the latency model), against direct tritonclient calls at the same
concurrency, in one run:

- images: 32 concurrent ImageService.Generate calls (closed loop) vs 32 concurrent stream_infer calls;
- a 64-page PDF: one DocumentService.Generate (batch=false), against its 64 pages pre-rendered and sent
  32 at a time directly; and the render ceiling: the same 64 pages rendered by the service's own renderer
  with its default processes, nothing else running (on 2 cores rendering may be the bound, not the model).
  The render ceiling is what a perfect pipeline reaches given that renderer: the pages' render time alone
  plus the model's time for the last page, count / (render_s + 0.2 s).
  The model declares the page size it reads (`page_pixels`, as a VLM's image processor resizes to); the
  service renders pages at that size, and the direct calls send pages of that size too.

Each answer carries `held`, the requests the model held when it started that one: the peak says how many the
service had in flight.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pymupdf
from tritonclient.grpc import InferInput
from tritonclient.grpc.aio import InferenceServerClient

from bench import common
from bench.gateway import small_png
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.inference.embedded import EmbeddedTriton
from vlmgrpc.pipeline.render import Renderer
from vlmgrpc_client import Client, response

NAME = "saturation"
MODEL, DOMAIN = "latency", "bench.latency"
CONCURRENCY = 32
LATENCY_S = 0.2
PAGE_PIXELS = 1003520  # the latency model's page_pixels: direct calls send pages of the size the service renders


def document(pages: int) -> bytes:
    doc = pymupdf.open()
    for i in range(pages):
        page = doc.new_page(width=595, height=842)  # A4
        for j in range(40):
            page.insert_text((40, 40 + j * 19), f"Page {i + 1}, line {j + 1}: invoice total due 1234.56 EUR",
                             fontsize=11)
    data = doc.tobytes()
    doc.close()
    return data


def _input(name: str, value: bytes) -> InferInput:
    tensor = InferInput(name, [1], "BYTES")
    tensor.set_data_from_numpy(np.array([value], dtype=np.object_))
    return tensor


class Direct:
    def __init__(self, url: str):
        self.client = InferenceServerClient(url)

    async def call(self, image: bytes) -> tuple[float, int]:
        async def requests():
            yield {"model_name": MODEL, "inputs": [_input("IMAGES", image), _input("DOMAIN", DOMAIN.encode()),
                                                   _input("CONFIG", b"{}")]}

        started = time.perf_counter()
        async for result, error in self.client.stream_infer(requests()):
            if error is not None:
                raise RuntimeError(f"direct: {error}")
            held = json.loads(result.as_numpy("RESPONSE")[0])["result"]["held"]
            return time.perf_counter() - started, held
        raise RuntimeError("direct: no answer")

    async def close(self) -> None:
        await self.client.close()


async def closed_loop(call, concurrency: int, total: int) -> tuple[list[float], list[int], float]:
    results, wall = await common.closed_loop(call, concurrency, total)
    return [r[0] for r in results], [r[1] for r in results], wall


async def images(direct: Direct, client: Client, total: int) -> dict[str, Any]:
    image = small_png()
    request = img_pb.ImageServiceGenerateRequest(domain=DOMAIN, images=[pb.ImageInput(data=image)])

    async def service_call() -> tuple[float, int]:
        started = time.perf_counter()
        reply = await client.images.Generate(request, timeout=300)
        if reply.prediction.status != pb.PREDICTION_STATUS_COMPLETED:
            raise RuntimeError(f"service: {reply.prediction.error.message}")
        return time.perf_counter() - started, response(reply.prediction)["pages"][0]["held"]

    out: dict[str, Any] = {}
    for name, call in (("direct", lambda: direct.call(image)), ("service", service_call),
                       ("service_again", service_call), ("direct_again", lambda: direct.call(image))):
        lat, held, wall = await closed_loop(call, CONCURRENCY, total)
        key = name.removesuffix("_again")
        prev = out.get(key, {"latencies": [], "held": [], "wall": 0.0})
        out[key] = {"latencies": prev["latencies"] + lat, "held": prev["held"] + held, "wall": prev["wall"] + wall}
    return {k: {**common.summary(v["latencies"]), "throughput_rps": len(v["latencies"]) / v["wall"],
                "max_held": max(v["held"])} for k, v in out.items()}


async def pages(direct: Direct, client: Client, pdf: bytes, workdir: Path, count: int) -> dict[str, Any]:
    path = workdir / "document.pdf"
    path.write_bytes(pdf)
    renderer = Renderer(os.cpu_count() or 1)  # the service's default render processes
    await renderer.warm_up()
    try:
        started = time.perf_counter()
        rendered = await asyncio.gather(*(renderer.render(str(path), i, 150, PAGE_PIXELS, False) for i in range(count)))
        render_s = time.perf_counter() - started
    finally:
        renderer.close()
    queue = [image for image, _ in rendered]
    held: list[int] = []

    async def sender() -> None:
        while queue:
            _, h = await direct.call(queue.pop())
            held.append(h)

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(CONCURRENCY)))
    direct_s = time.perf_counter() - started
    started = time.perf_counter()
    reply = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
        domain=DOMAIN, document=pb.DocumentInput(data=pdf), batch=False), timeout=600)
    service_s = time.perf_counter() - started
    if reply.prediction.status != pb.PREDICTION_STATUS_COMPLETED:
        raise RuntimeError(f"service: {reply.prediction.error.message}")
    service_held = [p["held"] for p in response(reply.prediction)["pages"]]
    # A document's pages cannot be answered faster than they are rendered, and its last page still takes the
    # model's time after it is rendered: the best any pipeline reaches is count / (render_s + latency).
    return {"pages": count, "render_pages_per_s": count / render_s,
            "render_ceiling_pages_per_s": count / (render_s + LATENCY_S),
            "direct": {"pages_per_s": count / direct_s, "max_held": max(held)},
            "service": {"pages_per_s": count / service_s, "max_held": max(service_held), "wall_s": service_s}}


async def run(smoke: bool) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-saturation-"))
    repo = workdir / "models"
    repo.mkdir()
    (repo / MODEL).symlink_to(common.ROOT / "bench" / "triton_models" / MODEL)
    triton = EmbeddedTriton(repo, workdir / "triton")
    await triton.start()
    srv = direct = client = None
    try:
        srv = await asyncio.to_thread(common.start_service, workdir / "service", triton.grpc_url, MODEL)  # defaults
        direct, client = Direct(triton.grpc_url), Client(srv.target)
        total, page_count = (CONCURRENCY, 8) if smoke else (CONCURRENCY * 12, 64)
        await closed_loop(lambda: direct.call(small_png()), 4, 8)  # warm both paths
        img = await images(direct, client, total // 2)
        doc = await pages(direct, client, document(page_count), workdir, page_count)
        ratio_img = img["service"]["throughput_rps"] / img["direct"]["throughput_rps"]
        ratio_doc = doc["service"]["pages_per_s"] / doc["direct"]["pages_per_s"]
        ratio_ceiling = doc["service"]["pages_per_s"] / doc["render_ceiling_pages_per_s"]
        print(f"  images: service {img['service']['throughput_rps']:.0f}/s vs direct "
              f"{img['direct']['throughput_rps']:.0f}/s ({ratio_img:.2f}x), held {img['service']['max_held']}; "
              f"document: {doc['service']['pages_per_s']:.1f} vs {doc['direct']['pages_per_s']:.1f} pages/s "
              f"(render ceiling {doc['render_ceiling_pages_per_s']:.1f}; rendering alone "
              f"{doc['render_pages_per_s']:.1f})", flush=True)
        result = {
            "smoke": smoke,
            "setup": {"model": f"latency ({LATENCY_S} s per request, unbounded overlap)", "concurrency": CONCURRENCY,
                      "service_settings": "defaults (models=latency)", "cpus": os.cpu_count()},
            "images": img, "document": doc,
            "targets": {
                "images": {"target": "32 concurrent images >= 0.9 x direct throughput (default settings)",
                           "measured": f"{ratio_img:.2f} x ({img['service']['throughput_rps']:.0f} vs "
                                       f"{img['direct']['throughput_rps']:.0f}/s; "
                                       f"p50 {img['service']['p50_ms']:.0f} vs "
                                       f"{img['direct']['p50_ms']:.0f} ms, p99 {img['service']['p99_ms']:.0f} vs "
                                       f"{img['direct']['p99_ms']:.0f} ms; model held up to "
                                       f"{img['service']['max_held']} vs {img['direct']['max_held']})",
                           "met": ratio_img >= 0.9},
                "document": {"target": "64-page PDF >= 0.8 x direct pages/s, or >= 0.9 x the render ceiling "
                                       "when rendering is the bound",
                             "measured": f"{doc['service']['pages_per_s']:.1f} pages/s = {ratio_doc:.2f} x direct "
                                         f"({doc['direct']['pages_per_s']:.1f}), {ratio_ceiling:.2f} x the render "
                                         f"ceiling ({doc['render_ceiling_pages_per_s']:.1f}: 64 pages rendered "
                                         f"alone at {doc['render_pages_per_s']:.1f}/s, plus the last page's "
                                         f"{LATENCY_S} s); model held up to "
                                         f"{doc['service']['max_held']}",
                             "met": ratio_doc >= 0.8 or ratio_ceiling >= 0.9},
            },
        }
        common.write_result(NAME, result)
        return result
    finally:
        await common.shut_down((direct, client), (srv,), triton, workdir)
