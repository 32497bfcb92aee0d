"""What both stores write the same way: an event's state taken at save time, the stored forms of a prediction,
and handing a committed batch's outcomes back on the loop."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from vlmgrpc.jobs.model import Prediction, utcnow
from vlmgrpc.jobs.records import Event, EventType


def snapshot(pred: Prediction) -> str:
    # Snapshots leave the response out: it is only final at the end, and the terminal event's is the row's
    # (events_after puts it back), so a large response is stored once, not twice.
    return pred.model_dump_json(exclude={"response"})


def body_and_snapshot(pred: Prediction) -> tuple[str, str]:
    body = pred.model_dump_json()
    return body, body if pred.response is None else snapshot(pred)


def next_event(pred: Prediction, event: EventType) -> Event:
    """The prediction's next event, with a shallow copy of its state: a faithful snapshot, because
    fields are replaced on change, never mutated in place. The sequence advances now, so saves made before
    this one commits follow it; keep_sequence takes it back if the write fails."""
    pred.sequence += 1
    return Event(pred.id, pred.sequence, event, utcnow(), pred.model_copy())


def keep_sequence(pred: Prediction, first: int, saved: asyncio.Future) -> None:
    """On the loop, when a save is done: a failed one gives back its sequence numbers (from `first` on), so
    the next save follows the last one that committed, with no gap."""
    if not saved.cancelled() and saved.exception() is not None:
        pred.sequence = min(pred.sequence, first - 1)


def element_row(prediction_id: str, element: tuple[int, Any]) -> tuple[str, int, str]:
    return prediction_id, element[0], json.dumps(element[1], separators=(",", ":"))


def resolve(results: list[tuple[asyncio.Future, Any, BaseException | None]]) -> None:
    """On the loop: hand every operation of a committed batch its outcome, in the order they were called."""
    for future, result, error in results:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
