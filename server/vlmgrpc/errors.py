"""Errors of the service, independent of gRPC.

Every failure the service reports is a ServiceError with a canonical code (google.rpc.Code
numbering), a stable UPPER_SNAKE reason (AIP-193 ErrorInfo) and optional field violations.
servicers/status.py is the one place that turns them into gRPC statuses; failed predictions
store them as plain dicts (to_dict) and the same mapping renders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

ERROR_DOMAIN = "vlm-grpc.dev"


class Code(IntEnum):
    """Canonical status codes (google.rpc.Code)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


@dataclass
class ServiceError(Exception):
    code: Code
    reason: str
    message: str
    metadata: dict[str, str] = field(default_factory=dict)
    # (field path, description) pairs, rendered as google.rpc.BadRequest.
    violations: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Callers' values are echoed back (ids, domains): keep every part small, or the status would
        # outgrow gRPC's metadata limit (16 KiB) and the caller would get none of it.
        self.message = _clip(self.message, 1024)
        self.metadata = {k: _clip(str(v), 256) for k, v in self.metadata.items()}
        self.violations = [(_clip(f, 256), _clip(d, 512)) for f, d in self.violations]

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"

    def __reduce__(self):  # crosses process boundaries (render workers)
        return (type(self), (self.code, self.reason, self.message, self.metadata, self.violations))

    def to_dict(self) -> dict[str, Any]:
        return {"code": int(self.code), "reason": self.reason, "message": self.message,
                "metadata": self.metadata, "violations": [list(v) for v in self.violations]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceError:
        return cls(Code(data["code"]), data["reason"], data["message"], dict(data.get("metadata") or {}),
                   [tuple(v) for v in data.get("violations") or []])


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def invalid(reason: str, message: str, field_path: str = "", **metadata: str) -> ServiceError:
    violations = [(field_path, message)] if field_path else []
    return ServiceError(Code.INVALID_ARGUMENT, reason, message, dict(metadata), violations)


def not_found(kind: str, ident: str) -> ServiceError:
    return ServiceError(Code.NOT_FOUND, f"{kind.upper()}_NOT_FOUND", f"{kind} {ident!r} does not exist",
                        {"id": ident})


def failed_precondition(reason: str, message: str, **metadata: str) -> ServiceError:
    return ServiceError(Code.FAILED_PRECONDITION, reason, message, dict(metadata))


def unavailable(reason: str, message: str, **metadata: str) -> ServiceError:
    return ServiceError(Code.UNAVAILABLE, reason, message, dict(metadata))


def exhausted(reason: str, message: str, **metadata: str) -> ServiceError:
    return ServiceError(Code.RESOURCE_EXHAUSTED, reason, message, dict(metadata))


def internal(reason: str, message: str, **metadata: str) -> ServiceError:
    """A fault of the server (not of the caller's input)."""
    return ServiceError(Code.INTERNAL, reason, message, dict(metadata))


def cancelled(message: str = "the prediction was cancelled") -> ServiceError:
    return ServiceError(Code.CANCELLED, "CANCELLED", message)
