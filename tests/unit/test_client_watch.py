"""Watch resume in the Python client: a stream that drops is resumed with WatchPrediction after the last
sequence number seen, with nothing lost or repeated, sync and asyncio (fake streams, no server)."""

from __future__ import annotations

import grpc
import pytest

from vlmgrpc_client import AsyncVLMClient, VLMClient, errors
from vlmgrpc_client.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc_client.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc_client.retry import RetryPolicy
from vlmgrpc_client.watch import WatchCursor

FAST = RetryPolicy(max_attempts=3, initial_backoff_s=0.001, max_backoff_s=0.001, jitter_s=0.0)
DROP = errors.UnavailableError("SHUTTING_DOWN: the server is shutting down", code=grpc.StatusCode.UNAVAILABLE,
                               reason="SHUTTING_DOWN")


def event(seq: int, status=pb.PREDICTION_STATUS_RUNNING, kind=pb.PREDICTION_EVENT_TYPE_PROGRESS, done=0):
    msg = ps.WatchPredictionResponse()
    msg.event.sequence, msg.event.type = seq, kind
    if kind not in (pb.PREDICTION_EVENT_TYPE_HEARTBEAT, pb.PREDICTION_EVENT_TYPE_OUTPUT_DELTA):
        msg.event.prediction.id, msg.event.prediction.status = "p1", status
        msg.event.prediction.progress.done, msg.event.prediction.progress.total = done, 3
    if kind == pb.PREDICTION_EVENT_TYPE_OUTPUT_DELTA:
        msg.event.output_delta.text = "hello"
    return msg


COMPLETED = event(5, pb.PREDICTION_STATUS_COMPLETED, pb.PREDICTION_EVENT_TYPE_STATUS_CHANGED, done=3)


class FakeStreams:
    """Plays one scripted stream per call: a list of messages, ending with an exception to raise or not."""

    def __init__(self, *scripts):
        self.scripts = list(scripts)
        self.calls = []  # (method, request)

    def items(self, method, request):
        self.calls.append((method, request))
        return self.scripts.pop(0)

    def sync(self, method, request, deadline):
        for item in self.items(method, request):
            if isinstance(item, BaseException):
                raise item
            yield item

    async def aio(self, method, request, deadline):
        for item in self.items(method, request):
            if isinstance(item, BaseException):
                raise item
            yield item


def after_sequences(fake: FakeStreams) -> list[int | None]:
    return [r.after_sequence if r.HasField("after_sequence") else None for _, r in fake.calls]


def test_cursor_drops_replays_and_counts_failures():
    cursor = WatchCursor(FAST, "p1")
    assert not cursor.request().HasField("after_sequence")
    assert cursor.accept(event(1).event) and cursor.accept(event(2).event)
    assert not cursor.accept(event(2).event) and not cursor.accept(event(1).event)  # replayed
    assert not cursor.accept(event(2, kind=pb.PREDICTION_EVENT_TYPE_HEARTBEAT).event)  # heartbeats hidden
    assert cursor.accept(event(2, kind=pb.PREDICTION_EVENT_TYPE_OUTPUT_DELTA).event)  # live text passes
    assert cursor.request().after_sequence == 2
    assert cursor.resume_after(DROP) == 0.001 and cursor.resume_after(DROP) == 0.001
    assert cursor.resume_after(DROP) is None  # the third break in a row: give up
    assert cursor.resume_after(errors.NotFoundError("x", code=grpc.StatusCode.NOT_FOUND)) is None
    cursor.accept(COMPLETED.event)
    assert cursor.finished and cursor.failures == 0


def test_sync_watch_resumes_after_the_last_sequence_seen():
    fake = FakeStreams([event(1), event(2), DROP], [event(2), event(3), DROP], [event(4), COMPLETED])
    client = VLMClient("127.0.0.1:1", retry=FAST)
    client._t.stream = fake.sync
    events = list(client.predictions.watch("p1"))
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5]
    assert after_sequences(fake) == [None, 2, 3]
    assert events[-1].prediction.status == "completed"


async def test_async_watch_resumes_the_same_way():
    fake = FakeStreams([event(1), DROP], [event(2), event(3), DROP], [COMPLETED])
    client = AsyncVLMClient("127.0.0.1:1", retry=FAST)
    client._t.stream = fake.aio
    events = [e async for e in client.predictions.watch("p1", after_sequence=0)]
    assert [e.sequence for e in events] == [1, 2, 3, 5]
    assert after_sequences(fake) == [0, 1, 3]


def test_a_generate_stream_that_drops_resumes_with_watch_prediction():
    fake = FakeStreams([event(1), event(2), DROP], [event(3), COMPLETED])
    client = VLMClient("127.0.0.1:1", retry=FAST)
    client._t.stream = fake.sync
    events = list(client.image.generate_stream([b"png"], "document.ocr"))
    assert [e.sequence for e in events] == [1, 2, 3, 5]
    (first, submitted), (second, resumed) = fake.calls
    assert first == client._t.stubs.images.GenerateStream and submitted.id  # carries a request id
    assert second == client._t.stubs.predictions.WatchPrediction
    assert resumed.id == "p1" and resumed.after_sequence == 2


def test_a_generate_stream_that_drops_before_any_event_is_resubmitted_with_the_same_request_id():
    fake = FakeStreams([DROP], [event(1), COMPLETED])
    client = VLMClient("127.0.0.1:1", retry=FAST)
    client._t.stream = fake.sync
    assert [e.sequence for e in client.image.generate_stream([b"png"], "document.ocr")] == [1, 5]
    (m1, r1), (m2, r2) = fake.calls
    assert m1 == m2 == client._t.stubs.images.GenerateStream and r1.id == r2.id


def test_a_stream_that_keeps_failing_raises_the_typed_error():
    fake = FakeStreams([event(1), DROP], [DROP], [DROP])
    client = VLMClient("127.0.0.1:1", retry=FAST)
    client._t.stream = fake.sync
    with pytest.raises(errors.UnavailableError) as info:
        list(client.predictions.watch("p1"))
    assert info.value.reason == "SHUTTING_DOWN"
    assert after_sequences(fake) == [None, 1, 1]


def test_wait_raises_the_failed_predictions_reason():
    failed = event(4, pb.PREDICTION_STATUS_FAILED, pb.PREDICTION_EVENT_TYPE_STATUS_CHANGED)
    failed.event.prediction.error.code = grpc.StatusCode.CANCELLED.value[0]
    failed.event.prediction.error.message = "CANCELLED: the prediction was cancelled"
    fake = FakeStreams([event(1), DROP], [failed])
    client = VLMClient("127.0.0.1:1", retry=FAST)
    client._t.stream = fake.sync
    with pytest.raises(errors.PredictionFailedError) as info:
        client.predictions.wait("p1")
    assert info.value.code == grpc.StatusCode.CANCELLED and info.value.prediction.id == "p1"


def test_wait_times_out_with_the_last_state():
    late = errors.DeadlineExceededError("Deadline Exceeded", code=grpc.StatusCode.DEADLINE_EXCEEDED)
    fake = FakeStreams([event(1, done=1), late])
    client = VLMClient("127.0.0.1:1", retry=FAST)
    client._t.stream = fake.sync
    with pytest.raises(errors.WaitTimeoutError) as info:
        client.predictions.wait("p1", timeout=1)
    assert info.value.prediction.progress.done == 1 and "still running" in str(info.value)
    assert isinstance(info.value, TimeoutError)
