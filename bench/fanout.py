"""Status fan-out: many PredictionService.WatchPrediction subscribers on a few live predictions.

The service runs with the `echo` model (embedded Triton started here, the service in its own process). At each
level, a few PDF documents are submitted and paused at once; then every subscriber opens its watch and receives
its SNAPSHOT; only then does the bench drive the documents, each in pause/resume cycles: ResumePrediction, a
short run (the document advances a page or a few), PausePrediction, and the next cycle once every subscriber of
that document has received the PAUSED event. A cycle therefore makes real transitions and progress of a real
prediction: ENQUEUED, RUNNING, PROGRESS per page, PAUSED, and at the end COMPLETED, which closes the streams.

Per event a subscriber receives: delay = receive time - event.event_time (the service stamps it when it saves the
event; same machine clock). Snapshots (stamped with the creation time) and heartbeats are not transitions and
are left out. Lost = for each subscriber, the sequence numbers after its snapshot up to the document's final one
(from a replay of its whole history after the run) that it never received; gaps = places where a subscriber's
sequence numbers are not consecutive. Streams spread over several channels (one HTTP/2 connection each).
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import psutil
import pymupdf

from bench import common
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc.api.vlm.v1 import prediction_service_pb2_grpc as ps_grpc
from vlmgrpc_client import Client

NAME = "fanout"
DOMAIN = "bench.echo"
MODEL = "echo"
SERVICE_SETTINGS = {"workers": 8, "heartbeat_s": 10, "max_streams_per_tenant": 10_000}
# BENCH_FANOUT_LEVELS=1000 measures one level (a quicker run while profiling).
FULL_LEVELS = tuple(int(n) for n in os.environ.get("BENCH_FANOUT_LEVELS", "100,1000,5000").split(","))
SMOKE_LEVELS = (20,)
PREDICTIONS = 5  # documents per level; subscribers are spread evenly over them
STREAMS_PER_CHANNEL = 250
RUN_S = 0.03  # how long a document runs per cycle before the bench pauses it
GAP_S = 0.2  # idle time between a document's cycles, once all its subscribers have the PAUSED event
CATCH_UP_TIMEOUT_S = 120.0
# Watches being opened at once. grpc core cancels new calls (CANCELLED) once more than
# grpc.server.max_pending_requests (1,000; hard limit 3,000) wait for the server to accept them, so
# thousands opened in the same instant partly fail; subscribers arrive in waves instead.
OPENING = 200
TERMINAL = (pb.PREDICTION_STATUS_COMPLETED, pb.PREDICTION_STATUS_FAILED)
SNAPSHOT, HEARTBEAT = pb.PREDICTION_EVENT_TYPE_SNAPSHOT, pb.PREDICTION_EVENT_TYPE_HEARTBEAT


def pdf(pages: int) -> bytes:
    doc = pymupdf.open()
    for i in range(pages):
        page = doc.new_page(width=300, height=200)  # small pages: rendering is cheap, the events are the load
        page.insert_text((30, 60), f"Page {i + 1}", fontsize=20)
    data = doc.tobytes()
    doc.close()
    return data


@dataclass
class Subscriber:
    prediction: str
    snapshot_seq: int = -1
    last_seq: int = -1
    seqs: list[int] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    heartbeats: int = 0
    error: str = ""
    ready: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Doc:
    id: str
    subs: list[Subscriber] = field(default_factory=list)
    paused_seq: int = 0  # highest sequence of a PAUSED event any subscriber has received
    terminal_seq: int = 0
    cycles: int = 0
    catch_up_timeouts: int = 0

    def subscriber(self) -> Subscriber:
        sub = Subscriber(self.id)
        self.subs.append(sub)
        return sub


async def subscribe(stub: ps_grpc.PredictionServiceStub, doc: Doc, sub: Subscriber, opening: asyncio.Semaphore,
                    ) -> None:
    await opening.acquire()
    try:
        call = stub.WatchPrediction(ps.WatchPredictionRequest(id=sub.prediction), timeout=1800)
        async for msg in call:
            received = time.time()
            event = msg.event
            if event.type == SNAPSHOT:
                sub.snapshot_seq = sub.last_seq = event.sequence
                sub.ready.set()
                opening.release()
                continue
            if event.type == HEARTBEAT:
                sub.heartbeats += 1
                continue
            sub.delays.append(received - (event.event_time.seconds + event.event_time.nanos * 1e-9))
            sub.seqs.append(event.sequence)
            sub.last_seq = event.sequence
            status = event.prediction.status
            if status == pb.PREDICTION_STATUS_PAUSED and event.sequence > doc.paused_seq:
                doc.paused_seq = event.sequence
            elif status in TERMINAL:
                doc.terminal_seq = max(doc.terminal_seq, event.sequence)
    except grpc.aio.AioRpcError as exc:
        sub.error = f"{exc.code().name}: {exc.details()}"
    finally:
        if not sub.ready.is_set():
            sub.ready.set()
            opening.release()


async def caught_up(doc: Doc, seq: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(s.last_seq >= seq or s.error for s in doc.subs):
            return True
        await asyncio.sleep(0.005)
    return False


async def drive(control: Client, doc: Doc, delay_s: float) -> None:
    """Pause/resume cycles until the document completes."""
    await asyncio.sleep(delay_s)
    predictions = control.predictions
    while True:
        previous = doc.paused_seq  # before the resume: the PAUSED event may arrive before the pause call returns
        await predictions.ResumePrediction(ps.ResumePredictionRequest(id=doc.id))
        doc.cycles += 1
        await asyncio.sleep(RUN_S)
        try:
            pred = (await predictions.PausePrediction(ps.PausePredictionRequest(id=doc.id))).prediction
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:  # completed before the pause
                raise
            return
        if pred.status in TERMINAL:
            return
        # Wait for the PAUSED event to reach some subscriber, then every one of them.
        deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
        while doc.paused_seq <= previous and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        if not await caught_up(doc, doc.paused_seq, max(0.0, deadline - time.monotonic())):
            doc.catch_up_timeouts += 1
        await asyncio.sleep(GAP_S)


async def losses(control: Client, docs: list[Doc]) -> tuple[int, int, int, int]:
    """(lost, gaps, duplicates, subscribers with a loss) over every document's subscribers, against its whole
    history; sets each document's terminal_seq."""
    lost = gaps = duplicates = subs_with_loss = 0
    for doc in docs:
        final = await history_end(control, doc.id)
        for sub in doc.subs:
            got = set(sub.seqs)
            missing = len(set(range(sub.snapshot_seq + 1, final + 1)) - got)
            lost += missing
            subs_with_loss += 1 if missing else 0
            duplicates += len(sub.seqs) - len(got)
            prev = sub.snapshot_seq
            for seq in sub.seqs:
                gaps += 1 if seq != prev + 1 else 0
                prev = seq
        doc.terminal_seq = final
    return lost, gaps, duplicates, subs_with_loss


async def history_end(control: Client, prediction_id: str) -> int:
    """The document's final sequence number, from a replay of its whole history."""
    last = 0
    async for msg in control.predictions.WatchPrediction(
            ps.WatchPredictionRequest(id=prediction_id, after_sequence=0), timeout=120):
        last = max(last, msg.event.sequence)
    return last


def _cpu_s(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    try:
        times = proc.cpu_times()
        return times.user + times.system
    except psutil.Error:
        return 0.0


async def measure_level(target: str, subscribers: int, pages: int, service_proc: psutil.Process | None,
                        ) -> dict[str, Any]:
    control = Client(target)
    n_docs = min(PREDICTIONS, subscribers)
    n_channels = max(1, -(-subscribers // STREAMS_PER_CHANNEL))
    channels = [grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1),
                                                           ("bench.channel", i)]) for i in range(n_channels)]
    stubs = [ps_grpc.PredictionServiceStub(ch) for ch in channels]
    tasks: list[asyncio.Task] = []
    try:
        document = pdf(pages)
        docs = []
        for _ in range(n_docs):
            pred = (await control.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
                domain=DOMAIN, document=pb.DocumentInput(data=document)))).prediction
            paused = (await control.predictions.PausePrediction(ps.PausePredictionRequest(id=pred.id))).prediction
            if paused.status != pb.PREDICTION_STATUS_PAUSED:
                raise RuntimeError(f"document {pred.id} is {pb.PredictionStatus.Name(paused.status)}, not paused")
            docs.append(Doc(pred.id))
        subs = []
        opening = asyncio.Semaphore(OPENING)
        for i in range(subscribers):
            doc = docs[i % n_docs]
            sub = doc.subscriber()
            subs.append(sub)
            tasks.append(asyncio.create_task(subscribe(stubs[i % n_channels], doc, sub, opening)))
        opened = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in subs)), timeout=600)
        open_s = time.monotonic() - opened
        errors_at_open = sum(1 for s in subs if s.error)
        if errors_at_open:
            raise RuntimeError(f"{errors_at_open} watches failed to open: {next(s.error for s in subs if s.error)}")

        # This process is the measuring instrument: a full collection over its 1,000 streams paused it 50-85 ms,
        # which read as delivery delay. Frozen, a collection walks only what the drive phase allocates.
        gc.freeze()
        client_proc = psutil.Process()
        cpu_before = _cpu_s(service_proc), _cpu_s(client_proc)
        started = time.monotonic()
        await asyncio.gather(*(drive(control, doc, i * GAP_S / n_docs) for i, doc in enumerate(docs)))
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=600)  # every stream ends after COMPLETED
        drive_s = time.monotonic() - started
        cpu_service = _cpu_s(service_proc) - cpu_before[0]
        cpu_client = _cpu_s(client_proc) - cpu_before[1]

        lost, gaps, duplicates, subs_with_loss = await losses(control, docs)
        delays = [d for s in subs for d in s.delays]
        events = len(delays)
        # Per event: the delay of its last subscriber, i.e. how long one event takes to reach everyone.
        last: dict[tuple[str, int], float] = {}
        for s in subs:
            for seq, d in zip(s.seqs, s.delays, strict=True):
                key = (s.prediction, seq)
                last[key] = max(last.get(key, 0.0), d)
        return {
            "subscribers": subscribers, "predictions": n_docs, "channels": n_channels, "pages": pages,
            "delay": common.summary(delays) if delays else {},
            "all_subscribers_reached": common.summary(list(last.values())) if last else {},
            "events_delivered": events, "distinct_events": len(last),
            "events_per_prediction": {d.id: d.terminal_seq for d in docs},
            "cycles": sum(d.cycles for d in docs),
            "catch_up_timeouts": sum(d.catch_up_timeouts for d in docs),
            "lost": lost, "subscribers_with_loss": subs_with_loss, "gaps": gaps, "duplicates": duplicates,
            "stream_errors": sum(1 for s in subs if s.error),
            "first_stream_error": next((s.error for s in subs if s.error), ""),
            "heartbeats": sum(s.heartbeats for s in subs),
            "open_s": open_s, "drive_s": drive_s, "messages_per_s": events / drive_s,
            "cpu_busy": {"service": cpu_service / drive_s, "client": cpu_client / drive_s},
            "cpu_us_per_message": {"service": cpu_service / max(1, events) * 1e6,
                                   "client": cpu_client / max(1, events) * 1e6},
        }
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ch in channels:
            await ch.close()
        await control.close()
        gc.unfreeze()


def chart(levels: list[dict[str, Any]]) -> Path:
    plt = common.pyplot()
    xs = [lv["subscribers"] for lv in levels]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(xs, [lv["delay"]["p50_ms"] for lv in levels], "o-", label="p50")
    ax.plot(xs, [lv["delay"]["p99_ms"] for lv in levels], "s-", label="p99")
    ax.plot(xs, [lv["delay"]["max_ms"] for lv in levels], "^:", color="grey", label="max")
    ax.axhline(100, color="tab:red", linestyle="--", linewidth=1, label="target p99 at 1,000 (100 ms)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(xs, [f"{x:,}" for x in xs])
    ax.set_xlabel("concurrent WatchPrediction subscribers")
    ax.set_ylabel("event delay: receive - event_time (ms)")
    ax.set_title(f"status fan-out ({levels[0]['predictions']} documents, pause/resume cycles)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return common.save_chart(fig, NAME)


def targets(levels: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    at = {lv["subscribers"]: lv for lv in levels}
    if 1000 not in at:
        return {}
    lv = at[1000]
    p99, lost = lv["delay"]["p99_ms"], lv["lost"] + lv["stream_errors"]
    return {"delay_1000": {
        "target": "1,000 subscribers: p99 delay <= 100 ms, no event lost",
        "measured": f"p99 {p99:.1f} ms (p50 {lv['delay']['p50_ms']:.1f} ms), {lv['lost']} lost, "
                    f"{lv['gaps']} gaps, {lv['stream_errors']} stream errors over {lv['events_delivered']} events",
        "met": p99 <= 100 and lost == 0 and lv["gaps"] == 0}}


async def run(smoke: bool) -> dict[str, Any]:
    levels_spec = SMOKE_LEVELS if smoke else FULL_LEVELS
    pages = 8 if smoke else 24
    workdir = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    triton = await common.start_triton(workdir)
    srv = None
    try:
        srv = await asyncio.to_thread(common.start_service, workdir / "service", triton.grpc_url, MODEL,
                                      **SERVICE_SETTINGS)
        service_proc = psutil.Process(srv.proc.pid) if srv.proc else None
        levels = []
        for subscribers in levels_spec:
            level = await measure_level(srv.target, subscribers, pages, service_proc)
            levels.append(level)
            d = level["delay"]
            print(f"  {subscribers:>5} subscribers: p50 {d['p50_ms']:.1f} ms p99 {d['p99_ms']:.1f} ms "
                  f"max {d['max_ms']:.1f} ms, {level['events_delivered']} events, {level['lost']} lost, "
                  f"{level['gaps']} gaps, {level['messages_per_s']:.0f} msg/s, cpu service "
                  f"{level['cpu_busy']['service']:.2f} client {level['cpu_busy']['client']:.2f} "
                  f"({level['cpu_us_per_message']['service']:.0f}/{level['cpu_us_per_message']['client']:.0f} "
                  f"us per message), last subscriber p50 {level['all_subscribers_reached']['p50_ms']:.1f} ms",
                  flush=True)
        result = {
            "smoke": smoke,
            "setup": {"model": MODEL, "domain": DOMAIN, "service_settings": SERVICE_SETTINGS,
                      "predictions_per_level": PREDICTIONS, "pages_per_document": pages,
                      "streams_per_channel": STREAMS_PER_CHANNEL, "run_s_per_cycle": RUN_S, "gap_s": GAP_S,
                      "note": "max_streams_per_tenant raised to 10,000 (default 256) so every watch is admitted; "
                              "pause/resume cycles driven by the bench; a document's next cycle starts once "
                              "all its subscribers have its PAUSED event; client and service share this "
                              "machine's CPUs (cpu_busy is CPU-seconds per second of the drive phase)"},
            "levels": levels,
            "targets": targets(levels),
            "chart": str(chart(levels).relative_to(common.ROOT)),
        }
        common.write_result(NAME, result)
        return result
    finally:
        if srv is not None:
            await asyncio.to_thread(srv.stop)
        await triton.stop()
        shutil.rmtree(workdir, ignore_errors=True)
