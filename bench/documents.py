"""Document pipeline: does a PDF's rendering overlap the model's work, and does the server's memory
stay flat as the page count grows?

One embedded Triton serves the real `ocr` model (rapidocr on CPU). Measured on the same generated PDF
(A4 invoice/report pages):

- Σ render: every page rendered alone, exactly as the service's render workers do
  (documents.render_page with the default render_dpi and max_image_pixels), timed per page;
- Σ inference: every pre-rendered page sent to Triton directly (stream_infer, model `ocr`, domain
  document.ocr, one request at a time, the inputs the gateway sends), timed per page;
- wall: the PDF through DocumentService.Generate (batch=true), watched until its terminal event;
- the server's peak RSS, at two page counts, each in a fresh service process.

If the pipeline overlaps pages, wall ≈ max(Σ render, Σ inference); if it serialises them, wall ≈ the sum.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pymupdf
from tritonclient.grpc import InferInput
from tritonclient.grpc.aio import InferenceServerClient

from bench import common
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc.pipeline import documents
from vlmgrpc.settings import Settings
from vlmgrpc_client import Client

NAME = "documents"
# The large run (a quarter of it is the small one). Dense A4 pages take seconds each to OCR on 2 CPU
# cores, so 100 pages is a long run: BENCH_DOC_PAGES sets another size.
PAGES = int(os.environ.get("BENCH_DOC_PAGES", "100"))
SMOKE_PAGES = 4
DOMAIN = "document.ocr"
MODEL = "ocr"
WALL_FACTOR = 1.15  # wall ≤ 1.15 × max(Σ render, Σ inference)
RSS_FACTOR, RSS_SLACK_MB = 1.10, 30.0  # large-run RSS ≤ 1.1 × small-run RSS, or within +30 MB of it
TERMINAL = (pb.PREDICTION_STATUS_COMPLETED, pb.PREDICTION_STATUS_FAILED)
MAX_MESSAGE = 2**31 - 1

# --- the document

PRODUCTS = ["Hex bolt M8x40 zinc", "Stainless washer 8 mm", "Bearing 6204-2RS", "Hydraulic hose 1/2 in",
            "Cable tie 300 mm (100 pcs)", "Safety gloves size L", "Drill bit HSS 6.5 mm", "Copper pipe 15 mm",
            "PVC elbow 90 deg 32 mm", "LED panel 600x600 40W", "Circuit breaker C16", "Epoxy adhesive 50 ml",
            "Pallet wrap 500 mm", "Thermal paste 4 g", "Timing belt HTD 8M", "Spring pin 5x30"]
PROSE = ("The quarterly review covers deliveries to all regional warehouses. Volumes rose in the north "
         "while returns fell below two percent. Freight costs remain the largest variable expense and "
         "the team proposes consolidating shipments on Tuesdays and Fridays. Payment terms are net 30 "
         "days from the invoice date; late payments accrue interest at 1.5% per month. Please quote the "
         "invoice number with every remittance and direct questions to accounts receivable.").split()


def put(page: pymupdf.Page, y: float, text: str, x: float = 50, size: float = 10, bold: bool = False) -> None:
    page.insert_text((x, y), text, fontsize=size, fontname="hebo" if bold else "helv")


def make_pdf(pages: int, seed: int = 7) -> bytes:
    """A4 pages like an invoice followed by a short report: header, addresses, a priced item table,
    totals and a paragraph, about 45 text lines in 9-16 pt Helvetica."""
    rng = random.Random(seed)
    doc = pymupdf.open()
    for p in range(pages):
        page = doc.new_page(width=595, height=842)  # A4 in points
        y = 60.0
        put(page, y, "ACME Industrial Supplies Ltd.", size=16, bold=True)
        put(page, y, f"Invoice INV-2024-{1000 + p:05d}", x=380, size=12, bold=True)
        y += 22
        put(page, y, "42 Foundry Road, Sheffield S1 2AB, United Kingdom")
        put(page, y, f"Date: 2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", x=380)
        y += 14
        put(page, y, "VAT GB 123 4567 89  |  +44 114 496 0123")
        put(page, y, f"Page {p + 1} of {pages}", x=380)
        y += 28
        put(page, y, "Bill to:", bold=True)
        put(page, y, "Ship to:", x=320, bold=True)
        y += 14
        customer = rng.choice(["Northwind Traders", "Contoso Fabrication", "Globex Logistics", "Initech GmbH"])
        put(page, y, f"{customer}, Accounts Payable")
        put(page, y, f"{customer}, Goods In", x=320)
        y += 14
        street = f"{rng.randint(1, 200)} Harbour Street, Unit {rng.randint(1, 30)}"
        put(page, y, street)
        put(page, y, street, x=320)
        y += 28
        for x, head in ((50, "Item"), (90, "Description"), (330, "Qty"), (390, "Unit price"), (480, "Amount")):
            put(page, y, head, x=x, bold=True)
        y += 6
        page.draw_line((50, y), (545, y), width=0.5)
        y += 14
        subtotal = 0.0
        for i in range(rng.randint(14, 20)):
            qty = rng.randint(1, 250)
            price = rng.randint(15, 99_999) / 100
            amount = qty * price
            subtotal += amount
            put(page, y, f"{i + 1}", x=50)
            put(page, y, rng.choice(PRODUCTS), x=90)
            put(page, y, f"{qty}", x=330)
            put(page, y, f"{price:,.2f}", x=390)
            put(page, y, f"{amount:,.2f}", x=480)
            y += 15
        y += 6
        page.draw_line((330, y), (545, y), width=0.5)
        y += 16
        vat = subtotal * 0.2
        for label, value in (("Subtotal", subtotal), ("VAT 20%", vat), ("Total due (GBP)", subtotal + vat)):
            put(page, y, label, x=330, bold=label.startswith("Total"))
            put(page, y, f"{value:,.2f}", x=480, bold=label.startswith("Total"))
            y += 15
        y += 24
        put(page, y, "Notes", size=12, bold=True)
        y += 18
        words = [rng.choice(PROSE) for _ in range(rng.randint(90, 130))]
        text, row = [], []
        for word in words:
            if len(" ".join([*row, word])) > 95:
                text.append(" ".join(row))
                row = []
            row.append(word)
        text.append(" ".join(row))
        for row_text in text:
            put(page, y, row_text, size=9)
            y += 13
        bank = f"Bank: Example Bank plc  Sort code 12-34-56  Account 87654321  Ref INV-2024-{1000 + p:05d}"
        put(page, 800, bank, size=8)
    data = doc.tobytes(garbage=3, deflate=True)
    doc.close()
    return data


# --- the parts, measured alone


def render_all(path: Path, pages: int, settings: Settings) -> tuple[list[float], list[tuple[bytes, str]]]:
    """Every page rendered as the service's render worker does it, one after another, timed per page.
    Like a worker, this process keeps the document open between pages (documents._open's cache)."""
    times, rendered = [], []
    for i in range(pages):
        started = time.perf_counter()
        rendered.append(documents.render_page(str(path), i, settings.render_dpi, settings.max_image_pixels))
        times.append(time.perf_counter() - started)
    return times, rendered


def _bytes_input(name: str, values: list[bytes]) -> InferInput:
    tensor = InferInput(name, [len(values)], "BYTES")
    tensor.set_data_from_numpy(np.array(values, dtype=np.object_))
    return tensor


def triton_request(index: int, image: bytes, text_hint: str) -> dict[str, Any]:
    """What TritonGateway._request sends for a page of a prediction with no config."""
    return {"model_name": MODEL, "request_id": str(index), "inputs": [
        _bytes_input("IMAGES", [image]),
        _bytes_input("DOMAIN", [DOMAIN.encode()]),
        _bytes_input("CONFIG", [b"{}"]),
        _bytes_input("TEXT_HINT", [text_hint.encode()])]}


async def infer_all(url: str, rendered: list[tuple[bytes, str]]) -> tuple[list[float], list[int]]:
    """Each page sent to Triton on one stream, the next only once the previous one is answered.
    Returns the seconds per page and the number of text lines the model found on each."""
    client = InferenceServerClient(url, channel_args=[("grpc.max_send_message_length", MAX_MESSAGE),
                                                      ("grpc.max_receive_message_length", MAX_MESSAGE)])
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def requests():
        while (item := await queue.get()) is not None:
            yield item

    responses = client.stream_infer(requests())
    times, lines = [], []
    try:
        for i, (image, text) in enumerate(rendered):
            started = time.perf_counter()
            await queue.put(triton_request(i, image, text))
            result, error = await anext(responses)
            times.append(time.perf_counter() - started)
            if error is not None:
                raise RuntimeError(f"page {i}: {error.message()}")
            payload = json.loads(result.as_numpy("RESPONSE")[0])
            lines.append(len(payload["result"]["lines"]))
        await queue.put(None)
    finally:
        responses.cancel()
        await client.close()
    return times, lines


# --- the service


def _rss_mb(pid: int) -> dict[str, float]:
    """Peak RSS of the server and, for the record, of its children (the render worker processes)."""
    out = {"server_peak_rss_mb": common.peak_rss_mb(pid)}
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    peaks = []
    for child in children:
        try:
            peaks.append(common.peak_rss_mb(child.pid))
        except (FileNotFoundError, ProcessLookupError, psutil.NoSuchProcess):
            continue
    out["render_workers_peak_rss_mb"] = max(peaks, default=0.0)
    return out


async def through_service(workdir: Path, triton_url: str, pdf: bytes, pages: int) -> dict[str, Any]:
    """One fresh service process; the PDF submitted with batch=true and watched to its terminal event."""
    srv = common.start_service(workdir / f"service-{pages}", triton_url, MODEL)
    try:
        rss_idle = common.peak_rss_mb(srv.proc.pid)
        async with Client(srv.target) as client:
            started = time.perf_counter()
            reply = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
                domain=DOMAIN, batch=True, document=pb.DocumentInput(data=pdf)), timeout=60)
            accepted = time.perf_counter() - started
            pred_id = reply.prediction.id
            final, progress_at = None, []
            watch = client.predictions.WatchPrediction(ps.WatchPredictionRequest(id=pred_id), timeout=3600)
            async for msg in watch:
                event = msg.event
                if event.type == pb.PREDICTION_EVENT_TYPE_PROGRESS:
                    progress_at.append(time.perf_counter() - started)
                if event.prediction.status in TERMINAL:
                    final = event.prediction
                    break
            wall = time.perf_counter() - started
            watch.cancel()
        if final is None or final.status != pb.PREDICTION_STATUS_COMPLETED:
            raise RuntimeError(f"the prediction did not complete: {final.error.message if final else 'no event'}")
        if final.progress.done != pages:
            raise RuntimeError(f"{final.progress.done} of {pages} pages done")
        gaps = [b - a for a, b in zip(progress_at, progress_at[1:], strict=False)]
        return {"pages": pages, "wall_s": wall, "accepted_s": accepted,
                "first_page_s": progress_at[0] if progress_at else None,
                "page_interval": common.summary(gaps) if gaps else None,
                "server_idle_rss_mb": rss_idle, **_rss_mb(srv.proc.pid)}
    finally:
        srv.stop()


# --- the benchmark


async def run(smoke: bool, pages: int | None = None) -> dict[str, Any]:
    large = pages or (SMOKE_PAGES if smoke else PAGES)
    small = max(1, large // 4)
    settings = Settings()
    workdir = Path(tempfile.mkdtemp(prefix="bench-documents-"))
    try:
        pdf = make_pdf(large)
        path = workdir / "document.pdf"
        path.write_bytes(pdf)
        small_pdf = make_pdf(small)  # the same first pages
        triton = await common.start_triton(workdir)
        try:
            render_s, rendered = await asyncio.to_thread(render_all, path, large, settings)
            # Warm the model (onnxruntime's first runs are slow) on one page, not counted.
            await infer_all(triton.grpc_url, rendered[:1])
            infer_s, lines = await infer_all(triton.grpc_url, rendered)
            small_run = await through_service(workdir, triton.grpc_url, small_pdf, small)
            large_run = await through_service(workdir, triton.grpc_url, pdf, large)
        finally:
            await triton.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    sum_render, sum_infer = sum(render_s), sum(infer_s)
    bound = max(sum_render, sum_infer)
    wall = large_run["wall_s"]
    rss_small, rss_large = small_run["server_peak_rss_mb"], large_run["server_peak_rss_mb"]
    rss_limit = max(RSS_FACTOR * rss_small, rss_small + RSS_SLACK_MB)
    small_bound = max(sum(render_s[:small]), sum(infer_s[:small]))
    result = {
        "pages": large, "small_pages": small, "pdf_bytes": len(pdf),
        "render_dpi": settings.render_dpi, "max_image_pixels": settings.max_image_pixels,
        "pages_in_flight": settings.pages_in_flight, "render_workers": settings.render_workers,
        "page_png_bytes_mean": sum(len(img) for img, _ in rendered) / len(rendered),
        "ocr_lines_per_page_mean": sum(lines) / len(lines),
        "sum_render_s": sum_render, "sum_inference_s": sum_infer, "wall_s": wall,
        "wall_over_max": wall / bound, "wall_over_sum": wall / (sum_render + sum_infer),
        "render_per_page": common.summary(render_s), "inference_per_page": common.summary(infer_s),
        "render_p50_ms": common.summary(render_s)["p50_ms"], "inference_p50_ms": common.summary(infer_s)["p50_ms"],
        "small_wall_over_max": small_run["wall_s"] / small_bound,
        "runs": [small_run, large_run],
        "targets": {
            "overlap": {
                "target": f"wall ≤ {WALL_FACTOR} × max(Σ render, Σ inference) at {large} pages",
                "measured": f"wall {wall:.1f} s = {wall / bound:.2f} × max(Σ render {sum_render:.1f} s, "
                            f"Σ inference {sum_infer:.1f} s)",
                "met": wall <= WALL_FACTOR * bound},
            "memory": {
                "target": f"server peak RSS at {large} pages ≤ {RSS_FACTOR} × (or +{RSS_SLACK_MB:.0f} MB over) "
                          f"the {small}-page run",
                "measured": f"{rss_large:.0f} MB at {large} pages vs {rss_small:.0f} MB at {small} pages "
                            f"({rss_large - rss_small:+.0f} MB)",
                "met": rss_large <= rss_limit},
        },
    }
    common.write_result(NAME, result)
    chart(result)
    return result


def chart(result: dict[str, Any]) -> None:
    plt = common.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    names = ["Σ render", "Σ inference", "wall (service)"]
    values = [result["sum_render_s"], result["sum_inference_s"], result["wall_s"]]
    bars = left.bar(names, values, color=["#8fb3d9", "#4a78a8", "#d98b3a"])
    left.bar_label(bars, fmt="%.1f s")
    bound = max(values[:2])
    left.axhline(WALL_FACTOR * bound, color="grey", linestyle="--", linewidth=1,
                 label=f"target: {WALL_FACTOR} × max(Σ render, Σ inference)")
    left.set_ylabel("seconds")
    left.set_title(f"{result['pages']}-page PDF, {result['render_dpi']} dpi, document.ocr")
    left.legend(loc="upper left", fontsize=8)
    runs = result["runs"]
    labels = [f"{r['pages']} pages" for r in runs]
    x = np.arange(len(runs))
    idle = right.bar(x - 0.2, [r["server_idle_rss_mb"] for r in runs], 0.4, label="after start", color="#bbbbbb")
    peak = right.bar(x + 0.2, [r["server_peak_rss_mb"] for r in runs], 0.4, label="peak", color="#4a78a8")
    right.bar_label(idle, fmt="%.0f")
    right.bar_label(peak, fmt="%.0f")
    right.set_xticks(x, labels)
    right.set_ylabel("server RSS (MiB)")
    right.set_title("service process memory")
    right.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(common.chart_path(NAME), dpi=110)
    plt.close(fig)
