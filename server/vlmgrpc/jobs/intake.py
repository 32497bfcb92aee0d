"""Intake: an input's bytes checked and kept as the prediction's, before it is accepted, and read back when
it runs. Small images go to the store with the prediction (inline), the rest under the data directory; an
Office document is kept as the PDF LibreOffice made of it; a URL document is fetched once, when it first runs.
Knows nothing of gRPC, of the queue or of the prediction's lifecycle."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from vlmgrpc.errors import Code, ServiceError
from vlmgrpc.inference.models import ModelInfo
from vlmgrpc.jobs import validation
from vlmgrpc.jobs.blobs import Blobs
from vlmgrpc.jobs.files import FileStore
from vlmgrpc.jobs.held import BoundedBytes
from vlmgrpc.jobs.model import InputRef, Kind, Prediction
from vlmgrpc.jobs.store_api import JobStore
from vlmgrpc.pipeline import fetch, office, sniff
from vlmgrpc.pipeline.images import check_image
from vlmgrpc.pipeline.libreoffice import OfficeConverter
from vlmgrpc.pipeline.render import Renderer
from vlmgrpc.schemas import PAGE_DOMAINS
from vlmgrpc.settings import Settings

log = logging.getLogger(__name__)


class Intake:
    def __init__(self, settings: Settings, store: JobStore, blobs: Blobs, files: FileStore, renderer: Renderer):
        self.settings, self.store, self.blobs, self.files, self.renderer = settings, store, blobs, files, renderer
        self.office = OfficeConverter(settings.soffice_path, settings.office_timeout_s, settings.office_memory_bytes,
                                      settings.office_workers, settings.office_isolate_network)
        if self.office.available() is None:
            log.warning("LibreOffice (%s) is not installed: Office documents will be refused", settings.soffice_path)
        # Bytes of images just accepted, so the worker need not read back what it was handed.
        self.recent_inputs = BoundedBytes(settings.recent_inputs_bytes)

    @staticmethod
    def check_request_size( sub: validation.Submission, model: ModelInfo, total: int) -> None:
        """A domain answered as one object sends every page in one request: the model must take that many."""
        whole = sub.domain not in PAGE_DOMAINS or bool(sub.config.get("json_schema"))
        if whole and total > model.max_images:
            where = "images" if sub.kind is Kind.IMAGE else "config.page_indices"
            raise ServiceError(Code.INVALID_ARGUMENT, "TOO_MANY_PAGES",
                               f"model {model.id!r} reads at most {model.max_images} images or pages at once and "
                               f"domain {sub.domain!r} is answered as one object; this request has {total} "
                               "(select pages with config.page_indices)",
                               {"max_images": str(model.max_images), "model": model.id}, [(where, "too many")])

    async def accept(self, pred_id: str, sub: validation.Submission,
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

    async def held(self, pred: Prediction, index: int) -> bytes | None:
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

    async def discard(self, prediction_id: str) -> None:
        """The inputs of a prediction that was not made (its request id raced another)."""
        await self.blobs.remove(f"inputs/{prediction_id}")

    def path(self, rel: str) -> Path:
        return self.blobs.path(rel)

    async def read(self, pred: Prediction, index: int) -> bytes:
        """An input's bytes: held in memory or inline in the store, else from its file."""
        ref = pred.inputs[index]
        return await self.held(pred, index) or await self.blobs.read(ref.blob or "")

    async def fetch_document(self, pred: Prediction) -> tuple[InputRef, int]:
        """A URL document: fetched once and kept like uploaded bytes (an Office document as its PDF); the input as
        kept now, and its number of elements."""
        settings, ref = self.settings, pred.inputs[0]
        data = await fetch.fetch(ref.url or "", max_bytes=settings.max_document_bytes,
                                 timeout_s=settings.url_fetch_timeout_s,
                                 allow_private=settings.allow_private_urls, field_path="document.url")
        rel = await self.blobs.write(f"inputs/{pred.id}/0", data)
        total, kept = await self.check_blob(pred.kind, pred.config, rel, sniff.media_type(data), "document.url")
        return ref.model_copy(update={"blob": rel, "media_type": kept.media_type,
                                      "converted_from": kept.converted_from}), total
