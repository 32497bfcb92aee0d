"""What the job layer calls (one line each) so a prediction is measured, traced and named in log lines."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from opentelemetry import trace

from vlmgrpc.observability import logcontext, metrics, tracing

if TYPE_CHECKING:
    from vlmgrpc.jobs.model import Prediction


def _ns(moment) -> int:
    return int(moment.timestamp() * 1e9)


def _attributes(pred: Prediction) -> dict[str, str | int]:
    return {"vlm.prediction.id": pred.id, "vlm.tenant": pred.owner, "vlm.domain": pred.domain,
            "vlm.model": pred.model, "vlm.kind": pred.kind.value, "vlm.elements": pred.total}


async def run_prediction(pred: Prediction, run: Awaitable[None]) -> None:
    """A worker's run of `pred` (the awaitable), in the prediction's trace: on its first run a span for the
    time it waited in the queue, then one for the run, under which each Triton request is a span. Log lines
    of the run name the prediction and its tenant."""
    logcontext.bind(pred.id, pred.owner)
    first_run = pred.run_seconds == 0 and pred.done == 0
    if first_run:
        metrics.QUEUE_WAIT_SECONDS.labels(pred.domain, pred.model).observe(
            max(0.0, time.time() - pred.created_at.timestamp()))
    if not tracing.enabled():
        await run
        return
    parent = tracing.context_from(pred.traceparent)
    tracer = tracing.tracer()
    if first_run:
        tracer.start_span("prediction.queue", context=parent, start_time=_ns(pred.created_at),
                          attributes=_attributes(pred)).end()
    with tracer.start_as_current_span("prediction.run", context=parent, attributes=_attributes(pred)) as span:
        await run
        span.set_attribute("vlm.status", pred.status.value)
        span.set_attribute("vlm.done", pred.done)


def prediction_finished(pred: Prediction) -> None:
    """`pred` reached COMPLETED or FAILED: counted and timed, and the terminal event ends its trace (under the
    run when it ended running, else, e.g. cancelled while queued, under the submitting RPC)."""
    ended = pred.completed_at or pred.created_at
    metrics.prediction_finished(pred.domain, pred.model, pred.status.value,
                                max(0.0, (ended - pred.created_at).total_seconds()))
    if not tracing.enabled():
        return
    current = trace.get_current_span().get_span_context()
    parent = tracing.context_from(pred.traceparent)
    stored = trace.get_current_span(parent).get_span_context() if parent is not None else None
    if stored is not None and current.trace_id != stored.trace_id:
        context = parent  # not this prediction's run (a cancel RPC, say): continue the prediction's trace
    else:
        context = None
    attributes: dict[str, str | int] = {**_attributes(pred), "vlm.status": pred.status.value, "vlm.done": pred.done}
    if pred.error:
        attributes["vlm.error.reason"] = str(pred.error.get("reason", ""))
    span = tracing.tracer().start_span(f"prediction.{pred.status.value}", context=context, attributes=attributes,
                                       start_time=_ns(ended))
    if pred.error:
        span.set_status(trace.StatusCode.ERROR, str(pred.error.get("message", ""))[:200])
    span.end(end_time=max(_ns(ended), time.time_ns()))
