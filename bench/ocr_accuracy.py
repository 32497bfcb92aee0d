"""Embedded default model: seconds per page and accuracy of the OCR engine, through the service.

Generated A4 pages (1240 × 1754 px, i.e. 150 dpi, the service's render size) carry known invoice-like lines:
numbers, dates, currency, IBANs, e-mail addresses and punctuation. Each line has its own size, drawn from
Pillow's default font at 12-40 px (about 6-19 pt at 150 dpi). Each page goes through ImageService.Generate
(domain document.ocr, batch=false) on its own, one after another, after one warm-up page that is not counted.

- line accuracy: expected lines found exactly (after strip) among the response's lines, each used once;
  also given ignoring whitespace, since the engine sometimes drops or adds a space;
- character accuracy: difflib.SequenceMatcher ratio of the page's expected text against the response's text
  (lines joined by newlines), and per line against its best-matching response line (for the per-size figures).
"""

from __future__ import annotations

import difflib
import io
import random
import re
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from PIL import Image, ImageDraw, ImageFont

from bench import common
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc_client import Client

NAME = "ocr_accuracy"
PAGES, SMOKE_PAGES = 20, 2
PAGE_SIZE = (1240, 1754)  # A4 at 150 dpi
MARGIN = 90
SIZES = (12, 16, 20, 24, 32, 40)  # px; 20 px ≈ 10 pt at 150 dpi
LINE_TARGET = 0.9  # a sanity check of the engine on clean printed text, every size together
DOMAIN = "document.ocr"

CUSTOMERS = ["Northwind Traders", "Contoso Fabrication", "Globex Logistics", "Initech GmbH", "Umbrella Foods",
             "Stark & Wayne LLP", "Oceanic Freight Co."]
ITEMS = ["Hex bolt M8x40", "Bearing 6204-2RS", "Cable tie 300 mm", "Safety gloves (L)", "Copper pipe 15 mm",
         "LED panel 40W", "Circuit breaker C16", "Epoxy adhesive 50 ml", "Timing belt HTD-8M", "Drill bit 6.5 mm"]


def _money(rng: random.Random, high: int = 99_999_99) -> str:
    return f"{rng.randint(100, high) / 100:,.2f}"


def _date(rng: random.Random) -> str:
    day, month = rng.randint(1, 28), rng.randint(1, 12)
    return rng.choice([f"2024-{month:02d}-{day:02d}", f"{day:02d}/{month:02d}/2024", f"{day:02d}.{month:02d}.2024"])


TEMPLATES = [
    lambda r: f"Invoice No.: INV-2024-{r.randint(1, 99999):05d}",
    lambda r: f"Invoice date: {_date(r)}",
    lambda r: f"Due date: {_date(r)}",
    lambda r: f"PO #: {r.randint(10, 99)}-{r.randint(1000, 9999)}/{r.choice('ABCDEF')}",
    lambda r: f"Customer: {r.choice(CUSTOMERS)}",
    lambda r: f"Customer ID: C-{r.randint(10000, 99999)}",
    lambda r: f"{r.randint(1, 40)}. {r.choice(ITEMS)} - {r.randint(1, 250)} pcs @ {_money(r, 99999)}",
    lambda r: f"Qty: {r.randint(1, 99)} x {_money(r, 99999)} = {_money(r)}",
    lambda r: f"Subtotal: ${_money(r)}",
    lambda r: f"VAT ({r.choice([5, 7, 10, 19, 20])}%): {_money(r)}",
    lambda r: f"Total due: EUR {_money(r)}",
    lambda r: f"Discount (early payment): -{_money(r, 99999)}",
    lambda r: "IBAN: DE89 3704 0044 0532 " + f"{r.randint(1000, 9999)} {r.randint(10, 99)}",
    lambda r: f"Email: billing{r.randint(1, 99)}@acme-supplies.com",
    lambda r: f"Tel: +44 (0)114 496-{r.randint(1000, 9999)}",
    lambda r: f"Terms: net {r.choice([14, 30, 45, 60])} days; {r.choice(['1.5', '2.0', '0.5'])}% per month if late.",
    lambda r: f"Ref: ORD/2024/{r.randint(1, 9999):04d}-{r.choice('ABCXYZ')}",
    lambda r: f"Page {r.randint(1, 9)} of {r.randint(10, 20)}",
]


def make_page(rng: random.Random) -> tuple[bytes, list[tuple[str, int]]]:
    """One page of left-aligned lines, each with its own size; returns the PNG and (text, size) per line."""
    img = Image.new("RGB", PAGE_SIZE, "white")
    draw = ImageDraw.Draw(img)
    lines: list[tuple[str, int]] = []
    y = MARGIN
    while True:
        size = rng.choice(SIZES)
        if y + size > PAGE_SIZE[1] - MARGIN:
            break
        text = rng.choice(TEMPLATES)(rng)
        draw.text((MARGIN, y), text, fill="black", font=ImageFont.load_default(size=size))
        lines.append((text, size))
        y += int(size * 1.6) + rng.randint(8, 40)  # clear gaps: lines never share a row
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue(), lines


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def score(expected: list[tuple[str, int]], got: list[str]) -> list[dict[str, Any]]:
    """Per expected line: exact match, match ignoring whitespace (each response line used once) and the
    character ratio against the best-matching response line."""
    left_exact = [g.strip() for g in got]
    left_squashed = [_squash(g) for g in got]
    out = []
    for text, size in expected:
        exact = text in left_exact
        if exact:
            left_exact.remove(text)
        squashed = _squash(text) in left_squashed
        if squashed:
            left_squashed.remove(_squash(text))
        ratio = max((difflib.SequenceMatcher(None, text, g, autojunk=False).ratio() for g in got), default=0.0)
        out.append({"text": text, "font_px": size, "exact": exact, "ignoring_spaces": squashed, "char_ratio": ratio})
    return out


async def run(smoke: bool, pages: int | None = None) -> dict[str, Any]:
    count = pages or (SMOKE_PAGES if smoke else PAGES)
    rng = random.Random(11)
    warm_up, _ = make_page(random.Random(0))
    generated = [make_page(rng) for _ in range(count)]
    rows, line_rows, misses = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as tmp:
        triton = await common.start_triton(Path(tmp))
        try:
            srv = common.start_service(Path(tmp) / "service", triton.grpc_url, "ocr")
            try:
                async with Client(srv.target) as client:
                    async def ocr(image: bytes) -> tuple[float, dict[str, Any]]:
                        started = time.perf_counter()
                        reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
                            domain=DOMAIN, batch=False, images=[pb.ImageInput(data=image)]), timeout=300)
                        seconds = time.perf_counter() - started
                        pred = reply.prediction
                        if pred.status != pb.PREDICTION_STATUS_COMPLETED:
                            raise RuntimeError(f"the prediction did not complete: {pred.error.message}")
                        return seconds, json_format.MessageToDict(pred.response)

                    first_s, _ = await ocr(warm_up)  # onnxruntime's first run is slow: not counted
                    for i, (image, expected) in enumerate(generated):
                        seconds, response = await ocr(image)
                        got = [line["text"] for line in response["pages"][0]["lines"]]
                        scored = score(expected, got)
                        page_text = "\n".join(text for text, _ in expected)
                        page_ratio = difflib.SequenceMatcher(None, page_text, "\n".join(got), autojunk=False).ratio()
                        rows.append({"page": i, "seconds": seconds, "lines": len(expected), "lines_found": len(got),
                                     "exact_lines": sum(s["exact"] for s in scored),
                                     "lines_ignoring_spaces": sum(s["ignoring_spaces"] for s in scored),
                                     "char_accuracy": page_ratio})
                        line_rows += scored
                        misses += [{"page": i, "font_px": s["font_px"], "expected": s["text"],
                                    "closest": max(got, key=lambda g, t=s["text"]: difflib.SequenceMatcher(
                                        None, t, g, autojunk=False).ratio(), default="")}
                                   for s in scored if not s["exact"]]
            finally:
                srv.stop()
        finally:
            await triton.stop()

    total_lines = sum(r["lines"] for r in rows)
    line_acc = sum(r["exact_lines"] for r in rows) / total_lines
    spaces_acc = sum(r["lines_ignoring_spaces"] for r in rows) / total_lines
    char_acc = statistics.fmean(r["char_accuracy"] for r in rows)
    seconds = [r["seconds"] for r in rows]
    by_size: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for line in line_rows:
        by_size[line["font_px"]].append(line)
    per_size = {str(size): {"lines": len(ls), "line_accuracy": sum(s["exact"] for s in ls) / len(ls),
                            "line_accuracy_ignoring_spaces": sum(s["ignoring_spaces"] for s in ls) / len(ls),
                            "char_accuracy": statistics.fmean(s["char_ratio"] for s in ls)}
                for size, ls in sorted(by_size.items())}
    result = {
        "smoke": smoke, "page_px": list(PAGE_SIZE), "font_px": list(SIZES), "pages_measured": len(rows),
        "lines": total_lines, "warm_up_page_s": first_s,
        "seconds_per_page": {"p50": statistics.median(seconds), "mean": statistics.fmean(seconds),
                             "max": max(seconds)},
        "line_accuracy": line_acc, "line_accuracy_ignoring_spaces": spaces_acc, "char_accuracy": char_acc,
        "per_font_px": per_size, "misses": misses[:40], "pages": rows,
        "targets": {"line_accuracy": {
            "target": f"line accuracy ≥ {LINE_TARGET} on generated invoice pages, {SIZES[0]}-{SIZES[-1]} px "
                      f"(sanity check of the engine)",
            "measured": f"{line_acc:.3f} lines exact ({spaces_acc:.3f} ignoring spaces), {char_acc:.3f} characters; "
                        f"{statistics.median(seconds):.2f} s per page p50, {statistics.fmean(seconds):.2f} s mean",
            "met": line_acc >= LINE_TARGET}},
    }
    common.write_result(NAME, result)
    chart(result)
    return result


def chart(result: dict[str, Any]) -> None:
    plt = common.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    sizes = list(result["per_font_px"])
    stats = result["per_font_px"]
    x = range(len(sizes))
    width = 0.27
    for offset, key, label, color in ((-width, "line_accuracy", "lines exact", "#4a78a8"),
                                      (0, "line_accuracy_ignoring_spaces", "lines ignoring spaces", "#8fb3d9"),
                                      (width, "char_accuracy", "characters", "#d98b3a")):
        left.bar([i + offset for i in x], [stats[s][key] for s in sizes], width, label=label, color=color)
    left.axhline(LINE_TARGET, color="grey", linestyle="--", linewidth=1)
    left.set_xticks(list(x), [f"{s} px\n({stats[s]['lines']})" for s in sizes])
    left.set_ylim(0, 1.2)
    left.set_ylabel("accuracy")
    left.set_title("accuracy by font size (lines measured)")
    left.legend(loc="upper center", ncol=3, fontsize=8)
    right.hist([r["seconds"] for r in result["pages"]], bins=10, color="#4a78a8")
    right.set_xlabel("seconds per page (Generate, batch=false)")
    right.set_ylabel("pages")
    right.set_title(f"p50 {result['seconds_per_page']['p50']:.2f} s, mean {result['seconds_per_page']['mean']:.2f} s")
    common.save_chart(fig, NAME)
