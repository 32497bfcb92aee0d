"""Embedded default model: seconds per page and line accuracy of the OCR engine, through the service.

Generated pages with known lines (invoice-like text, numbers and punctuation, three font sizes) go through
ImageService.Generate (domain document.ocr, batch=false). Line accuracy = expected lines found exactly in the
response's lines; character accuracy = difflib ratio of the whole text.
"""

from __future__ import annotations

import difflib
import io
import random
import statistics
import tempfile
import time
from pathlib import Path

from google.protobuf import json_format
from PIL import Image, ImageDraw, ImageFont

from bench import common
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc_client import Client

NAME = "ocr_accuracy"
PAGES, SMOKE_PAGES = 12, 2
SIZES = (22, 30, 40)
WORDS = ("invoice total amount due net tax order shipping customer account reference payment date "
         "quantity unit price discount balance supplier warehouse").split()
LINE_TARGET = 0.9


def page(rng: random.Random, size: int) -> tuple[bytes, list[str]]:
    lines = []
    for _ in range(8):
        words = [rng.choice(WORDS).capitalize() if i == 0 else rng.choice(WORDS) for i in range(rng.randint(2, 4))]
        lines.append(f"{' '.join(words)} {rng.randint(10, 9999)}.{rng.randint(0, 99):02d}")
    img = Image.new("RGB", (1240, 160 + len(lines) * int(size * 1.9)), "white")
    draw, font = ImageDraw.Draw(img), ImageFont.load_default(size=size)
    for i, line in enumerate(lines):
        draw.text((60, 80 + i * int(size * 1.9)), line, fill="black", font=font)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue(), lines


async def run(smoke: bool) -> dict:
    rng = random.Random(11)
    pages = [page(rng, SIZES[i % len(SIZES)]) for i in range(SMOKE_PAGES if smoke else PAGES)]
    with tempfile.TemporaryDirectory() as tmp:
        triton = await common.start_triton(Path(tmp))
        srv = common.start_service(Path(tmp) / "svc", triton.grpc_url, "vlm")
        try:
            rows = []
            async with Client(srv.target) as client:
                for i, (image, expected) in enumerate(pages):
                    started = time.perf_counter()
                    reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
                        domain="document.ocr", images=[pb.ImageInput(data=image)]), timeout=300)
                    seconds = time.perf_counter() - started
                    result = json_format.MessageToDict(reply.prediction.response)
                    got = [line["text"] for line in result["pages"][0]["lines"]]
                    exact = sum(line in got for line in expected)
                    chars = difflib.SequenceMatcher(None, "\n".join(expected), result["text"]).ratio()
                    rows.append({"page": i, "font_px": SIZES[i % len(SIZES)], "seconds": seconds,
                                 "lines": len(expected), "exact_lines": exact, "char_accuracy": chars})
        finally:
            srv.stop()
            await triton.stop()
    warm = rows[1:] or rows  # the first call warms the engine up
    line_acc = sum(r["exact_lines"] for r in rows) / sum(r["lines"] for r in rows)
    result = {
        "smoke": smoke, "pages": rows,
        "seconds_per_page": {"p50": statistics.median(r["seconds"] for r in warm),
                             "mean": statistics.fmean(r["seconds"] for r in warm)},
        "line_accuracy": line_acc,
        "char_accuracy": statistics.fmean(r["char_accuracy"] for r in rows),
        "targets": {"line_accuracy": {
            "target": f"line accuracy ≥ {LINE_TARGET} on generated pages (sanity check of the engine)",
            "measured": f"{line_acc:.3f} lines exact, {statistics.fmean(r['char_accuracy'] for r in rows):.3f} "
                        f"characters; {statistics.median(r['seconds'] for r in warm):.2f} s per page (p50)",
            "met": line_acc >= LINE_TARGET}},
    }
    plt = common.pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for size in SIZES:
        sel = [r for r in rows if r["font_px"] == size]
        ax[0].bar(str(size), sum(r["exact_lines"] for r in sel) / max(1, sum(r["lines"] for r in sel)))
        ax[1].bar(str(size), statistics.fmean(r["seconds"] for r in sel) if sel else 0)
    ax[0].set(title="line accuracy by font size (px)", ylim=(0, 1.05))
    ax[1].set(title="seconds per page by font size (px)")
    fig.tight_layout()
    fig.savefig(common.chart_path(NAME))
    common.write_result(NAME, result)
    return result
