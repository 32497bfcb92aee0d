"""AsyncVLMClient: the asyncio facade, method for method the same as VLMClient (sync_client.py), with
`await` (and `async for` for streams). Kept in step with it by hand; the logic they share (requests, cursor,
conversions, typed results) lives in the modules both import."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import grpc
from pydantic import BaseModel

from vlmgrpc_client import convert, errors, submissions, typed
from vlmgrpc_client.api.vlm.v1 import file_service_pb2 as files_pb
from vlmgrpc_client.api.vlm.v1 import hub_service_pb2 as hub_pb
from vlmgrpc_client.api.vlm.v1 import model_service_pb2 as models_pb
from vlmgrpc_client.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc_client.inputs import CHUNK, Progress, Upload
from vlmgrpc_client.retry import Deadline, RetryPolicy
from vlmgrpc_client.transport import DEFAULT, AsyncTransport, Pem, Settings
from vlmgrpc_client.types import (
    DomainInfo,
    DomainSchema,
    FileInfo,
    ModelInfo,
    Page,
    Prediction,
    PredictionEvent,
)
from vlmgrpc_client.watch import WatchCursor

WAIT_TIMEOUT_S = 600.0  # the SDK's wait() default


class AsyncVLMClient:
    """An asyncio vlm-grpc client (use it inside one event loop; `async with` closes it); the arguments are
    VLMClient's."""

    def __init__(self, target: str | None = None, *, token: str | None = None, timeout: float | None = 120.0,
                 retry: RetryPolicy | None = None, tls: bool | None = None, root_certificates: Pem | None = None,
                 certificate_chain: Pem | None = None, private_key: Pem | None = None, server_name: str | None = None,
                 options: tuple[tuple[str, Any], ...] = (), autocast: bool = False):
        self.settings = Settings(target, token=token, timeout=timeout, retry=retry, tls=tls,
                                 root_certificates=root_certificates, certificate_chain=certificate_chain,
                                 private_key=private_key, server_name=server_name, options=options)
        self.autocast = autocast
        self._t = AsyncTransport(self.settings)
        self._schemas: dict[str, type[BaseModel] | None] = {}
        self.image = Image(self)
        self.document = Document(self)
        self.predictions = Predictions(self)
        self.files = Files(self)
        self.hub = Hub(self)
        self.models = Models(self)

    @property
    def target(self) -> str:
        return self.settings.target

    async def close(self) -> None:
        await self._t.close()

    async def __aenter__(self) -> AsyncVLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _typed(self, prediction: Prediction, response_model: type[BaseModel] | None,
               autocast: bool | None) -> Prediction:
        if prediction.status != "completed" or prediction.response is None:
            return prediction
        if response_model is not None:
            prediction.response = typed.validate(response_model, prediction.response)
        elif self.autocast if autocast is None else autocast:
            model = await self._schema_model(prediction.domain)
            prediction.response = typed.autocast(model, prediction.response) if model else prediction.response
        return prediction

    async def _schema_model(self, domain: str) -> type[BaseModel] | None:
        if domain not in self._schemas:
            try:
                self._schemas[domain] = (await self.hub.get_schema(domain)).response_model()
            except errors.NotFoundError:
                self._schemas[domain] = None
        return self._schemas[domain]

    async def _follow(self, cursor: WatchCursor, submit: tuple[Any, Any] | None,
                timeout: float | None) -> AsyncIterator[PredictionEvent]:
        """The events of a prediction until the terminal one. `submit` (a GenerateStream method and request)
        opens the first stream; whenever a stream breaks it is resumed with WatchPrediction after the last
        sequence number seen (or, if no event came yet, the same submission is sent again: its request id
        finds the same prediction)."""
        deadline = Deadline(timeout)
        while True:
            if cursor.prediction_id or submit is None:
                stream = self._t.stream(self._t.stubs.predictions.WatchPrediction, cursor.request(), deadline)
            else:
                stream = self._t.stream(*submit, deadline)
            error = None
            try:
                async for message in stream:
                    if cursor.accept(message.event):
                        yield convert.event(message.event)
            except errors.VLMError as exc:
                error = exc
            if cursor.finished:
                return
            pause = cursor.resume_after(error)
            if pause is None:
                if error is not None:
                    raise error
                return
            left = deadline.remaining()
            if left is not None and left <= pause:
                raise errors.DeadlineExceededError("the watch ran out of time while resuming",
                                                   code=grpc.StatusCode.DEADLINE_EXCEEDED) from error
            await asyncio.sleep(pause)


class _Resource:
    def __init__(self, client: AsyncVLMClient):
        self._c = client
        self._t = client._t


class Image(_Resource):
    async def generate(self, images: Any = None, domain: str = "", *, urls: Sequence[str] | None = None,
                 model: str | None = None, batch: bool | None = None, config: Any = None, metadata: Any = None,
                 callback_url: str | None = None, request_id: str | None = None, timeout: Any = DEFAULT,
                 response_model: type[BaseModel] | None = None, autocast: bool | None = None) -> Prediction:
        """Images (PIL images, paths, bytes, http(s)/data: URLs, file ids) through ImageService.Generate.
        batch unset or False: returns once the prediction is terminal; True: at once."""
        request = submissions.image_request(images, urls, stream=False, batch=batch, domain=domain, model=model,
                                            config=config, metadata=metadata, callback_url=callback_url,
                                            request_id=request_id)
        reply = await self._t.unary(self._t.stubs.images.Generate, request, timeout)
        return await self._c._typed(convert.prediction(reply.prediction),
                              submissions.response_model_of(config, response_model), autocast)

    async def generate_stream(self, images: Any = None, domain: str = "", *, urls: Sequence[str] | None = None,
                        model: str | None = None, config: Any = None, metadata: Any = None,
                        callback_url: str | None = None, request_id: str | None = None,
                        timeout: float | None = None, heartbeats: bool = False) -> AsyncIterator[PredictionEvent]:
        """Submits, then yields the prediction's events until the terminal one (resuming a broken stream)."""
        request = submissions.image_request(images, urls, stream=True, batch=None, domain=domain, model=model,
                                            config=config, metadata=metadata, callback_url=callback_url,
                                            request_id=request_id)
        async for event in _generate_stream(self._c, self._t.stubs.images.GenerateStream, request, timeout,
                                            heartbeats):
            yield event


class Document(_Resource):
    async def generate(self, file: Any = None, domain: str = "", *, url: str | None = None, model: str | None = None,
                 batch: bool | None = None, config: Any = None, metadata: Any = None,
                 callback_url: str | None = None, request_id: str | None = None, timeout: Any = DEFAULT,
                 response_model: type[BaseModel] | None = None, autocast: bool | None = None,
                 progress: Progress | None = None) -> Prediction:
        """A document (a path, which is uploaded first, bytes, a file id or a URL) through
        DocumentService.Generate. batch unset or True (the server's default for documents): returns the
        accepted prediction at once (follow it with predictions.wait / watch); False: once terminal."""
        kind, value = await self._source(file, url, progress)
        request = submissions.document_request(kind, value, stream=False, batch=batch, domain=domain, model=model,
                                               config=config, metadata=metadata, callback_url=callback_url,
                                               request_id=request_id)
        reply = await self._t.unary(self._t.stubs.documents.Generate, request, timeout)
        return await self._c._typed(convert.prediction(reply.prediction),
                              submissions.response_model_of(config, response_model), autocast)

    async def generate_stream(self, file: Any = None, domain: str = "", *, url: str | None = None,
                        model: str | None = None, config: Any = None, metadata: Any = None,
                        callback_url: str | None = None, request_id: str | None = None,
                        timeout: float | None = None, heartbeats: bool = False,
                        progress: Progress | None = None) -> AsyncIterator[PredictionEvent]:
        kind, value = await self._source(file, url, progress)
        request = submissions.document_request(kind, value, stream=True, batch=None, domain=domain, model=model,
                                               config=config, metadata=metadata, callback_url=callback_url,
                                               request_id=request_id)
        async for event in _generate_stream(self._c, self._t.stubs.documents.GenerateStream, request, timeout,
                                            heartbeats):
            yield event

    async def _source(self, file: Any, url: str | None, progress: Progress | None) -> tuple[str, Any]:
        kind, value = submissions.document_source(file, url)
        if kind == "path":
            return "file_id", (await self._c.files.upload(value, progress=progress)).id
        return kind, value


async def _generate_stream(client: AsyncVLMClient, method: Any, request: Any, timeout: float | None,
                     heartbeats: bool) -> AsyncIterator[PredictionEvent]:
    cursor = WatchCursor(client.settings.retry, heartbeats=heartbeats)
    async for event in client._follow(cursor, (method, request), timeout):
        yield event


class Predictions(_Resource):
    async def get(self, id: str, *, timeout: Any = DEFAULT, response_model: type[BaseModel] | None = None,
            autocast: bool | None = None) -> Prediction:
        reply = await self._t.unary(self._t.stubs.predictions.GetPrediction, ps.GetPredictionRequest(id=id), timeout)
        return await self._c._typed(convert.prediction(reply.prediction), response_model, autocast)

    async def list(self, *, page_size: int = 0, page_token: str = "", status: str | None = None,
             domain: str | None = None, view: str = "basic", timeout: Any = DEFAULT) -> Page[Prediction]:
        """One page, newest first (page_size 0: the server's default, 50); pass next_page_token on.
        view "basic" leaves each prediction's response out (None); "full" includes it."""
        if view not in ("basic", "full"):
            raise errors.InputError(f"view must be 'basic' or 'full', not {view!r}", reason="INVALID_VIEW")
        request = ps.ListPredictionsRequest(page_size=page_size, page_token=page_token, domain=domain or "",
                                            status=convert.status_value(status),
                                            view=ps.PredictionView.Value("PREDICTION_VIEW_" + view.upper()))
        reply = await self._t.unary(self._t.stubs.predictions.ListPredictions, request, timeout)
        return Page[Prediction](items=[convert.prediction(p) for p in reply.predictions],
                                next_page_token=reply.next_page_token)

    async def watch(self, id: str, *, after_sequence: int | None = None, timeout: float | None = None,
              heartbeats: bool = False) -> AsyncIterator[PredictionEvent]:
        """The prediction's events until the terminal one. A stream that breaks (UNAVAILABLE: a restart, a
        dropped connection) is resumed after the last sequence number seen, so no event is lost or repeated."""
        cursor = WatchCursor(self._c.settings.retry, id, after_sequence, heartbeats)
        async for event in self._c._follow(cursor, None, timeout):
            yield event

    async def wait(self, id: str, *, timeout: float | None = WAIT_TIMEOUT_S,
                   response_model: type[BaseModel] | None = None, autocast: bool | None = None) -> Prediction:
        """Returns the prediction once COMPLETED; raises PredictionFailedError (code, reason, violations) once
        FAILED, WaitTimeoutError if neither happens within `timeout` seconds. Follows the watch stream (no
        polling)."""
        last = None
        try:
            async for event in self.watch(id, timeout=timeout):
                last = event.prediction or last
        except errors.DeadlineExceededError as exc:
            status = last.status if last else "unknown"
            raise errors.WaitTimeoutError(f"prediction {id} is still {status} after {timeout} s",
                                          prediction=last) from exc
        if last is None or not last.terminal:
            last = await self.get(id)
        if last.status == "failed":
            raise errors.from_prediction(last)
        return await self._c._typed(last, response_model, autocast)

    async def cancel(self, id: str, *, timeout: Any = DEFAULT) -> Prediction:
        return await self._steer("CancelPrediction", ps.CancelPredictionRequest(id=id), timeout)

    async def pause(self, id: str, *, timeout: Any = DEFAULT) -> Prediction:
        return await self._steer("PausePrediction", ps.PausePredictionRequest(id=id), timeout)

    async def resume(self, id: str, *, timeout: Any = DEFAULT) -> Prediction:
        return await self._steer("ResumePrediction", ps.ResumePredictionRequest(id=id), timeout)

    async def _steer(self, method: str, request: Any, timeout: Any) -> Prediction:
        reply = await self._t.unary(getattr(self._t.stubs.predictions, method), request, timeout)
        return convert.prediction(reply.prediction)


class Files(_Resource):
    async def upload(self, file: Path | str | bytes, *, filename: str | None = None, content_type: str | None = None,
               purpose: str = "", chunk_size: int = CHUNK, progress: Progress | None = None,
               timeout: Any = DEFAULT) -> FileInfo:
        """Streams a file to FileService.UploadFile: its size and SHA-256 first, then 1 MiB chunks read as they
        go; `progress(sent, total)` hears of each. Retried on UNAVAILABLE (a lost reply can leave a
        duplicate file with the same sha256)."""
        upload = Upload.of(file, filename, content_type, chunk_size)
        reply = await self._t.unary(self._t.stubs.files.UploadFile,
                              lambda: upload.messages(chunk_size, purpose, progress), timeout)
        return convert.file(reply.file)

    async def get(self, id: str, *, timeout: Any = DEFAULT) -> FileInfo:
        reply = await self._t.unary(self._t.stubs.files.GetFile, files_pb.GetFileRequest(id=id), timeout)
        return convert.file(reply.file)

    async def list(self, *, page_size: int = 0, page_token: str = "", timeout: Any = DEFAULT) -> Page[FileInfo]:
        reply = await self._t.unary(self._t.stubs.files.ListFiles,
                              files_pb.ListFilesRequest(page_size=page_size, page_token=page_token), timeout)
        return Page[FileInfo](items=[convert.file(f) for f in reply.files], next_page_token=reply.next_page_token)

    async def delete(self, id: str, *, timeout: Any = DEFAULT) -> bool:
        reply = await self._t.unary(self._t.stubs.files.DeleteFile, files_pb.DeleteFileRequest(id=id), timeout)
        return reply.deleted

    async def download(self, id: str, *, timeout: float | None = None) -> bytes:
        stream = self._t.stream(self._t.stubs.files.DownloadFile, files_pb.DownloadFileRequest(id=id),
                                Deadline(timeout))
        return b"".join([message.chunk async for message in stream])


class Hub(_Resource):
    async def list_domains(self, *, served_only: bool = False, timeout: Any = DEFAULT) -> list[DomainInfo]:
        reply = await self._t.unary(self._t.stubs.hub.ListDomains, hub_pb.ListDomainsRequest(served_only=served_only),
                              timeout)
        return [convert.domain(d) for d in reply.domains]

    async def get_schema(self, domain: str, *, grounding: bool = False, confidence: bool = False,
                   timeout: Any = DEFAULT) -> DomainSchema:
        request = hub_pb.GetSchemaRequest(domain=domain, grounding=grounding, confidence=confidence)
        return convert.schema(await self._t.unary(self._t.stubs.hub.GetSchema, request, timeout))


class Models(_Resource):
    async def list(self, *, timeout: Any = DEFAULT) -> list[ModelInfo]:
        reply = await self._t.unary(self._t.stubs.models.ListModels, models_pb.ListModelsRequest(), timeout)
        return [convert.model(m) for m in reply.models]
