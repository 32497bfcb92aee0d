"""Uploaded files (jobs/files.py) with a real Store and Blobs under tmp_path."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from vlmgrpc.errors import Code, ServiceError
from vlmgrpc.jobs import files as files_mod
from vlmgrpc.jobs.blobs import Blobs
from vlmgrpc.jobs.files import FileStore
from vlmgrpc.jobs.store import Store

MAX_BYTES = 16 * 1024 * 1024


@pytest.fixture
async def store(tmp_path):
    s = Store(tmp_path / "jobs.sqlite")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
def blobs(tmp_path) -> Blobs:
    return Blobs(tmp_path / "data")


@pytest.fixture
def fs(store, blobs) -> FileStore:
    return FileStore(store, blobs, max_bytes=MAX_BYTES)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (31, 17), (1, 2, 3)).save(buf, "PNG")
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _leftovers(blobs: Blobs) -> list[str]:
    root = blobs.path("files")
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


async def _upload(fs: FileStore, data: bytes, *, owner: str = "alice", chunk: int = 1000, filename: str = "a.bin",
                  sha256: str | None = None, size: int | None = None, purpose: str = ""):
    up = fs.begin(owner, filename=filename, size=len(data) if size is None else size,
                  sha256=_sha(data) if sha256 is None else sha256, content_type="application/octet-stream",
                  purpose=purpose)
    try:
        for i in range(0, len(data), chunk):
            await up.write(data[i:i + chunk])
        return await up.finish()
    except ServiceError:
        await up.abort()
        raise


def _reason(info: pytest.ExceptionInfo, reason: str, field: str | None = None) -> ServiceError:
    err = info.value
    assert err.code is Code.INVALID_ARGUMENT
    assert err.reason == reason, err
    if field:
        assert [f for f, _ in err.violations] == [field]
    return err


async def _read_all(fs: FileStore, owner: str, file_id: str) -> bytes:
    return b"".join([chunk async for chunk in fs.read(owner, file_id)])


# --- happy path


@pytest.mark.parametrize("chunk", [1, 7, 4096])
async def test_upload_in_chunks(fs, blobs, chunk):
    data = _png()
    record = await _upload(fs, data, chunk=chunk, filename="pixel.png")
    assert record.id.startswith("file-")
    assert record.owner == "alice"
    assert record.filename == "pixel.png"
    assert record.bytes == len(data)
    assert record.sha256 == _sha(data)
    assert record.detected_type == "image/png"  # from the bytes, not the declared content type
    assert record.content_type == "application/octet-stream"
    assert record.purpose == "assistants"  # the default
    assert record.blob == f"files/{record.id}"
    assert blobs.path(record.blob).read_bytes() == data
    assert _leftovers(blobs) == [record.id]  # no .part left behind
    assert await fs.get("alice", record.id) == record
    assert await _read_all(fs, "alice", record.id) == data


async def test_upload_larger_than_a_write_block(fs, blobs):
    data = (bytes(range(256)) * 4096) * 9 + b"tail"  # ~9 MiB: several 4 MiB blocks are flushed mid-upload
    assert len(data) > 2 * files_mod.WRITE_BLOCK
    record = await _upload(fs, data, chunk=1024 * 1024 - 3)
    assert record.sha256 == _sha(data)
    assert record.detected_type == "application/octet-stream"
    assert blobs.path(record.blob).read_bytes() == data
    assert await _read_all(fs, "alice", record.id) == data


async def test_declared_sha256_is_case_insensitive(fs):
    data = b"%PDF-1.7\nnot really"
    record = await _upload(fs, data, sha256=_sha(data).upper(), purpose="vision")
    assert record.sha256 == _sha(data)
    assert record.detected_type == "application/pdf"
    assert record.purpose == "vision"


# --- refused uploads


async def test_checksum_mismatch(fs, blobs):
    data = b"the real bytes"
    with pytest.raises(ServiceError) as info:
        await _upload(fs, data, sha256=_sha(b"other bytes"))
    err = _reason(info, "CHECKSUM_MISMATCH", "metadata.sha256")
    assert err.metadata == {"actual": _sha(data)}
    assert _leftovers(blobs) == []
    assert await fs.store.list_files("alice", None, 10) == []


async def test_too_many_bytes(fs, blobs):
    data = b"0123456789ABC"
    with pytest.raises(ServiceError) as info:
        await _upload(fs, data, size=10, chunk=4)
    _reason(info, "SIZE_MISMATCH", "metadata.size_bytes")
    assert _leftovers(blobs) == []
    assert await fs.store.list_files("alice", None, 10) == []


async def test_too_many_bytes_is_refused_as_they_arrive(fs, blobs):
    up = fs.begin("alice", filename="a", size=4, sha256=_sha(b"abcd"), content_type="", purpose="")
    await up.write(b"abcd")
    with pytest.raises(ServiceError) as info:
        await up.write(b"e")
    _reason(info, "SIZE_MISMATCH")
    assert up.path.exists() and up.path.name.endswith(".part")
    await up.abort()
    assert not up.path.exists()
    assert _leftovers(blobs) == []


async def test_too_few_bytes(fs, blobs):
    data = b"01234"
    with pytest.raises(ServiceError) as info:
        await _upload(fs, data, size=10, sha256=_sha(data))
    err = _reason(info, "SIZE_MISMATCH", "metadata.size_bytes")
    assert err.metadata == {"received": "5"}
    assert _leftovers(blobs) == []


async def test_upload_too_large(fs, blobs):
    with pytest.raises(ServiceError) as info:
        fs.begin("alice", filename="big", size=MAX_BYTES + 1, sha256=_sha(b""), content_type="", purpose="")
    err = _reason(info, "UPLOAD_TOO_LARGE", "metadata.size_bytes")
    assert err.metadata == {"max_bytes": str(MAX_BYTES)}
    assert _leftovers(blobs) == []  # refused before anything was opened


async def test_exactly_max_bytes_is_accepted(store, blobs):
    fs = FileStore(store, blobs, max_bytes=64)
    data = b"x" * 64
    assert (await _upload(fs, data)).bytes == 64


@pytest.mark.parametrize("sha", ["", "xyz", "a" * 63, "a" * 65, "g" * 64, " " + "a" * 63])
async def test_invalid_sha256(fs, blobs, sha):
    with pytest.raises(ServiceError) as info:
        fs.begin("alice", filename="a", size=3, sha256=sha, content_type="", purpose="")
    _reason(info, "INVALID_SHA256", "metadata.sha256")
    assert _leftovers(blobs) == []


@pytest.mark.parametrize("size", [0, -1])
async def test_invalid_size(fs, size):
    with pytest.raises(ServiceError) as info:
        fs.begin("alice", filename="a", size=size, sha256=_sha(b""), content_type="", purpose="")
    _reason(info, "INVALID_SIZE", "metadata.size_bytes")


@pytest.mark.parametrize("filename", ["", "a" * 256, "bad\x00name"])
async def test_invalid_filename(fs, filename):
    with pytest.raises(ServiceError) as info:
        fs.begin("alice", filename=filename, size=1, sha256=_sha(b"x"), content_type="", purpose="")
    _reason(info, "INVALID_FILENAME", "metadata.filename")


async def test_invalid_purpose(fs):
    with pytest.raises(ServiceError) as info:
        fs.begin("alice", filename="a", size=1, sha256=_sha(b"x"), content_type="", purpose="training")
    _reason(info, "INVALID_PURPOSE", "metadata.purpose")


async def test_abort_leaves_no_part_file(fs, blobs):
    up = fs.begin("alice", filename="a", size=100, sha256=_sha(b"x" * 100), content_type="", purpose="")
    await up.write(b"x" * 50)
    assert _leftovers(blobs) == [f"{up.id}.part"]
    await up.abort()
    assert _leftovers(blobs) == []
    assert await fs.store.list_files("alice", None, 10) == []


# --- ownership, listing, deletion


async def test_get_by_another_owner_is_not_found(fs):
    record = await _upload(fs, b"alice's bytes")
    for owner, ident in (("bob", record.id), ("alice", "file-doesnotexist")):
        with pytest.raises(ServiceError) as info:
            await fs.get(owner, ident)
        assert info.value.code is Code.NOT_FOUND
        assert info.value.reason == "FILE_NOT_FOUND"
        assert info.value.metadata == {"id": ident}
    with pytest.raises(ServiceError) as info:
        await _read_all(fs, "bob", record.id)
    assert info.value.code is Code.NOT_FOUND


async def test_delete(fs, blobs):
    record = await _upload(fs, b"to be deleted")
    with pytest.raises(ServiceError) as info:
        await fs.delete("bob", record.id)
    assert info.value.code is Code.NOT_FOUND
    assert blobs.path(record.blob).exists()  # bob's attempt changed nothing
    await fs.delete("alice", record.id)
    assert not blobs.path(record.blob).exists()
    with pytest.raises(ServiceError) as info:
        await fs.get("alice", record.id)
    assert info.value.code is Code.NOT_FOUND
    with pytest.raises(ServiceError):
        await fs.delete("alice", record.id)


async def test_list_pages_newest_first(fs):
    ids = [(await _upload(fs, f"file number {i}".encode())).id for i in range(23)]
    await _upload(fs, b"bob's", owner="bob")
    seen, token, pages = [], "", 0
    while True:
        records, token = await fs.list("alice", 10, token)
        pages += 1
        assert len(records) <= 10
        seen += [r.id for r in records]
        if not token:
            break
    assert seen == list(reversed(ids))
    assert pages == 3
    records, token = await fs.list("alice", 0, "")  # default page size
    assert len(records) == 23 and token == ""
    bob, _ = await fs.list("bob", 10, "")
    assert len(bob) == 1 and bob[0].owner == "bob"


async def test_list_refuses_a_prediction_listing_token(fs):
    from vlmgrpc.jobs import paging
    from vlmgrpc.jobs.records import Cursor

    token = paging.encode(Cursor("2025-01-01T00:00:00+00:00", "pred-1"), "|")
    with pytest.raises(ServiceError) as info:
        await fs.list("alice", 10, token)
    assert info.value.reason == "INVALID_PAGE_TOKEN"
    with pytest.raises(ServiceError) as info:
        await fs.list("alice", -1, "")
    assert info.value.reason == "INVALID_PAGE_SIZE"


async def test_records_survive_a_restart(tmp_path, blobs):
    s = Store(tmp_path / "restart.sqlite")
    await s.open()
    record = await _upload(FileStore(s, blobs, MAX_BYTES), _png())
    await s.close()
    s2 = Store(tmp_path / "restart.sqlite")
    await s2.open()
    try:
        fs2 = FileStore(s2, blobs, MAX_BYTES)
        assert await fs2.get("alice", record.id) == record
        assert await _read_all(fs2, "alice", record.id) == _png()
    finally:
        await s2.close()
