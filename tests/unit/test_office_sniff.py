"""Office documents told apart from their bytes (pipeline/office.py, pipeline/cfb.py, pipeline/sniff.py), on real
files: written by python-docx/pptx/openpyxl, saved by LibreOffice in the legacy and OpenDocument formats,
encrypted by msoffcrypto-tool; and on damaged and hostile ones."""

from __future__ import annotations

import io
import random
import struct
import time
import zipfile

import olefile
import pytest

from tests import office_samples as samples
from vlmgrpc.errors import Code, ServiceError
from vlmgrpc.pipeline import cfb, office, sniff

OOXML = {"docx": (samples.word(["Hello"]), office.DOCX), "pptx": (samples.slides(["One", "Two"]), office.PPTX),
         "xlsx": (samples.sheet([["a", 1]]), office.XLSX)}
OTHERS = {"doc": office.DOC, "xls": office.XLS, "ppt": office.PPT, "odt": office.ODT, "ods": office.ODS,
          "odp": office.ODP}


@pytest.fixture(scope="module")
def made_by_libreoffice() -> dict[str, bytes]:
    return samples.legacy_and_opendocument()


def found(data: bytes) -> office.Found | None:
    return office.inspect(io.BytesIO(data))


def refusal(data: bytes) -> ServiceError:
    result = found(data)
    assert result is not None
    with pytest.raises(ServiceError) as err:
        office.refuse(result, "document.data")
    assert err.value.code is Code.INVALID_ARGUMENT and err.value.violations[0][0] == "document.data"
    return err.value


@pytest.mark.parametrize("ext", OOXML)
def test_ooxml_by_its_main_part(ext):
    data, media = OOXML[ext]
    assert sniff.media_type(data) == media
    assert found(data) == office.Found(media, ext)
    office.refuse(found(data), "document.data")  # convertible: nothing raised


@pytest.mark.parametrize("ext", OTHERS)
def test_legacy_and_opendocument_files_saved_by_libreoffice(made_by_libreoffice, ext):
    data = made_by_libreoffice[ext]
    assert sniff.media_type(data) == OTHERS[ext]
    assert found(data) == office.Found(OTHERS[ext], ext)


def test_every_office_type_has_its_extension():
    assert set(office.EXTENSIONS.values()) == {"doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp"}
    assert sniff.OFFICE_TYPES == office.TYPES and not set(office.TYPES) & set(sniff.IMAGE_TYPES)


@pytest.mark.parametrize("ext", ["doc", "xls", "ppt"])
def test_compound_file_reader_agrees_with_olefile(made_by_libreoffice, ext):
    data = made_by_libreoffice[ext]
    ours, theirs = cfb.CompoundFile(io.BytesIO(data)), olefile.OleFileIO(data)
    for path in theirs.listdir():  # big streams (sectors) and small ones (the mini stream) alike
        assert ours.read(path[-1], 1 << 24) == theirs.openstream(path).read(), path
    assert ours.streams() >= {p[-1] for p in theirs.listdir()}


def test_the_first_bytes_alone_say_only_the_container():
    """An upload is sniffed from its first 16 bytes: the whole file is inspected when it is used."""
    docx_head = OOXML["docx"][0][:16]
    assert sniff.media_type(docx_head) == "application/octet-stream"
    assert sniff.media_type(cfb.MAGIC + b"\0" * 8) == office.OLE2


def test_encrypted_ooxml_is_refused_as_encrypted():
    for data, _ in OOXML.values():
        locked = samples.encrypted(data)
        assert locked.startswith(cfb.MAGIC)
        assert found(locked) == office.Found(office.OLE2, encrypted=True)
        assert refusal(locked).reason == "OFFICE_ENCRYPTED"


def _patch_stream(data: bytes, stream: str, offset: int, new: bytes) -> bytes:
    """`data` with `new` written at `offset` of a stream (within its first 64 bytes, which are contiguous)."""
    head = olefile.OleFileIO(data).openstream(stream).read(64)
    at = data.find(head)
    assert at > 0 and data.find(head, at + 1) < 0
    return data[:at + offset] + new + data[at + offset + len(new):]


def test_password_flags_of_legacy_formats(made_by_libreoffice):
    doc, xls, ppt = (made_by_libreoffice[k] for k in ("doc", "xls", "ppt"))
    flags = struct.unpack_from("<H", olefile.OleFileIO(doc).openstream("WordDocument").read(12), 10)[0]
    cases = {
        "doc": _patch_stream(doc, "WordDocument", 10, struct.pack("<H", flags | 0x0100)),  # FIB fEncrypted
        "xls": _patch_stream(xls, "Workbook", 20, struct.pack("<H", 0x002F)),  # a FilePass record after BOF
        "ppt": _patch_stream(ppt, "Current User", 12, struct.pack("<I", 0xF3D1C4DF)),  # encrypted headerToken
    }
    for ext, data in cases.items():
        assert found(data) == office.Found(OTHERS[ext], ext, encrypted=True), ext
        assert refusal(data).reason == "OFFICE_ENCRYPTED"


@pytest.mark.parametrize("ext", OOXML)
def test_a_truncated_package_is_invalid_not_unknown(ext):
    data, media = OOXML[ext]
    cut = data[: len(data) // 2]
    result = found(cut)
    assert result is not None and result.media == media and "cut short" in result.problem
    error = refusal(cut)
    assert error.reason == "INVALID_OFFICE_DOCUMENT" and "ZIP" in error.message


def test_random_bytes_after_a_compound_file_header_are_invalid():
    data = cfb.MAGIC + random.Random(7).randbytes(4096)
    assert sniff.media_type(data) == office.OLE2
    assert refusal(data).reason == "INVALID_OFFICE_DOCUMENT"


def test_a_compound_file_of_another_application_is_unsupported(made_by_libreoffice):
    data = made_by_libreoffice["doc"].replace("WordDocument".encode("utf-16-le"), "OtherStreamX".encode("utf-16-le"))
    assert found(data) == office.Found(office.OLE2)
    assert refusal(data).reason == "UNSUPPORTED_MEDIA_TYPE"


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, content in entries.items():
            z.writestr(name, content)
    return out.getvalue()


@pytest.mark.parametrize("entries", [
    {"readme.txt": b"hello"},
    {"[Content_Types].xml": b"<Types/>", "visio/document.xml": b"<x/>"},  # Visio, not a document we convert
    {"mimetype": b"application/epub+zip", "content.opf": b"<x/>"},
], ids=["plain", "visio", "epub"])
def test_other_zips_are_not_office(entries):
    assert found(_zip(entries)) is None
    assert sniff.media_type(_zip(entries)) == "application/octet-stream"


def test_opendocument_needs_its_mimetype_first():
    data = _zip({"mimetype": office.ODT.encode(), "content.xml": b"<x/>"})
    assert found(data) == office.Found(office.ODT, "odt")
    assert found(_zip({"content.xml": b"<x/>", "mimetype": office.ODT.encode()})) is None


def test_a_zip_listing_too_many_entries_is_refused_before_parsing(monkeypatch):
    monkeypatch.setattr(office, "MAX_ZIP_ENTRIES", 3)
    data = _zip({"[Content_Types].xml": b"", **{f"word/{i}.xml": b"" for i in range(5)}})
    assert "entries" in found(data).problem


def test_a_looping_sector_chain_is_damage_not_a_hang(made_by_libreoffice):
    data = bytearray(made_by_libreoffice["doc"])
    first_fat = struct.unpack_from("<I", data, 76)[0]
    first_dir = struct.unpack_from("<I", data, 48)[0]
    fat_at = (first_fat + 1) * 512 + first_dir * 4
    struct.pack_into("<I", data, fat_at, first_dir)  # the directory's next sector is itself
    result = found(bytes(data))
    assert result is not None and "loops" in result.problem


def test_mutated_files_never_raise_nor_hang(made_by_libreoffice):
    """Hostile bytes: whatever is flipped, inspection answers (a type or damage) quickly, never an exception."""
    rng = random.Random(1234)
    for source in (made_by_libreoffice["doc"], made_by_libreoffice["xls"], OOXML["docx"][0]):
        for _ in range(150):
            data = bytearray(source)
            for _ in range(rng.randint(1, 12)):
                at = rng.randrange(0, min(len(data), 4096) if rng.random() < 0.7 else len(data))
                data[at] = rng.randrange(256)
            started = time.monotonic()
            result = found(bytes(data[: rng.randint(8, len(data))] if rng.random() < 0.2 else data))
            assert result is None or isinstance(result, office.Found)
            assert time.monotonic() - started < 0.5
