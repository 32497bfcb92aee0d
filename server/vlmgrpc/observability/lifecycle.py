"""Starts and stops what the observability settings ask for: the tracer provider, the log context, the metrics
endpoint and the gauges that read the job service."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from vlmgrpc.observability import logcontext, metrics, tracing
from vlmgrpc.settings import Settings

if TYPE_CHECKING:
    from vlmgrpc.jobs.service import JobService
    from vlmgrpc.servicers.telemetry import Telemetry


class Observability:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.metrics_server: metrics.MetricsServer | None = None

    def interceptor(self) -> Telemetry:
        """The outermost server interceptor: RPC metrics, and spans when traces are on."""
        from vlmgrpc.servicers.telemetry import Telemetry  # it imports this package: not at import time

        return Telemetry()

    def triton_options(self) -> dict[str, str]:
        """EmbeddedTriton's trace options (Triton records its own spans when traces are on)."""
        return tracing.triton_options(self.settings)

    def start(self, jobs: JobService) -> None:
        s = self.settings
        logcontext.install()
        tracing.configure(s)
        metrics.watch_jobs(jobs.queue.depth, jobs.queue.running)
        if s.metrics_port:
            self.metrics_server = metrics.MetricsServer(s.metrics_host, s.metrics_port)
            self.metrics_server.start()

    async def stop(self) -> None:
        """Last at shutdown: the final spans are exported, the endpoint closes (both block: in a thread)."""
        await asyncio.to_thread(tracing.shutdown)
        if self.metrics_server is not None:
            await asyncio.to_thread(self.metrics_server.stop)
            self.metrics_server = None
