"""The CPU document engine through the real server and embedded Triton, on generated business documents with
known truth (vlm_engines.testing.documents): the text layer of born-digital PDFs, upright OCR of rotated scans,
tables in Markdown, slides, and schema-filled fields with grounding."""

from __future__ import annotations

import jsonschema
import pytest
from google.protobuf import json_format
from vlm_engines.testing.documents import generate

from tests.integration.helpers import published_schema, rpc_error
from vlmgrpc.api.vlm.v1 import document_service_pb2 as doc_pb
from vlmgrpc.api.vlm.v1 import image_service_pb2 as img_pb
from vlmgrpc.api.vlm.v1 import prediction_pb2 as pb
from vlmgrpc_client import Client, response

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(server):
    async with Client(server.target) as c:
        yield c


async def document(client: Client, domain: str, data: bytes, **config) -> dict:
    reply = await client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
        domain=domain, document=pb.DocumentInput(data=data), batch=False, config=pb.GenerationConfig(**config)),
        timeout=240)
    assert reply.prediction.status == pb.PREDICTION_STATUS_COMPLETED, reply.prediction.error
    return response(reply.prediction)


def words(text: str) -> list[str]:
    return [w.strip(".,:;()") for w in text.split()]


def recall(truth: list[str], text: str) -> float:
    found = words(text)
    hits = 0
    for word in (w.strip(".,:;()") for w in truth):
        if word in found:
            found.remove(word)
            hits += 1
    return hits / len(truth)


async def test_a_born_digital_pdf_is_read_from_its_text_layer_with_its_tables(client):
    doc = generate("invoice", 3)
    answer = await document(client, "document.markdown", doc.pdf)
    jsonschema.validate(answer, await published_schema(client, "document.markdown"))
    page = answer["pages"][0]
    # The exact text: every printed word is there (OCR would miss or change some).
    assert recall(doc.words[0], page["content"]) == 1.0
    [table] = page["tables"]
    truth = doc.tables[0][0]
    assert [h["name"] for h in table["headers"]] == truth[0]
    cells = {tuple(c["index"]): c["content"] for c in table["cells"]}
    assert [[cells.get((r, c), "") for c in range(len(truth[0]))] for r in range(len(truth))] == truth
    assert '<Table id="tb-0"/>' in page["content"]


async def test_a_rotated_scan_is_turned_upright_before_ocr(client):
    doc = generate("receipt", 5, scanned=True, rotation=90)
    reply = await client.images.Generate(img_pb.ImageServiceGenerateRequest(
        domain="document.ocr", images=[pb.ImageInput(data=doc.pages[0])], batch=False), timeout=240)
    answer = response(reply.prediction)
    page = answer["pages"][0]
    upright = doc.clean_images[0]
    assert (page["width"], page["height"]) == upright.size  # the page as read, not as sent
    assert recall(doc.words[0], page["text"]) >= 0.9


async def test_an_invoice_is_filled_from_its_words_and_grounded(client):
    doc = generate("invoice", 8)
    answer = await document(client, "document.invoice", doc.pdf, grounding=True, confidence=True)
    jsonschema.validate(answer, await published_schema(client, "document.invoice", grounding=True, confidence=True),
                        format_checker=jsonschema.FormatChecker())
    truth = doc.fields
    assert answer["invoice_id"] == truth["invoice_id"]
    assert answer["invoice_issue_date"] == truth["invoice_issue_date"]
    assert answer["total_amount"] == pytest.approx(truth["total_amount"], abs=0.01)
    assert answer["issuer_name"] == truth["issuer_name"]
    assert [item["description"] for item in answer["items"]] == [item["description"] for item in truth["items"]]
    meta = answer["invoice_id_metadata"]
    [box] = meta["bboxes"]
    assert box["page"] == 0 and all(0 <= v <= 1 for v in box["xywh"])
    assert meta["confidence"] in ("hi", "med", "low")


async def test_a_field_that_is_not_on_the_page_is_null(client):
    doc = generate("bank-statement", 2)
    answer = await document(client, "document.invoice", doc.pdf)  # a statement has no invoice number
    assert answer.get("invoice_id") is None


async def test_slides_are_answered_one_by_one(client):
    import pymupdf

    deck = pymupdf.open()
    for i, (title, bullet) in enumerate([("Quarterly Review", "Revenue grew"), ("Hiring Plan", "Two engineers"),
                                         ("Next Steps", "Ship the release")]):
        page = deck.new_page(width=960, height=540)
        page.insert_text((60, 100), title, fontsize=40, fontname="hebo")
        page.insert_text((80, 220), f"- {bullet} in slide {i + 1}", fontsize=24)
    answer = await document(client, "document.presentation", deck.tobytes())
    jsonschema.validate(answer, await published_schema(client, "document.presentation"))
    assert [s["slide_index"] for s in answer["slides"]] == [0, 1, 2]
    assert [s["title"] for s in answer["slides"]] == ["Quarterly Review", "Hiring Plan", "Next Steps"]
    assert "Two engineers in slide 2" in answer["slides"][1]["content"]
    assert answer["title"] == "Quarterly Review"


async def test_a_custom_schema_is_refused_by_the_extractor(client):
    code, reason, _ = await rpc_error(client.documents.Generate(doc_pb.DocumentServiceGenerateRequest(
        domain="document.invoice", document=pb.DocumentInput(data=generate("invoice", 1).pdf), batch=False,
        config=pb.GenerationConfig(json_schema=json_format.ParseDict(
            {"type": "object", "properties": {"x": {"type": "string"}}}, pb.GenerationConfig().json_schema)))))
    assert reason == "SCHEMA_NOT_SUPPORTED"
