"""Typed exceptions of the Python client from rich gRPC statuses (vlmgrpc_client.errors), and the CLI's
exit codes for them."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from vlmgrpc_client import cli, convert, errors
from vlmgrpc_client.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc_client.lowlevel import error_reason


class FakeRpcError(grpc.RpcError):
    """What a failed call raises: a code, details and trailers."""

    def __init__(self, code: grpc.StatusCode, message: str = "", trailers=()):
        self._code, self._message, self._trailers = code, message, tuple(trailers)

    def code(self):
        return self._code

    def details(self):
        return self._message

    def trailing_metadata(self):
        return self._trailers


def rich_status(code: grpc.StatusCode, reason: str, message: str, violations=(), **metadata) -> status_pb2.Status:
    status = status_pb2.Status(code=code.value[0], message=f"{reason}: {message}")
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="vlm-grpc.dev", metadata=metadata))
    status.details.append(info)
    if violations:
        bad = any_pb2.Any()
        bad.Pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations]))
        status.details.append(bad)
    return status


def rich_error(code, reason, message, violations=(), **metadata) -> FakeRpcError:
    status = rich_status(code, reason, message, violations, **metadata)
    return FakeRpcError(code, status.message, [("grpc-status-details-bin", status.SerializeToString())])


@pytest.mark.parametrize(("code", "cls", "exit_code"), [
    (grpc.StatusCode.INVALID_ARGUMENT, errors.InvalidArgumentError, cli.BAD_INPUT),
    (grpc.StatusCode.FAILED_PRECONDITION, errors.FailedPreconditionError, cli.BAD_INPUT),
    (grpc.StatusCode.NOT_FOUND, errors.NotFoundError, cli.NOT_FOUND),
    (grpc.StatusCode.UNAVAILABLE, errors.UnavailableError, cli.UNREACHABLE),
    (grpc.StatusCode.UNAUTHENTICATED, errors.AuthenticationError, cli.UNAUTHENTICATED),
    (grpc.StatusCode.DEADLINE_EXCEEDED, errors.DeadlineExceededError, cli.TIMED_OUT),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, errors.RateLimitError, cli.ERROR),
    (grpc.StatusCode.INTERNAL, errors.ServerError, cli.ERROR),
])
def test_each_code_becomes_its_exception_and_exit_code(code, cls, exit_code):
    exc = errors.from_rpc_error(rich_error(code, "SOME_REASON", "text"))
    assert type(exc) is cls and exc.code == code and exc.reason == "SOME_REASON"
    assert cli.exit_code(exc) == exit_code


def test_reason_metadata_and_field_violations_come_through():
    err = rich_error(grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_DOMAIN", "domain 'x' is not a known domain",
                     [("domain", "see HubService.ListDomains")], domain_name="x")
    exc = errors.from_rpc_error(err)
    assert isinstance(exc, ValueError)  # also a ValueError, as callers of a bad argument expect
    assert exc.reason == "UNKNOWN_DOMAIN" and exc.domain == "vlm-grpc.dev"
    assert exc.metadata == {"domain_name": "x"}
    assert exc.violations == [errors.FieldViolation("domain", "see HubService.ListDomains")]
    assert exc.__cause__ is err
    assert str(exc).startswith("UNKNOWN_DOMAIN: domain 'x'") and "domain: see HubService" in str(exc)
    assert error_reason(err) == ("UNKNOWN_DOMAIN", [("domain", "see HubService.ListDomains")])  # the low-level helper


def test_an_error_without_our_details_still_maps_by_code():
    exc = errors.from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses"))
    assert isinstance(exc, errors.UnavailableError) and isinstance(exc, ConnectionError)
    assert exc.reason == "" and exc.violations == [] and "failed to connect" in str(exc)
    assert "Is it running?" in cli.describe(exc, "127.0.0.1:1")


def test_details_that_belong_to_another_code_are_ignored():
    status = rich_status(grpc.StatusCode.NOT_FOUND, "FILE_NOT_FOUND", "x")
    trailers = [("grpc-status-details-bin", status.SerializeToString())]
    err = FakeRpcError(grpc.StatusCode.INTERNAL, "proxy error", trailers)
    exc = errors.from_rpc_error(err)
    assert isinstance(exc, errors.ServerError) and exc.reason == ""


def test_a_failed_prediction_becomes_prediction_failed_error():
    msg = pb.Prediction(id="p1", status=pb.PREDICTION_STATUS_FAILED, domain="document.ocr")
    msg.error.CopyFrom(rich_status(grpc.StatusCode.CANCELLED, "CANCELLED", "the prediction was cancelled"))
    prediction = convert.prediction(msg)
    assert prediction.status == "failed" and prediction.error.reason == "CANCELLED"
    assert prediction.error.code_name == "CANCELLED"
    exc = errors.from_prediction(prediction)
    assert isinstance(exc, errors.PredictionFailedError) and exc.prediction is prediction
    assert exc.code == grpc.StatusCode.CANCELLED and exc.reason == "CANCELLED"
    assert cli.exit_code(exc) == cli.PREDICTION_FAILED
    assert "prediction p1 failed: CANCELLED" in cli.describe(exc, "t")
