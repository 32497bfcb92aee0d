"""Python client of vlm-grpc.

- `VLMClient` / `AsyncVLMClient`: the facade, in the spirit of the VLM Run SDK (`client.image.generate`,
  `client.document.generate`, `client.predictions.wait`, `client.files.upload`, `client.hub.get_schema`, ...),
  with typed results and typed errors (vlmgrpc_client.errors).
- `Client`: the low-level aio stubs of every service on one channel; `error_reason`, `response`,
  `upload_messages` help with those.
- `vlmctl` (python -m vlmgrpc_client): the command line.

The generated stubs are this package's own (`vlmgrpc_client.api.vlm.v1`): it installs without the server.
"""

from vlmgrpc_client.async_client import AsyncVLMClient
from vlmgrpc_client.errors import (
    AlreadyExistsError,
    AuthenticationError,
    DeadlineExceededError,
    FailedPreconditionError,
    FieldViolation,
    InputError,
    InvalidArgumentError,
    NotFoundError,
    PredictionFailedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    UnavailableError,
    VLMError,
    WaitTimeoutError,
)
from vlmgrpc_client.inputs import CHUNK
from vlmgrpc_client.lowlevel import Client, error_reason, response, upload_messages
from vlmgrpc_client.retry import RetryPolicy
from vlmgrpc_client.sync_client import VLMClient
from vlmgrpc_client.types import (
    DomainInfo,
    DomainSchema,
    FileInfo,
    GenerationConfig,
    ModelInfo,
    Page,
    Prediction,
    PredictionEvent,
    RequestMetadata,
)

__version__ = "0.1.0"
__all__ = [
    "CHUNK", "AlreadyExistsError", "AsyncVLMClient", "AuthenticationError", "Client", "DeadlineExceededError",
    "DomainInfo", "DomainSchema", "FailedPreconditionError", "FieldViolation", "FileInfo", "GenerationConfig",
    "InputError", "InvalidArgumentError", "ModelInfo", "NotFoundError", "Page", "Prediction", "PredictionEvent",
    "PredictionFailedError", "RateLimitError", "RequestMetadata", "ResponseValidationError", "RetryPolicy",
    "ServerError", "UnavailableError", "VLMClient", "VLMError", "WaitTimeoutError", "error_reason", "response",
    "upload_messages",
]
