"""The REST path beside the gRPC path: what the VLM Run REST API adds over gRPC for the same request.

One embedded Triton with the `echo` model and one service with its DEFAULT settings (the REST API is on by
default, on the gRPC port + 1). The same 64x64 PNG, domain "bench.echo", synchronous (batch=false), two paths
into the same process, alternating in rounds (ABBA) so both see the same noise:

- grpc: ImageService.Generate through vlmgrpc_client.Client (one HTTP/2 channel);
- rest: POST /v1/image/generate with the image as a base64 data URL, JSON in and out, through one aiohttp
  client session with keep-alive (HTTP/1.1, as the official SDK's requests session; aiohttp rather than httpx
  because the client shares these 2 cores, and httpx's own CPU per call would be charged to the REST path).

Closed loop at each concurrency level; latency percentiles pool every round of a path, throughput is its
requests over its time, service CPU per request is the process's user+system time over the requests.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bench import common
from bench.gateway import DOMAIN, MODEL, Service, _cpu_s, closed_loop, small_png

NAME = "rest"
FULL_LEVELS = ((1, 400), (8, 1600), (32, 1600))
SMOKE_LEVELS = ((1, 8), (8, 16))
ROUNDS = 4
WARMUP = 64


class Rest:
    def __init__(self, base_url: str, image: bytes):
        self.url = base_url + "/image/generate"
        self.body = json.dumps({"domain": DOMAIN, "batch": False,
                                "images": ["data:image/png;base64," + base64.b64encode(image).decode()]})
        self.client: aiohttp.ClientSession | None = None

    async def call(self) -> None:
        if self.client is None:  # made on the running loop
            self.client = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256), trust_env=False,
                                                timeout=aiohttp.ClientTimeout(total=120))
        async with self.client.post(self.url, data=self.body, headers={"Content-Type": "application/json"}) as resp:
            answer = await resp.json()
            if resp.status != 200 or answer.get("status") != "completed":
                raise RuntimeError(f"rest: HTTP {resp.status}: {str(answer)[:300]}")

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()


async def measure_level(paths: dict[str, Any], concurrency: int, total: int, proc: psutil.Process) -> dict[str, Any]:
    per_round = max(1, total // ROUNDS)
    samples: dict[str, list[float]] = {name: [] for name in paths}
    wall = dict.fromkeys(paths, 0.0)
    cpu = dict.fromkeys(paths, 0.0)
    names = list(paths)
    for r in range(ROUNDS):
        for name in names if r % 2 == 0 else names[::-1]:
            before = _cpu_s(proc)
            lat, seconds = await closed_loop(paths[name], concurrency, per_round)
            cpu[name] += _cpu_s(proc) - before
            samples[name] += lat
            wall[name] += seconds
    out: dict[str, Any] = {"concurrency": concurrency}
    for name in names:
        n = len(samples[name])
        out[name] = {**common.summary(samples[name]), "throughput_rps": n / wall[name],
                     "service_cpu_ms_per_request": cpu[name] / n * 1000}
    g, r = out["grpc"], out["rest"]
    out["added_p50_ms"] = r["p50_ms"] - g["p50_ms"]
    out["ratio_rest_over_grpc"] = {"p50": r["p50_ms"] / g["p50_ms"], "p99": r["p99_ms"] / g["p99_ms"],
                                   "throughput": r["throughput_rps"] / g["throughput_rps"],
                                   "service_cpu": r["service_cpu_ms_per_request"] / g["service_cpu_ms_per_request"]}
    return out


def targets(levels: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    # No number is promised for REST: these are reported side by side ("met" None: a report, not a target).
    out = {}
    for lv in levels:
        c, ratio = lv["concurrency"], lv["ratio_rest_over_grpc"]
        out[f"rest_vs_grpc_c{c}"] = {
            "target": f"REST beside gRPC at concurrency {c} (default settings, same request): report",
            "measured": f"added p50 {lv['added_p50_ms']:.2f} ms ({lv['rest']['p50_ms']:.2f} vs "
                        f"{lv['grpc']['p50_ms']:.2f} ms), throughput {ratio['throughput']:.2f} x "
                        f"({lv['rest']['throughput_rps']:.0f} vs {lv['grpc']['throughput_rps']:.0f}/s), "
                        f"service CPU {ratio['service_cpu']:.2f} x",
            "met": None}
    return out


async def run(smoke: bool) -> dict[str, Any]:
    levels_spec = SMOKE_LEVELS if smoke else FULL_LEVELS
    workdir = Path(tempfile.mkdtemp(prefix="bench-rest-"))
    image = small_png()
    triton = await common.start_triton(workdir)
    srv = grpc_path = rest_path = None
    try:
        srv = await asyncio.to_thread(common.start_service, workdir / "service", triton.grpc_url, MODEL)  # defaults
        base_url = await asyncio.to_thread(srv.rest_url)
        if not base_url:
            raise RuntimeError("the service printed no REST API address")
        grpc_path, rest_path = Service(srv.target, image), Rest(base_url, image)
        paths = {"grpc": grpc_path.call, "rest": rest_path.call}
        proc = psutil.Process(srv.proc.pid)
        for call in paths.values():
            await closed_loop(call, 8, 8 if smoke else WARMUP)  # warm
        levels = []
        for concurrency, total in levels_spec:
            level = await measure_level(paths, concurrency, total, proc)
            levels.append(level)
            print(f"  c={concurrency:<3} grpc p50 {level['grpc']['p50_ms']:.2f} ms "
                  f"{level['grpc']['throughput_rps']:.0f}/s | rest p50 {level['rest']['p50_ms']:.2f} ms "
                  f"{level['rest']['throughput_rps']:.0f}/s | added p50 {level['added_p50_ms']:.2f} ms | "
                  f"CPU/request grpc {level['grpc']['service_cpu_ms_per_request']:.2f} ms, rest "
                  f"{level['rest']['service_cpu_ms_per_request']:.2f} ms", flush=True)
        result = {"smoke": smoke,
                  "setup": {"image": "64x64 RGB PNG", "image_bytes": len(image), "domain": DOMAIN, "model": MODEL,
                            "service_settings": "defaults", "rounds_per_path": ROUNDS,
                            "levels": [{"concurrency": c, "requests_per_path": n} for c, n in levels_spec]},
                  "levels": levels, "targets": targets(levels)}
        common.write_result(NAME, result)
        return result
    finally:
        await common.shut_down((grpc_path, rest_path), (srv,), triton, workdir)

