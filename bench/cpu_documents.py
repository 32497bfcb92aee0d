"""The CPU document engine on generated business documents with known truth, beside Tesseract.

Documents: vlm_engines.testing.documents (invoices, receipts, bank statements; several layouts per kind, some two
pages long, some with two-column terms), seeds 0..N-1 of each kind. Each page is read as rendered (clean, 150 dpi)
and as a noisy scan (blur, noise, skew <= 1 degree, JPEG artefacts). Measured in one run:

- Tesseract 5 (`tesseract page.png - --psm 3`, one process per page, OMP_THREAD_LIMIT=1: see TESSERACT_THREADS):
  seconds per page and word accuracy;
- the service with its default settings and the `ocr` model of triton_models (the default model of the document
  domains; Triton loads only it): `document.ocr` through
  ImageService.Generate (batch=false, one page after another, after a warm-up page) on the same clean and scanned
  pages, and through DocumentService on the born-digital PDFs (which may use their text layer);
- `document.markdown` (DocumentService): word accuracy and order, and the cells of the truth tables found in the
  page's `tables` (best of cells / data / content);
- `document.invoice`, `document.receipt`, `document.bank-statement` (DocumentService, the born-digital PDF):
  accuracy per field; a domain the service refuses is recorded as not served;
- each engine stage in this process on the same pages (after the service stopped, so nothing competes):
  OcrEngine.lines, and when importable OrientationModel.upright, LayoutModel.regions and TableModel.read.

Word accuracy is bag-of-words recall with counts (precision beside it); see bench/doc_metrics.py.
"""

from __future__ import annotations

import io
import os
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from PIL import Image
from vlm_engines.testing.documents import Doc, generate

from bench import common
from bench import doc_metrics as dm
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.inference.embedded import EmbeddedTriton
from vlmgrpc_client import Client, error_reason, response

NAME = "cpu_documents"
KINDS = ("invoice", "receipt", "bank-statement")
DOCS, SMOKE_DOCS = int(os.environ.get("BENCH_CPU_DOCS", "6")), 1  # per kind
MODEL = "ocr"
OCR_S, STAGES_S, FIELD_TARGET = 1.0, 0.5, 0.9
KEY_FIELDS = {"document.invoice": ("invoice_id", "invoice_issue_date", "total_amount"),
              "document.receipt": ("transaction_date", "total"),
              "document.bank-statement": ("statement_end_date", "ending_balance")}
PLACEHOLDER = re.compile(r'<(Table|Figure) id="(?:tb|fg)-(\d+)"\s*/>')


# Tesseract's OpenMP threads spin while they wait: with 2 on a 2-core machine a page took 0.8-4.4 s, with 1 a
# steady 1.0 s (the ocr model has intra_op_threads=2). One thread is Tesseract at its fastest and steadiest here.
TESSERACT_THREADS = int(os.environ.get("BENCH_TESSERACT_THREADS", "1"))


# --- the corpus


def corpus(per_kind: int) -> list[tuple[Doc, Doc]]:
    """(clean, scanned) of every document: the same truth, two renderings."""
    return [(generate(kind, seed), generate(kind, seed, scanned=True)) for kind in KINDS for seed in range(per_kind)]


def page_sets(docs: list[tuple[Doc, Doc]], smoke: bool) -> dict[str, list[tuple[Doc, int, bytes]]]:
    scans = [scan for _, scan in docs if not smoke or scan.kind == "receipt"]  # smoke: one short scanned page
    return {"clean": [(clean, i, png) for clean, _ in docs for i, png in enumerate(clean.pages)],
            "scanned": [(scan, i, png) for scan in scans for i, png in enumerate(scan.pages)]}


def warm_up_pages(smoke: bool) -> list[bytes]:
    """Pages no measurement reads (seed 10 000): a short receipt in smoke runs, two dense pages otherwise."""
    kinds = ("receipt",) if smoke else ("invoice", "bank-statement")
    return [generate(kind, 10_000).pages[0] for kind in kinds]


def scored(doc: Doc, page: int, text: str, seconds: float) -> dict[str, Any]:
    score = dm.word_score(doc.words[page], text)
    return {"kind": doc.kind, "seed": doc.seed, "page": page, "seconds": seconds, "found": score.found,
            "truth_words": score.truth, "answer_words": score.answer}


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Seconds per page and micro-averaged word recall/precision over the rows."""
    if not rows:
        return {"pages": 0}
    seconds = [r["seconds"] for r in rows]
    found, truth, answer = (sum(r[k] for r in rows) for k in ("found", "truth_words", "answer_words"))
    out = {"pages": len(rows), "s_per_page_p50": statistics.median(seconds),
           "s_per_page_mean": statistics.fmean(seconds), "word_recall": found / truth if truth else 1.0,
           "word_precision": found / answer if answer else 0.0}
    if "order" in rows[0]:
        out["word_order"] = statistics.fmean(r["order"] for r in rows)
    if "table_cells" in rows[0]:
        cells = sum(r["table_cells"] for r in rows)
        out["table_cell_accuracy"] = sum(r["table_cells_matched"] for r in rows) / cells if cells else None
        out["tables_found"], out["tables_truth"] = sum(r["tables_found"] for r in rows), sum(
            r["tables_truth"] for r in rows)
    return out


# --- Tesseract


def tesseract(pages: list[tuple[Doc, int, bytes]], threads: int, workdir: Path) -> list[dict[str, Any]]:
    env = {**os.environ, "OMP_THREAD_LIMIT": str(threads)}
    rows = []
    for n, (doc, page, png) in enumerate(pages):
        path = workdir / f"tesseract-{n}.png"
        path.write_bytes(png)
        started = time.perf_counter()
        text = subprocess.run(["tesseract", str(path), "-", "--psm", "3"], env=env, capture_output=True, text=True,
                              check=True).stdout
        rows.append(scored(doc, page, text, time.perf_counter() - started))
    return rows


# --- the service


class Refused(Exception):
    """The service would not serve the domain (DOMAIN_NOT_SERVED) or the prediction failed."""


async def _prediction(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    try:
        reply = await call()
    except grpc.aio.AioRpcError as err:
        reason, details = error_reason(err)[0] or err.code().name, err.details() or ""
        raise Refused(details if details.startswith(reason) else f"{reason}: {details}") from None
    seconds = time.perf_counter() - started
    pred = reply.prediction
    if pred.status != pb.PREDICTION_STATUS_COMPLETED:
        raise Refused(f"prediction {pb.PredictionStatus.Name(pred.status)}: {pred.error.message}")
    return seconds, response(pred)


def ocr_image(client: Client, png: bytes) -> Callable[[], Any]:
    return lambda: client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="document.ocr", batch=False, images=[pb.ImageInput(data=png)]), timeout=600)


def on_document(client: Client, domain: str, pdf: bytes) -> Callable[[], Any]:
    return lambda: client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
        domain=domain, batch=False, document=pb.DocumentInput(data=pdf)), timeout=600)


def table_grids(table: dict[str, Any]) -> list[dm.Grid]:
    """Every form the answer gives a table in: cells, header + data rows, markdown."""
    grids = []
    if table.get("cells"):
        grids.append(dm.as_grid(table["cells"]))
    headers = sorted(table.get("headers") or [], key=lambda h: h.get("column", 0))
    if headers and table.get("data") is not None:
        rows = [[str(row.get(h["id"], "") or "") for h in headers] for row in table["data"]]
        grids.append(dm.as_grid([[h.get("name", "") for h in headers], *rows]))
    if table.get("content"):
        grids.append(dm.as_grid(table["content"]))
    return grids


def markdown_text(page: dict[str, Any]) -> str:
    """The page's markdown with each <Table id="tb-N"/> replaced by that table's markdown (unless the content
    has the table written out already: its words are not counted twice), figures dropped."""
    tables, content = page.get("tables") or [], page.get("content", "")

    def replace(match: re.Match[str]) -> str:
        index = int(match[2])
        if match[1] != "Table" or index >= len(tables):
            return ""
        table = (tables[index].get("content") or "").strip()
        return "" if table and table in content else table

    return PLACEHOLDER.sub(replace, content)


def score_markdown(doc: Doc, answer: dict[str, Any], seconds: float) -> list[dict[str, Any]]:
    pages = answer.get("pages", [])
    rows = []
    for i in range(doc.page_count):
        page = pages[i] if i < len(pages) else {}
        text = markdown_text(page)
        row = scored(doc, i, text, seconds / doc.page_count)
        grids = [g for t in page.get("tables") or [] for g in table_grids(t)]
        row |= {"order": dm.word_order(doc.words[i], text), "tables_found": len(page.get("tables") or []),
                "tables_truth": len(doc.tables[i]),
                "table_cells": sum(dm.cells(t) for t in doc.tables[i]),
                "table_cells_matched": sum(dm.best_table_accuracy(t, grids) * dm.cells(t) for t in doc.tables[i])}
        rows.append(row)
    return rows


async def through_service(docs: list[tuple[Doc, Doc]], pages: dict[str, list[tuple[Doc, int, bytes]]],
                          workdir: Path, smoke: bool) -> dict[str, Any]:
    # Only the model under test (the repository's `ocr`, as it stands): bench/common's echo model is not needed.
    triton = EmbeddedTriton(common.ROOT / "triton_models", workdir / "triton", models={MODEL: {}})
    await triton.start()
    srv = None
    try:
        srv = common.start_service(workdir / "service", triton.grpc_url, MODEL)
        async with Client(srv.target) as client:
            warm_s = 0.0
            for png in warm_up_pages(smoke):  # onnxruntime's first runs (and first shapes) are slow: not counted
                warm_s += (await _prediction(ocr_image(client, png)))[0]
            images: dict[str, list[dict[str, Any]]] = {}
            for name, items in pages.items():
                images[name] = []
                for doc, page, png in items:
                    seconds, answer = await _prediction(ocr_image(client, png))
                    images[name].append(scored(doc, page, answer["pages"][0]["text"], seconds))
            pdf_ocr = []
            for doc, _ in docs:
                seconds, answer = await _prediction(on_document(client, "document.ocr", doc.pdf))
                pdf_ocr += [scored(doc, i, p["text"], seconds / doc.page_count) for i, p in enumerate(answer["pages"])]
            markdown: dict[str, list[dict[str, Any]]] = {"pdf": [], "scanned_pdf": []}
            for doc, scan in docs:
                for source, pdf in (("pdf", doc.pdf), ("scanned_pdf", scan.scanned_pdf)):
                    if smoke and source == "scanned_pdf":
                        continue  # the smoke run only checks the path
                    seconds, answer = await _prediction(on_document(client, "document.markdown", pdf))
                    markdown[source] += score_markdown(doc, answer, seconds)
            structured: dict[str, dict[str, Any]] = {}
            for kind, domain in zip(KINDS, KEY_FIELDS, strict=True):
                of_kind = [(d, s) for d, s in docs if d.kind == kind]
                structured[domain] = {"pdf": await structured_domain(client, domain, [(d, d.pdf) for d, _ in of_kind])}
                if not smoke and structured[domain]["pdf"]["served"]:
                    structured[domain]["scanned_pdf"] = await structured_domain(
                        client, domain, [(d, s.scanned_pdf) for d, s in of_kind])
        return {"warm_up_s": warm_s, "ocr_images": images, "ocr_pdf": pdf_ocr, "markdown": markdown,
                "structured": structured}
    finally:
        if srv is not None:
            srv.stop()
        await triton.stop()


async def structured_domain(client: Client, domain: str, items: list[tuple[Doc, bytes]]) -> dict[str, Any]:
    """Field accuracy of one domain over (document, PDF to send) pairs."""
    results, seconds, failures = [], [], []
    for doc, pdf in items:
        try:
            took, answer = await _prediction(on_document(client, domain, pdf))
        except Refused as refusal:
            if "DOMAIN_NOT_SERVED" in str(refusal):
                return {"served": False, "note": str(refusal)[:300]}
            failures.append(f"{doc.kind} {doc.seed}: {refusal}"[:300])
            answer, took = None, float("nan")
        seconds.append(took / doc.page_count)
        results.append(dm.field_accuracy(doc.fields, answer if isinstance(answer, dict) else None))
    done = [s for s in seconds if s == s]
    return {"served": True, "documents": len(results), "failed": failures,
            "s_per_page_mean": statistics.fmean(done) if done else None,
            "fields": dm.field_groups(results), "all_fields": _mean_of(results)}


def _mean_of(results: list[dict[str, bool]]) -> float:
    values = [ok for result in results for ok in result.values()]
    return sum(values) / len(values) if values else 0.0


def self_check(docs: list[tuple[Doc, Doc]]) -> dict[str, float]:
    """The metrics on the truth itself: every figure must be 1.0 (the field path is exercised even while the
    structured domains are not served)."""
    clean = [d for d, _ in docs]
    return {"fields": _mean_of([dm.field_accuracy(d.fields, d.fields) for d in clean]),
            "words": min(dm.word_accuracy(w, " ".join(w)) for d in clean for w in d.words),
            "tables": min((dm.table_cell_accuracy(t, t) for d in clean for ts in d.tables for t in ts), default=1.0)}


# --- the engine's stages, in this process


def stages(docs: list[tuple[Doc, Doc]], smoke: bool) -> dict[str, Any]:
    from vlm_engines.ocr import OcrEngine

    out: dict[str, Any] = {}
    ocr = OcrEngine({})
    for png in warm_up_pages(smoke):  # onnxruntime's first runs are slow: not counted
        ocr.lines(Image.open(io.BytesIO(png)).convert("RGB"))
    clean_pages = [(doc, i, img) for doc, _ in docs for i, img in enumerate(doc.images)]
    scanned_pages = [] if smoke else [(scan, i, img) for _, scan in docs for i, img in enumerate(scan.images)]
    lines: dict[tuple[str, int, int], list[Any]] = {}
    for name, items in (("clean", clean_pages), ("scanned", scanned_pages)):
        rows = []
        for doc, i, img in items:
            started = time.perf_counter()
            found = ocr.lines(img)
            rows.append(scored(doc, i, "\n".join(line.text for line in found), time.perf_counter() - started))
            if name == "clean":
                lines[(doc.kind, doc.seed, i)] = found
        out[f"ocr_{name}"] = totals(rows)
    out["orientation"] = orientation(docs)
    out["layout_tables"] = layout_and_tables(clean_pages, lines)
    return out


def _angle(result: Any) -> int | None:
    """The rotation an upright() result reports, whatever shape it takes (an int, a tuple with one, .rotation)."""
    for value in (result, *(result if isinstance(result, tuple) else ()), getattr(result, "rotation", None)):
        if isinstance(value, int) and not isinstance(value, bool) and value % 90 == 0:
            return value % 360
    return None


def orientation(docs: list[tuple[Doc, Doc]]) -> dict[str, Any]:
    try:
        from vlm_engines.orientation import OrientationModel

        model = OrientationModel()
    except ImportError as exc:
        return {"skipped": f"not importable yet: {exc}"}
    rows = []
    try:
        for n, (doc, _) in enumerate(docs):
            rotation = (90, 180, 270)[n % 3]
            turned_doc = generate(doc.kind, doc.seed, rotation=rotation)
            for turned, img in ((0, doc.images[0]), (rotation, turned_doc.images[0])):
                started = time.perf_counter()
                result = model.upright(img)
                # page.py: PageContent.rotation is how far the page was turned clockwise to read it upright.
                angle = _angle(result)
                rows.append({"rotated": turned, "reported": angle, "seconds": time.perf_counter() - started,
                             "right": angle is not None and (turned + angle) % 360 == 0})
    except Exception as exc:  # noqa: BLE001 - a stage being written: report it, measure the rest
        return {"error": repr(exc)[:300], "pages": len(rows)}
    return {"pages": len(rows), "s_per_page_mean": statistics.fmean(r["seconds"] for r in rows),
            "right": sum(r["right"] for r in rows) / len(rows), "rows": rows}


def layout_and_tables(pages: list[tuple[Doc, int, Any]], lines: dict[tuple[str, int, int], list[Any]]
                      ) -> dict[str, Any]:
    try:
        from vlm_engines.regions import LayoutModel
        from vlm_engines.tables import TableModel

        layout, tables = LayoutModel(), TableModel()
    except ImportError as exc:
        return {"skipped": f"not importable yet: {exc}"}
    rows = []
    try:
        layout.regions(generate("receipt", 10_000).images[0])  # warm-up
        for doc, i, img in pages:
            started = time.perf_counter()
            regions = layout.regions(img)
            layout_s = time.perf_counter() - started
            grids = []
            for region in regions:
                if region.kind == "table":
                    grid = tables.read(img, region, lines[(doc.kind, doc.seed, i)])
                    if grid is not None:  # a region the table model could not read as a table
                        grids.append(grid.grid())
            total_s = time.perf_counter() - started
            truth = doc.tables[i]
            rows.append({"kind": doc.kind, "seed": doc.seed, "page": i, "layout_s": layout_s, "seconds": total_s,
                         "regions": len(regions), "tables_found": len(grids), "tables_truth": len(truth),
                         "table_cells": sum(dm.cells(t) for t in truth),
                         "table_cells_matched": sum(dm.best_table_accuracy(t, grids) * dm.cells(t) for t in truth)})
    except Exception as exc:  # noqa: BLE001 - a stage being written: report it, measure the rest
        return {"error": repr(exc)[:300], "pages": len(rows)}
    cells = sum(r["table_cells"] for r in rows)
    return {"pages": len(rows), "s_per_page_mean": statistics.fmean(r["seconds"] for r in rows),
            "layout_s_per_page_mean": statistics.fmean(r["layout_s"] for r in rows),
            "table_cell_accuracy": sum(r["table_cells_matched"] for r in rows) / cells if cells else None,
            "rows": rows}


# --- the benchmark


async def run(smoke: bool, per_kind: int | None = None) -> dict[str, Any]:
    count = per_kind or (SMOKE_DOCS if smoke else DOCS)
    threads, phases, started = TESSERACT_THREADS, {}, time.perf_counter()

    def phase(name: str) -> None:
        nonlocal started
        phases[name] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()

    docs = corpus(count)
    pages = page_sets(docs, smoke)
    phase("generate")
    with tempfile.TemporaryDirectory(prefix="bench-cpu-docs-") as tmp:
        workdir = Path(tmp)
        tess = {name: tesseract(items, threads, workdir) for name, items in pages.items()}
        phase("tesseract")
        service = await through_service(docs, pages, workdir, smoke)
        phase("service")
    in_process = stages(docs, smoke)
    phase("stages")

    figures = {
        "tesseract": {name: totals(rows) for name, rows in tess.items()},
        "service_ocr_images": {name: totals(rows) for name, rows in service["ocr_images"].items()},
        "service_ocr_pdf": totals(service["ocr_pdf"]),
        "markdown": {name: totals(rows) for name, rows in service["markdown"].items() if rows},
        "structured": service["structured"],
        "stages": in_process,
    }
    result = {"smoke": smoke, "documents_per_kind": count, "documents": len(docs),
              "pages": {name: len(items) for name, items in pages.items()},
              "tesseract_threads": threads, "tesseract_env": f"OMP_THREAD_LIMIT={threads}",
              "phase_s": phases, "warm_up_s": service["warm_up_s"], "metric_self_check": self_check(docs),
              **figures,
              "rows": {"tesseract": tess, "service_ocr_images": service["ocr_images"]},
              "targets": targets(figures)}
    common.write_result(NAME, result)
    chart(result)
    return result


def targets(f: dict[str, Any]) -> dict[str, dict[str, Any]]:
    svc, tess = f["service_ocr_images"], f["tesseract"]
    speed = statistics.fmean(svc[n]["s_per_page_mean"] for n in svc)
    beats = {n: svc[n]["word_recall"] >= tess[n]["word_recall"] for n in svc}
    out = {
        "ocr_speed": {"target": f"document.ocr ≤ {OCR_S} s per page (ImageService, clean and scanned A4 at 150 dpi)",
                      "measured": ", ".join(f"{n} {svc[n]['s_per_page_mean']:.2f} s (Tesseract "
                                            f"{tess[n]['s_per_page_mean']:.2f} s)" for n in svc),
                      "met": speed <= OCR_S},
        "ocr_words": {"target": "document.ocr word accuracy ≥ Tesseract's, clean and scanned",
                      "measured": ", ".join(f"{n} {svc[n]['word_recall']:.3f} vs {tess[n]['word_recall']:.3f}"
                                            for n in svc),
                      "met": all(beats.values())},
    }
    lt = f["stages"]["layout_tables"]
    measured = (f"{lt['s_per_page_mean']:.2f} s per page (layout {lt['layout_s_per_page_mean']:.2f} s)"
                if lt.get("pages") and "error" not in lt else lt.get("skipped") or lt.get("error"))
    out["layout_tables_speed"] = {"target": f"layout + tables ≤ {STAGES_S} s per page (in-process)",
                                  "measured": measured,
                                  "met": bool(lt.get("pages")) and "error" not in lt
                                  and lt["s_per_page_mean"] <= STAGES_S}
    for domain, keys in KEY_FIELDS.items():
        info = f["structured"][domain]["pdf"]
        if info.get("fields"):
            accs = {k: info["fields"].get(k, 0.0) for k in keys}
            measured, met = ", ".join(f"{k} {v:.2f}" for k, v in accs.items()), min(accs.values()) >= FIELD_TARGET
        else:
            measured, met = "not served" if not info["served"] else info.get("note", "no answer"), False
        out[f"fields_{domain.split('.')[1]}"] = {"target": f"{domain}: {', '.join(keys)} ≥ {FIELD_TARGET}",
                                                  "measured": measured, "met": met}
    return out


def chart(result: dict[str, Any]) -> None:
    plt = common.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6))
    stages, markdown = result["stages"], result["markdown"].get("pdf", {})
    grey, blue, orange, green = "#aaaaaa", "#4a78a8", "#d98b3a", "#5a9a5a"
    times = [("Tesseract\nclean", result["tesseract"]["clean"].get("s_per_page_mean"), grey),
             ("Tesseract\nscanned", result["tesseract"]["scanned"].get("s_per_page_mean"), grey),
             ("service\nclean", result["service_ocr_images"]["clean"].get("s_per_page_mean"), blue),
             ("service\nscanned", result["service_ocr_images"]["scanned"].get("s_per_page_mean"), blue),
             ("service\nPDF", result["service_ocr_pdf"].get("s_per_page_mean"), orange),
             ("OCR stage\n(in-process)", stages["ocr_clean"].get("s_per_page_mean"), green),
             ("layout +\ntables", stages["layout_tables"].get("s_per_page_mean"), green)]
    times = [(n, v, c) for n, v, c in times if v is not None]
    bars = left.bar([n for n, _, _ in times], [v for _, v, _ in times], color=[c for _, _, c in times])
    left.bar_label(bars, fmt="%.2f")
    left.axhline(OCR_S, color="grey", linestyle="--", linewidth=1, label=f"OCR target {OCR_S} s")
    left.axhline(STAGES_S, color=green, linestyle=":", linewidth=1, label=f"layout + tables target {STAGES_S} s")
    left.set_ylabel("seconds per page (mean)")
    left.set_title("time per page (clean pages unless marked)")
    left.legend(fontsize=8)
    left.tick_params(axis="x", labelsize=8)
    scores = [("Tesseract\nclean", result["tesseract"]["clean"].get("word_recall"), grey),
              ("Tesseract\nscanned", result["tesseract"]["scanned"].get("word_recall"), grey),
              ("service\nclean", result["service_ocr_images"]["clean"].get("word_recall"), blue),
              ("service\nscanned", result["service_ocr_images"]["scanned"].get("word_recall"), blue),
              ("service\nPDF", result["service_ocr_pdf"].get("word_recall"), orange),
              ("markdown\nwords", markdown.get("word_recall"), orange),
              ("markdown\ntable cells", markdown.get("table_cell_accuracy"), orange),
              ("table stage\ncells", stages["layout_tables"].get("table_cell_accuracy"), green)]
    scores = [(n, v, c) for n, v, c in scores if v is not None]
    bars = right.bar([n for n, _, _ in scores], [v for _, v, _ in scores], color=[c for _, _, c in scores])
    right.bar_label(bars, fmt="%.3f", fontsize=8)
    right.set_ylim(0, 1.12)
    right.set_ylabel("word recall / cell accuracy")
    right.set_title(f"accuracy, {result['documents']} documents, {result['pages']['clean']} pages")
    right.tick_params(axis="x", labelsize=8)
    common.save_chart(fig, NAME)
