"""Wires the service together and runs it: store, Triton (embedded or external), jobs, gRPC.

Start-up order follows the data path backwards (store, Triton, jobs, then the port opens);
shutdown drains it forwards: health NOT_SERVING, no new work, watches end, running work
finishes within the grace period or is re-queued, then Triton stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import resource
import signal
import socket

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vlmgrpc.api.vlm.v1 import (
    document_service_pb2,
    document_service_pb2_grpc,
    file_service_pb2,
    file_service_pb2_grpc,
    hub_service_pb2,
    hub_service_pb2_grpc,
    image_service_pb2,
    image_service_pb2_grpc,
    model_service_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2,
    prediction_service_pb2_grpc,
)
from vlmgrpc.catalog import Catalog
from vlmgrpc.inference.embedded import EmbeddedTriton
from vlmgrpc.inference.gateway import TritonGateway
from vlmgrpc.inference.models import ModelRegistry
from vlmgrpc.jobs.blobs import Blobs
from vlmgrpc.jobs.events import EventBus
from vlmgrpc.jobs.files import FileStore
from vlmgrpc.jobs.retention import Retention
from vlmgrpc.jobs.runner import Runner
from vlmgrpc.jobs.service import JobService
from vlmgrpc.jobs.store import Store
from vlmgrpc.jobs.store_api import JobStore
from vlmgrpc.jobs.watch import Watcher
from vlmgrpc.observability import Observability
from vlmgrpc.pipeline.render import Renderer
from vlmgrpc.rest import RestServer
from vlmgrpc.servicers.files import UPLOAD_METHOD, FileServicer, parse_upload_request
from vlmgrpc.servicers.generate import DocumentServicer, ImageServicer
from vlmgrpc.servicers.hub import HubServicer, ModelServicer
from vlmgrpc.servicers.interceptor import Gate, load_cert_tenants, load_tokens
from vlmgrpc.servicers.predictions import PredictionServicer
from vlmgrpc.settings import Settings

log = logging.getLogger("vlmgrpc")

SERVICE_NAMES = (
    image_service_pb2.DESCRIPTOR.services_by_name["ImageService"].full_name,
    document_service_pb2.DESCRIPTOR.services_by_name["DocumentService"].full_name,
    prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"].full_name,
    file_service_pb2.DESCRIPTOR.services_by_name["FileService"].full_name,
    hub_service_pb2.DESCRIPTOR.services_by_name["HubService"].full_name,
    model_service_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name,
)


def server_credentials(s: Settings) -> grpc.ServerCredentials | None:
    """TLS with the configured certificate, mutual TLS when a client CA is set; None: plaintext."""
    if s.tls_cert_file is None or s.tls_key_file is None:
        return None
    client_ca = s.tls_client_ca_file.read_bytes() if s.tls_client_ca_file else None
    return grpc.ssl_server_credentials([(s.tls_key_file.read_bytes(), s.tls_cert_file.read_bytes())],
                                       root_certificates=client_ca, require_client_auth=client_ca is not None)


def make_store(s: Settings) -> JobStore:
    """The system of record the settings name: PostgreSQL with a database_url, else the embedded SQLite file."""
    if s.database_url:
        from vlmgrpc.jobs.pg_store import PgStore  # asyncpg only where PostgreSQL is used

        replica = s.replica_id or (f"{socket.gethostname()}:{s.port}" if s.port else "")
        return PgStore(s.database_url, keep_inputs=s.retention_keep_inputs, pool_size=s.database_pool_size,
                       replica=replica, lease_s=s.claim_lease_s)
    return Store(s.data_dir / "vlmgrpc.sqlite3", keep_inputs=s.retention_keep_inputs)


class App:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = make_store(settings)
        self.blobs = Blobs(settings.blobs_root)
        self.retention = Retention(settings, self.store, self.blobs)
        self.files = FileStore(self.store, self.blobs, settings.max_upload_bytes)
        self.bus = EventBus(settings.watch_queue_size, settings.heartbeat_s)
        self.catalog = Catalog()
        self.renderer = Renderer(settings.render_workers)
        self.observability = Observability(settings)
        self.triton: EmbeddedTriton | None = None
        self.gateway: TritonGateway | None = None
        self.models: ModelRegistry | None = None
        self.jobs: JobService | None = None
        self.runner: Runner | None = None
        self.watcher: Watcher | None = None
        self.health = health.aio.HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.port = 0
        self._tasks: list[asyncio.Task] = []
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        s = self.settings
        await self.store.open()
        await self.retention.sweep_orphans()  # before any submission: what a crash left behind
        # The catalogue first, not beside the Triton spawn: loguru (imported by vlmrun-hub) breaks
        # if a fork happens while another thread imports it.
        await asyncio.to_thread(self.catalog.load)
        await asyncio.gather(self.renderer.warm_up(), self._start_triton())
        assert self.gateway is not None
        self.models = ModelRegistry(self.gateway, s.models, self.catalog.known)
        await self.models.load()
        self.jobs = JobService(s, self.store, self.blobs, self.files, self.bus, self.catalog, self.renderer,
                               self.gateway, self.models)
        self.watcher = Watcher(self.jobs)
        self.runner = Runner(self.jobs)
        await self.jobs.recover()
        await self.jobs.callbacks.start()  # resumes deliveries a restart interrupted
        self.observability.start(self.jobs)  # metrics endpoint, tracer provider, log context
        self.runner.start()
        await self._start_grpc()
        self.rest = RestServer(self)  # the VLM Run REST API beside gRPC (rest/; off when rest_port is 0)
        await self.rest.start()
        self._tasks.append(asyncio.create_task(self._watch_health(), name="health"))
        self._tasks.append(asyncio.create_task(self.retention.run(), name="retention"))
        if s.stats_log_s > 0:
            self._tasks.append(asyncio.create_task(self._log_stats(), name="stats"))
        # What start-up loaded (modules, descriptors, hub schemas) lives as long as the process. Frozen, a
        # full collection no longer walks it: those passes paused the loop 50-140 ms under 1,000 watches.
        gc.freeze()
        log.info("serving on %s:%d (Triton %s, models %s)", s.host, self.port, self.gateway.url,
                 ", ".join(m.id for m in self.models.all()))

    async def _start_triton(self) -> None:
        s = self.settings
        url = s.triton_url
        names = [m.name for m in s.models]
        if not url:
            self.triton = EmbeddedTriton(s.model_repository, s.data_dir / "triton",
                                         startup_timeout_s=s.triton_startup_timeout_s,
                                         models={m.name: m.params for m in s.models},
                                         **self.observability.triton_options())
            await self.triton.start()
            self._tasks.append(asyncio.create_task(self.triton.supervise(), name="triton-supervisor"))
            url = self.triton.grpc_url
        self.gateway = TritonGateway(url, s.triton_request_timeout_s)
        for _ in range(int(s.triton_startup_timeout_s)):
            if await self.gateway.server_ready() and all([await self.gateway.model_ready(n) for n in names]):
                return
            await asyncio.sleep(1)
        raise RuntimeError(f"Triton at {url} did not become ready with models {', '.join(names)}")

    async def _start_grpc(self) -> None:
        s = self.settings
        assert self.jobs and self.watcher
        mutual_tls = s.tls_client_ca_file is not None
        self.gate = Gate(load_tokens(s.auth_tokens, s.auth_tokens_file), s.max_streams_per_tenant,
                         deserializers={UPLOAD_METHOD: parse_upload_request},
                         cert_tenants=load_cert_tenants(s.tls_client_tenants) if mutual_tls else None)
        server = grpc.aio.server(interceptors=[self.observability.interceptor(), self.gate], options=[
            ("grpc.max_receive_message_length", s.max_message_bytes),
            ("grpc.max_send_message_length", s.max_message_bytes),
            ("grpc.keepalive_time_ms", int(s.keepalive_time_s * 1000)),
            ("grpc.keepalive_timeout_ms", int(s.keepalive_timeout_s * 1000)),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
            ("grpc.http2.max_ping_strikes", 0),
            # Thousands of watchers reconnect at once after a restart; the defaults (1000 soft, 3000 hard
            # calls waiting to be accepted) would cancel the rest.
            ("grpc.server.max_pending_requests", 20_000),
            ("grpc.server.max_pending_requests_hard_limit", 40_000),
        ])
        image_service_pb2_grpc.add_ImageServiceServicer_to_server(ImageServicer(self.jobs, self.watcher), server)
        document_service_pb2_grpc.add_DocumentServiceServicer_to_server(
            DocumentServicer(self.jobs, self.watcher), server)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(self.jobs, self.watcher), server)
        file_service_pb2_grpc.add_FileServiceServicer_to_server(FileServicer(self.files), server)
        hub_service_pb2_grpc.add_HubServiceServicer_to_server(HubServicer(self.catalog, self.models), server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(self.models), server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME), server)
        address = f"{s.host}:{s.port}"
        credentials = await asyncio.to_thread(server_credentials, s)
        if credentials is None:
            self.port = server.add_insecure_port(address)
        else:
            try:
                self.port = server.add_secure_port(address, credentials)
            except RuntimeError as exc:  # gRPC says only "Failed to bind"; its log has the cause
                raise RuntimeError(f"cannot serve TLS on {address}: the port is taken, or tls_cert_file and "
                                   "tls_key_file are not a PEM certificate chain and its private key") from exc
        await server.start()
        self.server = server
        await self._set_serving(True)

    async def _set_serving(self, ok: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, status)

    async def _watch_health(self) -> None:
        """SERVING only while Triton and its model are ready."""
        assert self.models
        serving = True
        while True:
            await asyncio.sleep(self.settings.health_poll_s)
            ok = await self.models.refresh()
            if ok != serving:
                log.warning("Triton %s: health %s", "ready" if ok else "NOT ready",
                            "SERVING" if ok else "NOT_SERVING")
                await self._set_serving(ok)
                serving = ok

    async def _log_stats(self) -> None:
        """One line an operator (and the soak test) can read: what the process holds right now."""
        assert self.jobs
        while True:
            await asyncio.sleep(self.settings.stats_log_s)
            fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else -1
            rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            log.info("stats tasks=%d fds=%d peak_rss_mb=%.0f running=%d queued=%d watchers=%d streams=%d",
                     len(asyncio.all_tasks()), fds, rss_mb, self.jobs.queue.running(), self.jobs.queue.depth(),
                     self.bus.subscribers(), sum(self.gate.streams.values()))

    async def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        s = self.settings
        log.info("shutting down: draining for up to %.0f s", s.shutdown_grace_s)
        grace_ends = asyncio.get_running_loop().time() + s.shutdown_grace_s
        if self.jobs:
            self.jobs.closing = True  # before any await: no submission is accepted from here on
        await self.health.enter_graceful_shutdown()
        if self.watcher:
            self.watcher.close()
        if self.runner:
            await self.runner.stop(s.shutdown_grace_s)
        if self.server:
            await self.server.stop(grace=2)
        if getattr(self, "rest", None):
            await self.rest.stop()
        if self.jobs:
            await self.jobs.park()  # every handler has ended: nothing can start a prediction any more
            # Deliveries in progress get what is left of the grace; the rest wait in the outbox.
            await self.jobs.callbacks.stop(grace_ends - asyncio.get_running_loop().time())
        for task in self._tasks:
            task.cancel()
        for task, result in zip(self._tasks, await asyncio.gather(*self._tasks, return_exceptions=True),
                                strict=True):
            if isinstance(result, Exception):
                log.error("%s ended with an error", task.get_name(), exc_info=result)
        if self.gateway:
            await self.gateway.close()
        if self.triton:
            await self.triton.stop()
        self.renderer.close()
        await self.store.close()
        await self.observability.stop()
        log.info("stopped")


async def serve(settings: Settings, on_ready=None) -> None:
    app = App(settings)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await app.start()
        if on_ready:
            on_ready(app)
        await stop.wait()
    finally:
        await app.stop()
