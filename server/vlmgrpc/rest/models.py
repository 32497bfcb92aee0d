"""Request and response bodies of the REST API, as the VLM Run API and its SDK define them. Requests are
validated with these models; every model here is also a component of the OpenAPI document (openapi.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["pending", "enqueued", "running", "completed", "failed", "paused"]


class _Request(BaseModel):
    # Fields this service does not know (the hosted API's newer ones) are ignored, as the SDK ignores ours.
    model_config = ConfigDict(extra="ignore")


class GenerationConfig(_Request):
    """The generation config (what gRPC's vlm.v1.GenerationConfig carries)."""

    prompt: str | None = None
    json_schema: dict[str, Any] | None = None
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


class RequestMetadata(_Request):
    environment: Literal["dev", "staging", "prod"] | None = None
    session_id: str | None = None
    allow_training: bool | None = None


class _Generate(_Request):
    domain: str = Field(description="the domain identifier, e.g. document.ocr (GET /v1/domains lists them)")
    model: str = Field("vlm-1", description="a model id of GET /v1/models; vlm-1: the first that serves the domain")
    config: GenerationConfig | None = None
    metadata: RequestMetadata | None = None
    callback_url: str | None = Field(None, description="POSTed the terminal prediction, signed with "
                                     "X-VLMRun-Signature: sha256=<HMAC-SHA256 of the body>")
    id: str | None = Field(None, description="request id: a retried request with the same id returns the "
                           "prediction the first one made (the Idempotency-Key header does the same)")
    created_at: datetime | None = None
    stream: bool = Field(False, description="answer with the prediction's Server-Sent Events stream "
                         "(as GET /v1/predictions/{id}/events) instead of JSON")


class ImageGenerateRequest(_Generate):
    images: list[str] = Field(description="data: URLs (data:image/jpeg;base64,...), plain base64, http(s) URLs, "
                              "or ids of uploaded files")
    batch: bool = Field(False, description="answer at once (true) or when the prediction is terminal (false)")


class DocumentGenerateRequest(_Generate):
    file_id: str | None = Field(None, description="an uploaded file (POST /v1/files); give file_id or url")
    url: str | None = Field(None, description="an http(s) or data: URL of the document")
    batch: bool = Field(True, description="answer at once (true) or when the prediction is terminal (false)")


class SchemaRequest(_Request):
    domain: str
    config: GenerationConfig | None = None


class HubSchemaRequest(_Request):
    domain: str
    gql_stmt: str | None = None


class PresignedUrlRequest(_Request):
    filename: str
    purpose: str = "assistants"
    expiration: int = Field(86400, ge=60, le=7 * 86400, description="seconds the upload URL stays valid")


# --- responses (documentation of what is served; the tests check the live answers against them)


class CreditUsage(BaseModel):
    elements_processed: int | None = None
    element_type: Literal["image", "page", "video", "audio"] | None = None
    credits_used: int | None = None
    steps: int | None = None
    message: str | None = None
    duration_seconds: int = 0


class Progress(BaseModel):
    done: int
    total: int


class PredictionResponse(BaseModel):
    id: str
    created_at: datetime
    completed_at: datetime | None = None
    status: JobStatus
    domain: str | None = None
    response: Any = None
    usage: CreditUsage
    message: str | None = None
    error: dict[str, Any] | None = Field(None, description="why a failed prediction failed: code, reason, message")
    model: str | None = None
    batch: bool | None = None
    request_id: str | None = None
    progress: Progress | None = None


class PredictionEvent(BaseModel):
    """The data of one Server-Sent Event; its SSE id is the sequence (resume with Last-Event-ID)."""

    sequence: int
    type: Literal["snapshot", "status_changed", "progress", "heartbeat", "output_delta"]
    time: datetime
    prediction: PredictionResponse | None = None
    delta: dict[str, Any] | None = None


class FileResponse(BaseModel):
    id: str | None
    filename: str | None
    bytes: int
    purpose: str
    created_at: datetime
    object: str = "file"
    public_url: str | None = None
    content_type: str | None = None
    sha256: str | None = None
    md5: str | None = None
    detected_type: str | None = None


class PresignedUrlResponse(BaseModel):
    id: str | None
    url: str | None
    filename: str | None
    content_type: str | None
    upload_method: str | None
    public_url: str | None
    created_at: datetime
    expiration: int | None = None
    method: str | None = None


class SchemaResponse(BaseModel):
    domain: str
    description: str | None = None
    schema_version: str
    schema_hash: str
    gql_stmt: str
    json_schema: dict[str, Any]


class ModelInfo(BaseModel):
    model: str
    domain: str
    engine: str | None = None
    ready: bool | None = None


class DomainInfo(BaseModel):
    domain: str
    description: str | None = None
    served: bool | None = None
    models: list[str] | None = None


class HubInfoResponse(BaseModel):
    version: str


class HealthResponse(BaseModel):
    status: Literal["ok", "unavailable"]
    models: dict[str, bool]


class ErrorDetail(BaseModel):
    message: str
    type: str
    id: str
    code: int
    status: str
    reason: str
    metadata: dict[str, str]
    violations: list[dict[str, str]]


class ErrorResponse(BaseModel):
    error: ErrorDetail
    detail: str
