"""Client-side helpers for the integration tests."""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf import json_format

from vlmgrpc.api.vlm.v1 import hub_service_pb2 as hub_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc_client import Client, error_reason

TERMINAL = (pb.PREDICTION_STATUS_COMPLETED, pb.PREDICTION_STATUS_FAILED)


def status_name(value: int) -> str:
    return pb.PredictionStatus.Name(value).removeprefix("PREDICTION_STATUS_").lower()


async def wait_for(client: Client, prediction_id: str, predicate, timeout_s: float = 90) -> pb.Prediction:
    """Poll GetPrediction until predicate(prediction) holds."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        pred = (await client.predictions.GetPrediction(ps.GetPredictionRequest(id=prediction_id))).prediction
        if predicate(pred):
            return pred
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out; last state {status_name(pred.status)} "
                                 f"{pred.progress.done}/{pred.progress.total}")
        await asyncio.sleep(0.1)


async def terminal(client: Client, prediction_id: str, timeout_s: float = 120) -> pb.Prediction:
    return await wait_for(client, prediction_id, lambda p: p.status in TERMINAL, timeout_s)


async def watch_all(client: Client, prediction_id: str, after: int | None = None,
                    heartbeats: bool = False) -> list[pb.PredictionEvent]:
    """Every event of a watch until it closes (heartbeats, which repeat the sequence, left out)."""
    request = ps.WatchPredictionRequest(id=prediction_id)
    if after is not None:
        request.after_sequence = after
    events = [msg.event async for msg in client.predictions.WatchPrediction(request, timeout=180)]
    return [e for e in events if heartbeats or e.type != pb.PREDICTION_EVENT_TYPE_HEARTBEAT]


async def rpc_error(coro) -> tuple[grpc.StatusCode, str, list[tuple[str, str]]]:
    """Await a call that must fail; return (code, ErrorInfo reason, field violations)."""
    try:
        await coro
    except grpc.aio.AioRpcError as err:
        reason, violations = error_reason(err)
        return err.code(), reason, violations
    raise AssertionError("the call succeeded")


async def published_schema(client: Client, domain: str, **flags: bool) -> dict:
    """The JSON schema the service publishes for a domain (GetSchema; flags: grounding, confidence)."""
    reply = await client.hub.GetSchema(hub_pb.GetSchemaRequest(domain=domain, **flags))
    return json_format.MessageToDict(reply.json_schema)
