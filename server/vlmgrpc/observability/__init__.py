"""Metrics (Prometheus), traces (OpenTelemetry) and log context. The job layer calls the names below, one line
each; app.py starts the metrics endpoint and the tracer provider (`start`) and stops them (`stop`)."""

from vlmgrpc.observability.lifecycle import Observability
from vlmgrpc.observability.metrics import events_dropped
from vlmgrpc.observability.predictions import prediction_finished, run_prediction
from vlmgrpc.observability.tracing import current_traceparent

__all__ = ["Observability", "current_traceparent", "events_dropped", "prediction_finished", "run_prediction"]
