"""Every setting of the service, in one place: environment variables VLMGRPC_* or CLI flags."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


class ModelEntry(BaseModel):
    """One Triton model the service fronts. Its id (what callers put in `model`) is its Triton name."""

    name: str = Field(description="the Triton model name, also the id callers use")
    protocol: Literal["vlmgrpc", "vllm"] = Field(
        "vlmgrpc", description="vlmgrpc: this project's tensor contract (triton_models/README.md); "
        "vllm: Triton's vLLM backend (text_input, image, sampling_parameters, text_output)")
    domains: list[str] | None = Field(
        None, description="domains it serves; None: the model's `domains` config parameter; ['*']: every "
        "catalogue domain (a model that follows any JSON schema)")
    params: dict[str, str] = Field(
        default_factory=dict, description="config.pbtxt parameters set when the embedded Triton loads it "
        "(e.g. model_path of a checkpoint); ignored for an external Triton")
    tokenizer_path: str = Field(
        "", description="vllm protocol: a local checkpoint directory whose chat template builds the prompt")
    max_images: int = Field(16, ge=1, description="vllm protocol: images per request")
    max_in_flight: int = Field(
        0, ge=0, description="requests in flight to this model at once, shared fairly by predictions; 0: the "
        "model's max_in_flight parameter, else 2 x max_batch_size x instances, else 64")
    page_pixels: int = Field(
        0, ge=0, description="pixels a rendered page may have for this model (the size it reads pages at); 0: "
        "the model's page_pixels parameter, else render_dpi up to max_image_pixels")


def parse_models(value: object) -> object:
    """`ocr,transformers` (names, in order of preference) or a JSON list of ModelEntry objects."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [{"name": name.strip()} for name in text.split(",") if name.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VLMGRPC_", extra="ignore")

    # --- gRPC server
    host: str = "127.0.0.1"
    port: int = 50051
    max_message_bytes: int = Field(64 * MiB, description="gRPC max send/receive message size")
    keepalive_time_s: float = 30.0
    keepalive_timeout_s: float = 10.0
    shutdown_grace_s: float = 10.0

    # --- TLS and mTLS (owned by the TLS work)
    tls_cert_file: Path | None = Field(
        None, description="PEM certificate chain the server presents; with tls_key_file the port serves TLS "
        "only (no plaintext); neither = plaintext")
    tls_key_file: Path | None = Field(None, description="PEM private key of tls_cert_file")
    tls_client_ca_file: Path | None = Field(
        None, description="PEM CA certificate(s) for mutual TLS (needs tls_cert_file): every connection, health "
        "included, must present a client certificate they signed, unexpired; its identity names a tenant "
        "(see tls_client_tenants)")
    tls_client_tenants: str = Field(
        "", description="mTLS: identity=tenant pairs, comma separated; an identity is a client certificate's "
        "subject CN or any of its subject alternative names (DNS, URI such as spiffe://..., email, IP); a "
        "certificate matching none names no tenant; empty = the tenant is the certificate's subject CN. A bearer "
        "token sent as well must name the same tenant; a certificate that names no tenant needs a token")

    # --- auth and per-tenant limits
    auth_tokens: str = Field("", description="bearer tokens as token=tenant pairs, comma separated; "
                             "empty (and no auth_tokens_file) = no auth, every caller is tenant 'default'")
    auth_tokens_file: Path | None = Field(None, description="a file with one token=tenant pair per line")
    max_streams_per_tenant: int = Field(256, description="concurrent server streams (watch, generate) per tenant")
    stats_log_s: float = Field(60.0, description="how often to log tasks, fds, memory and queue depth (0 = never)")

    # --- jobs
    data_dir: Path = REPO_ROOT / "var" / "data"
    blob_dir: Path | None = Field(
        None, description="accepted inputs and uploaded files (their bytes); replicas on one database share it "
        "(a network file system across hosts); empty: data_dir")
    workers: int = Field(64, ge=1, description="predictions in progress at once (each a coroutine; what reaches "
                         "Triton is bounded per model, see models.max_in_flight)")
    queue_size: int = Field(256, description="enqueued predictions before RESOURCE_EXHAUSTED")
    pages_in_flight: int = Field(
        0, ge=0, description="pages (images) of one prediction sent to Triton and not yet answered; 0: as many as "
        "its model takes at once (the model's slots are shared fairly between predictions)")
    watch_queue_size: int = Field(256, description="events buffered per watch stream before it re-reads the store")
    heartbeat_s: float = Field(10.0, gt=0, description="a watch with no event for this long (to 1.5x) gets a heartbeat")
    recent_inputs_bytes: int = Field(64 * MiB, description="accepted image bytes kept in memory for the worker")
    inline_input_bytes: int = Field(
        256 * 1024, ge=0, description="images up to this size are stored in the database with their prediction")
    sync_wait_s: float = Field(600.0, description="longest a batch=false call waits for its prediction")
    triton_unavailable_budget_s: float = Field(
        120.0, description="how long a prediction waits for Triton to come back before failing UNAVAILABLE")

    # --- the system of record: embedded SQLite under data_dir, or a PostgreSQL server
    database_url: str = Field(
        "", description="postgresql://user@host:port/db to keep jobs, events and files in PostgreSQL (blobs stay "
        "under data_dir); empty: the embedded SQLite file under data_dir")
    database_pool_size: int = Field(10, ge=1, description="PostgreSQL connections this process keeps open")
    replica_id: str = Field(
        "", description="with database_url: the name of this replica's claims; empty: host:port (port 0: a new id "
        "each start). Restarted under the same id, a replica takes back its own work at once")
    claim_lease_s: float = Field(
        10.0, ge=1.0, description="with database_url: how long a replica's claims outlive its last renewal; then "
        "another replica takes its work over (continuing at the next element)")

    # --- input limits
    max_images_per_request: int = 16
    max_image_bytes: int = 32 * MiB
    max_image_pixels: int = 50_000_000
    max_document_bytes: int = 128 * MiB
    max_pages: int = 2000
    max_upload_bytes: int = 512 * MiB
    render_dpi: int = 150
    render_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1,
                                description="processes rendering PDF pages (default: one per CPU core)")
    url_fetch_timeout_s: float = 30.0
    allow_private_urls: bool = Field(False, description="let URL inputs and callbacks reach private addresses")

    # --- Office documents (doc, docx, xls, xlsx, ppt, pptx, odt, ods, odp): converted to PDF by LibreOffice
    soffice_path: str = Field("soffice", description="LibreOffice's soffice, a path or a name looked up on PATH; "
                              "without it Office documents are refused with OFFICE_CONVERTER_MISSING")
    office_timeout_s: float = Field(60.0, gt=0, description="longest one conversion may take; then its process "
                                    "group is killed and the document refused (OFFICE_CONVERSION_TIMEOUT)")
    office_memory_bytes: int = Field(2048 * MiB, ge=256 * MiB, description="address-space limit (RLIMIT_AS) of "
                                     "one conversion; LibreOffice itself starts in about 256 MiB")
    office_workers: int = Field(2, ge=1, description="conversions at once (one LibreOffice process each); more "
                                "wait their turn")
    office_isolate_network: bool = Field(True, description="run each conversion in a network namespace of its "
                                         "own (unshare --net), so links in a document reach nothing; where the "
                                         "kernel refuses one, conversions run without it (logged)")

    # --- callbacks
    callback_secret: str = Field("", description="HMAC-SHA256 key for X-VLMRun-Signature")
    callback_attempts: int = 5
    callback_timeout_s: float = 10.0

    # --- retention (owned by the retention work)
    retention_terminal_s: float = Field(
        7 * 24 * 3600.0, gt=0, description="how long a completed or failed prediction, with its event history, "
        "is kept after it ended; then it is deleted and reads of it answer NOT_FOUND")
    retention_keep_inputs: bool = Field(
        False, description="keep a prediction's input bytes until the prediction itself is deleted; default: "
        "released as soon as it ends (completed or failed)")
    retention_sweep_s: float = Field(60.0, gt=0, description="how often expired predictions and released "
                                     "inputs are deleted")
    retention_batch: int = Field(200, ge=1, description="predictions deleted per store transaction by a "
                                 "sweep (bounds how long one sweep step holds the store)")
    callback_concurrency: int = Field(16, ge=1, description="callback deliveries in progress at once; more "
                                      "wait in the persisted outbox")

    # --- REST API (owned by the REST work)
    rest_port: int | None = Field(
        None, ge=0, le=65535, description="HTTP port of the VLM Run REST API (http://rest_host:rest_port/v1, what "
        "the official vlmrun SDK calls); unset: the gRPC port + 1 (a free port when port is 0); 0 = no REST API")
    rest_host: str | None = Field(None, description="address the REST API listens on; unset: host")
    rest_max_body_bytes: int = Field(
        64 * MiB, ge=1024, description="largest JSON request body (base64 images included); larger ones are "
        "refused with 413; uploads (multipart and presigned PUT) are limited by max_upload_bytes instead")

    @field_validator("rest_port", "rest_host", mode="before")
    @classmethod
    def _unset_rest(cls, value: object) -> object:
        return None if value == "" else value  # VLMGRPC_REST_PORT= (empty) means not set

    # --- metrics and traces (owned by the observability work)
    metrics_port: int = Field(
        0, ge=0, le=65535, description="serve Prometheus metrics at http://metrics_host:metrics_port/metrics; "
        "0 = no metrics endpoint (Prometheus' usual port for an exporter like this is 9464)")
    metrics_host: str = Field("127.0.0.1", description="address the metrics endpoint listens on")
    otlp_endpoint: str = Field(
        "", description="OpenTelemetry collector that receives traces over OTLP, e.g. http://127.0.0.1:4318 "
        "(otlp_protocol http/protobuf) or http://127.0.0.1:4317 (grpc); empty = no traces")
    otlp_protocol: Literal["http/protobuf", "grpc"] = Field(
        "http/protobuf", description="OTLP transport to otlp_endpoint")
    trace_service_name: str = Field("vlm-grpc", description="service.name of the service's spans")
    trace_sample_ratio: float = Field(
        1.0, ge=0.0, le=1.0, description="share of new traces recorded (a caller's sampled traceparent is always "
        "followed)")
    trace_triton: bool = Field(
        True, description="with traces on, the embedded Triton records its own spans (OpenTelemetry mode, to "
        "otlp_triton_url) as children of each Triton call; a traced request then has a ModelStreamInfer call of its "
        "own, since gRPC metadata (the traceparent) is per call, not per request on a shared stream")
    otlp_triton_url: str = Field(
        "", description="OTLP/HTTP traces URL Triton exports to (Triton speaks only OTLP/HTTP); empty = "
        "otlp_endpoint + /v1/traces when otlp_protocol is http/protobuf")

    # --- Triton
    triton_url: str = Field("", description="external Triton gRPC host:port; empty = launch the embedded one")
    models: list[ModelEntry] = Field(
        default_factory=lambda: [ModelEntry(name="ocr"), ModelEntry(name="detector")],
        description="Triton models the service fronts, in order of preference (a request without `model` "
        "goes to the first that serves its domain): names, comma separated, or a JSON list of entries; "
        "default ocr,detector")
    model_repository: Path = REPO_ROOT / "triton_models"
    triton_startup_timeout_s: float = 180.0
    triton_request_timeout_s: float = 300.0
    health_poll_s: float = 1.0

    # --- usage
    credit_prices: dict[str, float] = Field(
        default_factory=lambda: {"*": 1.0}, description="credits per element (image or page), by domain, "
        "element type (image, page) or '*'; the most specific key wins; credits_used is rounded up")

    @model_validator(mode="after")
    def _tls(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together: give both (TLS) or neither (plaintext)")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file (mutual TLS) needs the server's own tls_cert_file and tls_key_file")
        if self.tls_client_tenants and self.tls_client_ca_file is None:
            raise ValueError("tls_client_tenants maps client certificates to tenants: it needs tls_client_ca_file")
        for pair in filter(str.strip, self.tls_client_tenants.split(",")):
            identity, sep, tenant = pair.partition("=")
            if not (sep and identity.strip() and tenant.strip()):
                raise ValueError(f"tls_client_tenants entries are identity=tenant, got {pair.strip()!r}")
        for name in ("tls_cert_file", "tls_key_file", "tls_client_ca_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name}: no such file {path}")
            if path is not None and b"-----BEGIN " not in path.read_bytes():
                raise ValueError(f"{name}: {path} is not a PEM file")
        return self

    @field_validator("tls_cert_file", "tls_key_file", "tls_client_ca_file", mode="before")
    @classmethod
    def _unset_path(cls, value: object) -> object:
        return None if value == "" else value  # VLMGRPC_TLS_CERT_FILE= (empty) means not set

    @field_validator("models", mode="before")
    @classmethod
    def _models(cls, value: object) -> object:
        return parse_models(value)

    @field_validator("credit_prices", mode="before")
    @classmethod
    def _prices(cls, value: object) -> object:
        return json.loads(value) if isinstance(value, str) else value

    @property
    def blobs_root(self) -> Path:
        """Where input and upload bytes live: blob_dir, else data_dir."""
        return self.blob_dir or self.data_dir
