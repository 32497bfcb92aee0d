"""The models the service fronts: what each serves, how to call it, whether it is ready, and which one a
request goes to. Read from the settings' model entries and each model's configuration in Triton."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from vlmgrpc.errors import ServiceError, failed_precondition, invalid, unavailable
from vlmgrpc.inference.gateway import TritonGateway
from vlmgrpc.inference.limits import FairSlots
from vlmgrpc.inference.prompts import ChatTemplate
from vlmgrpc.settings import ModelEntry

log = logging.getLogger(__name__)
ANY_DOMAIN = "*"
# What VLM Run clients send when they name no model (the SDKs always send it): the default route.
DEFAULT_ALIASES = ("", "vlm-1")


@dataclass
class ModelInfo:
    id: str  # the Triton model name
    protocol: str  # vlmgrpc or vllm
    engine: str  # ocr, transformers, vllm, ...
    domains: tuple[str, ...]
    follows_schema: bool  # decodes to any JSON schema: serves every catalogue domain and config.json_schema
    batched: bool  # max_batch_size > 0: requests carry a leading batch dimension
    max_images: int  # images (pages) in one request
    ready: bool = False
    chat_template: ChatTemplate | None = None  # vllm: the prompt is built here
    max_in_flight: int = 2  # requests sent and not answered at once (shared fairly by predictions)
    page_pixels: int = 0  # the most pixels it wants in a rendered page (a VLM's image budget); 0: no limit
    reads_text_layer: bool = True  # declares TEXT_HINT: pages come with their PDF text layer
    slots: FairSlots = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.slots = FairSlots(self.max_in_flight)

    @property
    def generative(self) -> bool:
        return self.follows_schema  # streams text, one cancellable call per request


DEFAULT_IN_FLIGHT = 64  # a model that batches by itself (vLLM's continuous batching) and says nothing


def in_flight_limit(entry: ModelEntry, config: dict, params: dict[str, str]) -> int:
    """Requests the service keeps in flight to a model: the setting, else the model's `max_in_flight`
    parameter, else enough to keep a batching model full (two batches per instance: one running, one
    queued behind it), else DEFAULT_IN_FLIGHT."""
    if entry.max_in_flight:
        return entry.max_in_flight
    if params.get("max_in_flight", "").strip():
        return max(1, int(params["max_in_flight"]))
    batch = int(config.get("max_batch_size") or 0)
    if batch > 0:
        instances = sum(int(g.get("count") or 1) for g in config.get("instance_group") or [{}])
        return 2 * batch * max(1, instances)
    return DEFAULT_IN_FLIGHT


class ModelRegistry:
    def __init__(self, gateway: TritonGateway, entries: list[ModelEntry], catalog_domains: Callable[[], list[str]]):
        self.gateway = gateway
        self.entries = entries
        self.catalog_domains = catalog_domains
        self._models: dict[str, ModelInfo] = {}

    async def load(self) -> None:
        """Read every configured model's Triton configuration (the models must exist in Triton)."""
        models = {}
        for entry in self.entries:
            models[entry.name] = await self._info(entry)
        self._models = models
        await self.refresh()
        for m in self._models.values():
            log.info("model %s (%s, %s): %s", m.id, m.protocol, m.engine,
                     "any domain (JSON schema)" if m.follows_schema else ", ".join(m.domains))

    async def _info(self, entry: ModelEntry) -> ModelInfo:
        config = await self.gateway.model_config(entry.name)
        params = {k: v.get("string_value", "") for k, v in (config.get("parameters") or {}).items()}
        vllm = entry.protocol == "vllm"
        declared = entry.domains if entry.domains is not None else (
            [ANY_DOMAIN] if vllm else [d.strip() for d in params.get("domains", "").split(",") if d.strip()])
        follows = ANY_DOMAIN in declared
        domains = tuple(sorted(set(self.catalog_domains()))) if follows else tuple(declared)
        max_images = entry.max_images if vllm else int(params.get("max_images") or 0) or (1 << 16)
        template = ChatTemplate.load(entry.tokenizer_path) if vllm else None
        if vllm and template is None:
            raise ValueError(f"model {entry.name!r} uses the vllm protocol and needs tokenizer_path: a local "
                             "checkpoint directory with its chat template, to build the prompt")
        return ModelInfo(id=entry.name, protocol=entry.protocol, engine="vllm" if vllm else params.get("engine", ""),
                         domains=domains, follows_schema=follows or vllm,
                         batched=int(config.get("max_batch_size") or 0) > 0, max_images=max_images,
                         chat_template=template, max_in_flight=in_flight_limit(entry, config, params),
                         page_pixels=entry.page_pixels or int(params.get("page_pixels") or 0),
                         reads_text_layer=any(i.get("name") == "TEXT_HINT" for i in config.get("input") or ()))

    async def refresh(self) -> bool:
        """Poll readiness; True when Triton and every model are ready."""
        server = await self.gateway.server_ready()
        for model in self._models.values():
            model.ready = server and await self.gateway.model_ready(model.id)
        return server and all(m.ready for m in self._models.values())

    def register(self, model: ModelInfo) -> None:
        """Add a model as if it had been read from Triton (after `load`, in settings order)."""
        self._models[model.id] = model

    def all(self) -> list[ModelInfo]:
        return list(self._models.values())

    def get(self, model_id: str) -> ModelInfo | None:
        return self._models.get(model_id)

    def serving(self, domain: str) -> list[ModelInfo]:
        return [m for m in self._models.values() if domain in m.domains]

    def served_domains(self) -> list[str]:
        return sorted({d for m in self._models.values() for d in m.domains})

    def resolve(self, domain: str, requested: str, custom_schema: bool = False) -> ModelInfo:
        """The model a request goes to: the one it names, else the first (in settings order) that serves
        its domain (and, with a custom json_schema, can follow one)."""
        names = ", ".join(self._models) or "none"
        if requested not in DEFAULT_ALIASES:
            model = self._models.get(requested)
            if model is None:
                raise invalid("UNKNOWN_MODEL", f"model {requested!r} is not served here; models: {names}", "model",
                              model=requested, models=names)
            self._check(model, domain, custom_schema)
        else:
            candidates = [m for m in self.serving(domain) if m.follows_schema or not custom_schema]
            if not candidates:
                raise self._not_served(domain, custom_schema)
            model = next((m for m in candidates if m.ready), candidates[0])
        if not model.ready:
            raise unavailable("MODEL_NOT_READY", f"model {model.id!r} is not ready yet; retry shortly",
                              model=model.id)
        return model

    def _check(self, model: ModelInfo, domain: str, custom_schema: bool) -> None:
        if domain not in model.domains:
            err = self._not_served(domain, custom_schema)
            err.message = f"model {model.id!r} does not serve domain {domain!r}; " + err.message
            raise err
        if custom_schema and not model.follows_schema:
            able = ", ".join(m.id for m in self._models.values() if m.follows_schema) or "none is loaded"
            raise failed_precondition("SCHEMA_NOT_SUPPORTED", f"model {model.id!r} cannot follow a custom "
                                      f"config.json_schema; models that can: {able}", model=model.id)

    def _not_served(self, domain: str, custom_schema: bool) -> ServiceError:
        serving = [m.id for m in self.serving(domain)]
        if serving and custom_schema:
            able = ", ".join(m.id for m in self._models.values() if m.follows_schema) or "none is loaded"
            return failed_precondition(
                "SCHEMA_NOT_SUPPORTED", f"no model that serves {domain!r} can follow a custom config.json_schema "
                f"(models that can: {able})", domain=domain)
        if serving:
            return failed_precondition("DOMAIN_NOT_SERVED", f"models that serve {domain!r}: {', '.join(serving)}",
                                       domain=domain, served=",".join(self.served_domains()))
        served = ", ".join(self.served_domains())
        return failed_precondition(
            "DOMAIN_NOT_SERVED", f"domain {domain!r} is not served by the loaded models "
            f"({', '.join(self._models)}); they serve {served}. A vision-language model serves every domain: "
            "load the transformers model (a local checkpoint) or a Triton vLLM model (see ModelService)",
            domain=domain, served=served)
