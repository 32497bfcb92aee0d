"""Line crops recognised on several threads come back in the order they were given, read as one thread reads
them, with rapidocr's real recogniser (the PP-OCR model inside its wheel)."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

pytest.importorskip("rapidocr")

from rapidocr.ch_ppocr_rec import TextRecInput  # noqa: E402
from vlm_engines.ocr import OcrEngine  # noqa: E402
from vlm_engines.recognise import SplitRecogniser  # noqa: E402

WORDS = ["Total", "Invoice 2026-0417", "12", "Amount due £1,204.50", "VAT", "Sheffield S1 2AB", "Qty 3", "x"]


def crop(text: str) -> np.ndarray:
    font = ImageFont.load_default(size=28)
    width = int(font.getlength(text)) + 16
    image = Image.new("RGB", (width, 40), "white")
    ImageDraw.Draw(image).text((8, 4), text, fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return np.asarray(Image.open(buffer).convert("RGB"))[:, :, ::-1].copy()  # BGR, as rapidocr crops are


@pytest.fixture(scope="module")
def recogniser() -> SplitRecogniser:
    engine = OcrEngine({"intra_op_threads": "2"})
    split = engine._ocr.text_rec
    assert isinstance(split, SplitRecogniser)
    return split


def test_threads_return_each_crop_in_its_place(recogniser):
    crops = [crop(word) for word in WORDS]
    split = recogniser(TextRecInput(img=crops))
    one_thread = SplitRecogniser(recogniser._recogniser, 1)(TextRecInput(img=crops))
    assert list(split.txts) == list(one_thread.txts)
    assert split.scores == pytest.approx(list(one_thread.scores))
    # The crops are read, not merely kept in order: most words come back as drawn.
    assert sum(text.strip() == word for text, word in zip(split.txts, WORDS, strict=True)) >= len(WORDS) - 2
    assert split.elapse > 0 and len(split.word_results) == len(crops)


def test_one_crop_and_a_bare_array_take_the_plain_path(recogniser):
    [text] = recogniser(TextRecInput(img=crop("Total"))).txts
    assert text.strip() == "Total"
