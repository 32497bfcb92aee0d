"""Uploads over HTTP (multipart POST /v1/files and the presigned PUT), into the same FileStore as gRPC.

The FileStore checks a declared size and SHA-256, which an HTTP upload does not send: the body is first
spooled to a file under the data directory while its size, SHA-256 and MD5 are computed (off the event loop),
then handed to the FileStore as a gRPC upload would be. The MD5 is what the SDK's de-duplication asks for
(GET /v1/files/hash/{md5}); this layer keeps an index of it under data_dir/rest/md5 (one small file per
uploaded file, per tenant), checked against the FileStore on every read (a deleted file is not found).
Presigned uploads are a pending record under data_dir/rest/presigned plus an HMAC-signed, expiring URL."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import mimetypes
import os
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from vlmgrpc.errors import Code, ServiceError, failed_precondition, invalid, not_found
from vlmgrpc.jobs.files import PURPOSES, FileRecord, FileStore

CHUNK = 1024 * 1024
MD5_RE = re.compile(r"^[0-9a-f]{32}$")
UPLOAD_ID_RE = re.compile(r"^upload-[0-9a-f]{32}$")
FILE_ID_RE = re.compile(r"^file-[0-9a-f]{32}$")


@dataclass
class Spooled:
    path: Path
    size: int
    sha256: str
    md5: str


def _owner_dir(owner: str) -> str:
    return hashlib.sha256(owner.encode()).hexdigest()[:32]  # tenant names are not paths


class Uploads:
    def __init__(self, files: FileStore, data_dir: Path, max_bytes: int):
        self.files, self.max_bytes = files, max_bytes
        self.root = data_dir / "rest"
        self._key: bytes | None = None

    async def open(self) -> None:
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        for sub in ("spool", "md5", "ids", "presigned"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for leftover in (self.root / "spool").iterdir():  # a crash mid-upload: nothing refers to it
            leftover.unlink(missing_ok=True)
        key = self.root / "presign.key"
        if not key.exists():
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(32))
        self._key = key.read_bytes()

    # --- the bytes

    async def spool(self, chunks: AsyncIterator[bytes]) -> Spooled:
        """Write the chunks to a spool file, hashing them; refuse more than max_bytes."""
        path = self.root / "spool" / uuid.uuid4().hex
        sha, md5 = hashlib.sha256(), hashlib.md5()  # noqa: S324 - md5 is the SDK's de-duplication key
        fh = await asyncio.to_thread(open, path, "wb")
        size = 0

        def take(block: bytes) -> None:
            fh.write(block)
            sha.update(block)
            md5.update(block)

        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > self.max_bytes:
                    raise invalid("UPLOAD_TOO_LARGE", f"the file is over the limit of {self.max_bytes} bytes",
                                  "file", max_bytes=str(self.max_bytes))
                await asyncio.to_thread(take, chunk)
        except BaseException:
            await asyncio.to_thread(fh.close)
            path.unlink(missing_ok=True)
            raise
        await asyncio.to_thread(fh.close)
        return Spooled(path, size, sha.hexdigest(), md5.hexdigest())

    async def store(self, owner: str, spooled: Spooled, filename: str, content_type: str,
                    purpose: str) -> FileRecord:
        """The spooled bytes as a file of the FileStore (what gRPC's UploadFile makes), indexed by MD5."""
        try:
            if spooled.size == 0:
                raise invalid("EMPTY_FILE", "the file is empty", "file")
            upload = self.files.begin(owner, filename=filename, size=spooled.size, sha256=spooled.sha256,
                                      content_type=content_type, purpose=purpose)
            try:
                fh = await asyncio.to_thread(open, spooled.path, "rb")
                try:
                    while block := await asyncio.to_thread(fh.read, CHUNK):
                        await upload.write(block)
                finally:
                    fh.close()
                record = await upload.finish()
            except BaseException:
                await upload.abort()
                raise
        finally:
            spooled.path.unlink(missing_ok=True)
        await asyncio.to_thread(self._index, owner, spooled.md5, record.id)
        return record

    # --- de-duplication by MD5

    def _md5_path(self, owner: str, md5: str) -> Path:
        return self.root / "md5" / _owner_dir(owner) / md5

    def _id_path(self, owner: str, file_id: str) -> Path | None:
        return self.root / "ids" / _owner_dir(owner) / file_id if FILE_ID_RE.match(file_id) else None

    def _index(self, owner: str, md5: str, file_id: str) -> None:
        for path, value in ((self._md5_path(owner, md5), file_id), (self._id_path(owner, file_id), md5)):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(value)

    async def by_md5(self, owner: str, md5: str) -> tuple[FileRecord, str]:
        md5 = md5.lower()
        if not MD5_RE.match(md5):
            raise invalid("INVALID_MD5", "the hash must be 32 hex digits (an MD5)", "md5")
        path = self._md5_path(owner, md5)
        file_id = await asyncio.to_thread(lambda: path.read_text() if path.is_file() else "")
        if not file_id:
            raise not_found("file", md5)
        try:
            return await self.files.get(owner, file_id), md5
        except ServiceError:
            await asyncio.to_thread(path.unlink, True)  # deleted since: forget it
            raise not_found("file", md5) from None

    async def md5_of(self, owner: str, file_id: str) -> str | None:
        """The MD5 a REST upload recorded for a file (None for files uploaded over gRPC)."""
        path = self._id_path(owner, file_id)
        if path is None:
            return None
        return await asyncio.to_thread(lambda: path.read_text() if path.is_file() else None)

    async def forget(self, owner: str, file_id: str, md5: str | None) -> None:
        """A deleted file leaves the index."""
        paths = [self._id_path(owner, file_id), self._md5_path(owner, md5) if md5 else None]
        await asyncio.to_thread(lambda: [p.unlink(missing_ok=True) for p in paths if p is not None])

    # --- presigned uploads

    def _signature(self, upload_id: str, expires: int) -> str:
        assert self._key is not None
        return hmac.new(self._key, f"{upload_id}|{expires}".encode(), hashlib.sha256).hexdigest()

    async def presign(self, owner: str, filename: str, purpose: str, expiration_s: int) -> dict:
        if not filename or len(filename) > 255 or "\x00" in filename:
            raise invalid("INVALID_FILENAME", "filename must be 1 to 255 characters without NUL", "filename")
        if purpose not in PURPOSES:
            raise invalid("INVALID_PURPOSE", "purpose must be one of " + ", ".join(PURPOSES), "purpose")
        upload_id = "upload-" + uuid.uuid4().hex
        expires = int(time.time()) + expiration_s
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        pending = {"owner": owner, "filename": filename, "purpose": purpose, "content_type": content_type,
                   "expires": expires, "file_id": None}
        await asyncio.to_thread((self.root / "presigned" / upload_id).write_text, json.dumps(pending))
        return {"id": upload_id, "expires": expires, "signature": self._signature(upload_id, expires),
                "content_type": content_type}

    async def _pending(self, upload_id: str) -> dict:
        path = self.root / "presigned" / upload_id
        if not UPLOAD_ID_RE.match(upload_id):
            raise not_found("upload", upload_id)
        text = await asyncio.to_thread(lambda: path.read_text() if path.is_file() else "")
        if not text:
            raise not_found("upload", upload_id)
        return json.loads(text)

    async def receive_presigned(self, upload_id: str, expires: str, signature: str,
                                chunks: AsyncIterator[bytes]) -> FileRecord:
        """The PUT of a presigned URL: no bearer token, the URL's signature and expiry instead."""
        if not UPLOAD_ID_RE.match(upload_id) or not expires.isdigit() or not hmac.compare_digest(
                self._signature(upload_id, int(expires)), signature):
            raise ServiceError(Code.PERMISSION_DENIED, "INVALID_SIGNATURE",
                               "the upload URL's signature is not valid")
        if int(expires) < time.time():
            raise failed_precondition("UPLOAD_URL_EXPIRED", "the upload URL has expired; ask for a new one")
        pending = await self._pending(upload_id)
        if pending["file_id"]:
            raise failed_precondition("ALREADY_UPLOADED", "this upload URL was used already")
        spooled = await self.spool(chunks)
        record = await self.store(pending["owner"], spooled, pending["filename"], pending["content_type"],
                                  pending["purpose"])
        pending["file_id"] = record.id
        await asyncio.to_thread((self.root / "presigned" / upload_id).write_text, json.dumps(pending))
        return record

    async def verify(self, owner: str, upload_id: str) -> FileRecord:
        pending = await self._pending(upload_id)
        if pending["owner"] != owner:
            raise not_found("upload", upload_id)
        if not pending["file_id"]:
            raise failed_precondition("UPLOAD_INCOMPLETE", "nothing was PUT to the upload URL yet")
        return await self.files.get(owner, pending["file_id"])
