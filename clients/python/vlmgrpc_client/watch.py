"""Where a watch stands, so a dropped stream resumes where it broke: the prediction, the last sequence number
seen (WatchPredictionRequest.after_sequence), and how often the stream broke since it last delivered. The
sync and asyncio clients drive the same cursor; it does no I/O (tests feed it fake streams)."""

from __future__ import annotations

from vlmgrpc_client.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc_client.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc_client.retry import RetryPolicy

TERMINAL = (pb.PREDICTION_STATUS_COMPLETED, pb.PREDICTION_STATUS_FAILED)
# Live events repeat the latest sequence number instead of taking a new one.
REPEATING = (pb.PREDICTION_EVENT_TYPE_HEARTBEAT, pb.PREDICTION_EVENT_TYPE_OUTPUT_DELTA)


class WatchCursor:
    def __init__(self, policy: RetryPolicy, prediction_id: str = "", after_sequence: int | None = None,
                 heartbeats: bool = False):
        self.policy = policy
        self.prediction_id = prediction_id
        self.last_sequence = after_sequence
        self.heartbeats = heartbeats
        self.failures = 0  # consecutive breaks with nothing delivered in between
        self.finished = False  # the terminal event was seen: the stream closes OK after it

    def request(self) -> ps.WatchPredictionRequest:
        request = ps.WatchPredictionRequest(id=self.prediction_id)
        if self.last_sequence is not None:
            request.after_sequence = self.last_sequence
        return request

    def accept(self, event: pb.PredictionEvent) -> bool:
        """Whether to hand `event` to the caller. Events at or before the last sequence number seen are
        replays (a stream that restarted from the beginning) and are dropped."""
        self.failures = 0
        if not self.prediction_id and event.prediction.id:
            self.prediction_id = event.prediction.id
        if event.type in REPEATING:
            return self.heartbeats or event.type != pb.PREDICTION_EVENT_TYPE_HEARTBEAT
        if self.last_sequence is not None and event.sequence <= self.last_sequence:
            return False
        self.last_sequence = event.sequence
        if event.HasField("prediction") and event.prediction.status in TERMINAL:
            self.finished = True
        return True

    def resume_after(self, error: BaseException | None) -> float | None:
        """The stream broke with `error` (None: it closed OK before the terminal event): the pause before
        resuming it, or None to give up and raise."""
        if error is not None and not self.policy.should_retry(error):
            return None
        self.failures += 1
        if self.failures >= self.policy.max_attempts:
            return None
        return self.policy.backoff_s(self.failures)
