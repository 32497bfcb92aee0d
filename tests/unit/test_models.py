"""Which model a request goes to (inference/models.py: ModelRegistry.resolve), and the errors that name
what is available."""

from __future__ import annotations

import pytest

from vlmgrpc.errors import Code, ServiceError
from vlmgrpc.inference.models import ModelInfo, ModelRegistry

CATALOGUE = ["document.invoice", "document.markdown", "document.ocr", "image.caption"]


def _registry(*models: ModelInfo) -> ModelRegistry:
    registry = ModelRegistry(None, [], lambda: CATALOGUE)  # type: ignore[arg-type]
    for model in models:
        registry.register(model)
    return registry


OCR = ModelInfo("ocr", "vlmgrpc", "ocr", ("document.ocr", "document.markdown"), False, False, 1 << 16, True)
VLM = ModelInfo("transformers", "vlmgrpc", "transformers", tuple(CATALOGUE), True, True, 8, True)


def _fails(registry: ModelRegistry, domain: str, model: str = "", custom: bool = False) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        registry.resolve(domain, model, custom)
    return info.value


def test_default_is_the_first_model_that_serves_the_domain():
    registry = _registry(OCR, VLM)
    assert registry.resolve("document.ocr", "").id == "ocr"
    assert registry.resolve("document.ocr", "vlm-1").id == "ocr"  # the VLM Run SDKs' default
    assert registry.resolve("document.invoice", "").id == "transformers"
    assert registry.resolve("document.ocr", "transformers").id == "transformers"


def test_a_custom_schema_goes_to_a_model_that_follows_schemas():
    registry = _registry(OCR, VLM)
    assert registry.resolve("document.ocr", "", custom_schema=True).id == "transformers"
    err = _fails(registry, "document.ocr", "ocr", custom=True)
    assert (err.code, err.reason) == (Code.FAILED_PRECONDITION, "SCHEMA_NOT_SUPPORTED")
    assert "transformers" in err.message
    err = _fails(_registry(OCR), "document.ocr", custom=True)
    assert err.reason == "SCHEMA_NOT_SUPPORTED" and "none is loaded" in err.message


def test_unknown_model_names_the_models():
    err = _fails(_registry(OCR, VLM), "document.ocr", "gpt-17")
    assert (err.code, err.reason) == (Code.INVALID_ARGUMENT, "UNKNOWN_MODEL")
    assert err.violations[0][0] == "model"
    assert "ocr, transformers" in err.message


def test_unserved_domain_names_what_is_served():
    err = _fails(_registry(OCR), "document.invoice")
    assert (err.code, err.reason) == (Code.FAILED_PRECONDITION, "DOMAIN_NOT_SERVED")
    assert "document.invoice" in err.message and "document.ocr" in err.message
    assert err.metadata["served"] == "document.markdown, document.ocr"
    err = _fails(_registry(OCR, VLM), "image.caption", "ocr")
    assert err.reason == "DOMAIN_NOT_SERVED"
    assert "model 'ocr' does not serve domain 'image.caption'" in err.message and "transformers" in err.message


def test_a_model_that_is_not_ready_is_not_used_by_default_when_another_is():
    down = ModelInfo("vlm-a", "vlmgrpc", "transformers", tuple(CATALOGUE), True, True, 8, False)
    registry = _registry(down, VLM)
    assert registry.resolve("document.invoice", "").id == "transformers"
    err = _fails(registry, "document.invoice", "vlm-a")
    assert (err.code, err.reason) == (Code.UNAVAILABLE, "MODEL_NOT_READY")


class _Configs:
    """Triton's model configurations as the gateway returns them (JSON form)."""

    def __init__(self, configs: dict):
        self.configs = configs

    async def model_config(self, name: str) -> dict:
        return self.configs[name]


async def test_page_size_and_text_layer_come_from_the_model_configuration():
    from vlmgrpc.settings import ModelEntry

    def config(inputs, **params):
        return {"input": [{"name": n} for n in inputs], "parameters": {
            "domains": {"string_value": "document.ocr"}, **{k: {"string_value": v} for k, v in params.items()}}}

    gateway = _Configs({"ocr": config(["IMAGES", "DOMAIN", "CONFIG", "TEXT_HINT"]),
                        "vlm": config(["IMAGES", "DOMAIN", "CONFIG"], page_pixels="1003520")})
    registry = ModelRegistry(gateway, [], lambda: CATALOGUE)  # type: ignore[arg-type]
    ocr = await registry._info(ModelEntry(name="ocr"))
    vlm = await registry._info(ModelEntry(name="vlm"))
    tuned = await registry._info(ModelEntry(name="vlm", page_pixels=500_000))
    assert (ocr.reads_text_layer, ocr.page_pixels) == (True, 0)  # 0: rendered at render_dpi
    assert (vlm.reads_text_layer, vlm.page_pixels) == (False, 1_003_520)
    assert tuned.page_pixels == 500_000  # the setting wins over the model's parameter
