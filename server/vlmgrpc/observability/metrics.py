"""The service's Prometheus metrics (prometheus_client, default registry) and the small API that records them.

Every metric is created once, at import; recording is a label lookup and an increment, cheap enough for the
hot paths (each RPC, each Triton request). Gauges that mirror state the service already keeps (queue depth,
predictions running) are read when Prometheus scrapes, not updated as they change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

# Seconds: RPCs and Triton requests take milliseconds to minutes; predictions up to an hour (a long document).
FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
SLOW_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

RPCS = Counter("vlmgrpc_rpcs_handled", "RPCs finished, by full method name and final gRPC status code",
               ["method", "code"])
RPC_SECONDS = Histogram("vlmgrpc_rpc_duration_seconds", "time from an RPC's start to its final status, streams "
                        "included (a watch lasts as long as it is open)", ["method"], buckets=FAST_BUCKETS)
WATCH_STREAMS = Gauge("vlmgrpc_watch_streams_open", "WatchPrediction calls open now")
EVENTS_DELIVERED = Counter("vlmgrpc_events_delivered", "prediction events sent on server streams (WatchPrediction, "
                           "GenerateStream), heartbeats included", ["method"])
EVENTS_DROPPED = Counter("vlmgrpc_events_dropped", "live events not queued for a watcher that fell behind; it "
                         "re-reads them from the store, so none is lost to the client")
UPLOAD_BYTES = Counter("vlmgrpc_upload_bytes", "bytes of UploadFile request messages received")

PREDICTIONS = Counter("vlmgrpc_predictions_finished", "predictions that reached a terminal status",
                      ["domain", "model", "status"])
PREDICTION_SECONDS = Histogram("vlmgrpc_prediction_duration_seconds", "time from a prediction's creation to its "
                               "terminal status (queue, pauses and restarts included)", ["domain", "model", "status"],
                               buckets=SLOW_BUCKETS)
QUEUE_WAIT_SECONDS = Histogram("vlmgrpc_prediction_queue_seconds", "time from a prediction's creation until a "
                               "worker first took it", ["domain", "model"], buckets=SLOW_BUCKETS)
QUEUE_DEPTH = Gauge("vlmgrpc_queue_depth", "predictions waiting for a worker")
RUNNING = Gauge("vlmgrpc_predictions_running", "predictions a worker is running now")

TRITON_IN_FLIGHT = Gauge("vlmgrpc_triton_requests_in_flight", "requests sent to Triton and not finally answered",
                         ["model"])
TRITON_SECONDS = Histogram("vlmgrpc_triton_request_duration_seconds", "time from sending a request to Triton to "
                           "its final answer (or error)", ["model"], buckets=FAST_BUCKETS)
TRITON_REQUESTS = Counter("vlmgrpc_triton_requests", "requests sent to Triton, by outcome: ok, cancelled, or the "
                          "error reason (e.g. TRITON_UNAVAILABLE, INVALID_IMAGE)", ["model", "outcome"])


def rpc_finished(method: str, code: str, seconds: float) -> None:
    RPCS.labels(method, code).inc()
    RPC_SECONDS.labels(method).observe(seconds)


def prediction_finished(domain: str, model: str, status: str, seconds: float) -> None:
    PREDICTIONS.labels(domain, model, status).inc()
    PREDICTION_SECONDS.labels(domain, model, status).observe(seconds)


def events_dropped() -> None:
    EVENTS_DROPPED.inc()


@contextlib.contextmanager
def triton_call(model: str) -> Iterator[Callable[[str], None]]:
    """Around one request to Triton: in flight while inside, timed, counted by outcome. The block calls the
    yielded function with its outcome when it is not "ok" (an exception that escapes counts as its type)."""
    outcome = ["ok"]
    TRITON_IN_FLIGHT.labels(model).inc()
    started = time.perf_counter()
    try:
        yield lambda value: outcome.__setitem__(0, value)
    except (asyncio.CancelledError, GeneratorExit):
        outcome[0] = "cancelled"
        raise
    except BaseException as exc:
        if outcome[0] == "ok":
            outcome[0] = getattr(exc, "reason", "") or type(exc).__name__
        raise
    finally:
        TRITON_IN_FLIGHT.labels(model).dec()
        TRITON_SECONDS.labels(model).observe(time.perf_counter() - started)
        TRITON_REQUESTS.labels(model, outcome[0]).inc()


def watch_jobs(queue_depth: Callable[[], int], running: Callable[[], int]) -> None:
    """Read the queue depth and running count from the job service at each scrape."""
    QUEUE_DEPTH.set_function(queue_depth)
    RUNNING.set_function(running)


class MetricsServer:
    """The /metrics HTTP endpoint, in prometheus_client's own thread (scrapes never touch the event loop)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self._server: WSGIServer | None = None

    def start(self) -> None:
        self._server, _thread = start_http_server(self.port, self.host)
        self.port = self._server.server_port
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
