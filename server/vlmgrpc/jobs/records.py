"""What the job layer stores and streams, whatever the store: event types, events, listing cursors.

Both stores (jobs/store.py on SQLite, and the PostgreSQL one) speak these, and so do the watchers, the
converters and the REST API, none of which knows which store is behind them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from vlmgrpc.jobs.model import Prediction


class EventType(str, Enum):
    SNAPSHOT = "snapshot"
    STATUS_CHANGED = "status_changed"
    PROGRESS = "progress"
    HEARTBEAT = "heartbeat"
    OUTPUT_DELTA = "output_delta"  # live only, never stored


@dataclass(frozen=True)
class Delta:
    """New text of a generative model for one element."""

    element_index: int
    text: str
    offset: int  # where `text` starts in the element's output (characters)
    attempt: int = 0


@dataclass(frozen=True)
class Event:
    prediction_id: str
    sequence: int
    type: EventType
    time: datetime
    prediction: Prediction | None  # None on heartbeats and deltas
    # Rendered forms, shared by every watcher of this event (one conversion, not one per watcher).
    rendered: dict = field(default_factory=dict, compare=False, repr=False)
    delta: Delta | None = None


@dataclass(frozen=True)
class Cursor:
    """Position in a newest-first listing."""

    created_at: str
    id: str


class SequenceConflict(Exception):
    """An event that does not follow the last one stored: a stale holder, or an earlier save that failed."""


class ClaimLost(Exception):
    """A write by a replica that no longer holds the prediction: its lease ran out and another replica took it."""

    def __init__(self, prediction_id: str, holder: str, replica: str):
        super().__init__(f"prediction {prediction_id} is claimed by replica {holder!r}, not {replica!r}")
        self.prediction_id = prediction_id
