"""A bounded soak: mixed traffic from a few concurrent loops against one server with a small queue
and a small stream quota, so back-pressure really happens.

Only deliberate back-pressure (RESOURCE_EXHAUSTED QUEUE_FULL / TOO_MANY_STREAMS) and the refusals
a race explains (FAILED_PRECONDITION on a cancel, pause or resume that met another state) are
allowed. Afterwards every prediction ends, and the server's stats lines show memory flat and
tasks, fds, watchers and streams back to where they were before the traffic. Retention is short
(RETAIN_S): disk use stays bounded during the traffic, and once the predictions have expired, disk and
the process's current memory come back near where they were before it.

VLMGRPC_SOAK_SECONDS sets the length of the traffic (default 30)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psutil
import pytest

from tests.conftest import pdf, text_png
from tests.hostile.conftest import (
    NEVER,
    TERMINAL,
    Stats,
    assert_alive,
    assert_no_disk_leaks,
    assert_still_serving,
    begin_stop,
    bug_lines,
    fresh_stats,
    log_excerpt,
    start_server,
    stats,
    tiny_png,
)
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import file_service_pb2 as file_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc_client import Client, error_reason, upload_messages

pytestmark = pytest.mark.integration
SOAK_S = float(os.environ.get("VLMGRPC_SOAK_SECONDS", "30"))
# A queue small enough that the two workers fall behind and it fills (back-pressure is part of the soak).
QUEUE_SIZE, MAX_STREAMS = 8, 8
RSS_GROWTH_MB = 100  # peak RSS, last third of the run over the first third
RSS_RETURN_MB = 100  # current RSS once the traffic's predictions expired, over the idle baseline
RETAIN_S = 3.0  # retention_terminal_s: ended predictions are deleted this long after they end
DISK_PEAK_MB = 32  # data directory during the traffic, over the baseline: bounded by retention
DISK_RETURN_MB = 16  # ... and once the predictions expired (the WAL and the files the file loop keeps)
SLACK = 5  # tasks and fds may differ this much from the idle baseline
# (code, reason) pairs that are not failures: back-pressure, and races with a prediction's own progress.
BACK_PRESSURE = {("RESOURCE_EXHAUSTED", "QUEUE_FULL"), ("RESOURCE_EXHAUSTED", "TOO_MANY_STREAMS")}
RACES = {("FAILED_PRECONDITION", "ALREADY_TERMINAL"), ("FAILED_PRECONDITION", "INVALID_TRANSITION"),
         ("FAILED_PRECONDITION", "NOT_PAUSED")}
# A prediction that ended more than RETAIN_S ago is deleted: reaching it again is NOT_FOUND.
EXPIRED = {("NOT_FOUND", "PREDICTION_NOT_FOUND")}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory, "soak", queue_size=QUEUE_SIZE, max_streams_per_tenant=MAX_STREAMS,
                       workers=2, retention_terminal_s=RETAIN_S, retention_sweep_s=0.5)
    yield srv
    begin_stop(srv)


@dataclass
class Tally:
    """What the loops did: calls and outcomes by operation, and the predictions they created."""

    calls: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    watch_resumes: int = 0
    bytes_round_tripped: int = 0

    async def call(self, op: str, coro, allowed: set[tuple[str, str]] = frozenset()):
        """Await one call; None when it failed with an allowed (code, reason)."""
        self.calls[op] += 1
        try:
            result = await coro
        except grpc.aio.AioRpcError as err:
            self.failed(op, err, allowed)
            return None
        self.outcomes[(op, "OK", "")] += 1
        return result

    def failed(self, op: str, err: grpc.aio.AioRpcError, allowed: set[tuple[str, str]]) -> None:
        code, reason = err.code().name, error_reason(err)[0]
        self.outcomes[(op, code, reason)] += 1
        if (code, reason) not in allowed:
            self.unexpected.append(f"{op}: {code} {reason} {err.details()[:200]}")

    def count(self, code: str, reason: str) -> int:
        return sum(n for (_, c, r), n in self.outcomes.items() if (c, r) == (code, reason))


IMAGE = text_png(["soak test line"], size=(360, 120), font_size=30)
# Scans, read by OCR (~50 ms a page): enough work per document that submissions outrun the two workers and the
# queue fills (text-layer pages, or two or three scanned ones, finish too fast for back-pressure to show).
PDF_PAGES = (3, 6, 9)
PDFS = {pages: pdf(pages, scanned=True) for pages in PDF_PAGES}


def image_request(rng: random.Random, batch: bool) -> img_pb.ImageServiceGenerateRequest:
    images = [pb.ImageInput(data=rng.choice([IMAGE, tiny_png()])) for _ in range(rng.randint(1, 2))]
    return img_pb.ImageServiceGenerateRequest(domain="document.ocr", images=images, batch=batch)


async def image_loop(client: Client, tally: Tally, until: float, seed: int) -> None:
    """Generate on images, waiting (batch false) or not (batch true)."""
    rng = random.Random(seed)
    while time.monotonic() < until:
        batch = rng.random() < 0.6
        reply = await tally.call(f"image.generate batch={str(batch).lower()}",
                                 client.images.Generate(image_request(rng, batch), timeout=60), BACK_PRESSURE)
        if reply is None:
            await asyncio.sleep(0.2)
            continue
        tally.created.append(reply.prediction.id)
        if not batch and reply.prediction.status != pb.PREDICTION_STATUS_COMPLETED:
            tally.unexpected.append(f"image.generate batch=false ended {reply.prediction.status}")
        await asyncio.sleep(rng.uniform(0, 0.1))


async def document_watch_loop(client: Client, tally: Tally, until: float, seed: int) -> None:
    """Generate on small PDFs, then watch: drop the watch after an event or two and resume it
    with after_sequence; the sequence numbers must follow on without a gap or a repeat."""
    rng = random.Random(seed)
    while time.monotonic() < until:
        reply = await tally.call("document.generate", client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
            domain="document.ocr", document=pb.DocumentInput(data=PDFS[rng.choice(PDF_PAGES)]), batch=True),
            timeout=30), BACK_PRESSURE)
        if reply is None:
            await asyncio.sleep(0.2)
            continue
        pred_id = reply.prediction.id
        tally.created.append(pred_id)
        last, done = None, False
        deadline = min(time.monotonic() + 60, until + 20)  # after that, settle() sees it end
        while not done and time.monotonic() < deadline:
            request = ps.WatchPredictionRequest(id=pred_id)
            if last is not None:
                request.after_sequence = last
                tally.watch_resumes += 1
            tally.calls["prediction.watch"] += 1
            call = client.predictions.WatchPrediction(request, timeout=max(deadline - time.monotonic(), 1))
            budget = rng.randint(1, 3)  # events to read before dropping the watch
            try:
                async for msg in call:
                    event = msg.event
                    if event.type == pb.PREDICTION_EVENT_TYPE_HEARTBEAT:
                        continue
                    if event.type != pb.PREDICTION_EVENT_TYPE_SNAPSHOT:
                        if last is not None and event.sequence != last + 1:
                            tally.unexpected.append(f"watch {pred_id}: sequence {event.sequence} after {last}")
                    last = event.sequence
                    if event.prediction.status in TERMINAL:
                        done = True
                        break
                    budget -= 1
                    if budget <= 0:
                        call.cancel()
                        break
                else:
                    done = True  # closed OK after the terminal event
                tally.outcomes[("prediction.watch", "OK", "")] += 1
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED and time.monotonic() >= deadline:
                    tally.outcomes[("prediction.watch", "given up (paused?)", "")] += 1
                    break  # a paused prediction: settle() resumes it at the end
                tally.failed("prediction.watch", err, BACK_PRESSURE | EXPIRED)
                await asyncio.sleep(0.2)


async def stream_loop(client: Client, tally: Tally, until: float, seed: int) -> None:
    """GenerateStream to the end: the last event is terminal."""
    rng = random.Random(seed)
    while time.monotonic() < until:
        tally.calls["image.generate_stream"] += 1
        stream = img_pb.ImageServiceGenerateStreamRequest(domain="document.ocr", images=[pb.ImageInput(
            data=tiny_png())])
        try:
            events = [msg.event async for msg in client.images.GenerateStream(stream, timeout=90)]
        except grpc.aio.AioRpcError as err:
            tally.failed("image.generate_stream", err, BACK_PRESSURE)
            await asyncio.sleep(0.2)
            continue
        tally.outcomes[("image.generate_stream", "OK", "")] += 1
        tally.created.append(events[0].prediction.id)
        if events[-1].prediction.status not in TERMINAL:
            tally.unexpected.append("generate_stream closed before the terminal event")
        await asyncio.sleep(rng.uniform(0, 0.2))


async def file_loop(client: Client, tally: Tally, until: float, seed: int) -> None:
    """Upload, download and compare, get, list, generate by file id, delete."""
    rng = random.Random(seed)
    mine: list[str] = []
    while time.monotonic() < until:
        data = rng.choice([IMAGE, rng.randbytes(rng.randint(10_000, 600_000))])
        sent = await tally.call("file.upload", client.files.UploadFile(
            upload_messages(data, f"soak-{rng.random():.6f}.bin", "application/octet-stream", 256 * 1024),
            timeout=30))
        if sent is None:
            continue
        mine.append(sent.file.id)
        got = bytearray()
        tally.calls["file.download"] += 1
        try:
            async for msg in client.files.DownloadFile(file_pb.DownloadFileRequest(id=sent.file.id), timeout=30):
                got += msg.chunk
        except grpc.aio.AioRpcError as err:  # a download is a server stream: the stream quota applies
            tally.failed("file.download", err, BACK_PRESSURE)
        else:
            tally.outcomes[("file.download", "OK", "")] += 1
            if hashlib.sha256(got).hexdigest() != sent.file.sha256 or len(got) != len(data):
                tally.unexpected.append(f"download of {sent.file.id} differs from the upload")
            tally.bytes_round_tripped += len(data)
        await tally.call("file.get", client.files.GetFile(file_pb.GetFileRequest(id=sent.file.id), timeout=10))
        await tally.call("file.list", client.files.ListFiles(file_pb.ListFilesRequest(page_size=10), timeout=10))
        if data is IMAGE:
            reply = await tally.call("image.generate by file_id", client.images.Generate(
                img_pb.ImageServiceGenerateRequest(domain="document.ocr", batch=True,
                                                   images=[pb.ImageInput(file_id=sent.file.id)]), timeout=30),
                BACK_PRESSURE)
            if reply is not None:
                tally.created.append(reply.prediction.id)
        if len(mine) > 3:
            victim = mine.pop(rng.randrange(len(mine)))
            await tally.call("file.delete", client.files.DeleteFile(file_pb.DeleteFileRequest(id=victim), timeout=10))
        await asyncio.sleep(rng.uniform(0.05, 0.2))


async def reader_loop(client: Client, tally: Tally, until: float, seed: int) -> None:
    """List predictions page by page (some filtered), get random ones."""
    rng = random.Random(seed)
    while time.monotonic() < until:
        token, status = "", rng.choice([0, pb.PREDICTION_STATUS_COMPLETED, pb.PREDICTION_STATUS_ENQUEUED])
        for _ in range(3):
            page = await tally.call("prediction.list", client.predictions.ListPredictions(
                ps.ListPredictionsRequest(page_size=20, page_token=token, status=status), timeout=10))
            if page is None or not (token := page.next_page_token):
                break
        if tally.created:
            await tally.call("prediction.get", client.predictions.GetPrediction(
                ps.GetPredictionRequest(id=rng.choice(tally.created)), timeout=10), EXPIRED)
        await asyncio.sleep(rng.uniform(0.05, 0.15))


async def control_loop(client: Client, tally: Tally, until: float, seed: int) -> None:
    """Cancel, pause and resume recent predictions, racing the workers."""
    rng = random.Random(seed)
    while time.monotonic() < until:
        await asyncio.sleep(rng.uniform(0.05, 0.2))
        if not tally.created:
            continue
        pred_id = rng.choice(tally.created[-20:])
        action = rng.choices(["cancel", "pause", "resume"], weights=[1, 3, 3])[0]
        if action == "cancel":
            await tally.call("prediction.cancel", client.predictions.CancelPrediction(
                ps.CancelPredictionRequest(id=pred_id), timeout=30), RACES | EXPIRED)
        elif action == "pause":
            paused = await tally.call("prediction.pause", client.predictions.PausePrediction(
                ps.PausePredictionRequest(id=pred_id), timeout=30), RACES | EXPIRED)
            await asyncio.sleep(rng.uniform(0, 0.3))
            give_up = time.monotonic() + 10
            while paused is not None and time.monotonic() < give_up:  # resume it, the queue allowing
                tally.calls["prediction.resume"] += 1
                try:
                    await client.predictions.ResumePrediction(ps.ResumePredictionRequest(id=pred_id), timeout=30)
                except grpc.aio.AioRpcError as err:
                    tally.failed("prediction.resume", err, RACES | BACK_PRESSURE | EXPIRED)
                    if error_reason(err)[0] == "QUEUE_FULL":
                        await asyncio.sleep(0.3)
                        continue
                else:
                    tally.outcomes[("prediction.resume", "OK", "")] += 1
                break
        else:
            await tally.call("prediction.resume", client.predictions.ResumePrediction(
                ps.ResumePredictionRequest(id=pred_id), timeout=30), RACES | BACK_PRESSURE | EXPIRED)


async def stream_burst_loop(client: Client, tally: Tally, until: float, seed: int) -> None:
    """Now and then more watches at once than the per-tenant quota allows."""
    rng = random.Random(seed)
    while time.monotonic() < until:
        await asyncio.sleep(rng.uniform(1, 3))
        if not tally.created:
            continue
        target = tally.created[-1]

        async def hold(target: str) -> None:
            tally.calls["prediction.watch burst"] += 1
            call = client.predictions.WatchPrediction(ps.WatchPredictionRequest(id=target), timeout=30)
            try:
                async for _ in call:
                    await asyncio.sleep(0.3)
                    call.cancel()
                    break
                tally.outcomes[("prediction.watch burst", "OK", "")] += 1
            except grpc.aio.AioRpcError as err:
                tally.failed("prediction.watch burst", err, BACK_PRESSURE | EXPIRED)

        await asyncio.gather(*(hold(target) for _ in range(MAX_STREAMS + 2)))


async def all_predictions(client: Client) -> list[pb.Prediction]:
    preds, token = [], ""
    while True:
        page = await client.predictions.ListPredictions(ps.ListPredictionsRequest(page_size=1000, page_token=token))
        preds += page.predictions
        if not (token := page.next_page_token):
            return preds


async def settle(client: Client, timeout_s: float = 120) -> list[pb.Prediction]:
    """Resume what is paused (the queue allowing), then wait until every prediction has ended."""
    deadline = time.monotonic() + timeout_s
    while True:
        preds = await all_predictions(client)
        moving = [p for p in preds if p.status not in TERMINAL]
        if not moving:
            return preds
        for pred in moving:
            if pred.status == pb.PREDICTION_STATUS_PAUSED:
                try:
                    await client.predictions.ResumePrediction(ps.ResumePredictionRequest(id=pred.id))
                except grpc.aio.AioRpcError as err:
                    assert (err.code().name, error_reason(err)[0]) in RACES | BACK_PRESSURE | EXPIRED, err
        assert time.monotonic() < deadline, f"{len(moving)} predictions never ended: {moving[0]}"
        await asyncio.sleep(0.5)


def disk_mb(root: Path) -> float:
    """What the service keeps under its data directory (the database, its WAL, inputs, files), in MiB."""
    total = 0
    for path in root.rglob("*"):
        if "triton" in path.relative_to(root).parts or path.name == "server.log":
            continue
        try:
            total += path.stat().st_size if path.is_file() else 0
        except FileNotFoundError:  # removed while we walked
            pass
    return total / (1 << 20)


async def sample_disk(root: Path, samples: list[float], until: float) -> None:
    while time.monotonic() < until:
        samples.append(await asyncio.to_thread(disk_mb, root))
        await asyncio.sleep(0.5)


async def expired(client: Client, server, baseline_mb: float, timeout_s: float) -> float:
    """Wait until the traffic's predictions are deleted (retention) and disk is back near the baseline."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = await all_predictions(client)
        now_mb = await asyncio.to_thread(disk_mb, Path(server.data_dir))
        if (not left and now_mb <= baseline_mb + DISK_RETURN_MB) or time.monotonic() > deadline:
            return now_mb
        await asyncio.sleep(0.5)


def _thirds(lines: list[Stats]) -> tuple[list[Stats], list[Stats]]:
    third = max(len(lines) // 3, 1)
    return lines[:third], lines[-third:]


@pytest.mark.timeout(SOAK_S + 300)
async def test_soak_mixed_traffic(server):
    proc = psutil.Process(server.proc.pid)
    async with Client(server.target) as warm:  # every code path once before the baseline
        await assert_still_serving(warm)
        await warm.images.Generate(image_request(random.Random(0), batch=False), timeout=60)
        await warm.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
            domain="document.ocr", document=pb.DocumentInput(data=PDFS[PDF_PAGES[0]]), batch=False), timeout=60)
        sent = await warm.upload(IMAGE, "warm.png")
        [m async for m in warm.files.DownloadFile(file_pb.DownloadFileRequest(id=sent.id))]
    baseline = (await fresh_stats(server, 2))[-1]
    rss_before = proc.memory_info().rss >> 20
    disk_before = disk_mb(Path(server.data_dir))
    disk_during: list[float] = []
    since = server.log.stat().st_size

    tally = Tally()
    start = time.monotonic()
    until = start + SOAK_S
    n_stats = len(stats(server))
    async with Client(server.target) as a, Client(server.target) as b:
        loops = [image_loop(a, tally, until, 1), image_loop(b, tally, until, 2),
                 document_watch_loop(a, tally, until, 3), document_watch_loop(b, tally, until, 4),
                 stream_loop(b, tally, until, 5), file_loop(a, tally, until, 6), reader_loop(b, tally, until, 7),
                 control_loop(a, tally, until, 8), stream_burst_loop(b, tally, until, 9),
                 sample_disk(Path(server.data_dir), disk_during, until)]
        await asyncio.wait_for(asyncio.gather(*loops), SOAK_S + 120)
        traffic_s = time.monotonic() - start
        during = stats(server)[n_stats:]
        await assert_still_serving(a)
        preds = await settle(a)
        await assert_no_disk_leaks(a, server)
        settled_s = time.monotonic() - start
        disk_after = await expired(a, server, disk_before, RETAIN_S + 30)
        left = await all_predictions(a)
    await asyncio.sleep(1.5)  # let the server notice the closed connections
    after = (await fresh_stats(server, 2))[-1]
    rss_after = proc.memory_info().rss >> 20  # after the expiry: what the traffic's predictions held is gone

    first, last = _thirds(during)
    by_status = Counter(pb.PredictionStatus.Name(p.status).removeprefix("PREDICTION_STATUS_") for p in preds)
    failed = Counter(f"{p.error.code}:{p.error.message.split(':')[0]}" for p in preds if p.error.code)
    print(f"\nsoak: {traffic_s:.0f} s of traffic, settled after {settled_s:.0f} s; "
          f"{sum(tally.calls.values())} calls, {len(set(tally.created))} predictions {dict(by_status)}")
    for op in sorted(tally.calls):
        outcomes = {f"{c} {r}".strip(): n for (o, c, r), n in tally.outcomes.items() if o == op}
        print(f"  {op}: {tally.calls[op]} -> {outcomes}")
    print(f"  back-pressure: QUEUE_FULL {tally.count('RESOURCE_EXHAUSTED', 'QUEUE_FULL')}, "
          f"TOO_MANY_STREAMS {tally.count('RESOURCE_EXHAUSTED', 'TOO_MANY_STREAMS')}; "
          f"watch resumes {tally.watch_resumes}; {tally.bytes_round_tripped >> 20} MiB uploaded and downloaded")
    print(f"  failed predictions by code:reason {dict(failed)}")
    print(f"  baseline {baseline}\n  after    {after}")
    print(f"  peak RSS first third {max(s.peak_rss_mb for s in first)} MB, last third "
          f"{max(s.peak_rss_mb for s in last)} MB; current RSS {rss_before} -> {rss_after} MB; "
          f"max tasks {max(s.tasks for s in during)}, max fds {max(s.fds for s in during)}, "
          f"max queued {max(s.queued for s in during)}, max streams {max(s.streams for s in during)}")
    print(f"  disk {disk_before:.1f} MiB before, at most {max(disk_during):.1f} MiB during, {disk_after:.1f} MiB "
          f"once expired ({len(left)} predictions left)")

    assert not tally.unexpected, "\n".join(tally.unexpected[:30])
    assert all(p.error.code not in (c.value[0] for c in NEVER) for p in preds), failed
    assert tally.count("RESOURCE_EXHAUSTED", "QUEUE_FULL") > 0, "the queue never filled: no back-pressure tested"
    assert not bug_lines(server, since), log_excerpt(server, since)
    assert len(during) >= 3, "too few stats lines to judge memory"
    assert max(s.peak_rss_mb for s in last) <= max(s.peak_rss_mb for s in first) + RSS_GROWTH_MB
    assert abs(after.tasks - baseline.tasks) <= SLACK, (baseline, after)
    assert abs(after.fds - baseline.fds) <= SLACK, (baseline, after)
    assert (after.watchers, after.streams, after.running, after.queued) == (0, 0, 0, 0), after
    assert max(disk_during) <= disk_before + DISK_PEAK_MB, (disk_before, max(disk_during))
    assert not left, f"{len(left)} predictions outlived their retention"
    assert disk_after <= disk_before + DISK_RETURN_MB, (disk_before, disk_after)
    assert rss_after <= rss_before + RSS_RETURN_MB, (rss_before, rss_after)
    assert_alive(server)

