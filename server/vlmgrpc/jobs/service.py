"""The job service: submission, reads and control of predictions. Execution is in runner.py,
watching in watch.py. Knows nothing of gRPC."""

from __future__ import annotations

import asyncio
import logging
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from vlmgrpc import observability
from vlmgrpc.catalog import Catalog
from vlmgrpc.errors import (
    Code,
    ServiceError,
    cancelled,
    exhausted,
    failed_precondition,
    not_found,
    unavailable,
)
from vlmgrpc.inference.gateway import TritonGateway
from vlmgrpc.inference.models import ModelInfo, ModelRegistry
from vlmgrpc.jobs import paging, validation
from vlmgrpc.jobs.blobs import Blobs
from vlmgrpc.jobs.callbacks import CallbackOutbox
from vlmgrpc.jobs.dispatch import Dispatch
from vlmgrpc.jobs.events import EventBus
from vlmgrpc.jobs.files import FileStore
from vlmgrpc.jobs.held import BoundedBytes
from vlmgrpc.jobs.model import InputRef, Kind, Prediction, Status, check_transition, utcnow
from vlmgrpc.jobs.records import ClaimLost, Cursor, Delta, Event, EventType
from vlmgrpc.jobs.replicas import replicas_for
from vlmgrpc.jobs.store_api import JobStore
from vlmgrpc.pipeline import office, sniff
from vlmgrpc.pipeline.images import check_image
from vlmgrpc.pipeline.libreoffice import OfficeConverter
from vlmgrpc.pipeline.render import Renderer
from vlmgrpc.schemas import PAGE_DOMAINS
from vlmgrpc.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class RunHandle:
    task: asyncio.Task | None = None
    running_saved: Awaitable | None = None  # the RUNNING save, committing while the first element runs
    pause_requested: bool = False
    lost: bool = False  # a save found the claim gone (another replica took it over): stop, write nothing more
    requeue: bool = False  # cancelled by shutdown: go back to ENQUEUED instead of FAILED
    ended: bool = False  # on_terminal was called (waiters, callback): once per run
    done: asyncio.Event = field(default_factory=asyncio.Event)


class JobService:
    def __init__(self, settings: Settings, store: JobStore, blobs: Blobs, files: FileStore, bus: EventBus,
                 catalog: Catalog, renderer: Renderer, gateway: TritonGateway, models: ModelRegistry):
        self.settings = settings
        self.store = store
        self.blobs = blobs
        self.files = files
        self.bus = bus
        self.catalog = catalog
        self.renderer = renderer
        self.office = OfficeConverter(settings.soffice_path, settings.office_timeout_s, settings.office_memory_bytes,
                                      settings.office_workers, settings.office_isolate_network)
        if self.office.available() is None:
            log.warning("LibreOffice (%s) is not installed: Office documents will be refused", settings.soffice_path)
        self.gateway = gateway
        self.models = models
        self.dispatch = Dispatch(settings.queue_size)
        # The latest committed (published) sequence of each running prediction: what output deltas carry.
        self._committed: dict[str, int] = {}
        self.running: dict[str, RunHandle] = {}
        # Queued predictions (ENQUEUED, or RUNNING when started at submission) held in memory, so a worker
        # need not read them back. While one is here, this object is the prediction's current state: every
        # change goes through it (see load).
        self.queued: dict[str, Prediction] = {}
        # Bytes of images just accepted, so the worker need not read back what it was handed.
        self.recent_inputs = BoundedBytes(settings.recent_inputs_bytes)
        self.callbacks = CallbackOutbox(settings, store)  # started and stopped by the app
        self.replicas = replicas_for(store, bus)  # who holds what, when replicas share the store
        self.closing = False
        self._locks = [asyncio.Lock() for _ in range(64)]
        self._background: set[asyncio.Task] = set()

    def lock(self, prediction_id: str) -> asyncio.Lock:
        # Striped locks: every change of one prediction is serialised, memory stays bounded.
        return self._locks[zlib.crc32(prediction_id.encode()) % len(self._locks)]

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background_done)
        return task

    def _background_done(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:  # never unseen
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    def save(self, pred: Prediction, event: EventType = EventType.STATUS_CHANGED,
             element: tuple[int, object] | None = None) -> Awaitable[Event]:
        """Queue a save of `pred` with its next event. The event is published when it commits, in commit
        order, even if the caller stopped waiting; await the result to know it committed."""
        return self._published(self.store.save(pred, event, element))

    def save_last_element(self, pred: Prediction, element: tuple[int, object],
                          finish: Callable[[Prediction], None]) -> Awaitable[tuple[Event, Event]]:
        """The last element's result and progress, then `finish(pred)`'s transition: one commit."""
        return self._published(self.store.save_last_element(pred, element, finish))

    def _published(self, saved: asyncio.Future) -> asyncio.Future:
        saved.add_done_callback(self._publish)
        saved.add_done_callback(self._check_claim)
        return asyncio.shield(saved)  # a caller cancelled meanwhile does not stop the publish

    def _publish(self, saved: asyncio.Future) -> None:
        if saved.cancelled() or saved.exception() is not None:
            return
        result = saved.result()
        for event in result if isinstance(result, tuple) else (result,):
            self._committed[event.prediction_id] = event.sequence
            self.bus.publish(event)

    def _check_claim(self, saved: asyncio.Future) -> None:
        error = None if saved.cancelled() else saved.exception()
        if isinstance(error, ClaimLost):
            handle = self.running.get(error.prediction_id)
            if handle is not None:
                handle.lost = True  # the runner stops before its next element

    def publish_delta(self, pred: Prediction, delta: Delta) -> None:
        """New text of a generative model, to live watchers only (not stored: the final answer is). It carries
        the latest committed sequence, so it never runs ahead of the stored history a watcher resumes from."""
        sequence = self._committed.get(pred.id, 0)
        self.bus.publish(Event(pred.id, sequence, EventType.OUTPUT_DELTA, utcnow(), None, delta=delta))

    # --- submission

    async def submit(self, sub: validation.Submission) -> tuple[Prediction, bool]:
        """Accept a prediction (or find the one this request id already made): (prediction, created)."""
        if self.closing:
            raise unavailable("SHUTTING_DOWN", "the server is shutting down; retry on another instance")
        validation.validate(sub, known=self.catalog.is_known(sub.domain) or sub.domain in self.models.served_domains(),
                            max_images=self.settings.max_images_per_request,
                            allow_private_urls=self.settings.allow_private_urls)
        model = self.models.resolve(sub.domain, sub.model, custom_schema=bool(sub.config.get("json_schema")))
        fingerprint = await sub.fingerprint_async() if sub.request_id else ""  # only a request id is ever compared
        if sub.request_id:
            existing = await self._by_request_id(sub, fingerprint)
            if existing:
                return existing, False
        if not self.dispatch.reserve():
            raise exhausted("QUEUE_FULL", f"{self.dispatch.size} predictions are waiting; retry later",
                            queue_size=str(self.dispatch.size))
        start = committed = False
        pred_id = uuid.uuid4().hex
        try:
            inputs, total, inline = await self._accept_inputs(pred_id, sub)
            self._check_request_size(sub, model, total)
            pred = Prediction(id=pred_id, owner=sub.owner, kind=sub.kind, domain=sub.domain, model=model.id,
                              batch=sub.batch, request_id=sub.request_id, fingerprint=fingerprint,
                              callback_url=sub.callback_url, config=sub.config, metadata=sub.metadata,
                              inputs=inputs, request_created_at=sub.request_created_at, total=total,
                              traceparent=observability.current_traceparent())
            # Decided last: the worker waits only for this commit. Not while closing: workers take nothing more.
            start = not self.closing and self.dispatch.start_now()
            then = (Status.ENQUEUED, Status.RUNNING) if start else (Status.ENQUEUED,)
            pred, created = await self.store.create(pred, then=then, inputs=inline)  # one commit
            if not created:  # the same request id raced us
                await self.blobs.remove(f"inputs/{pred_id}")
                self._check_same(pred, fingerprint)
                return pred, False
            self.queued[pred.id] = pred
            self.dispatch.commit(pred.id, started=start)
            committed = True
            return pred, True
        finally:
            if not committed:
                self.dispatch.release(started=start)

    def _check_request_size(self, sub: validation.Submission, model: ModelInfo, total: int) -> None:
        """A domain answered as one object sends every page in one request: the model must take that many."""
        whole = sub.domain not in PAGE_DOMAINS or bool(sub.config.get("json_schema"))
        if whole and total > model.max_images:
            where = "images" if sub.kind is Kind.IMAGE else "config.page_indices"
            raise ServiceError(Code.INVALID_ARGUMENT, "TOO_MANY_PAGES",
                               f"model {model.id!r} reads at most {model.max_images} images or pages at once and "
                               f"domain {sub.domain!r} is answered as one object; this request has {total} "
                               "(select pages with config.page_indices)",
                               {"max_images": str(model.max_images), "model": model.id}, [(where, "too many")])

    async def _by_request_id(self, sub: validation.Submission, fingerprint: str) -> Prediction | None:
        found = await self.store.list(sub.owner, status=None, domain="", after=None, limit=1,
                                      request_id=sub.request_id)
        if found:
            self._check_same(found[0], fingerprint)
            return found[0]
        return None

    @staticmethod
    def _check_same(pred: Prediction, fingerprint: str) -> None:
        if pred.fingerprint != fingerprint:
            raise ServiceError(Code.ALREADY_EXISTS, "REQUEST_ID_REUSED",
                               f"request id {pred.request_id!r} was already used for a different request",
                               {"prediction_id": pred.id})

    async def _accept_inputs(self, pred_id: str, sub: validation.Submission,
                             ) -> tuple[list[InputRef], int, dict[int, bytes]]:
        """Check every input's bytes and keep them: small images for the store to commit with the prediction
        (returned by index), the rest under the data directory. Returns the inputs, the number of elements
        (images or pages) the prediction will process, and the inline bytes."""
        try:
            return await self._store_inputs(pred_id, sub)
        except BaseException:
            await self.blobs.remove(f"inputs/{pred_id}")  # nothing of a refused submission stays
            raise

    async def _store_inputs(self, pred_id: str, sub: validation.Submission,
                            ) -> tuple[list[InputRef], int, dict[int, bytes]]:
        refs: list[InputRef] = []
        inline: dict[int, bytes] = {}
        total = 0
        for i, raw in enumerate(sub.inputs):
            where = sub.input_field(i)
            rel = f"inputs/{pred_id}/{i}"
            if raw.url:
                refs.append(InputRef(url=raw.url))
                total += 1
                continue
            if raw.file_id:
                record = await self.files.get(sub.owner, raw.file_id)
                await self.blobs.link(record.blob, rel)
                count, ref = await self.check_blob(sub.kind, sub.config, rel, record.detected_type, f"{where}.file_id")
                refs.append(ref)
                total += count
                continue
            data = raw.data or b""
            media = sniff.media_type(data)
            if sniff.is_image(media) and len(data) <= self.settings.inline_input_bytes:
                await asyncio.to_thread(check_image, data, self.settings.max_image_pixels, f"{where}.data")
                refs.append(InputRef(blob=rel, media_type=media, inline=True))
                inline[i] = data
                self.recent_inputs.put(rel, data)
                total += 1
            elif sniff.is_image(media) and len(data) <= self.settings.max_image_bytes:
                # In one thread hop: decode-check from memory, then store.
                await asyncio.to_thread(self._check_and_store_image, data, rel, f"{where}.data")
                refs.append(InputRef(blob=rel, media_type=media))
                self.recent_inputs.put(rel, data)
                total += 1
            else:
                await self.blobs.write(rel, data)
                count, ref = await self.check_blob(sub.kind, sub.config, rel, media, f"{where}.data")
                refs.append(ref)
                total += count
        return refs, total, inline

    async def held_input(self, pred: Prediction, index: int) -> bytes | None:
        """An accepted input's bytes if held in memory (just accepted) or in the store (inline); None for a
        file, which its reader opens when it gets to it."""
        ref = pred.inputs[index]
        data = self.recent_inputs.pop(ref.blob) if ref.blob else None
        if data is None and ref.inline:
            data = await self.store.input(pred.id, index)
        return data

    def _check_and_store_image(self, data: bytes, rel: str, where: str) -> None:
        check_image(data, self.settings.max_image_pixels, where)
        self.blobs.write_sync(rel, data)

    async def check_blob(self, kind: Kind, config: dict, rel: str, media: str, where: str) -> tuple[int, InputRef]:
        """Check stored input bytes; return how many elements they hold and the input as kept. An Office document
        is kept as the PDF LibreOffice made of it, so neither a restart nor a re-run converts it again. Bad bytes
        are removed."""
        path = self.blobs.path(rel)
        ref = InputRef(blob=rel, media_type=media)
        try:
            if kind is Kind.DOCUMENT and media != sniff.PDF and not sniff.is_image(media):
                # Inspected from the file: an upload's type was sniffed from its first bytes only.
                original = await self.office.to_pdf(path, where)
                if original:
                    media = sniff.PDF
                    ref = InputRef(blob=rel, media_type=media, converted_from=original)
            if kind is Kind.DOCUMENT and media == sniff.PDF:
                pages = await self.renderer.inspect(str(path), self.settings.max_pages, where)
                wanted = config.get("page_indices") or []
                out_of_range = [p for p in wanted if p >= pages]
                if out_of_range:
                    raise ServiceError(Code.INVALID_ARGUMENT, "PAGE_OUT_OF_RANGE",
                                       f"page_indices {out_of_range} are beyond the document's {pages} pages",
                                       {"pages": str(pages)}, [("config.page_indices", "beyond the last page")])
                return len(wanted) or pages, ref
            if not sniff.is_image(media):
                expected = (f"a PDF, an Office document ({office.NAMES}) or an image" if kind is Kind.DOCUMENT
                            else "an image")
                raise ServiceError(Code.INVALID_ARGUMENT, "UNSUPPORTED_MEDIA_TYPE",
                                   f"the bytes are not {expected} (detected {media})", {"detected": media},
                                   [(where, f"expected {expected}")])
            limit = self.settings.max_image_bytes
            if path.stat().st_size > limit:
                raise ServiceError(Code.INVALID_ARGUMENT, "INPUT_TOO_LARGE", f"images are limited to {limit} bytes",
                                   {"max_bytes": str(limit)}, [(where, "too large")])
            data = await self.blobs.read(rel)
            await asyncio.to_thread(check_image, data, self.settings.max_image_pixels, where)
            return 1, ref
        except ServiceError:
            await self.blobs.remove(rel.rsplit("/", 1)[0])
            raise

    async def load(self, prediction_id: str) -> Prediction | None:
        """The current state for a change (caller holds the lock)."""
        return self.queued.get(prediction_id) or await self.store.get(prediction_id)

    async def _owned(self, owner: str, prediction_id: str) -> Prediction:
        pred = await self.load(prediction_id)
        if pred is None or pred.owner != owner:
            raise not_found("prediction", prediction_id)
        return pred

    # --- reads

    async def get(self, owner: str, prediction_id: str) -> Prediction:
        pred = await self.store.get(prediction_id)
        if pred is None or pred.owner != owner:  # another tenant's prediction does not exist for you
            raise not_found("prediction", prediction_id)
        return pred

    async def list(self, owner: str, *, status: Status | None, domain: str, page_size: int,
                   page_token: str, full: bool = True) -> tuple[list[Prediction], str]:
        size = paging.page_size(page_size)
        filters = f"{status.value if status else ''}|{domain}"
        after = paging.decode(page_token, filters)
        preds = await self.store.list(owner, status=status, domain=domain, after=after, limit=size + 1, full=full)
        token = ""
        if len(preds) > size:
            preds = preds[:size]
            token = paging.encode(Cursor(preds[-1].created_at.isoformat(), preds[-1].id), filters)
        return preds, token

    # --- control

    async def cancel(self, owner: str, prediction_id: str) -> Prediction:
        return await self._control("cancel", owner, prediction_id)

    async def pause(self, owner: str, prediction_id: str) -> Prediction:
        return await self._control("pause", owner, prediction_id)

    async def resume(self, owner: str, prediction_id: str) -> Prediction:
        return await self._control("resume", owner, prediction_id)

    async def cancel_quietly(self, owner: str, prediction_id: str) -> None:
        """Cancel unless it already ended (a synchronous caller that went away)."""
        try:
            await self.cancel(owner, prediction_id)
        except ServiceError:
            pass  # terminal meanwhile, or gone: nothing to stop

    async def _control(self, op: str, owner: str, prediction_id: str) -> Prediction:
        """A change is made by the replica that holds the prediction (this one, on the embedded store)."""
        done = await self.replicas.at_holder(op, owner, prediction_id)
        return done if done is not None else await self.get(owner, prediction_id)

    async def control_here(self, op: str, owner: str, prediction_id: str) -> Prediction:
        """Make the change here: this replica holds the prediction (or it was free and is now claimed by it)."""
        change = {"cancel": self._cancel_here, "pause": self._pause_here, "resume": self._resume_here}[op]
        return await change(owner, prediction_id)

    async def _cancel_here(self, owner: str, prediction_id: str) -> Prediction:
        async with self.lock(prediction_id):
            pred = await self._owned(owner, prediction_id)
            if pred.status.terminal:
                raise failed_precondition("ALREADY_TERMINAL", f"prediction {prediction_id!r} is already "
                                          f"{pred.status.value}", status=pred.status.value)
            handle = self.running.get(prediction_id)
            if handle is None:
                await self.fail(pred, cancelled())
                return pred
            if handle.task:
                handle.task.cancel()
        await handle.done.wait()
        return await self.get(owner, prediction_id)

    async def _pause_here(self, owner: str, prediction_id: str) -> Prediction:
        async with self.lock(prediction_id):
            pred = await self._owned(owner, prediction_id)
            if pred.status is Status.PAUSED:
                return pred
            check_transition(pred.status, Status.PAUSED, pred.id)
            handle = self.running.get(prediction_id)
            if handle is None:
                pred.transition(Status.PAUSED, "paused on request")
                await self.save(pred)
                self.queued.pop(prediction_id, None)
                self.dispatch.remove(prediction_id)  # resume queues it again
                return pred
            handle.pause_requested = True  # the runner stops before its next element
        await handle.done.wait()
        return await self.get(owner, prediction_id)

    async def _resume_here(self, owner: str, prediction_id: str) -> Prediction:
        async with self.lock(prediction_id):
            pred = await self._owned(owner, prediction_id)
            if pred.status is not Status.PAUSED:
                raise failed_precondition("NOT_PAUSED", f"prediction {prediction_id!r} is {pred.status.value}, "
                                          "not paused", status=pred.status.value)
            if not self.dispatch.reserve():
                raise exhausted("QUEUE_FULL", "the queue is full; retry later")
            pred.transition(Status.ENQUEUED, "resumed")
            await self.save(pred)
            self.queued[pred.id] = pred
            self.dispatch.commit(pred.id)
            return pred

    async def fail(self, pred: Prediction, error: ServiceError) -> None:
        """Move a prediction to FAILED (caller holds its lock)."""
        pred.error = error.to_dict()
        pred.transition(Status.FAILED, error.message)
        await self.save(pred)
        self.queued.pop(pred.id, None)
        self.dispatch.remove(pred.id)  # cancelled while it waited: its slot is free
        self.on_terminal(pred)

    def on_terminal(self, pred: Prediction) -> None:
        self._committed.pop(pred.id, None)
        observability.prediction_finished(pred)
        if pred.callback_url:  # its outbox row committed with the terminal save (store.py)
            self.callbacks.submit(pred.id)

    # --- lifecycle

    def holds(self, prediction_id: str) -> bool:
        """Whether this process's queue or a worker has the prediction."""
        return prediction_id in self.queued or prediction_id in self.running

    def room(self) -> int:
        return self.dispatch.room()

    async def resume_callbacks(self) -> None:
        for prediction_id in await self.store.pending_callbacks():
            self.callbacks.submit(prediction_id)

    async def adopt(self, prediction_id: str, why: str) -> None:
        """Queue here a prediction this replica now holds (taken over, or its own before a restart); one that
        was running continues at its next element."""
        async with self.lock(prediction_id):
            if self.holds(prediction_id):
                return
            pred = await self.store.get(prediction_id)
            if pred is None or pred.status not in (Status.PENDING, Status.ENQUEUED, Status.RUNNING):
                await self.replicas.release(prediction_id)  # paused or ended meanwhile: nothing to run
                return
            if pred.status is not Status.ENQUEUED:
                pred.transition(Status.ENQUEUED, why)
                await self.save(pred)
            self.queued[prediction_id] = pred
        await self.dispatch.put(prediction_id)

    async def recover(self) -> None:
        """After a restart: whatever was accepted and not finished is queued again. With a shared store, only
        what this replica held (a stable replica_id); the rest is taken over as leases run out (jobs/replicas.py)."""
        mine = await self.replicas.start(self)
        if self.replicas.shared:
            if mine:
                log.info("re-queueing %d predictions this replica held", len(mine))
            for prediction_id in mine:
                self.spawn(self.adopt(prediction_id, "re-queued after a restart"))
            return
        for pred in await self.store.with_status(Status.PENDING, Status.RUNNING):
            pred.transition(Status.ENQUEUED, "re-queued after a restart")
            await self.save(pred)
        queued = await self.store.with_status(Status.ENQUEUED)
        if queued:
            log.info("re-queueing %d predictions", len(queued))

        async def requeue() -> None:
            for pred in queued:
                await self.dispatch.put(pred.id)

        self.spawn(requeue())

    async def park(self) -> None:
        """The end of a shutdown (no worker, no handler left): what is still pending or RUNNING (started at its
        submission, never claimed) goes back to ENQUEUED, so a stopped server leaves every prediction terminal,
        ENQUEUED or PAUSED. With a shared store, what this replica held is then released for the others."""
        if self.replicas.shared:
            preds = [p for p in list(self.queued.values()) if p.status in (Status.PENDING, Status.RUNNING)]
        else:
            preds = await self.store.with_status(Status.PENDING, Status.RUNNING)
        for pred in preds:
            async with self.lock(pred.id):
                pred = self.queued.get(pred.id) or pred
                if pred.status in (Status.PENDING, Status.RUNNING) and pred.id not in self.running:
                    pred.transition(Status.ENQUEUED, "re-queued: the server is shutting down")
                    await self.save(pred)
        await self.replicas.stop()
