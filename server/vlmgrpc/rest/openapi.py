"""The OpenAPI 3.1 document of the REST API, built from the route table the router is built from and from the
pydantic models the handlers validate with (their JSON Schemas are its components)."""

from __future__ import annotations

import re
from typing import Any

from pydantic.json_schema import models_json_schema

from vlmgrpc.rest import models
from vlmgrpc.rest.routes import ROUTES, Route

REF = "#/components/schemas/{model}"
ERRORS = {"400": "invalid request", "401": "missing or invalid bearer token", "404": "not found",
          "429": "queue full or too many streams", "500": "server fault", "503": "unavailable (Triton, shutdown)"}


def _ref(model) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": route.handler, "summary": route.summary, "tags": [route.tag]}
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in re.findall(r"{(\w+)}", route.path)]
    params += [{"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": text}
               for name, kind, text in route.query]
    if route.path.endswith("/events"):
        params.append({"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"},
                       "description": "resume after this sequence number"})
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(route.body)}}}
    elif route.multipart:
        op["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"]}}}}
    elif route.raw_body:
        op["requestBody"] = {"required": True, "content": {"application/octet-stream": {
            "schema": {"type": "string", "format": "binary"}}}}
    content: dict[str, Any] = {}
    if route.response is not None and not route.path.endswith("/events"):
        schema = _ref(route.response)
        content["application/json"] = {"schema": {"type": "array", "items": schema} if route.many else schema}
    elif route.response is None:
        content["application/json"] = {"schema": {"type": "object"}}
    if route.streams:
        content["text/event-stream"] = {"schema": _ref(models.PredictionEvent), "description": (
            "one SSE event per prediction event: `id` = sequence, `event` = type, `data` = PredictionEvent; "
            "then `event: done` with `data: [DONE]`")}
    op["responses"] = {str(route.status): {"description": "success", "content": content},
                       **{code: {"description": text, "content": {"application/json": {
                           "schema": _ref(models.ErrorResponse)}}} for code, text in ERRORS.items()}}
    if not route.auth:
        op["security"] = []
    return op


def document(version: str) -> dict[str, Any]:
    bodies = {r.body for r in ROUTES if r.body is not None}
    answers = {r.response for r in ROUTES if r.response is not None} | {models.ErrorResponse, models.PredictionEvent}
    by_name = sorted([(m, "validation") for m in bodies] + [(m, "serialization") for m in answers],
                     key=lambda pair: pair[0].__name__)
    _, schemas = models_json_schema(by_name, ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "vlm-grpc REST API (VLM Run compatible)", "version": version,
                 "description": "The VLM Run API served beside vlm-grpc's gRPC API, over the same predictions, "
                                "files and tenants. Point the vlmrun SDK at it with "
                                "VLMRun(api_key=..., base_url='http://host:port/v1')."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": schemas.get("$defs", {}),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
