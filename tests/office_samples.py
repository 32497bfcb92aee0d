"""Real Office documents for the tests: written by python-docx, python-pptx and openpyxl, converted to the legacy and
OpenDocument formats by LibreOffice itself, encrypted by msoffcrypto-tool (ECMA-376 agile encryption, as Office)."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import docx
import openpyxl
import pptx
from msoffcrypto.format.ooxml import OOXMLFile


def soffice() -> str:
    """LibreOffice is required, not optional: CI installs it, so its absence fails the tests."""
    found = shutil.which("soffice")
    assert found, "LibreOffice's soffice is not on PATH (apt-get install libreoffice-writer-nogui " \
                  "libreoffice-calc-nogui libreoffice-impress-nogui)"
    return found


def word(paragraphs: list[str], heading: str = "") -> bytes:
    document = docx.Document()
    if heading:
        document.add_heading(heading, 0)
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def slides(titles: list[str]) -> bytes:
    deck = pptx.Presentation()
    for title in titles:
        slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
        slide.shapes.title.text = title
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def sheet(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def encrypted(data: bytes, password: str = "pw") -> bytes:
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(data)).encrypt(password, out)
    return out.getvalue()


def convert(data: bytes, source_ext: str, target_ext: str) -> bytes:
    """`data` saved by LibreOffice in another format (a fresh profile each time, as the server does)."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / f"in.{source_ext}").write_bytes(data)
        subprocess.run([soffice(), f"-env:UserInstallation={(work / 'profile').as_uri()}", "--headless",
                        "--norestore", "--convert-to", target_ext, "--outdir", str(work / "out"),
                        str(work / f"in.{source_ext}")], check=True, capture_output=True, timeout=120,
                       stdin=subprocess.DEVNULL)
        return (work / "out" / f"in.{target_ext}").read_bytes()


@cache  # made once per test session
def legacy_and_opendocument() -> dict[str, bytes]:
    """doc, xls, ppt, odt, ods, odp, each converted from a fresh docx, xlsx or pptx (in parallel: ~3-6 s)."""
    sources = {"docx": word(["Legacy formats paragraph"]), "xlsx": sheet([["Legacy", 1]]),
               "pptx": slides(["Legacy slide"])}
    targets = {"doc": "docx", "xls": "xlsx", "ppt": "pptx", "odt": "docx", "ods": "xlsx", "odp": "pptx"}
    with ThreadPoolExecutor(len(targets)) as pool:
        futures = {t: pool.submit(convert, sources[s], s, t) for t, s in targets.items()}
        return {t: f.result() for t, f in futures.items()}
