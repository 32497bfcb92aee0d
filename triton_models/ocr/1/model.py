"""Triton python backend model `ocr` (decoupled): one JSON RESPONSE per input page. See ../../README.md."""

from vlm_engines.page_model import PageModel


class TritonPythonModel(PageModel):
    pass
