"""What the facade returns and takes: pydantic models with the VLM Run SDK's names and fields where it has
them (PredictionResponse -> Prediction, FileResponse -> FileInfo, SchemaResponse -> DomainSchema, ...), plus
the fields a gRPC caller gets on top (progress, request_id, sequence numbers, typed errors)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

# The six statuses of the VLM Run API (lowercase, as its JSON has them). Terminal: completed, failed.
PredictionStatus = Literal["pending", "enqueued", "running", "completed", "failed", "paused"]
TERMINAL = frozenset({"completed", "failed"})
T = TypeVar("T")


class _Model(BaseModel):
    # The server may add fields (AIP-180): unknown ones are kept, not rejected.
    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)


class CreditUsage(_Model):
    elements_processed: int = 0
    element_type: str = ""
    credits_used: int = 0
    steps: int = 0
    message: str = ""
    duration_seconds: int = 0
    output_tokens: int = 0


class Progress(_Model):
    done: int = 0
    total: int = 0


class FieldViolationInfo(_Model):
    field: str
    description: str


class PredictionError(_Model):
    """A failed prediction's google.rpc.Status: canonical code, message, ErrorInfo reason, field violations."""

    code: int
    code_name: str
    message: str
    reason: str = ""
    domain: str = ""
    metadata: dict[str, str] = Field(default_factory=dict)
    violations: list[FieldViolationInfo] = Field(default_factory=list)


class Prediction(_Model):
    """A prediction (VLM Run PredictionResponse). `response` is the answer as JSON values, or a pydantic
    object when typed (response_model= or autocast=True)."""

    id: str
    status: str  # one of PredictionStatus; a newer server may add states
    domain: str = ""
    created_at: datetime | None = None
    completed_at: datetime | None = None
    response: Any = None
    usage: CreditUsage = Field(default_factory=CreditUsage)
    error: PredictionError | None = None
    request_id: str = ""
    model: str = ""
    batch: bool = False
    progress: Progress = Field(default_factory=Progress)
    message: str = ""
    callback_url: str = ""
    request_created_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class OutputDelta(_Model):
    element_index: int = 0
    text: str = ""
    offset: int = 0
    attempt: int = 0


class PredictionEvent(_Model):
    """One event of a prediction's history. `type`: snapshot, status_changed, progress, heartbeat or
    output_delta. Sequence numbers grow by one per status change or progress event."""

    sequence: int
    type: str
    event_time: datetime | None = None
    prediction: Prediction | None = None
    output_delta: OutputDelta | None = None


class FileInfo(_Model):
    """An uploaded file (VLM Run FileResponse)."""

    id: str
    filename: str = ""
    bytes: int = 0
    created_at: datetime | None = None
    object: str = "file"
    purpose: str = ""
    content_type: str = ""
    sha256: str = ""
    detected_type: str = ""


class DomainInfo(_Model):
    domain: str
    description: str = ""
    served: bool = False
    supported_inputs: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)


class DomainSchema(_Model):
    """A domain's JSON schema (VLM Run SchemaResponse)."""

    domain: str
    description: str = ""
    schema_version: str = ""
    schema_hash: str = ""
    gql_stmt: str = ""
    json_schema: dict[str, Any] = Field(default_factory=dict)

    def response_model(self) -> type[BaseModel]:
        """A pydantic model built from the JSON schema (vlmgrpc_client.typed), cached per schema hash."""
        from vlmgrpc_client.typed import model_for_schema

        return model_for_schema(self.domain, self.json_schema, self.schema_hash)


class ModelInfo(_Model):
    id: str
    engine: str = ""
    protocol: str = ""
    domains: list[str] = Field(default_factory=list)
    follows_json_schema: bool = False
    ready: bool = False
    max_images: int = 0


class GenerationConfig(_Model):
    """The VLM Run GenerationConfig. Unset fields take the server's defaults. `response_model` (a pydantic
    class), as in the SDK, is sent as `json_schema` (needs a model that follows schemas) and results are
    validated into it."""

    prompt: str | None = None
    json_schema: dict[str, Any] | None = None
    response_model: type[BaseModel] | None = Field(default=None, exclude=True)
    gql_stmt: str | None = None
    max_retries: int | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    detail: Literal["auto", "lo", "hi"] | None = None
    confidence: bool | None = None
    grounding: bool | None = None
    page_indices: list[int] | None = None
    video_segment_duration: float | None = None
    video_frames_per_segment: int | None = None
    service_tier: Literal["auto", "default", "standard", "flex", "priority"] | None = None

    def wire(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True, exclude={"response_model"})
        if self.response_model is not None and "json_schema" not in data:
            data["json_schema"] = self.response_model.model_json_schema()
        return data


class RequestMetadata(_Model):
    environment: Literal["dev", "staging", "prod"] | None = None
    session_id: str | None = None
    allow_training: bool | None = None


class Page(_Model, Generic[T]):
    """One page of a listing; iterate it for its items. `next_page_token` is empty on the last page."""

    items: list[T] = Field(default_factory=list)
    next_page_token: str = ""

    def __iter__(self):  # type: ignore[override] - iterate items, not fields
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index]
