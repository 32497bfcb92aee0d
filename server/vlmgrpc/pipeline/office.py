"""Office documents (Word, Excel, PowerPoint, OpenDocument): told apart from their bytes, then converted to
PDF by LibreOffice when accepted, so the PDF page pipeline reads them (a slide or a printed sheet is a page).

Detection reads the container only (the ZIP directory, the compound file's stream names and a few bytes), never
the document, and says whether the file is password-protected: LibreOffice headless just fails on those."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vlmgrpc.errors import invalid
from vlmgrpc.pipeline import cfb

DOC, XLS, PPT = "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"
_OOXML = "application/vnd.openxmlformats-officedocument."
DOCX = _OOXML + "wordprocessingml.document"
XLSX = _OOXML + "spreadsheetml.sheet"
PPTX = _OOXML + "presentationml.presentation"
ODT, ODS, ODP = (f"application/vnd.oasis.opendocument.{k}" for k in ("text", "spreadsheet", "presentation"))
# Containers LibreOffice is not handed: a compound file that is unreadable, encrypted or another application's,
# and an Office ZIP package cut short before its main part shows.
OLE2, ZIP = "application/x-ole-storage", "application/zip"

EXTENSIONS = {DOC: "doc", XLS: "xls", PPT: "ppt", DOCX: "docx", XLSX: "xlsx", PPTX: "pptx",
              ODT: "odt", ODS: "ods", ODP: "odp"}
TYPES = tuple(EXTENSIONS)
NAMES = ", ".join(EXTENSIONS.values())  # for messages that say what is accepted
ZIP_MAGIC = b"PK\x03\x04"
MAX_ZIP_ENTRIES = 20_000  # a real package has tens to thousands; more would only cost the server memory
QUICK_ENTRIES = 256  # names sniffing reads: main parts come early; conversion inspects the whole directory
_MAIN_PARTS = (("word/", DOCX), ("xl/", XLSX), ("ppt/", PPTX))


@dataclass(frozen=True)
class Found:
    media: str  # what sniffing reports
    ext: str = ""  # the extension LibreOffice is handed; "" when the file must not be converted
    problem: str = ""  # why the container cannot be read, "" when it can
    encrypted: bool = False


def inspect(f: BinaryIO, thorough: bool = True) -> Found | None:
    """What Office container `f` (seekable) holds; None when it is none (not a compound file nor an Office ZIP).
    Not thorough: the type only, from a bounded part of the directory (cheap enough for the event loop); neither
    password flags nor the ZIP's integrity are checked."""
    f.seek(0)
    head = f.read(8)
    if head == cfb.MAGIC:
        return _compound(f, thorough)
    if head[:4] == ZIP_MAGIC:
        return _package(f, thorough)
    return None


def inspect_path(path: Path) -> Found | None:
    with open(path, "rb") as f:
        return inspect(f)


def sniff(data: bytes) -> str | None:
    """The Office media type of in-memory bytes (cheap: bounded container reads), None when not Office."""
    if not (data.startswith(cfb.MAGIC) or data.startswith(ZIP_MAGIC)):
        return None
    found = inspect(io.BytesIO(data), thorough=False)
    return found.media if found else None


def refuse(found: Found, where: str) -> None:
    """Raise the error for a document that must not be converted (damaged, encrypted, not a document)."""
    if found.encrypted:
        raise invalid("OFFICE_ENCRYPTED", "the document is protected by a password; send it without one", where,
                      detected=found.media)
    if found.problem:
        raise invalid("INVALID_OFFICE_DOCUMENT", f"the bytes are not a readable Office document: {found.problem}",
                      where, detected=found.media)
    if not found.ext:
        raise invalid("UNSUPPORTED_MEDIA_TYPE", "the bytes are a compound file, but not a Word, Excel or "
                      "PowerPoint document", where, detected=found.media)


# --- OLE2 compound files: .doc, .xls, .ppt, and encrypted OOXML (an EncryptionInfo stream and the package)

def _compound(f: BinaryIO, thorough: bool) -> Found:
    try:
        doc = cfb.CompoundFile(f)
        streams = doc.streams()
        if {"EncryptionInfo", "EncryptedPackage"} <= streams:
            return Found(OLE2, encrypted=True)
        if "WordDocument" in streams:
            return Found(DOC, "doc", encrypted=thorough and _word_encrypted(doc))
        for name in ("Workbook", "Book"):  # BIFF8, BIFF5
            if name in streams:
                return Found(XLS, "xls", encrypted=thorough and _excel_encrypted(doc, name))
        if "PowerPoint Document" in streams:
            return Found(PPT, "ppt", encrypted=thorough and _powerpoint_encrypted(doc, streams))
        return Found(OLE2)  # another application's compound file (an installer, a mail, ...)
    except (cfb.CfbError, struct.error, OSError, OverflowError) as exc:
        return Found(OLE2, problem=f"the compound file is damaged or cut short: {exc}")


def _word_encrypted(doc: cfb.CompoundFile) -> bool:
    fib = doc.read("WordDocument", 12)  # the FIB: wIdent 0xA5EC, then flags with fEncrypted (MS-DOC 2.5.2)
    return len(fib) == 12 and fib[:2] == b"\xec\xa5" and bool(struct.unpack_from("<H", fib, 10)[0] & 0x0100)


def _excel_encrypted(doc: cfb.CompoundFile, name: str) -> bool:
    data = doc.read(name, 8192)  # a FilePass record in the workbook globals, before their EOF (MS-XLS 2.4.117)
    pos = 0
    for _ in range(256):
        if pos + 4 > len(data):
            return False
        kind, length = struct.unpack_from("<HH", data, pos)
        if kind == 0x002F:
            return True
        if kind == 0x000A:
            return False
        pos += 4 + length
    return False


def _powerpoint_encrypted(doc: cfb.CompoundFile, streams: set[str]) -> bool:
    if "EncryptedSummary" in streams:
        return True
    user = doc.read("Current User", 16)  # CurrentUserAtom.headerToken (MS-PPT 2.3.2)
    return len(user) == 16 and struct.unpack_from("<I", user, 12)[0] == 0xF3D1C4DF


# --- ZIP packages: OOXML (docx, xlsx, pptx) and OpenDocument (odt, ods, odp)

def _package(f: BinaryIO, thorough: bool) -> Found | None:
    names, mimetype, problem = _listing(f) if thorough else _first_names(f)
    if mimetype in (ODT, ODS, ODP):  # OpenDocument: a stored `mimetype` entry first (ODF 1.2 part 3, 3.3)
        return Found(mimetype, EXTENSIONS[mimetype], problem)
    ooxml = "[Content_Types].xml" in names
    if ooxml or problem:  # a damaged package may show its parts but not its content types
        for prefix, media in _MAIN_PARTS:
            if any(n.startswith(prefix) for n in names):
                return Found(media, EXTENSIONS[media], problem)
    if problem and (ooxml or names[:1] == ["mimetype"]):
        return Found(ZIP, problem=problem)
    return None  # a plain ZIP, or another kind of package (Visio, XPS, EPUB, ...)


def _listing(f: BinaryIO) -> tuple[list[str], str, str]:
    """(entry names, the OpenDocument mimetype or "", why the ZIP is unreadable or "")."""
    try:
        entries = (_end_record(f) or (0, 0))[0]
        if entries > MAX_ZIP_ENTRIES:  # told from its first entries, refused unparsed
            return (*_local_entries(f),
                    f"the ZIP container lists {entries} entries; at most {MAX_ZIP_ENTRIES} are accepted")
        f.seek(0)
        with zipfile.ZipFile(f) as z:
            infos = z.infolist()
            mimetype = ""
            if infos and infos[0].filename == "mimetype" and infos[0].file_size <= 128:
                mimetype = z.read(infos[0]).decode("ascii", "replace").strip()
            return [i.filename for i in infos], mimetype, ""
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, ValueError,
            NotImplementedError, RuntimeError, struct.error) as exc:
        names, mimetype = _local_entries(f)
        return names, mimetype, f"the ZIP container is damaged or cut short: {exc}"


def _first_names(f: BinaryIO) -> tuple[list[str], str, str]:
    """_listing for sniffing: the first QUICK_ENTRIES names of the central directory, read here, not by zipfile."""
    _, mimetype = _local_entries(f, limit=1)
    end = _end_record(f)
    if end is None:
        return (*_local_entries(f), "the ZIP container has no central directory")
    count, pos = end
    names = []
    for _ in range(min(count, QUICK_ENTRIES)):
        f.seek(pos)
        header = f.read(46)
        if len(header) < 46 or header[:4] != b"PK\x01\x02":
            break
        flags = struct.unpack_from("<H", header, 8)[0]
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", header, 28)
        names.append(f.read(name_len).decode("utf-8" if flags & 0x800 else "cp437", "replace"))
        pos += 46 + name_len + extra_len + comment_len
    return names, mimetype, ""


def _end_record(f: BinaryIO) -> tuple[int, int] | None:
    """(entries, central directory offset) from the end-of-central-directory record; None if there is none."""
    f.seek(0, 2)
    size = f.tell()
    f.seek(max(0, size - 65_557))  # the record (22 bytes) and its longest comment
    tail = f.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    count, _, offset = struct.unpack_from("<HII", tail, at + 10)
    return (MAX_ZIP_ENTRIES + 1 if count == 0xFFFF else count), offset  # 0xFFFF: ZIP64, no Office package needs it


def _local_entries(f: BinaryIO, limit: int = 64) -> tuple[list[str], str]:
    """Names from the local headers, walked from the start: what a file cut short still shows."""
    names, mimetype, pos = [], "", 0
    for _ in range(limit):
        f.seek(pos)
        header = f.read(30)
        if len(header) < 30 or header[:4] != ZIP_MAGIC:
            break
        flags, method = struct.unpack_from("<HH", header, 6)
        size, name_len, extra_len = struct.unpack_from("<I", header, 18)[0], *struct.unpack_from("<HH", header, 26)
        name = f.read(name_len).decode("utf-8" if flags & 0x800 else "cp437", "replace")
        names.append(name)
        if name == "mimetype" and not names[:-1] and method == 0 and size <= 128:
            f.seek(pos + 30 + name_len + extra_len)
            mimetype = f.read(size).decode("ascii", "replace").strip()
        if flags & 0x08 and size == 0:  # sizes follow the data: the next header cannot be found
            break
        pos += 30 + name_len + extra_len + size
    return names, mimetype
