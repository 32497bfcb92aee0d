"""Helpers of the hostile tests: a server per module with small limits (so bad input is cheap),
its stats log lines, and the checks every hostile test ends with (still serving, nothing INTERNAL)."""

from __future__ import annotations

import asyncio
import io
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image

from tests.conftest import TEST_SETTINGS, ServerProcess
from vlmgrpc.api.vlm.v1 import file_service_pb2 as file_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc_client import Client, error_reason

MiB = 1024 * 1024
# Small limits: a hostile input is refused after little work.
LIMITS = {"max_upload_bytes": 8 * MiB, "max_pages": 50, "max_image_pixels": 20_000_000,
          "max_images_per_request": 4, "stats_log_s": 1}
NEVER = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
TERMINAL = (pb.PREDICTION_STATUS_COMPLETED, pb.PREDICTION_STATUS_FAILED)
# What the server logs when a handler or a prediction hits a bug (an INTERNAL status).
BUG_LINES = re.compile(r"unexpected error in a handler|failed unexpectedly|Traceback|Task was destroyed but it is "
                       r"pending|Task exception was never retrieved|ERROR asyncio")
STATS_RE = re.compile(r"^(\S+ \S+) INFO vlmgrpc: stats tasks=(\d+) fds=(\d+) peak_rss_mb=(\d+) running=(\d+) "
                      r"queued=(\d+) watchers=(\d+) streams=(\d+)", re.M)


def start_server(tmp_path_factory, name: str, **extra: object) -> ServerProcess:
    settings = {**TEST_SETTINGS, **LIMITS, **extra}
    return ServerProcess(tmp_path_factory.mktemp(name), **settings).start()


_stopping: list[ServerProcess] = []


def begin_stop(server: ServerProcess) -> None:
    """SIGTERM now, reap at the end of the session: the embedded Triton sometimes waits out its
    10 s exit timeout while unloading the model, and the next module need not wait for that."""
    assert server.proc is not None
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
    _stopping.append(server)


@pytest.fixture(scope="session", autouse=True)
def _reap_servers():
    yield
    codes = {str(server.data_dir): server.stop() for server in _stopping}
    _stopping.clear()
    assert all(code == 0 for code in codes.values()), f"servers exited uncleanly: {codes}"


@dataclass(frozen=True)
class Stats:
    at: str
    tasks: int
    fds: int
    peak_rss_mb: int
    running: int
    queued: int
    watchers: int
    streams: int


def stats(server: ServerProcess) -> list[Stats]:
    """Every stats line the server logged so far, oldest first."""
    text = server.log.read_text(errors="replace")
    return [Stats(m[0], *map(int, m[1:])) for m in STATS_RE.findall(text)]


async def fresh_stats(server: ServerProcess, count: int = 1, timeout_s: float = 10) -> list[Stats]:
    """The next `count` stats lines logged from now on."""
    seen = len(stats(server))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = stats(server)
        if len(lines) >= seen + count:
            return lines[seen:seen + count]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no new stats line in {timeout_s} s (stats_log_s set?)")


def log_offset(server: ServerProcess) -> int:
    return server.log.stat().st_size


RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ", re.M)


def bug_records(server: ServerProcess, since: int = 0, known: tuple[str, ...] = ()) -> list[str]:
    """The log records (with their tracebacks) since `since`, a byte offset, that say a handler or
    a prediction hit a bug, leaving out those matching a `known` regex."""
    with open(server.log, "rb") as fh:
        fh.seek(since)
        text = fh.read().decode(errors="replace")
    starts = [m.start() for m in RECORD_START.finditer(text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    records = [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]
    return [record for record in records if BUG_LINES.search(record)
            and not any(re.search(pattern, record) for pattern in known)]


def bug_lines(server: ServerProcess, since: int = 0, known: tuple[str, ...] = ()) -> list[str]:
    """The first line of each bug_records record."""
    return [record.splitlines()[0] for record in bug_records(server, since, known)]


def log_excerpt(server: ServerProcess, since: int = 0, limit: int = 4000) -> str:
    with open(server.log, "rb") as fh:
        fh.seek(since)
        text = fh.read().decode(errors="replace")
    lines = [line for line in text.splitlines() if " stats tasks=" not in line]
    return "\n".join(lines)[-limit:]


def tiny_png(size: tuple[int, int] = (24, 24)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "white").save(out, format="PNG")
    return out.getvalue()


def failure(err: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    return err.code(), error_reason(err)[0]


async def assert_still_serving(client: Client) -> None:
    """Health SERVING and a small good request accepted."""
    health = health_pb2_grpc.HealthStub(client.channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    accepted = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="document.ocr", images=[pb.ImageInput(data=tiny_png())], batch=True), timeout=20)
    assert accepted.prediction.status in (pb.PREDICTION_STATUS_ENQUEUED, pb.PREDICTION_STATUS_RUNNING,
                                          pb.PREDICTION_STATUS_COMPLETED)


def assert_alive(server: ServerProcess) -> None:
    assert server.proc is not None and server.proc.poll() is None, (
        f"the server exited {server.proc and server.proc.returncode}:\n{log_excerpt(server)}")


async def _listed(client: Client, method, request_cls, field: str) -> set[str]:
    ids, token = set(), ""
    while True:
        page = await method(request_cls(page_size=1000, page_token=token), timeout=30)
        ids |= {item.id for item in getattr(page, field)}
        if not (token := page.next_page_token):
            return ids


async def assert_no_disk_leaks(client: Client, server: ServerProcess) -> None:
    """Under the data directory: no half-written (.part) file, no input kept for a prediction that
    does not exist, no uploaded bytes for a file that does not exist (refused or deleted)."""
    root = Path(server.data_dir)
    parts = [str(p.relative_to(root)) for p in root.rglob("*.part") if "triton" not in p.parts]
    predictions = await _listed(client, client.predictions.ListPredictions, ps.ListPredictionsRequest, "predictions")
    files = await _listed(client, client.files.ListFiles, file_pb.ListFilesRequest, "files")
    orphan_inputs = [p.name for p in (root / "inputs").glob("*") if p.name not in predictions]
    orphan_files = [p.name for p in (root / "files").glob("*") if p.name not in files]
    assert not (parts or orphan_inputs or orphan_files), (parts[:5], orphan_inputs[:5], orphan_files[:5])
