"""The prediction record and its state machine."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field

from vlmgrpc.errors import failed_precondition


class Status(str, Enum):
    PENDING = "pending"
    ENQUEUED = "enqueued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    PAUSED = "paused"

    @property
    def terminal(self) -> bool:
        return self in (Status.COMPLETED, Status.FAILED)


# Allowed transitions. FAILED is reachable from every non-terminal state (errors and cancel).
# RUNNING -> ENQUEUED is the re-queue on shutdown or restart; PAUSED -> ENQUEUED is resume.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.ENQUEUED, Status.PAUSED, Status.FAILED}),
    Status.ENQUEUED: frozenset({Status.RUNNING, Status.PAUSED, Status.FAILED}),
    Status.RUNNING: frozenset({Status.COMPLETED, Status.FAILED, Status.PAUSED, Status.ENQUEUED}),
    Status.PAUSED: frozenset({Status.ENQUEUED, Status.FAILED}),
    Status.COMPLETED: frozenset(),
    Status.FAILED: frozenset(),
}


def check_transition(current: Status, new: Status, prediction_id: str = "") -> None:
    if new not in TRANSITIONS[current]:
        raise failed_precondition(
            "INVALID_TRANSITION", f"prediction {prediction_id!r} is {current.value}; it cannot become {new.value}",
            id=prediction_id, status=current.value, requested=new.value)


class Kind(str, Enum):
    IMAGE = "image"
    DOCUMENT = "document"


class InputRef(BaseModel):
    """An accepted input: bytes kept by the service (a file under the data directory, or a row in the store
    when `inline`), or a URL fetched when the job runs."""

    blob: str | None = None  # path relative to the data directory (the key of an inline input)
    inline: bool = False  # the bytes are in the store, committed with the prediction
    url: str | None = None
    media_type: str = ""  # sniffed: image/png, application/pdf, ... ("" for URLs until fetched)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Prediction(BaseModel):
    id: str
    owner: str
    kind: Kind
    domain: str
    model: str = "vlm-1"
    batch: bool
    request_id: str = ""
    fingerprint: str = ""
    callback_url: str = ""
    config: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    inputs: list[InputRef] = Field(default_factory=list)
    request_created_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    status: Status = Status.PENDING
    response: Any = None
    error: dict[str, Any] | None = None
    done: int = 0
    total: int = 0
    run_seconds: float = 0.0  # accumulated across runs (pauses and restarts excluded)
    steps: int = 0  # requests sent to the model, retries included
    credits: int = 0  # credits_used, priced when the prediction ends (settings.credit_prices)
    message: str = ""
    sequence: int = 0

    @property
    def element_type(self) -> str:
        return "page" if self.kind is Kind.DOCUMENT else "image"

    @property
    def duration_seconds(self) -> int:
        return math.ceil(self.run_seconds)

    def transition(self, new: Status, message: str = "") -> None:
        check_transition(self.status, new, self.id)
        self.status = new
        self.message = message
        if new is Status.RUNNING and self.started_at is None:
            self.started_at = utcnow()
        if new.terminal:
            self.completed_at = utcnow()
