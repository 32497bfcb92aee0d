"""Log lines carry the prediction id and tenant they concern, where they have one.

Both live in context variables: the worker's run of a prediction sets them for its task (and the tasks it
starts), an RPC has the tenant the auth gate resolved. A log record factory copies them onto every record as
`prediction_id`, `tenant` and `context` (" prediction=<id> tenant=<t>", or "" when neither is known), so a
format string can end with `%(context)s` and structured handlers can read the fields.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

from vlmgrpc.servicers.context import current_tenant

prediction_id: ContextVar[str] = ContextVar("log_prediction_id", default="")
tenant: ContextVar[str] = ContextVar("log_tenant", default="")

_installed = False


def bind(prediction: str, owner: str) -> None:
    """From here on in this task (and tasks it creates), log lines name this prediction and tenant."""
    prediction_id.set(prediction)
    tenant.set(owner)


def context_text(prediction: str, owner: str) -> str:
    parts = [f"prediction={prediction}" if prediction else "", f"tenant={owner}" if owner else ""]
    text = " ".join(p for p in parts if p)
    return f" [{text}]" if text else ""


def install() -> None:
    """Add the fields to every log record (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.prediction_id = prediction_id.get()
        # An RPC's tenant is the gate's; outside RPCs (start-up, workers before bind) there is none.
        record.tenant = tenant.get() or current_tenant.get(None) or ""
        record.context = context_text(record.prediction_id, record.tenant)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
