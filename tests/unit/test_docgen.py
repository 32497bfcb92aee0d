"""Generated business documents (vlm_engines.testing.documents) and the scores against their truth
(bench/doc_metrics.py)."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pymupdf
import pytest
from PIL import Image
from vlm_engines.testing.documents import KINDS, Doc, generate

from bench import doc_metrics as dm

SEEDS = range(12)
PAGE_PX = (1240, 1754)


@pytest.fixture(scope="module")
def docs() -> dict[str, list[Doc]]:
    return {kind: [generate(kind, seed) for seed in SEEDS] for kind in KINDS}


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_document(kind: str) -> None:
    a, b = generate(kind, 3), generate(kind, 3)
    assert a.pdf == b.pdf and a.pages == b.pages
    assert (a.words, a.tables, a.fields) == (b.words, b.tables, b.fields)
    assert generate(kind, 4).pdf != a.pdf


def test_unknown_kind_and_rotation_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        generate("passport", 0)
    with pytest.raises(ValueError, match="rotation"):
        generate("invoice", 0, rotation=45)


@pytest.mark.parametrize("kind", KINDS)
def test_text_layer_holds_every_truth_word(kind: str, docs: dict[str, list[Doc]]) -> None:
    for doc in docs[kind]:
        with pymupdf.open("pdf", doc.pdf) as pdf:
            assert len(pdf) == doc.page_count == len(doc.tables)
            for i, page in enumerate(pdf):
                assert Counter(w[4] for w in page.get_text("words")) == Counter(doc.words[i]), (kind, doc.seed, i)


@pytest.mark.parametrize("kind", KINDS)
def test_table_cells_are_printed_words(kind: str, docs: dict[str, list[Doc]]) -> None:
    for doc in docs[kind]:
        for words, tables in zip(doc.words, doc.tables, strict=True):
            assert tables, (kind, doc.seed)
            printed = Counter(words)
            for table in tables:
                assert len({len(row) for row in table}) == 1  # rectangular, header row first
                cell_words = Counter(w for row in table for cell in row for w in cell.split())
                assert not cell_words - printed


def _items_add_up(fields: dict, items_key: str, tax_key: str, total_key: str) -> None:
    for item in fields[items_key]:
        if "unit_price" in item:
            assert item["total_price"] == pytest.approx(item["quantity"] * item["unit_price"], abs=0.005)
    assert sum(i["total_price"] for i in fields[items_key]) == pytest.approx(fields["subtotal"], abs=0.005)
    assert fields["subtotal"] + fields[tax_key] == pytest.approx(fields[total_key], abs=0.005)


def test_invoice_and_receipt_amounts_add_up(docs: dict[str, list[Doc]]) -> None:
    for doc in docs["invoice"]:
        _items_add_up(doc.fields, "items", "tax_amount", "total_amount")
        assert doc.fields["invoice_due_date"] > doc.fields["invoice_issue_date"]
        assert doc.fields["currency"] in {"USD", "EUR", "GBP"}
    for doc in docs["receipt"]:
        _items_add_up(doc.fields, "items", "tax", "total")


def test_statement_balances_run_through(docs: dict[str, list[Doc]]) -> None:
    for doc in docs["bank-statement"]:
        f = doc.fields
        balance = f["starting_balance"]
        for t in f["table_item"]:
            balance = round(balance + t.get("transaction_deposit", 0.0) - t.get("transaction_withdrawal", 0.0), 2)
            assert t["ending_daily_balance"] == pytest.approx(balance, abs=0.005)
            day = t.get("transaction_deposit_date") or t["transaction_withdrawal_date"]
            assert f["statement_start_date"] <= day <= f["statement_end_date"]
        assert f["ending_balance"] == pytest.approx(
            f["starting_balance"] + f["total_deposits"] - f["total_withdrawals"], abs=0.005)


def test_layouts_vary_with_the_seed(docs: dict[str, list[Doc]]) -> None:
    invoices = [d.layout for d in docs["invoice"]]
    for key in ("header", "addresses", "bordered", "terms", "currency", "date_format", "font"):
        assert len({layout[key] for layout in invoices}) > 1, key
    for kind in ("invoice", "bank-statement"):  # long tables run onto a second page, header printed again
        long = [d for d in docs[kind] if d.page_count == 2]
        assert long, kind
        first, second = long[0].tables[0][0], long[0].tables[1][0]
        assert first[0] == second[0]
    assert any("Terms" in d.words[-1] for d in docs["invoice"])


def test_pages_are_a4_at_150_dpi_and_rotation_turns_them_clockwise() -> None:
    upright = generate("receipt", 1)
    assert Image.open(io.BytesIO(upright.pages[0])).size == PAGE_PX
    turned = generate("receipt", 1, rotation=90)
    assert turned.images[0].size == PAGE_PX[::-1]
    assert np.array_equal(_pixels(turned.images[0]), np.rot90(_pixels(upright.images[0]), k=-1))
    half = generate("receipt", 1, rotation=180)
    assert np.array_equal(_pixels(half.images[0]), np.rot90(_pixels(upright.images[0]), k=2))


def test_scans_are_noisy_images_without_text() -> None:
    clean, scanned = generate("receipt", 2), generate("receipt", 2, scanned=True)
    assert scanned.words == clean.words and scanned.fields == clean.fields
    a, b = _pixels(clean.images[0]).astype(int), _pixels(scanned.images[0]).astype(int)
    assert a.shape == b.shape
    assert 3 < np.abs(a - b).mean() < 60  # visibly different, still the same page
    with pymupdf.open("pdf", scanned.scanned_pdf) as pdf:
        assert len(pdf) == clean.page_count
        assert pdf[0].get_text().strip() == "" and len(pdf[0].get_images()) == 1
    turned = generate("receipt", 2, scanned=True, rotation=270)
    assert turned.images[0].size == PAGE_PX[::-1]


# --- the metrics


def test_word_accuracy_is_one_on_the_truth_and_less_on_damage() -> None:
    words = generate("invoice", 0).words[0]
    text = " ".join(words)
    assert dm.word_accuracy(words, text) == 1.0
    assert dm.word_score(words, text).precision == 1.0
    assert dm.word_order(words, text) == 1.0
    damaged = " ".join(w for i, w in enumerate(words) if i % 10)
    assert 0.85 < dm.word_accuracy(words, damaged) < 1.0
    assert dm.word_score(words, text + " noise words").precision < 1.0
    assert dm.word_accuracy(words, text.lower()) < 1.0  # case-sensitive
    assert dm.word_order(words, " ".join(reversed(words))) < 0.1


def test_word_edges_ignore_punctuation_and_currency() -> None:
    assert dm.word_accuracy(["Total:", "$1,234.56"], "Total $ 1,234.56") == 1.0
    assert dm.word_accuracy(["(Qty)"], "Qty") == 1.0


def _markdown(table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(row) + " |" for row in table]
    return "\n".join([lines[0], "|" + "---|" * len(table[0]), *lines[1:]])


def test_table_accuracy_aligns_the_prediction() -> None:
    truth = generate("bank-statement", 0).tables[0][0]
    assert dm.table_cell_accuracy(truth, truth) == 1.0
    assert dm.table_cell_accuracy(truth, _markdown(truth)) == 1.0
    cells = [{"content": c, "index": [r, k]} for r, row in enumerate(truth) for k, c in enumerate(row)]
    assert dm.table_cell_accuracy(truth, cells) == 1.0
    extra_column = [["x", *row] for row in truth]
    assert dm.table_cell_accuracy(truth, extra_column) == 1.0
    missing_row = truth[:2] + truth[3:]
    assert dm.table_cell_accuracy(truth, missing_row) == pytest.approx(1 - dm.cells([truth[2]]) / dm.cells(truth))
    merged = [[f"{row[0]} {row[1]}", *row[2:]] for row in truth]
    assert dm.table_cell_accuracy(truth, merged) < 1.0
    assert dm.table_cell_accuracy(truth, None) == 0.0
    assert dm.best_table_accuracy(truth, [missing_row, truth]) == 1.0


def test_field_accuracy_is_all_right_on_the_truth_and_finds_damage() -> None:
    for kind in KINDS:
        truth = generate(kind, 1).fields
        assert all(dm.field_accuracy(truth, truth).values()), kind
    truth = generate("invoice", 1).fields
    answer = {**truth, "total_amount": truth["total_amount"] + 0.02, "subtotal": truth["subtotal"] + 0.004,
              "issuer_name": f"  {truth['issuer_name'].upper()} ", "invoice_issue_date": truth["invoice_issue_date"]
              + "T00:00:00", "items": truth["items"][1:]}
    result = dm.field_accuracy(truth, answer)
    assert not result["total_amount"] and result["subtotal"] and result["issuer_name"]
    assert result["invoice_issue_date"]
    assert not result["items[0].description"] and all(v for k, v in result.items() if k.startswith("items[1]"))
    assert not any(dm.field_accuracy(truth, None).values())
    groups = dm.field_groups([result, dm.field_accuracy(truth, truth)])
    assert groups["total_amount"] == 0.5 and "items[].unit_price" in groups


def test_field_values_compare_by_type() -> None:
    assert dm.same_value(1234.56, "1.234,56 €") and dm.same_value(1234.56, "$1,234.56")
    assert dm.same_value("2026-03-14T13:45:00", "2026-03-14T13:45")
    assert not dm.same_value("2026-03-14T13:45:00", "2026-03-14T13:46:00")
    assert dm.same_value("2026-03-14T13:45:00", "2026-03-14")  # a date alone: the date is right
    assert not dm.same_value("2026-03-14", "14/03/2026")  # answers give ISO dates
    assert dm.same_value("DE89 3704 0044", "de8937040044")
