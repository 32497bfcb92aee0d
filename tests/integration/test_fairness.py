"""One large document keeps the model busy but never starves the small requests submitted after it."""

from __future__ import annotations

import time

import pymupdf
import pytest

from tests.conftest import pdf, text_png
from tests.integration.helpers import status_name, terminal, wait_for
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc.api.vlm.v1 import prediction_service_pb2 as ps
from vlmgrpc_client import Client

pytestmark = pytest.mark.integration


def scanned_copies(one_page_scan: bytes, pages: int) -> bytes:
    """A scan of `pages` pages, each showing the same picture (one image object: quick to build and small),
    so every page goes through OCR (~50 ms) as a real scan would; text-layer pages take a millisecond."""
    src = pymupdf.open(stream=one_page_scan)
    width, height = src[0].rect.width, src[0].rect.height
    picture = src.extract_image(src[0].get_images()[0][0])["image"]
    out = pymupdf.open()
    shared = 0
    for _ in range(pages):
        page = out.new_page(width=width, height=height)
        if shared:
            page.insert_image(page.rect, xref=shared)
        else:
            shared = page.insert_image(page.rect, stream=picture)
    return out.tobytes()


async def test_2000_page_documents_do_not_starve_a_later_image(server):
    async with Client(server.target) as client:
        document = scanned_copies(pdf(1, scanned=True), 2000)
        bigs = [(await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
            domain="document.ocr", document=pb.DocumentInput(data=document)), timeout=60)).prediction
            for _ in range(2)]  # as many as the old default of two workers: both were taken
        big = bigs[0]
        try:
            for doc in bigs:  # both run and hold the model
                await wait_for(client, doc.id, lambda p: p.progress.done >= 1, timeout_s=90)
            images = [pb.ImageInput(data=text_png([f"Small request {i}"])) for i in range(3)]
            started = time.monotonic()
            small = (await client.images.Generate(img_pb.ImageServiceGenerateRequest(
                domain="document.ocr", images=images), timeout=60)).prediction
            waited = time.monotonic() - started
            assert status_name(small.status) == "completed", small.error.message
            assert "Small request 2" in small.response.struct_value["text"]
            # Behind the document's 1,998 remaining pages it would wait many minutes; fairly shared, it waits
            # for a page or two of the document per image.
            assert waited < 30, f"the small request waited {waited:.1f} s"
            progress = (await client.predictions.GetPrediction(ps.GetPredictionRequest(id=big.id))).prediction
            assert progress.progress.done < 2000 and status_name(progress.status) == "running"
        finally:
            for doc in bigs:
                await client.predictions.CancelPrediction(ps.CancelPredictionRequest(id=doc.id), timeout=30)
        for doc in bigs:
            assert status_name((await terminal(client, doc.id)).status) == "failed"
