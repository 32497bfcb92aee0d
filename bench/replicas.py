"""Replicas on PostgreSQL beside the embedded default: one process on SQLite, then two replicas on one PostgreSQL
(durable: fsync and synchronous_commit on, as a database one runs would be), one after the other in one run,
with one embedded Triton (`echo`, which answers at once: the job layer is the load) and default settings (but
max_streams_per_tenant, raised so every watch is admitted).

- Submissions: ImageService.Generate with batch=true (answered once the prediction is committed) from 32
  concurrent callers, spread over the replicas; then batch=false (answered once completed) the same way.
- Watch fan-out: 1,000 WatchPrediction subscribers spread evenly over the replicas on 5 documents submitted on
  the first replica and paused; once every watch has its snapshot, each document is resumed (on replica i mod
  n) and runs to the end. Delay = receive time - event_time; lost and gaps as in bench/fanout.py.

Both setups share this machine's CPUs with the bench itself (a 2-core CI machine: two replicas do not get
twice the CPU); ratios are PostgreSQL over SQLite, measured in the same run.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

from bench import common
from bench.fanout import OPENING, STREAMS_PER_CHANNEL, Doc, Subscriber, losses, pdf, subscribe
from bench.gateway import small_png
from tests.pg_server import PostgresServer
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc.api.vlm.v1 import prediction_service_pb2_grpc as ps_grpc
from vlmgrpc_client import Client

NAME = "replicas"
DOMAIN = "bench.echo"
MODEL = "echo"
SETTINGS = {"max_streams_per_tenant": 10_000}
CONCURRENCY = 32
DOCUMENTS = 5


async def submissions(clients: list[Client], total: int, batch: bool) -> dict[str, Any]:
    request = img_pb.ImageServiceGenerateRequest(domain=DOMAIN, images=[pb.ImageInput(data=small_png())],
                                                 batch=batch)
    turn = 0

    async def one() -> float:
        nonlocal turn
        client = clients[turn % len(clients)]
        turn += 1
        started = time.perf_counter()
        response = await client.images.Generate(request, timeout=300)
        if not batch and response.prediction.status != pb.PREDICTION_STATUS_COMPLETED:
            raise RuntimeError(f"prediction {response.prediction.id} ended {response.prediction.status}")
        return time.perf_counter() - started

    latencies, wall = await common.closed_loop(one, CONCURRENCY, total)
    return {"calls": total, "per_s": total / wall, "latency": common.summary(latencies)}


async def paused_document(client: Client, document: bytes, tries: int = 5) -> str:
    """A document submitted and paused before it ends (echo answers at once: one may finish first; then another)."""
    for _ in range(tries):
        pred = (await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
            domain=DOMAIN, document=pb.DocumentInput(data=document), batch=True))).prediction
        try:
            paused = (await client.predictions.PausePrediction(ps.PausePredictionRequest(id=pred.id))).prediction
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:  # ended before the pause
                raise
            continue
        if paused.status == pb.PREDICTION_STATUS_PAUSED:
            return pred.id
    raise RuntimeError(f"no document could be paused before it ended in {tries} tries")


async def fan_out(targets: list[str], clients: list[Client], subscribers: int, pages: int) -> dict[str, Any]:
    first = clients[0]
    document = pdf(pages)
    docs = []
    while len(docs) < DOCUMENTS:
        docs.append(Doc(await paused_document(first, document)))
    per_target = max(1, -(-subscribers // len(targets) // STREAMS_PER_CHANNEL))
    channels = [grpc.aio.insecure_channel(t, options=[("grpc.use_local_subchannel_pool", 1), ("bench.channel", i)])
                for t in targets for i in range(per_target)]
    stubs = [ps_grpc.PredictionServiceStub(ch) for ch in channels]
    tasks: list[asyncio.Task] = []
    subs: list[Subscriber] = []
    try:
        opening = asyncio.Semaphore(OPENING)
        for i in range(subscribers):
            doc = docs[i % DOCUMENTS]
            sub = doc.subscriber()
            subs.append(sub)
            # Subscriber i watches on replica i mod n: each replica serves its share of every document.
            stub = stubs[(i % len(targets)) * per_target + (i // len(targets)) % per_target]
            tasks.append(asyncio.create_task(subscribe(stub, doc, sub, opening)))
        await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in subs)), timeout=600)
        if any(s.error for s in subs):
            raise RuntimeError(f"watches failed to open: {next(s.error for s in subs if s.error)}")
        gc.freeze()
        started = time.monotonic()
        for i, doc in enumerate(docs):
            await clients[i % len(clients)].predictions.ResumePrediction(ps.ResumePredictionRequest(id=doc.id))
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=600)
        drive_s = time.monotonic() - started
        lost, gaps, _, _ = await losses(first, docs)
        delays = [d for s in subs for d in s.delays]
        # Document i runs where it was resumed (replica i mod n); subscriber j watches on replica j mod n.
        runs_on = {doc.id: i % len(targets) for i, doc in enumerate(docs)}
        here = [d for j, s in enumerate(subs) if runs_on[s.prediction] == j % len(targets) for d in s.delays]
        elsewhere = [d for j, s in enumerate(subs) if runs_on[s.prediction] != j % len(targets) for d in s.delays]
        return {"subscribers": subscribers, "documents": DOCUMENTS, "pages": pages, "events_delivered": len(delays),
                "delay": common.summary(delays), "lost": lost, "gaps": gaps,
                "delay_where_it_runs": common.summary(here),
                "delay_on_another_replica": common.summary(elsewhere) if elsewhere else {},
                "stream_errors": sum(1 for s in subs if s.error), "drive_s": drive_s}
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ch in channels:
            await ch.close()
        gc.unfreeze()


async def measure(name: str, services: list, smoke: bool) -> dict[str, Any]:
    targets = [s.target for s in services]
    clients = [Client(t) for t in targets]
    try:
        total = 60 if smoke else 2000
        await submissions(clients, 20, batch=True)  # warm-up
        accepted = await submissions(clients, total, batch=True)
        completed = await submissions(clients, total // 2, batch=False)
        watch = await fan_out(targets, clients, 40 if smoke else 1000, 24)
    finally:
        for client in clients:
            await client.close()
    print(f"  {name}: accepted {accepted['per_s']:.0f}/s (p50 {accepted['latency']['p50_ms']:.1f} ms), completed "
          f"{completed['per_s']:.0f}/s (p50 {completed['latency']['p50_ms']:.1f} ms), {watch['subscribers']} "
          f"watchers p50 {watch['delay']['p50_ms']:.1f} ms p99 {watch['delay']['p99_ms']:.1f} ms, "
          f"{watch['lost']} lost, {watch['gaps']} gaps", flush=True)
    if watch["delay_on_another_replica"]:
        print(f"    watchers where it runs p50 {watch['delay_where_it_runs']['p50_ms']:.1f} ms p99 "
              f"{watch['delay_where_it_runs']['p99_ms']:.1f} ms; on another replica p50 "
              f"{watch['delay_on_another_replica']['p50_ms']:.1f} ms p99 "
              f"{watch['delay_on_another_replica']['p99_ms']:.1f} ms", flush=True)
    return {"replicas": len(services), "accepted": accepted, "completed": completed, "watch": watch}


async def run(smoke: bool) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    triton = await common.start_triton(workdir)
    postgres = await asyncio.to_thread(lambda: PostgresServer(durable=True).start())
    services: list = []
    try:
        srv = await asyncio.to_thread(common.start_service, workdir / "sqlite", triton.grpc_url, MODEL, **SETTINGS)
        services = [srv]
        sqlite = await measure("1 process, SQLite", services, smoke)
        await asyncio.to_thread(srv.stop)
        url = await asyncio.to_thread(postgres.new_database)
        shared = workdir / "shared"
        services = []
        for i in range(2):
            replica = common.ServerProcess(workdir / f"replica-{i}", triton_url=triton.grpc_url, models=MODEL,
                                           database_url=url, replica_id=f"r{i}", blob_dir=shared, **SETTINGS)
            services.append(await asyncio.to_thread(replica.start))
        replicas = await measure("2 replicas, PostgreSQL", services, smoke)
        ratios = {
            "accepted_per_s": replicas["accepted"]["per_s"] / sqlite["accepted"]["per_s"],
            "completed_per_s": replicas["completed"]["per_s"] / sqlite["completed"]["per_s"],
            "watch_p99": replicas["watch"]["delay"]["p99_ms"] / sqlite["watch"]["delay"]["p99_ms"],
        }
        result = {
            "smoke": smoke,
            "setup": {"model": MODEL, "domain": DOMAIN, "settings": SETTINGS, "concurrency": CONCURRENCY,
                      "postgres": "PostgreSQL from Debian's packages, fsync and synchronous_commit on",
                      "note": "one after the other on the same machine, sharing its CPUs with the bench and Triton"},
            "sqlite_1_process": sqlite,
            "postgres_2_replicas": replicas,
            "ratios_postgres_over_sqlite": ratios,
            "targets": targets(sqlite, replicas, ratios),
        }
        common.write_result(NAME, result)
        return result
    finally:
        await common.shut_down([], services, triton, workdir)
        await asyncio.to_thread(postgres.stop)


def targets(sqlite: dict, replicas: dict, ratios: dict) -> dict[str, dict[str, Any]]:
    w = replicas["watch"]
    return {
        "submissions": {"target": "2 replicas on PostgreSQL beside 1 process on SQLite: submissions (reported)",
                        "measured": f"accepted {replicas['accepted']['per_s']:.0f}/s vs "
                                    f"{sqlite['accepted']['per_s']:.0f}/s ({ratios['accepted_per_s']:.2f}x), "
                                    f"completed {replicas['completed']['per_s']:.0f}/s vs "
                                    f"{sqlite['completed']['per_s']:.0f}/s ({ratios['completed_per_s']:.2f}x)",
                        "met": None},
        "watch_fan_out": {"target": "1,000 watchers over 2 replicas: no event lost, no gap",
                          "measured": f"p99 {w['delay']['p99_ms']:.1f} ms vs {sqlite['watch']['delay']['p99_ms']:.1f}"
                                      f" ms on 1 process ({ratios['watch_p99']:.2f}x), {w['lost']} lost, "
                                      f"{w['gaps']} gaps, {w['stream_errors']} stream errors",
                          "met": w["lost"] == 0 and w["gaps"] == 0 and w["stream_errors"] == 0},
    }
