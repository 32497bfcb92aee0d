"""Uploaded files: streamed to disk while hashed, checked against the declared size and SHA-256,
then recorded. Bytes live in Blobs (files/<id>), records in the Store."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import BinaryIO

from pydantic import BaseModel

from vlmgrpc.errors import invalid, not_found
from vlmgrpc.jobs import paging
from vlmgrpc.jobs.blobs import Blobs
from vlmgrpc.jobs.model import utcnow
from vlmgrpc.jobs.records import Cursor
from vlmgrpc.jobs.store_api import JobStore
from vlmgrpc.pipeline import sniff

PURPOSES = ("assistants", "assistants_output", "fine-tune", "batch", "batch_output", "vision", "datasets")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# Small chunks are gathered into blocks: one thread hop per block, not per chunk. 1 MiB, not more: held
# blocks of 4 MiB made glibc hand memory back and fault it in again, which cost more than the hops.
WRITE_BLOCK = 1024 * 1024
IN_FLIGHT_BLOCKS = 2  # blocks hashed/written while more arrive: bounds an upload's memory to ~3 blocks
# One hashing and one writing thread for all uploads: each upload's blocks stay in order.
_HASHER = ThreadPoolExecutor(1, thread_name_prefix="upload-hash")
_WRITER = ThreadPoolExecutor(1, thread_name_prefix="upload-write")
DOWNLOAD_CHUNK = 1024 * 1024


class FileRecord(BaseModel):
    id: str
    owner: str
    filename: str
    bytes: int
    created_at: datetime
    purpose: str
    content_type: str
    sha256: str
    detected_type: str
    blob: str


class Upload:
    """One upload in progress. Call write() for each chunk, then finish(); abort() on any error."""

    def __init__(self, files: FileStore, owner: str, filename: str, size: int, sha256: str,
                 content_type: str, purpose: str):
        self.files, self.owner = files, owner
        self.filename, self.size, self.sha256 = filename, size, sha256
        self.content_type, self.purpose = content_type, purpose
        self.id = "file-" + uuid.uuid4().hex
        self.blob = f"files/{self.id}"
        self.path = files.blobs.path(self.blob + ".part")
        self._fh: BinaryIO | None = None  # opened by the writing thread at the first chunk (no I/O on the loop)
        self._hash = hashlib.sha256()
        self._pending: list[bytes | memoryview] = []
        self._pending_bytes = 0
        self._in_flight: deque[asyncio.Future] = deque()
        self.received = 0
        self.head = b""

    def _hash_blocks(self, blocks: list[bytes | memoryview]) -> None:
        for block in blocks:
            self._hash.update(block)  # releases the GIL

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "wb")  # noqa: SIM115 - closed in finish/abort

    def _write_blocks(self, blocks: list[bytes | memoryview]) -> None:
        assert self._fh is not None
        self._fh.writelines(blocks)

    def _close(self) -> None:
        if self._fh is not None:
            self._fh.close()

    async def _flush(self, wait_all: bool = False) -> None:
        """Hand the gathered chunks to the hashing and the writing thread, which run side by side and
        alongside the receiving; wait only when more than IN_FLIGHT_BLOCKS are still being worked on."""
        blocks, self._pending, self._pending_bytes = self._pending, [], 0
        loop = asyncio.get_running_loop()
        if blocks:
            self._in_flight.append(asyncio.gather(loop.run_in_executor(_HASHER, self._hash_blocks, blocks),
                                                  loop.run_in_executor(_WRITER, self._write_blocks, blocks)))
        while self._in_flight and (wait_all or len(self._in_flight) > IN_FLIGHT_BLOCKS):
            await self._in_flight.popleft()

    async def write(self, chunk: bytes | memoryview) -> None:
        if self._fh is None:
            await asyncio.get_running_loop().run_in_executor(_WRITER, self._open)
        self.received += len(chunk)
        if self.received > self.size:
            raise invalid("SIZE_MISMATCH", f"more bytes arrived than the declared size_bytes {self.size}",
                          "metadata.size_bytes")
        if len(self.head) < 16:
            self.head += chunk[:16]
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        if self._pending_bytes >= WRITE_BLOCK:
            await self._flush()

    async def finish(self) -> FileRecord:
        await self._flush(wait_all=True)
        if self.received != self.size:
            raise invalid("SIZE_MISMATCH", f"{self.received} bytes arrived; size_bytes declared {self.size}",
                          "metadata.size_bytes", received=str(self.received))
        digest = self._hash.hexdigest()
        if digest != self.sha256:
            raise invalid("CHECKSUM_MISMATCH", f"the bytes hash to {digest}, not the declared sha256",
                          "metadata.sha256", actual=digest)

        def _commit() -> None:  # no fsync: see Blobs
            self._close()
            os.replace(self.path, self.files.blobs.path(self.blob))

        await asyncio.to_thread(_commit)
        record = FileRecord(id=self.id, owner=self.owner, filename=self.filename, bytes=self.size,
                            created_at=utcnow(), purpose=self.purpose, content_type=self.content_type,
                            sha256=digest, detected_type=sniff.media_type(self.head), blob=self.blob)
        await self.files.store.put_file(record.id, record.owner, record.created_at.isoformat(),
                                        record.model_dump_json())
        return record

    async def abort(self) -> None:
        await asyncio.gather(*self._in_flight, return_exceptions=True)

        def _abort() -> None:
            self._close()
            self.path.unlink(missing_ok=True)

        await asyncio.to_thread(_abort)


class FileStore:
    def __init__(self, store: JobStore, blobs: Blobs, max_bytes: int):
        self.store, self.blobs, self.max_bytes = store, blobs, max_bytes

    def begin(self, owner: str, *, filename: str, size: int, sha256: str, content_type: str,
              purpose: str) -> Upload:
        if not filename or len(filename) > 255 or "\x00" in filename:
            raise invalid("INVALID_FILENAME", "filename must be 1 to 255 characters without NUL",
                          "metadata.filename")
        if size <= 0:
            raise invalid("INVALID_SIZE", "size_bytes must be positive", "metadata.size_bytes")
        if size > self.max_bytes:
            raise invalid("UPLOAD_TOO_LARGE", f"size_bytes {size} is over the limit of {self.max_bytes} bytes",
                          "metadata.size_bytes", max_bytes=str(self.max_bytes))
        sha256 = sha256.lower()
        if not SHA256_RE.match(sha256):
            raise invalid("INVALID_SHA256", "sha256 must be 64 hex digits", "metadata.sha256")
        purpose = purpose or "assistants"
        if purpose not in PURPOSES:
            raise invalid("INVALID_PURPOSE", "purpose must be one of " + ", ".join(PURPOSES), "metadata.purpose")
        return Upload(self, owner, filename, size, sha256, content_type, purpose)

    async def get(self, owner: str, file_id: str) -> FileRecord:
        row = await self.store.get_file(file_id)
        if row is None or row[0] != owner:
            raise not_found("file", file_id)
        return FileRecord.model_validate_json(row[1])

    async def list(self, owner: str, page_size: int, page_token: str) -> tuple[list[FileRecord], str]:
        size = paging.page_size(page_size)
        after = paging.decode(page_token, "files")
        rows = await self.store.list_files(owner, after, size + 1)
        records = await asyncio.to_thread(lambda: [FileRecord.model_validate_json(r) for r in rows])
        token = ""
        if len(records) > size:
            records = records[:size]
            token = paging.encode(Cursor(records[-1].created_at.isoformat(), records[-1].id), "files")
        return records, token

    async def delete(self, owner: str, file_id: str) -> None:
        record = await self.get(owner, file_id)
        await self.store.delete_file(file_id)
        await self.blobs.remove(record.blob)  # predictions keep their own link to the bytes

    async def read(self, owner: str, file_id: str) -> AsyncIterator[bytes]:
        record = await self.get(owner, file_id)
        fh = await asyncio.to_thread(open, self.blobs.path(record.blob), "rb")
        try:
            while chunk := await asyncio.to_thread(fh.read, DOWNLOAD_CHUNK):
                yield chunk
        finally:
            fh.close()
