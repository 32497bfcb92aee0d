"""ServiceError -> google.rpc.Status (servicers/status.py), and ServiceError's own round trips."""

from __future__ import annotations

import json
import pickle

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from vlmgrpc.errors import (
    ERROR_DOMAIN,
    Code,
    ServiceError,
    cancelled,
    exhausted,
    failed_precondition,
    invalid,
    not_found,
    unavailable,
)
from vlmgrpc.servicers.status import handle_errors, to_rpc_status

DETAILS_KEY = "grpc-status-details-bin"


def _unpack(status: status_pb2.Status) -> tuple[error_details_pb2.ErrorInfo, error_details_pb2.BadRequest | None]:
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Is(error_details_pb2.ErrorInfo.DESCRIPTOR)
    assert status.details[0].Unpack(info)
    bad = None
    if len(status.details) > 1:
        bad = error_details_pb2.BadRequest()
        assert status.details[1].Is(error_details_pb2.BadRequest.DESCRIPTOR)
        assert status.details[1].Unpack(bad)
    assert len(status.details) <= 2
    return info, bad


def test_invalid_argument_with_violation():
    err = invalid("INVALID_CONFIG", "temperature must be within [0, 2]", "config.temperature", got="3.5")
    status = to_rpc_status(err)
    assert status.code == Code.INVALID_ARGUMENT == 3
    assert status.message == "INVALID_CONFIG: temperature must be within [0, 2]"
    info, bad = _unpack(status)
    assert info.reason == "INVALID_CONFIG"
    assert info.domain == ERROR_DOMAIN == "vlm-grpc.dev"
    assert dict(info.metadata) == {"got": "3.5"}
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("config.temperature", "temperature must be within [0, 2]")]


def test_several_violations_keep_their_order():
    err = ServiceError(Code.INVALID_ARGUMENT, "BAD", "two problems", {},
                       [("images[0].url", "not http"), ("images[3].data", "empty"), ("id", "too long")])
    _, bad = _unpack(to_rpc_status(err))
    assert [(v.field, v.description) for v in bad.field_violations] == err.violations


def test_no_violations_means_no_bad_request():
    err = failed_precondition("DOMAIN_NOT_SERVED", "not served", domain="x.y", served="a.b,c.d")
    status = to_rpc_status(err)
    assert status.code == 9
    info, bad = _unpack(status)
    assert bad is None
    assert len(status.details) == 1
    assert info.reason == "DOMAIN_NOT_SERVED"
    assert dict(info.metadata) == {"domain": "x.y", "served": "a.b,c.d"}


@pytest.mark.parametrize("err,code", [
    (not_found("prediction", "pred-1"), grpc.StatusCode.NOT_FOUND),
    (unavailable("MODEL_UNAVAILABLE", "Triton is down"), grpc.StatusCode.UNAVAILABLE),
    (exhausted("QUEUE_FULL", "too many jobs", limit="10"), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (cancelled(), grpc.StatusCode.CANCELLED),
    (invalid("X", "y", "f"), grpc.StatusCode.INVALID_ARGUMENT),
])
def test_helpers_map_to_grpc_codes(err, code):
    status = rpc_status.to_status(to_rpc_status(err))
    assert status.code is code
    assert status.details == f"{err.reason}: {err.message}"
    # The rich details travel as grpc-status-details-bin and parse back to the same Status.
    trailers = dict(status.trailing_metadata)
    parsed = status_pb2.Status.FromString(trailers[DETAILS_KEY])
    assert parsed == to_rpc_status(err)
    info, _ = _unpack(parsed)
    assert info.reason == err.reason


def test_not_found_shape():
    err = not_found("file", "file-42")
    assert err.reason == "FILE_NOT_FOUND" and err.metadata == {"id": "file-42"}


@pytest.mark.parametrize("code", [c for c in Code if c is not Code.OK])
def test_every_code_maps_onto_the_same_grpc_code(code):
    status = rpc_status.to_status(to_rpc_status(ServiceError(code, "R", "m")))
    assert status.code.value[0] == int(code)


def _sample() -> ServiceError:
    return ServiceError(Code.INVALID_ARGUMENT, "TOO_MANY_PAGES", "the PDF has 9 pages; at most 5 are accepted",
                        {"pages": "9", "max_pages": "5"}, [("document", "the PDF has 9 pages"), ("x", "y")])


def test_service_error_pickles():
    err = _sample()
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is ServiceError
    assert back == err
    assert back.code is Code.INVALID_ARGUMENT
    assert str(back) == str(err) == "TOO_MANY_PAGES: the PDF has 9 pages; at most 5 are accepted"
    # It is still raisable and catchable as what it is.
    with pytest.raises(ServiceError) as info:
        raise back
    assert info.value.reason == "TOO_MANY_PAGES"


def test_service_error_pickles_with_every_protocol():
    err = _sample()
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(err, protocol=proto)) == err


def test_to_dict_from_dict_round_trip_through_json():
    err = _sample()
    data = json.loads(json.dumps(err.to_dict()))
    assert data == {"code": 3, "reason": "TOO_MANY_PAGES", "message": err.message,
                    "metadata": {"pages": "9", "max_pages": "5"},
                    "violations": [["document", "the PDF has 9 pages"], ["x", "y"]]}
    back = ServiceError.from_dict(data)
    assert back == err
    assert back.code is Code.INVALID_ARGUMENT
    assert to_rpc_status(back) == to_rpc_status(err)


def test_from_dict_tolerates_missing_optional_parts():
    back = ServiceError.from_dict({"code": 13, "reason": "INTERNAL", "message": "boom"})
    assert back == ServiceError(Code.INTERNAL, "INTERNAL", "boom")
    back = ServiceError.from_dict({"code": 1, "reason": "CANCELLED", "message": "x", "metadata": None,
                                   "violations": None})
    assert back.metadata == {} and back.violations == []


class _Context:
    """Stands in for grpc.aio.ServicerContext: records the status instead of ending an RPC."""

    def __init__(self):
        self.status: grpc.Status | None = None

    async def abort_with_status(self, status: grpc.Status) -> None:
        self.status = status


class _Servicer:
    @handle_errors
    async def Refuse(self, request, context):
        raise invalid("INVALID_URL", "bad url", "images[0].url")

    @handle_errors
    async def Crash(self, request, context):
        raise RuntimeError("a bug with secrets in it")

    @handle_errors
    async def Fine(self, request, context):
        return request * 2

    @handle_errors
    async def Stream(self, request, context):
        yield 1
        yield 2
        raise not_found("prediction", request)


async def test_handle_errors_unary():
    ctx = _Context()
    assert await _Servicer().Fine(21, ctx) == 42 and ctx.status is None
    await _Servicer().Refuse(None, ctx)
    assert ctx.status.code is grpc.StatusCode.INVALID_ARGUMENT
    parsed = status_pb2.Status.FromString(dict(ctx.status.trailing_metadata)[DETAILS_KEY])
    info, bad = _unpack(parsed)
    assert info.reason == "INVALID_URL" and bad.field_violations[0].field == "images[0].url"


async def test_handle_errors_turns_a_bug_into_internal_without_leaking_it(caplog):
    ctx = _Context()
    await _Servicer().Crash(None, ctx)
    assert ctx.status.code is grpc.StatusCode.INTERNAL
    assert "secrets" not in ctx.status.details
    info, _ = _unpack(status_pb2.Status.FromString(dict(ctx.status.trailing_metadata)[DETAILS_KEY]))
    assert info.reason == "INTERNAL"
    assert "secrets" in caplog.text  # logged on the server side


async def test_handle_errors_stream():
    ctx = _Context()
    got = [item async for item in _Servicer().Stream("pred-9", ctx)]
    assert got == [1, 2]
    assert ctx.status.code is grpc.StatusCode.NOT_FOUND
    info, _ = _unpack(status_pb2.Status.FromString(dict(ctx.status.trailing_metadata)[DETAILS_KEY]))
    assert info.reason == "PREDICTION_NOT_FOUND" and dict(info.metadata) == {"id": "pred-9"}
