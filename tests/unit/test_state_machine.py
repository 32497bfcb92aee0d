"""The prediction state machine (jobs/model.py): every transition, allowed or not."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from vlmgrpc.errors import Code, ServiceError
from vlmgrpc.jobs.model import TRANSITIONS, Kind, Prediction, Status, check_transition

ALL_PAIRS = list(itertools.product(Status, Status))
ALLOWED = [(a, b) for a, b in ALL_PAIRS if b in TRANSITIONS[a]]
DISALLOWED = [(a, b) for a, b in ALL_PAIRS if b not in TRANSITIONS[a]]

# The transitions the module documents, written out independently of TRANSITIONS.
EXPECTED_ALLOWED = {
    (Status.PENDING, Status.ENQUEUED), (Status.PENDING, Status.PAUSED), (Status.PENDING, Status.FAILED),
    (Status.ENQUEUED, Status.RUNNING), (Status.ENQUEUED, Status.PAUSED), (Status.ENQUEUED, Status.FAILED),
    (Status.RUNNING, Status.COMPLETED), (Status.RUNNING, Status.FAILED), (Status.RUNNING, Status.PAUSED),
    (Status.RUNNING, Status.ENQUEUED),
    (Status.PAUSED, Status.ENQUEUED), (Status.PAUSED, Status.FAILED),
}


def _pred(status: Status, kind: Kind = Kind.IMAGE) -> Prediction:
    return Prediction(id="pred-1", owner="alice", kind=kind, domain="image.caption", batch=False, status=status)


def _ids(pair: tuple[Status, Status]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


def test_status_values_are_the_vlm_run_strings():
    assert sorted(s.value for s in Status) == sorted(
        ["pending", "enqueued", "running", "completed", "failed", "paused"])
    assert len(Status) == 6
    # str-valued: usable wherever the API expects the plain string.
    assert Status("completed") is Status.COMPLETED
    assert Status.RUNNING == "running"


def test_transition_table_covers_every_status():
    assert set(TRANSITIONS) == set(Status)


def test_transition_table_is_the_documented_one():
    assert set(ALLOWED) == EXPECTED_ALLOWED


def test_only_completed_and_failed_are_terminal():
    assert {s for s in Status if s.terminal} == {Status.COMPLETED, Status.FAILED}


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.FAILED])
def test_terminal_states_have_no_exits(status):
    assert TRANSITIONS[status] == frozenset()
    for new in Status:
        with pytest.raises(ServiceError):
            check_transition(status, new, "p")


def test_failed_is_reachable_from_every_non_terminal_state():
    for status in Status:
        if not status.terminal:
            assert Status.FAILED in TRANSITIONS[status]


@pytest.mark.parametrize("pair", ALLOWED, ids=_ids)
def test_allowed_transition(pair):
    current, new = pair
    pred = _pred(current)
    before = datetime.now(UTC)
    pred.transition(new, "why")
    assert pred.status is new
    assert pred.message == "why"
    if new.terminal:
        assert pred.completed_at is not None
        assert pred.completed_at >= before
        assert pred.completed_at.tzinfo is not None
    else:
        assert pred.completed_at is None


@pytest.mark.parametrize("pair", DISALLOWED, ids=_ids)
def test_disallowed_transition(pair):
    current, new = pair
    pred = _pred(current)
    pred.message = "unchanged"
    with pytest.raises(ServiceError) as info:
        pred.transition(new, "should not apply")
    err = info.value
    assert err.code is Code.FAILED_PRECONDITION
    assert err.reason == "INVALID_TRANSITION"
    assert err.metadata == {"id": "pred-1", "status": current.value, "requested": new.value}
    assert current.value in err.message and new.value in err.message
    # Nothing changed on a refused transition.
    assert pred.status is current
    assert pred.message == "unchanged"
    assert pred.completed_at is None


def test_same_state_is_not_a_transition():
    for status in Status:
        with pytest.raises(ServiceError):
            check_transition(status, status)


def test_full_lifecycle_with_pause_and_requeue():
    pred = _pred(Status.PENDING)
    for new in (Status.ENQUEUED, Status.RUNNING, Status.PAUSED, Status.ENQUEUED, Status.RUNNING,
                Status.ENQUEUED, Status.RUNNING, Status.COMPLETED):
        pred.transition(new)
    assert pred.status is Status.COMPLETED and pred.completed_at is not None
    with pytest.raises(ServiceError):
        pred.transition(Status.FAILED)


def test_usage_properties():
    pred = _pred(Status.RUNNING, Kind.DOCUMENT)
    assert pred.element_type == "page"
    assert _pred(Status.RUNNING, Kind.IMAGE).element_type == "image"
    pred.run_seconds = 2.01
    assert pred.duration_seconds == 3
    pred.run_seconds = 0.0
    assert pred.duration_seconds == 0
