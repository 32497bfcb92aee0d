"""What a caller may pass as an image or a document, turned into ImageInput / DocumentInput, and files
streamed to FileService.UploadFile (SHA-256 first, in the metadata message, then chunks as they are read)."""

from __future__ import annotations

import hashlib
import io
import mimetypes
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from vlmgrpc_client.api.vlm.v1 import file_service_pb2 as files_pb
from vlmgrpc_client.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc_client.errors import InputError

CHUNK = 1024 * 1024  # what FileService suggests (up to 1 MiB a message)
URL_SCHEMES = ("http://", "https://", "data:")
FILE_ID_PREFIX = "file-"  # the server's file ids

# A PIL.Image.Image, a path, encoded bytes, an http(s)/data: URL, or an uploaded file's id.
ImageLike = Union["PIL.Image.Image", Path, str, bytes]  # noqa: F821, UP007 - PIL is optional: a string
DocumentLike = Path | str | bytes
Progress = Callable[[int, int], None]  # (bytes sent, total bytes)


def _is_pil(value: Any) -> bool:
    # Checked by module name so that PIL is imported only by callers that pass PIL images.
    return type(value).__module__.startswith("PIL.") and hasattr(value, "save")


def _pil_png(image: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")  # lossless: OCR reads small print better than from a JPEG
    return out.getvalue()


def classify(value: Any) -> tuple[str, Any]:
    """("data", bytes) | ("url", str) | ("file_id", str) | ("path", Path) for an image or document."""
    if _is_pil(value):
        return "data", _pil_png(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "data", bytes(value)
    if isinstance(value, os.PathLike):
        return "path", _existing(Path(value))
    if isinstance(value, str):
        if value.startswith(URL_SCHEMES):
            return "url", value
        if value.startswith(FILE_ID_PREFIX) and not Path(value).exists():
            return "file_id", value
        return "path", _existing(Path(value))
    raise InputError(f"cannot send a {type(value).__name__}: pass a path, bytes, a URL, a file id or a "
                     "PIL image", reason="UNSUPPORTED_INPUT")


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise InputError(f"no such file: {path}", reason="FILE_NOT_FOUND")
    return path


def image_input(value: Any) -> pb.ImageInput:
    kind, payload = classify(value)
    if kind == "path":
        return pb.ImageInput(data=payload.read_bytes())
    return pb.ImageInput(**{kind: payload})


@dataclass
class Upload:
    """A file to stream to UploadFile: its bytes come from `path` (read lazily, twice: once to hash) or
    `data`."""

    filename: str
    size: int
    sha256: str
    content_type: str
    path: Path | None = None
    data: bytes | None = None

    @classmethod
    def of(cls, source: Path | str | bytes, filename: str | None = None, content_type: str | None = None,
           chunk_size: int = CHUNK) -> Upload:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            name = filename or "upload.bin"
            return cls(name, len(data), hashlib.sha256(data).hexdigest(), content_type or _guess(name), data=data)
        path = _existing(Path(source))
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while block := fh.read(chunk_size):
                digest.update(block)
        name = filename or path.name
        return cls(name, path.stat().st_size, digest.hexdigest(), content_type or _guess(name), path=path)

    def messages(self, chunk_size: int = CHUNK, purpose: str = "",
                 progress: Progress | None = None) -> Iterator[files_pb.UploadFileRequest]:
        """The metadata (size and SHA-256 first), then the chunks; `progress` hears of each chunk as it goes."""
        yield files_pb.UploadFileRequest(metadata=files_pb.UploadFileMetadata(
            filename=self.filename, size_bytes=self.size, sha256=self.sha256, content_type=self.content_type,
            purpose=purpose))
        sent = 0
        if progress:
            progress(0, self.size)
        for chunk in self._chunks(chunk_size):
            yield files_pb.UploadFileRequest(chunk=chunk)
            sent += len(chunk)
            if progress:
                progress(sent, self.size)

    def _chunks(self, chunk_size: int) -> Iterator[bytes]:
        if self.data is not None:
            view = memoryview(self.data)
            for start in range(0, len(self.data), chunk_size):
                yield bytes(view[start:start + chunk_size])
            return
        assert self.path is not None
        with self.path.open("rb") as fh:
            while block := fh.read(chunk_size):
                yield block


def _guess(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
