"""The REST API's handlers, thin adapters over the job layer that the gRPC servicers use (the same JobService,
Watcher, FileStore, catalogue and model registry), and ROUTES: the one table that both the router and the
OpenAPI document are built from, so the document lists exactly what is served."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import BaseModel

from vlmgrpc.errors import invalid
from vlmgrpc.jobs.model import Kind, Status
from vlmgrpc.rest import auth, convert, models, sse
from vlmgrpc.rest.uploads import Uploads

if TYPE_CHECKING:
    from vlmgrpc.app import App

log = logging.getLogger(__name__)
PAGE = 1000  # the job layer's largest page
MAX_SKIP = 100_000
MAX_LIMIT = 1000
DEFAULT_LIMIT = 10  # the SDK's


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: str  # a method name of Handlers
    summary: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    many: bool = False  # the answer is a JSON array of `response`
    status: int = 200
    streams: bool = False  # may answer text/event-stream
    tag: str = "predictions"
    auth: bool = True
    query: tuple[tuple[str, str, str], ...] = ()  # (name, JSON type, description)
    multipart: bool = False
    raw_body: bool = False


PAGING = (("skip", "integer", "items to skip (newest first)"), ("limit", "integer", "items to return, 1 to 1000"))
ROUTES: tuple[Route, ...] = (
    Route("GET", "/v1/health", "health", "Liveness and model readiness (503 while the models are not ready); "
          "a bearer token sent is checked", response=models.HealthResponse, tag="service", auth=False),
    Route("POST", "/v1/image/generate", "image_generate", "Predict from images (batch=false: answer when done)",
          body=models.ImageGenerateRequest, response=models.PredictionResponse, streams=True, tag="generate"),
    Route("POST", "/v1/document/generate", "document_generate", "Predict from a document (file_id or url)",
          body=models.DocumentGenerateRequest, response=models.PredictionResponse, status=201, streams=True,
          tag="generate"),
    Route("GET", "/v1/predictions", "list_predictions", "Predictions, newest first",
          response=models.PredictionResponse, many=True,
          query=(*PAGING, ("status", "string", "only this status"), ("domain", "string", "only this domain"),
                 ("view", "string", "full (default: with responses) or basic"))),
    Route("GET", "/v1/predictions/{id}", "get_prediction", "One prediction", response=models.PredictionResponse),
    Route("GET", "/v1/predictions/{id}/events", "prediction_events",
          "The prediction's events as Server-Sent Events, resumable with Last-Event-ID (a sequence number)",
          response=models.PredictionEvent, streams=True,
          query=(("after", "integer", "resume after this sequence (as Last-Event-ID)"),)),
    Route("POST", "/v1/predictions/{id}/cancel", "cancel_prediction", "Cancel (it ends failed, CANCELLED)",
          response=models.PredictionResponse),
    Route("POST", "/v1/predictions/{id}/pause", "pause_prediction", "Pause before its next page or image",
          response=models.PredictionResponse),
    Route("POST", "/v1/predictions/{id}/resume", "resume_prediction", "Resume a paused prediction",
          response=models.PredictionResponse),
    Route("POST", "/v1/files", "upload_file", "Upload a file (multipart, field `file`)",
          response=models.FileResponse, status=201, tag="files", multipart=True,
          query=(("purpose", "string", "assistants (default), vision, batch, ..."),)),
    Route("GET", "/v1/files", "list_files", "Files, newest first", response=models.FileResponse, many=True,
          tag="files", query=PAGING),
    Route("GET", "/v1/files/hash/{md5}", "file_by_hash", "The file with this MD5, uploaded over REST (404: none)",
          response=models.FileResponse, tag="files"),
    Route("POST", "/v1/files/presigned-url", "presigned_url", "A URL to PUT a large file to, without the token",
          body=models.PresignedUrlRequest, response=models.PresignedUrlResponse, tag="files"),
    Route("PUT", "/v1/files/presigned/{upload_id}", "presigned_put", "The upload of a presigned URL (raw bytes)",
          response=models.FileResponse, tag="files", auth=False, raw_body=True,
          query=(("expires", "integer", "from the URL"), ("signature", "string", "from the URL"))),
    Route("GET", "/v1/files/verify-upload/{upload_id}", "verify_upload", "The file a presigned upload made",
          response=models.FileResponse, tag="files"),
    Route("GET", "/v1/files/{id}", "get_file", "One file", response=models.FileResponse, tag="files"),
    Route("DELETE", "/v1/files/{id}", "delete_file", "Delete a file", response=models.FileResponse, tag="files"),
    Route("GET", "/v1/models", "list_models", "Models and the domains they serve", response=models.ModelInfo,
          many=True, tag="catalogue"),
    Route("GET", "/v1/domains", "list_domains", "Domains of the catalogue and whether a model serves them",
          response=models.DomainInfo, many=True, tag="catalogue",
          query=(("served_only", "boolean", "only domains a loaded model serves"),)),
    Route("POST", "/v1/schema", "schema", "A domain's JSON schema (config.grounding/confidence add metadata)",
          body=models.SchemaRequest, response=models.SchemaResponse, tag="catalogue"),
    Route("GET", "/v1/hub/info", "hub_info", "The vlmrun-hub version of the catalogue",
          response=models.HubInfoResponse, tag="catalogue"),
    Route("GET", "/v1/hub/domains", "hub_domains", "The catalogue's domains", response=models.DomainInfo,
          many=True, tag="catalogue"),
    Route("POST", "/v1/hub/schema", "hub_schema", "A domain's JSON schema", body=models.HubSchemaRequest,
          response=models.SchemaResponse, tag="catalogue"),
    Route("GET", "/v1/openapi.json", "openapi", "This document", tag="service", auth=False),
)


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    value = request.query.get(name, "")
    if value == "":
        return default
    if not value.lstrip("-").isdigit() or not low <= int(value) <= high:
        raise invalid("INVALID_QUERY", f"{name} must be an integer from {low} to {high}", name)
    return int(value)


async def window(fetch, skip: int, limit: int) -> list:
    """Items skip..skip+limit of a token-paged listing (`fetch(page_size, token) -> (items, token)`)."""
    items: list = []
    token = ""
    while len(items) < skip + limit:
        page, token = await fetch(min(skip + limit - len(items), PAGE), token)
        items += page
        if not token:
            break
    return items[skip:skip + limit]


class Handlers:
    def __init__(self, app: App, uploads: Uploads, openapi: dict[str, Any]):
        self.app, self.uploads, self.openapi_doc = app, uploads, openapi
        self.settings = app.settings

    @property
    def jobs(self):
        assert self.app.jobs is not None
        return self.app.jobs

    def tenant(self, request: web.Request) -> str:
        return auth.tenant(self.app.gate, request)

    # --- service

    async def health(self, request: web.Request) -> web.Response:
        auth.check_sent_token(self.app.gate, request)
        ready = {m.id: m.ready for m in self.app.models.all()} if self.app.models else {}
        ok = bool(ready) and all(ready.values()) and not self.jobs.closing
        return await convert.json_response({"status": "ok" if ok else "unavailable", "models": ready},
                                           status=200 if ok else 503)

    async def openapi(self, request: web.Request) -> web.Response:
        return await convert.json_response(self.openapi_doc)

    # --- generate

    async def image_generate(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, models.ImageGenerateRequest, Kind.IMAGE, 200)

    async def document_generate(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, models.DocumentGenerateRequest, Kind.DOCUMENT, 201)

    async def _generate(self, request: web.Request, body: type[BaseModel], kind: Kind,
                        status: int) -> web.StreamResponse:
        owner = self.tenant(request)
        req = await convert.read_json(request, body)
        sub = await convert.submission(req, owner, kind, max_image_bytes=self.settings.max_image_bytes,
                                       idempotency_key=request.headers.get("Idempotency-Key", ""))
        pred, _ = await self.jobs.submit(sub)
        if req.stream:  # every transition of the new prediction, pending included (as GenerateStream)
            return await sse.stream(request, self.app.gate, owner, self.app.watcher.watch(owner, pred.id, 0))
        if not sub.batch and not pred.status.terminal:
            try:
                pred = await self.app.watcher.wait(pred, self.settings.sync_wait_s)
            except asyncio.CancelledError:
                # The caller hung up: nobody waits for this answer, so the model stops making it (as gRPC does).
                self.jobs.spawn(self.jobs.cancel_quietly(owner, pred.id))
                raise
        return await convert.json_response(convert.prediction(pred), status=status,
                                           heavy=pred.response is not None)

    # --- predictions

    async def get_prediction(self, request: web.Request) -> web.Response:
        pred = await self.jobs.get(self.tenant(request), request.match_info["id"])
        return await convert.json_response(convert.prediction(pred), heavy=pred.response is not None)

    async def list_predictions(self, request: web.Request) -> web.Response:
        owner = self.tenant(request)
        skip = _int(request, "skip", 0, 0, MAX_SKIP)
        limit = _int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        status_name = request.query.get("status", "")
        try:
            status = Status(status_name) if status_name else None
        except ValueError:
            raise invalid("INVALID_STATUS", f"unknown status {status_name!r}", "status") from None
        view = request.query.get("view", "full")
        if view not in ("full", "basic"):
            raise invalid("INVALID_VIEW", "view must be full or basic", "view")
        domain = request.query.get("domain", "")

        async def fetch(size: int, token: str):
            return await self.jobs.list(owner, status=status, domain=domain, page_size=size, page_token=token,
                                        full=view == "full")

        preds = await window(fetch, skip, limit)
        return await convert.json_response([convert.prediction(p) for p in preds],
                                           heavy=any(p.response is not None for p in preds))

    async def prediction_events(self, request: web.Request) -> web.StreamResponse:
        owner = self.tenant(request)
        after = sse.resume_point(request)
        events = self.app.watcher.watch(owner, request.match_info["id"], after)
        return await sse.stream(request, self.app.gate, owner, events, resumed=after is not None)

    async def cancel_prediction(self, request: web.Request) -> web.Response:
        return await self._control(request, self.jobs.cancel)

    async def pause_prediction(self, request: web.Request) -> web.Response:
        return await self._control(request, self.jobs.pause)

    async def resume_prediction(self, request: web.Request) -> web.Response:
        return await self._control(request, self.jobs.resume)

    async def _control(self, request: web.Request, action) -> web.Response:
        pred = await action(self.tenant(request), request.match_info["id"])
        return await convert.json_response(convert.prediction(pred), heavy=pred.response is not None)

    # --- files

    async def _file(self, owner: str, record, status: int = 200) -> web.Response:
        return await convert.json_response(convert.file(record, await self.uploads.md5_of(owner, record.id)),
                                           status=status)

    async def upload_file(self, request: web.Request) -> web.Response:
        owner = self.tenant(request)
        purpose = request.query.get("purpose", "") or "assistants"
        if request.content_type != "multipart/form-data":
            raise web.HTTPUnsupportedMediaType(text="send the file as multipart/form-data, in the field `file`")
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if part.name == "file":
                break
            await part.release()
        if part is None:
            raise invalid("MISSING_FILE", "the multipart body has no `file` field", "file")

        async def chunks():
            while chunk := await part.read_chunk(1024 * 1024):
                yield chunk

        spooled = await self.uploads.spool(chunks())
        filename = part.filename or "upload"
        content_type = part.headers.get("Content-Type", "")
        if content_type == "application/octet-stream":
            content_type = ""  # what requests sends for any file: say nothing rather than something wrong
        record = await self.uploads.store(owner, spooled, filename, content_type, purpose)
        return await self._file(owner, record, status=201)

    async def list_files(self, request: web.Request) -> web.Response:
        owner = self.tenant(request)
        skip = _int(request, "skip", 0, 0, MAX_SKIP)
        limit = _int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        records = await window(lambda size, token: self.app.files.list(owner, size, token), skip, limit)
        return await convert.json_response(
            [convert.file(r, await self.uploads.md5_of(owner, r.id)) for r in records])

    async def get_file(self, request: web.Request) -> web.Response:
        owner = self.tenant(request)
        return await self._file(owner, await self.app.files.get(owner, request.match_info["id"]))

    async def delete_file(self, request: web.Request) -> web.Response:
        owner = self.tenant(request)
        file_id = request.match_info["id"]
        record = await self.app.files.get(owner, file_id)
        md5 = await self.uploads.md5_of(owner, file_id)
        await self.app.files.delete(owner, file_id)
        await self.uploads.forget(owner, file_id, md5)
        return await convert.json_response(convert.file(record, md5))

    async def file_by_hash(self, request: web.Request) -> web.Response:
        record, md5 = await self.uploads.by_md5(self.tenant(request), request.match_info["md5"])
        return await convert.json_response(convert.file(record, md5))

    async def presigned_url(self, request: web.Request) -> web.Response:
        owner = self.tenant(request)
        req = await convert.read_json(request, models.PresignedUrlRequest)
        made = await self.uploads.presign(owner, req.filename, req.purpose, req.expiration)
        url = request.url.origin().join(request.app.router["presigned_put"].url_for(upload_id=made["id"]))
        url = url.with_query(expires=str(made["expires"]), signature=made["signature"])
        return await convert.json_response({
            "id": made["id"], "url": str(url), "filename": req.filename, "content_type": made["content_type"],
            "upload_method": "PUT", "public_url": None, "created_at": convert.now_iso(),
            "expiration": req.expiration, "method": "PUT"})

    async def presigned_put(self, request: web.Request) -> web.Response:
        async def chunks():
            while chunk := await request.content.read(1024 * 1024):
                yield chunk

        record = await self.uploads.receive_presigned(request.match_info["upload_id"],
                                                      request.query.get("expires", ""),
                                                      request.query.get("signature", ""), chunks())
        return await self._file(record.owner, record)

    async def verify_upload(self, request: web.Request) -> web.Response:
        owner = self.tenant(request)
        return await self._file(owner, await self.uploads.verify(owner, request.match_info["upload_id"]))

    # --- catalogue

    async def list_models(self, request: web.Request) -> web.Response:
        self.tenant(request)
        return await convert.json_response([{"model": m.id, "domain": d, "engine": m.engine, "ready": m.ready}
                                            for m in self.app.models.all() for d in m.domains])

    async def list_domains(self, request: web.Request) -> web.Response:
        self.tenant(request)
        served_only = request.query.get("served_only", "").lower() in ("1", "true", "yes")
        catalog, registry = self.app.catalog, self.app.models
        out = []
        for domain in sorted(set(catalog.known()) | set(registry.served_domains())):
            serving = [m.id for m in registry.serving(domain)]
            if served_only and not serving:
                continue
            out.append({"domain": domain, "description": catalog.description(domain), "served": bool(serving),
                        "models": serving})
        return await convert.json_response(out)

    async def _schema(self, domain: str, grounding: bool, confidence: bool, gql_stmt: str) -> web.Response:
        if not domain:
            raise invalid("MISSING_DOMAIN", "domain is required", "domain")
        schema = self.app.catalog.schema(domain, grounding=grounding, confidence=confidence)
        return await convert.json_response({
            "domain": schema.domain, "description": schema.description, "schema_version": schema.version,
            "schema_hash": schema.hash, "gql_stmt": gql_stmt, "json_schema": schema.json_schema})

    async def schema(self, request: web.Request) -> web.Response:
        self.tenant(request)
        req = await convert.read_json(request, models.SchemaRequest)
        config = req.config or models.GenerationConfig()
        return await self._schema(req.domain, bool(config.grounding), bool(config.confidence),
                                  config.gql_stmt or "")

    async def hub_info(self, request: web.Request) -> web.Response:
        self.tenant(request)
        return await convert.json_response({"version": version("vlmrun-hub")})

    async def hub_domains(self, request: web.Request) -> web.Response:
        self.tenant(request)
        return await convert.json_response([{"domain": d, "description": self.app.catalog.description(d)}
                                            for d in self.app.catalog.known()])

    async def hub_schema(self, request: web.Request) -> web.Response:
        self.tenant(request)
        req = await convert.read_json(request, models.HubSchemaRequest)
        return await self._schema(req.domain, False, False, req.gql_stmt or "")
