"""Shared pieces of the benchmarks: the model repository, Triton, the service, statistics, output."""

from __future__ import annotations

import asyncio
import json
import platform
import re
import shutil
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psutil

from vlmgrpc.inference.embedded import EmbeddedTriton
from vlmgrpc_client.process import ServerProcess

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# Where this run writes: smoke runs (CI) go to results/smoke/ and never replace the measured figures.
OUTPUT = RESULTS
OCR_MODEL = ROOT / "triton_models" / "ocr"


def model_repository(dest: Path) -> Path:
    """A repository with the real `ocr` model and `echo`: the same model.py with the trivial engine,
    for measuring what the gateway adds around a model that does no work."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "ocr").exists() or (dest / "ocr").symlink_to(OCR_MODEL)
    echo = dest / "echo"
    echo.mkdir(exist_ok=True)
    (echo / "1").exists() or (echo / "1").symlink_to(OCR_MODEL / "1")
    config = (OCR_MODEL / "config.pbtxt").read_text()
    config = config.replace('name: "ocr"', 'name: "echo"')
    config = re.sub(r'(key: "engine"\s*value \{ string_value: )"[^"]*"', r'\1"echo"', config)
    config = re.sub(r'(key: "domains"\s*value \{ string_value: )"[^"]*"', r'\1"bench.echo"', config)
    # OCR's small in-flight bound protects fairness for seconds-long pages; echo answers in microseconds.
    config = re.sub(r'(key: "max_in_flight"\s*value \{ string_value: )"\d+"', r'\1"64"', config)
    (echo / "config.pbtxt").write_text(config)
    return dest


async def start_triton(workdir: Path) -> EmbeddedTriton:
    triton = EmbeddedTriton(model_repository(workdir / "models"), workdir / "triton")
    await triton.start()
    return triton


def start_service(data_dir: Path, triton_url: str, model: str, **settings: Any) -> ServerProcess:
    """The service in its own process, pointed at an already running Triton."""
    return ServerProcess(data_dir, triton_url=triton_url, models=model, **settings).start()


def summary(samples_s: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples_s)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000

    return {"n": len(ordered), "p50_ms": pct(50), "p99_ms": pct(99), "mean_ms": statistics.fmean(ordered) * 1000,
            "max_ms": ordered[-1] * 1000}


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of one process (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return psutil.Process(pid).memory_info().rss / 2**20


def machine() -> dict[str, Any]:
    return {"cpus": psutil.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "when": time.strftime("%Y-%m-%d %H:%M:%S")}


def write_result(name: str, result: dict[str, Any]) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), **result}, indent=2) + "\n")
    return path


def chart_path(name: str) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT / f"{name}.png"


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_chart(fig, name: str) -> Path:
    fig.tight_layout()
    path = chart_path(name)
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path


async def closed_loop(call: Callable[[], Awaitable[T]], concurrency: int, total: int) -> tuple[list[T], float]:
    """`total` calls from `concurrency` tasks, each sending its next call when its previous one answered:
    (every call's result, wall time)."""
    results: list[T] = []
    left = total

    async def one_task() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            results.append(await call())

    started = time.perf_counter()
    await asyncio.gather(*(one_task() for _ in range(min(concurrency, total))))
    return results, time.perf_counter() - started


async def shut_down(closers: Iterable[Any], services: Iterable[ServerProcess | None], triton: EmbeddedTriton,
                    workdir: Path) -> None:
    """End a benchmark: its clients, its services (SIGTERM, in threads), its Triton, its files."""
    for closer in closers:
        if closer is not None:
            await closer.close()
    for service in services:
        if service is not None:
            await asyncio.to_thread(service.stop)
    await triton.stop()
    shutil.rmtree(workdir, ignore_errors=True)
