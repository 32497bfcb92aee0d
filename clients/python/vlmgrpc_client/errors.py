"""Typed exceptions: every failed call, and every failed prediction, becomes a VLMError subclass chosen by its
canonical code, carrying the server's ErrorInfo reason, metadata and BadRequest field violations
(google.rpc.Status in the grpc-status-details-bin trailer, AIP-193)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

STATUS_DETAILS_KEY = "grpc-status-details-bin"
_CODES = {code.value[0]: code for code in grpc.StatusCode}


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class VLMError(Exception):
    """A failed call or prediction. `code` is the gRPC status code, `reason` the stable UPPER_SNAKE ErrorInfo
    reason (e.g. UNKNOWN_DOMAIN), `violations` the request fields to blame."""

    def __init__(self, message: str, *, code: grpc.StatusCode | None = None, reason: str = "",
                 metadata: dict[str, str] | None = None, violations: list[FieldViolation] | None = None,
                 domain: str = ""):
        super().__init__(message)
        self.message, self.code, self.reason, self.domain = message, code, reason, domain
        self.metadata = dict(metadata or {})
        self.violations = list(violations or [])

    def __str__(self) -> str:
        text = self.message if not self.reason or self.message.startswith(self.reason) else \
            f"{self.reason}: {self.message}"
        for v in self.violations:
            if v.description not in text:
                text += f"\n  {v.field}: {v.description}"
        return text


class InvalidArgumentError(VLMError, ValueError):
    """INVALID_ARGUMENT: the request is wrong (unknown domain, bad image, ...)."""


class InputError(InvalidArgumentError):
    """A bad input found before anything was sent (a missing file, an unsupported image object)."""


class OutOfRangeError(VLMError):
    """OUT_OF_RANGE, e.g. RESUME_POINT_IN_FUTURE."""


class NotFoundError(VLMError, LookupError):
    """NOT_FOUND: PREDICTION_NOT_FOUND, FILE_NOT_FOUND, SCHEMA_NOT_FOUND."""


class AlreadyExistsError(VLMError):
    """ALREADY_EXISTS: REQUEST_ID_REUSED (same request id, different request)."""


class FailedPreconditionError(VLMError):
    """FAILED_PRECONDITION: DOMAIN_NOT_SERVED, ALREADY_TERMINAL, NOT_PAUSED, ..."""


class AuthenticationError(VLMError):
    """UNAUTHENTICATED: MISSING_TOKEN, INVALID_TOKEN."""


class PermissionDeniedError(VLMError):
    """PERMISSION_DENIED."""


class RateLimitError(VLMError):
    """RESOURCE_EXHAUSTED: QUEUE_FULL, TOO_MANY_STREAMS."""


class DeadlineExceededError(VLMError, TimeoutError):
    """DEADLINE_EXCEEDED: the call's deadline passed (or the model's, TRITON_TIMEOUT)."""


class UnavailableError(VLMError, ConnectionError):
    """UNAVAILABLE after the retries: the server is down, unreachable or shutting down."""


class CallCancelledError(VLMError):
    """CANCELLED: the call (or the prediction, reason CANCELLED) was cancelled."""


class ServerError(VLMError):
    """INTERNAL, UNKNOWN, DATA_LOSS, UNIMPLEMENTED: the server's fault."""


class PredictionFailedError(VLMError):
    """A prediction ended FAILED; `prediction` is it, the code and reason are its error's."""

    def __init__(self, message: str, *, prediction: Any = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.prediction = prediction


class WaitTimeoutError(DeadlineExceededError):
    """wait() ran out of time; `prediction` is the last state seen (None if none was)."""

    def __init__(self, message: str, *, prediction: Any = None, **kwargs: Any):
        super().__init__(message, code=grpc.StatusCode.DEADLINE_EXCEEDED, **kwargs)
        self.prediction = prediction


class ResponseValidationError(VLMError, ValueError):
    """A response did not validate into the requested pydantic model (response_model=)."""


BY_CODE: dict[grpc.StatusCode, type[VLMError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRangeError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.ABORTED: FailedPreconditionError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimitError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.CANCELLED: CallCancelledError,
}


def code_of(number: int) -> grpc.StatusCode:
    return _CODES.get(number, grpc.StatusCode.UNKNOWN)


def details(status: status_pb2.Status | None) -> tuple[str, str, dict[str, str], list[FieldViolation]]:
    """(reason, domain, metadata, violations) from a google.rpc.Status's details."""
    reason, domain, metadata, violations = "", "", {}, []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = [FieldViolation(v.field, v.description) for v in bad.field_violations]
    return reason, domain, metadata, violations


def call_status(err: grpc.RpcError) -> status_pb2.Status | None:
    """The google.rpc.Status a failed call (sync or aio) carries in its trailers, if it is one of ours."""
    trailers = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailers or ():
        if key == STATUS_DETAILS_KEY:
            try:
                status = status_pb2.Status.FromString(value)
            except Exception:  # noqa: BLE001 - a proxy's garbage is not our status
                return None
            # The details must describe this very call (grpc_status.rpc_status checks the same).
            return status if status.code == err.code().value[0] else None
    return None


def from_rpc_error(err: grpc.RpcError) -> VLMError:
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message = (err.details() if hasattr(err, "details") else "") or str(code.name)
    reason, domain, metadata, violations = details(call_status(err))
    cls = BY_CODE.get(code, ServerError)
    exc = cls(message, code=code, reason=reason, metadata=metadata, violations=violations, domain=domain)
    exc.__cause__ = err
    return exc


def from_prediction(prediction: Any) -> PredictionFailedError:
    """The typed error of a FAILED prediction (a types.Prediction, its `error` converted already)."""
    err = prediction.error
    if err is None:
        return PredictionFailedError(f"prediction {prediction.id} failed", prediction=prediction)
    violations = [FieldViolation(v.field, v.description) for v in err.violations]
    return PredictionFailedError(err.message or f"prediction {prediction.id} failed", prediction=prediction,
                                 code=code_of(err.code), reason=err.reason, metadata=err.metadata,
                                 violations=violations, domain=err.domain)
