// The vlm-grpc TypeScript client: the wrapper, its errors, and the generated messages and services.
export { MAX_MESSAGE_BYTES, VlmClient, responseJson, type Source, type SubmitOptions, type VlmClientOptions } from "./client.js";
export { Code, PredictionFailedError, VlmError, codeName, type ErrorDetails, type FieldViolation } from "./errors.js";
export { CHUNK_SIZE, uploadRequests, type UploadOptions, type UploadSource } from "./upload.js";
export { DEFAULT_RESUME_TIMEOUT_MS, isTerminal, watchPrediction, type WatchOptions } from "./watch.js";
export * from "./gen/vlm/v1/document_service_pb.js";
export * from "./gen/vlm/v1/file_service_pb.js";
export * from "./gen/vlm/v1/hub_service_pb.js";
export * from "./gen/vlm/v1/image_service_pb.js";
export * from "./gen/vlm/v1/model_service_pb.js";
export * from "./gen/vlm/v1/prediction_pb.js";
export * from "./gen/vlm/v1/prediction_service_pb.js";
