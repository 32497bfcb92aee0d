"""Upload throughput: FileService.UploadFile against a raw gRPC byte stream on the same machine.

The service runs in its own process (pointed at a Triton serving `echo`; uploads never reach it);
the baseline is bench/raw_sink.py, a grpc.aio server in its own process whose one client-streaming
method only counts the bytes it receives. Both get the very same wire bytes through the same client
code: one grpc.aio channel from this process and a request iterator over messages serialized before
the clock starts (the UploadFile metadata message, then UploadFileRequest{chunk} messages), since
building messages is the client's cost, not the server's. The service answers only after it has
hashed the bytes, written them and recorded the file; the sink answers after counting.

Rounds alternate (raw, service, raw, service, ...) so that drift on a shared machine hits both.
Target: the service moves at least 0.8 x the raw stream's MB/s (1 MiB chunks, median of rounds).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from bench import common
from bench.raw_sink import METHOD as RAW_METHOD
from vlmgrpc.api.vlm.v1 import file_service_pb2 as pb
from vlmgrpc_client import Client
from vlmgrpc_client.process import dies_with_parent

MB = 1_000_000
KiB, MiB = 1024, 1024 * 1024
FULL_BYTES, SMOKE_BYTES = 200 * MB, 8 * MB
MAIN_CHUNK = 1 * MiB
OTHER_CHUNKS = (256 * KiB, 4 * MiB)
ROUNDS = 3  # of each path, per chunk size, at full size
UPLOAD_METHOD = "/vlm.v1.FileService/UploadFile"
TARGET_RATIO = 0.8


def chunk_label(chunk: int) -> str:
    return f"{chunk // MiB} MiB" if chunk >= MiB else f"{chunk // KiB} KiB"


def wire_messages(data: bytes, sha256: str, chunk: int) -> list[bytes]:
    """The serialized UploadFileRequest stream: metadata first, then the chunks."""
    meta = pb.UploadFileRequest(metadata=pb.UploadFileMetadata(
        filename="bench.bin", size_bytes=len(data), sha256=sha256, content_type="application/octet-stream"))
    view = memoryview(data)
    return [meta.SerializeToString()] + [pb.UploadFileRequest(chunk=bytes(view[i:i + chunk])).SerializeToString()
                                         for i in range(0, len(data), chunk)]


class RawSink:
    """bench/raw_sink.py in its own process."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.target = ""

    def start(self) -> RawSink:
        self.proc = subprocess.Popen(dies_with_parent([sys.executable, "-m", "bench.raw_sink", "--port", "0"]),
                                     cwd=common.ROOT, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout
        line = self.proc.stdout.readline()
        if not line.startswith("raw-sink serving on "):
            self.stop()
            raise RuntimeError(f"raw sink did not start: {line!r}")
        self.target = line.split()[-1]
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


class Side:
    """One side of the comparison: a channel, the method, and how to check the answer."""

    def __init__(self, name: str, target: str, method: str, pid: int):
        self.name = name
        self.client = Client(target)  # the same channel options for both sides
        self.call = self.client.channel.stream_unary(
            method, request_serializer=None,
            response_deserializer=pb.UploadFileResponse.FromString if name == "service" else None)
        self.proc = psutil.Process(pid)

    async def upload(self, messages: Sequence[bytes], size: int, sha256: str) -> dict[str, Any]:
        me = psutil.Process()
        server0, client0 = cpu_s(self.proc), cpu_s(me)
        started = time.perf_counter()
        response = await self.call(iter(messages))
        seconds = time.perf_counter() - started
        server_cpu, client_cpu = cpu_s(self.proc) - server0, cpu_s(me) - client0
        if self.name == "service":
            if response.file.bytes != size or response.file.sha256 != sha256:
                raise RuntimeError(f"the service recorded {response.file.bytes} bytes, sha256 {response.file.sha256}")
            await self.client.files.DeleteFile(pb.DeleteFileRequest(id=response.file.id))  # keep the disk clean
        elif int(response) != sum(map(len, messages)):
            raise RuntimeError(f"the raw sink counted {int(response)} bytes")
        return {"seconds": seconds, "mb_s": size / MB / seconds, "server_cpu_s": server_cpu,
                "client_cpu_s": client_cpu}


async def run(smoke: bool) -> dict:
    size = SMOKE_BYTES if smoke else FULL_BYTES
    rounds = 1 if smoke else ROUNDS
    data = os.urandom(size)
    sha256 = hashlib.sha256(data).hexdigest()
    with tempfile.TemporaryDirectory(prefix="vlmgrpc-bench-upload-") as tmp:
        workdir = Path(tmp)
        triton = await common.start_triton(workdir)
        service = raw = None
        paths: list[Side] = []
        try:
            service = await asyncio.to_thread(common.start_service, workdir / "data", triton.grpc_url, "echo",
                                              max_upload_bytes=2 * size)
            raw = await asyncio.to_thread(RawSink().start)
            assert service.proc and raw.proc
            paths = [Side("raw", raw.target, RAW_METHOD, raw.proc.pid),
                     Side("service", service.target, UPLOAD_METHOD, service.proc.pid)]
            samples = await measure(paths, data, sha256, rounds)
            rss = {p.name: common.peak_rss_mb(p.proc.pid) for p in paths}
        finally:
            for p in paths:
                await p.client.close()
            if raw:
                raw.stop()
            if service:
                await asyncio.to_thread(service.stop)
            await triton.stop()

    by_chunk = {}
    for chunk in sorted((MAIN_CHUNK, *OTHER_CHUNKS)):
        med = {name: statistics.median(s["mb_s"] for s in samples if s["chunk_bytes"] == chunk and s["path"] == name)
               for name in ("raw", "service")}
        cpu = {name: statistics.median(s["server_cpu_s"] for s in samples
                                       if s["chunk_bytes"] == chunk and s["path"] == name)
               for name in ("raw", "service")}
        by_chunk[chunk_label(chunk)] = {"raw_mb_s": med["raw"], "service_mb_s": med["service"],
                                        "ratio": med["service"] / med["raw"],
                                        "raw_server_cpu_s": cpu["raw"], "service_server_cpu_s": cpu["service"]}
    main = by_chunk[chunk_label(MAIN_CHUNK)]
    result = {
        "size_bytes": size, "rounds_per_path": rounds, "main_chunk_bytes": MAIN_CHUNK,
        "by_chunk": by_chunk, "rounds": samples, "peak_rss_mb": rss,
        "targets": {"upload_vs_raw": {
            "target": f"UploadFile ≥ {TARGET_RATIO} × a raw gRPC byte stream ({size // MB} MB, 1 MiB chunks)",
            "measured": (f"{main['service_mb_s']:.0f} vs {main['raw_mb_s']:.0f} MB/s = {main['ratio']:.2f}× "
                         f"(median of {rounds}); 256 KiB {by_chunk['256 KiB']['ratio']:.2f}×, "
                         f"4 MiB {by_chunk['4 MiB']['ratio']:.2f}×"),
            "met": main["ratio"] >= TARGET_RATIO}},
    }
    common.write_result("upload", result)
    chart(samples, by_chunk, size)
    return result


async def measure(paths: list[Side], data: bytes, sha256: str, rounds: int) -> list[dict[str, Any]]:
    """Warm both paths up, then alternate raw and service rounds for each chunk size. Each chunk size is
    warmed with one whole upload per path first: a process's first pass over fresh memory pays the page
    faults of this VM (the first service round was 2-3x slower than the next), and the rounds measure the
    steady state."""
    samples = []
    for chunk in (MAIN_CHUNK, *OTHER_CHUNKS):
        messages = wire_messages(data, sha256, chunk)
        for p in paths:
            await p.upload(messages, len(data), sha256)
        for i in range(rounds):
            for p in paths:
                sample = await p.upload(messages, len(data), sha256)
                samples.append({"path": p.name, "chunk_bytes": chunk, "round": i + 1, **sample})
                print(f"  {chunk_label(chunk):>7} round {i + 1} {p.name:>7}: {sample['mb_s']:7.0f} MB/s "
                      f"({sample['seconds']:.2f} s; server CPU {sample['server_cpu_s']:.2f} s, "
                      f"client CPU {sample['client_cpu_s']:.2f} s)", flush=True)
        del messages
    return samples


def chart(samples: list[dict[str, Any]], by_chunk: dict[str, dict[str, float]], size: int) -> None:
    plt = common.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    colors = {"raw": "#7f7f7f", "service": "#1f77b4"}
    order = [s for s in samples if s["chunk_bytes"] == MAIN_CHUNK]
    for name in ("raw", "service"):
        xs = [i + 1 for i, s in enumerate(order) if s["path"] == name]
        ys = [s["mb_s"] for s in order if s["path"] == name]
        label = "raw gRPC byte stream" if name == "raw" else "FileService.UploadFile"
        left.bar(xs, ys, color=colors[name], label=label)
        for x, y in zip(xs, ys, strict=True):
            left.annotate(f"{y:.0f}", (x, y), ha="center", va="bottom", fontsize=8)
    main = by_chunk[chunk_label(MAIN_CHUNK)]
    left.axhline(TARGET_RATIO * main["raw_mb_s"], color="#d62728", linestyle="--", linewidth=1,
                 label=f"target: {TARGET_RATIO} × raw median")
    left.set_xticks(range(1, len(order) + 1), [f"{s['path']}\nround {s['round']}" for s in order], fontsize=8)
    left.set_ylabel("MB/s")
    left.set_ylim(0, 1.25 * max(s["mb_s"] for s in order))
    left.set_title(f"{size // MB} MB in 1 MiB chunks, rounds in the order run: service/raw = {main['ratio']:.2f}×",
                   fontsize=10)
    left.legend(fontsize=8, loc="upper center", ncol=3)
    labels = list(by_chunk)
    width = 0.38
    for k, name in enumerate(("raw", "service")):
        right.bar([i + (k - 0.5) * width for i in range(len(labels))], [by_chunk[c][f"{name}_mb_s"] for c in labels],
                  width, color=colors[name])
    for i, c in enumerate(labels):
        right.annotate(f"{by_chunk[c]['ratio']:.2f}×", (i, max(by_chunk[c]["raw_mb_s"], by_chunk[c]["service_mb_s"])),
                       ha="center", va="bottom", fontsize=8)
    right.set_ylim(0, 1.15 * max(max(v["raw_mb_s"], v["service_mb_s"]) for v in by_chunk.values()))
    right.set_xticks(range(len(labels)), labels)
    right.set_xlabel("chunk size")
    right.set_title("median MB/s by chunk size", fontsize=10)
    common.save_chart(fig, "upload")

