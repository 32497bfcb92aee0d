"""Gateway overhead: what the service adds around one Triton round trip.

One embedded Triton with the `echo` model (the real python-backend model.py with the trivial engine) and the
service in its own process, pointed at it. The same 64x64 PNG, domain "bench.echo", two paths:

- direct: tritonclient.grpc.aio `stream_infer` to "echo" with one request (IMAGES, DOMAIN, CONFIG "{}",
  TEXT_HINT "") on a fresh stream per call, reading its one response: how a tritonclient caller reaches a
  decoupled model. The service sends the same tensors per element, on one stream it shares across predictions.
- service: ImageService.Generate with batch unset (false for images) through vlmgrpc_client.Client: the
  service validates, stores the input, queues, runs the prediction through the same Triton call, persists
  every transition and answers once COMPLETED.

Closed loop at each concurrency level: `c` tasks each send their next request when the previous one answers.
The paths alternate in rounds (direct, service, tuned, tuned, service, direct, ...) so all see the same noise on
this shared machine; latency percentiles pool every round of a path, throughput is its requests over its time.
Two services run side by side: `service` with the DEFAULT settings (what users get) and `tuned` with workers and
queue_size above the highest concurrency. CPU per request is each process's user+system time over the requests.
"""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image
from tritonclient.grpc import InferInput
from tritonclient.grpc.aio import InferenceServerClient

from bench import common
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc_client import Client

NAME = "gateway"
DOMAIN = "bench.echo"
MODEL = "echo"
SERVICE_SETTINGS = {"workers": 128, "queue_size": 1024}
# (concurrency, requests per path at that level)
FULL_LEVELS = ((1, 500), (8, 2000), (32, 2000), (128, 2000))
SMOKE_LEVELS = ((1, 8), (8, 16))
ROUNDS = 4  # rounds per path and level, alternating ABBA
WARMUP = 64


def small_png(size: int = 64) -> bytes:
    rng = np.random.default_rng(7)
    img = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "RGB")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _bytes_input(name: str, value: bytes) -> InferInput:
    tensor = InferInput(name, [1], "BYTES")
    tensor.set_data_from_numpy(np.array([value], dtype=np.object_))
    return tensor


class Direct:
    """One request on a fresh ModelStreamInfer stream."""

    def __init__(self, url: str, image: bytes):
        self.client = InferenceServerClient(url, channel_args=[
            ("grpc.max_send_message_length", 2**31 - 1), ("grpc.max_receive_message_length", 2**31 - 1)])
        self.image = image

    async def call(self) -> None:
        request = {"model_name": MODEL, "request_id": "0", "inputs": [
            _bytes_input("IMAGES", self.image), _bytes_input("DOMAIN", DOMAIN.encode()),
            _bytes_input("CONFIG", b"{}"), _bytes_input("TEXT_HINT", b"")]}

        async def requests():
            yield request

        responses = self.client.stream_infer(requests())
        try:
            result, error = await responses.__anext__()
            if error is not None:
                raise RuntimeError(f"direct: {error}")
            json.loads(result.as_numpy("RESPONSE")[0])
        finally:
            responses.cancel()

    async def close(self) -> None:
        await self.client.close()


class Service:
    def __init__(self, target: str, image: bytes):
        self.client = Client(target)
        self.request = img_pb.ImageServiceGenerateRequest(domain=DOMAIN, images=[pb.ImageInput(data=image)])

    async def call(self) -> None:
        response = await self.client.images.Generate(self.request, timeout=120)
        if response.prediction.status != pb.PREDICTION_STATUS_COMPLETED:
            raise RuntimeError(f"service: prediction ended {pb.PredictionStatus.Name(response.prediction.status)}")

    async def close(self) -> None:
        await self.client.close()


class Floor:
    """grpc.health.v1 Health/Check on the service: the cost of any unary RPC into this Python server
    (transport, the service's interceptor), with no job work. Measured at concurrency 1 only."""

    def __init__(self, target: str):
        self.client = Client(target)
        self.stub = health_pb2_grpc.HealthStub(self.client.channel)

    async def call(self) -> None:
        await self.stub.Check(health_pb2.HealthCheckRequest(), timeout=30)

    async def close(self) -> None:
        await self.client.close()


async def closed_loop(call: Callable[[], Awaitable[None]], concurrency: int, total: int) -> tuple[list[float], float]:
    """`total` calls from `concurrency` tasks; (latency of each, wall time)."""
    async def timed() -> float:
        started = time.perf_counter()
        await call()
        return time.perf_counter() - started

    return await common.closed_loop(timed, concurrency, total)


def _cpu_s(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    try:
        total = 0.0
        for p in (proc, *proc.children(recursive=True)):
            times = p.cpu_times()
            total += times.user + times.system
        return total
    except psutil.Error:
        return 0.0


async def measure_level(paths: dict[str, Callable[[], Awaitable[None]]], concurrency: int, total: int,
                        procs: dict[str, psutil.Process | None]) -> dict[str, Any]:
    per_round = max(1, total // ROUNDS)
    samples: dict[str, list[float]] = {name: [] for name in paths}
    wall: dict[str, float] = dict.fromkeys(paths, 0.0)
    cpu: dict[str, dict[str, float]] = {name: dict.fromkeys(procs, 0.0) for name in paths}
    names = list(paths)
    for r in range(ROUNDS):
        order = names if r % 2 == 0 else names[::-1]  # ABBA: neither path always goes first
        for name in order:
            before = {p: _cpu_s(proc) for p, proc in procs.items()}
            lat, seconds = await closed_loop(paths[name], concurrency, per_round)
            for p, proc in procs.items():
                cpu[name][p] += _cpu_s(proc) - before[p]
            samples[name] += lat
            wall[name] += seconds
    out: dict[str, Any] = {"concurrency": concurrency}
    for name in names:  # direct, service (and floor at concurrency 1)
        n = len(samples[name])
        out[name] = {**common.summary(samples[name]), "throughput_rps": n / wall[name],
                     "cpu_ms_per_request": {p: cpu[name][p] / n * 1000 for p in procs}}
    d, s = out["direct"], out["service"]
    out["ratio_service_over_direct"] = {"p50": s["p50_ms"] / d["p50_ms"], "p99": s["p99_ms"] / d["p99_ms"],
                                        "throughput": s["throughput_rps"] / d["throughput_rps"]}
    if "tuned" in out:
        t = out["tuned"]
        out["ratio_tuned_over_direct"] = {"p50": t["p50_ms"] / d["p50_ms"],
                                          "throughput": t["throughput_rps"] / d["throughput_rps"]}
    out["added_p50_ms"] = s["p50_ms"] - d["p50_ms"]
    out["added_p99_ms"] = s["p99_ms"] - d["p99_ms"]
    return out


def chart(levels: list[dict[str, Any]]) -> Path:
    plt = common.pyplot()
    xs = [lv["concurrency"] for lv in levels]
    fig, (ax_lat, ax_tp) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, color in (("direct", "tab:blue"), ("service", "tab:red"), ("tuned", "tab:orange")):
        ax_lat.plot(xs, [lv[name]["p50_ms"] for lv in levels], "o-", color=color, label=f"{name} p50")
        ax_lat.plot(xs, [lv[name]["p99_ms"] for lv in levels], "s--", color=color, label=f"{name} p99")
        ax_tp.plot(xs, [lv[name]["throughput_rps"] for lv in levels], "o-", color=color, label=name)
    for ax in (ax_lat, ax_tp):
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel("concurrency (requests in flight)")
        ax.grid(True, alpha=0.3)
        ax.legend()
    floors = [(lv["concurrency"], lv["floor"]["p50_ms"]) for lv in levels if "floor" in lv]
    if floors:
        ax_lat.plot(*zip(*floors, strict=True), "x", color="grey", markersize=9, label="Health/Check p50 (floor)")
        ax_lat.legend()
    ax_lat.set_yscale("log")
    ax_lat.set_ylabel("latency (ms)")
    ax_lat.set_title("latency: direct Triton vs ImageService.Generate")
    ax_tp.set_ylabel("throughput (requests/s)")
    ax_tp.set_title("throughput")
    return common.save_chart(fig, NAME)


def targets(levels: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by_c = {lv["concurrency"]: lv for lv in levels}
    out: dict[str, dict[str, Any]] = {}
    if 1 in by_c:
        lv = by_c[1]
        out["added_p50_c1"] = {
            "target": "added p50 latency <= 1 ms at concurrency 1 (service p50 - direct p50)",
            "measured": f"{lv['added_p50_ms']:.2f} ms (service {lv['service']['p50_ms']:.2f} ms, "
                        f"direct {lv['direct']['p50_ms']:.2f} ms; a bare Health/Check on the service "
                        f"{lv['floor']['p50_ms']:.2f} ms)",
            "met": lv["added_p50_ms"] <= 1.0}
    if 32 in by_c:
        lv = by_c[32]
        ratio = lv["ratio_service_over_direct"]["throughput"]
        tuned = lv.get("ratio_tuned_over_direct", {}).get("throughput", float("nan"))
        out["throughput_c32"] = {
            "target": "throughput >= 0.9 x direct at concurrency 32 (default settings; tuned beside it)",
            "measured": f"{ratio:.2f} x ({lv['service']['throughput_rps']:.0f} vs "
                        f"{lv['direct']['throughput_rps']:.0f} req/s); tuned {tuned:.2f} x",
            "met": ratio >= 0.9}
        cpu = lv["service"]["cpu_ms_per_request"]["service"]
        out["cpu_c32"] = {
            "target": "service CPU <= 1 ms per request at concurrency 32 (default settings)",
            "measured": f"{cpu:.2f} ms (tuned {lv.get('tuned', {}).get('cpu_ms_per_request', {}).get('tuned', 0):.2f}"
                        f" ms; Triton {lv['direct']['cpu_ms_per_request']['triton']:.2f} ms per direct request)",
            "met": cpu <= 1.0}
    return out


async def run(smoke: bool) -> dict[str, Any]:
    levels_spec = SMOKE_LEVELS if smoke else FULL_LEVELS
    workdir = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    image = small_png()
    triton = await common.start_triton(workdir)
    srv = tuned_srv = direct = service = tuned = floor = None
    try:
        srv = await asyncio.to_thread(common.start_service, workdir / "service", triton.grpc_url, MODEL)  # defaults
        tuned_srv = await asyncio.to_thread(common.start_service, workdir / "tuned", triton.grpc_url, MODEL,
                                            **SERVICE_SETTINGS)
        direct, service = Direct(triton.grpc_url, image), Service(srv.target, image)
        tuned = Service(tuned_srv.target, image)
        floor = Floor(srv.target)
        paths = {"direct": direct.call, "service": service.call, "tuned": tuned.call}
        procs = {"service": psutil.Process(srv.proc.pid) if srv.proc else None,
                 "tuned": psutil.Process(tuned_srv.proc.pid) if tuned_srv.proc else None,
                 "triton": psutil.Process(triton.pid) if triton.pid else None}
        for call in (*paths.values(), floor.call):  # connections, model and code paths warm
            await closed_loop(call, 8, 8 if smoke else WARMUP)
        levels = []
        for concurrency, total in levels_spec:
            level_paths = {**paths, "floor": floor.call} if concurrency == 1 else paths
            level = await measure_level(level_paths, concurrency, total, procs)
            levels.append(level)
            print(f"  c={concurrency:<4} direct p50 {level['direct']['p50_ms']:.2f} ms "
                  f"p99 {level['direct']['p99_ms']:.2f} ms {level['direct']['throughput_rps']:.0f}/s | "
                  f"service p50 {level['service']['p50_ms']:.2f} ms p99 {level['service']['p99_ms']:.2f} ms "
                  f"{level['service']['throughput_rps']:.0f}/s | tuned {level['tuned']['throughput_rps']:.0f}/s | "
                  f"added p50 {level['added_p50_ms']:.2f} ms | service CPU/request "
                  f"{level['service']['cpu_ms_per_request']['service']:.2f} ms"
                  + (f" | floor p50 {level['floor']['p50_ms']:.2f} ms" if "floor" in level else ""), flush=True)
        result = {
            "smoke": smoke,
            "setup": {"image": "64x64 RGB PNG", "image_bytes": len(image), "domain": DOMAIN, "model": MODEL,
                      "service_settings": "defaults", "tuned_settings": SERVICE_SETTINGS,
                      "note": "`service` runs with the default settings, `tuned` with workers=128, queue_size=1024; "
                              "client, services and Triton share this machine's CPUs. "
                              "floor (concurrency 1 only) = grpc.health.v1 Health/Check on the service: "
                              "the round trip of a unary RPC into the service with no job work",
                      "rounds_per_path": ROUNDS, "levels": [{"concurrency": c, "requests_per_path": n}
                                                            for c, n in levels_spec]},
            "levels": levels,
            "targets": targets(levels),
            "chart": str(chart(levels).relative_to(common.ROOT)),
        }
        common.write_result(NAME, result)
        return result
    finally:
        await common.shut_down((direct, service, tuned, floor), (srv, tuned_srv), triton, workdir)
