// Typed errors: every failed call, and every failed prediction, becomes a VlmError carrying the gRPC code and
// the google.rpc.Status details the service attaches (grpc-status-details-bin, AIP-193): the ErrorInfo reason
// (a stable UPPER_SNAKE name such as "UNKNOWN_DOMAIN"), its metadata, and the BadRequest field violations.
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";

import { BadRequestSchema, ErrorInfoSchema, type BadRequest, type ErrorInfo } from "./gen/google/rpc/error_details_pb.js";
import type { Status } from "./gen/google/rpc/status_pb.js";
import type { Prediction } from "./gen/vlm/v1/prediction_pb.js";

export { Code };

/** A request field to blame, e.g. "domain" or "config.page_indices". */
export interface FieldViolation {
  field: string;
  description: string;
}

// gRPC's canonical names, indexed by code (Connect's enum says "Canceled", gRPC "CANCELLED").
const CODE_NAMES = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
  "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
  "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"];

/** The gRPC name of a status code, e.g. "UNAVAILABLE". */
export function codeName(code: Code): string {
  return CODE_NAMES[code] ?? `CODE_${code}`;
}

/** What the service says beyond the code and message. */
export interface ErrorDetails {
  readonly reason?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly violations?: readonly FieldViolation[];
}

function details(info: ErrorInfo | undefined, badRequests: BadRequest[]): ErrorDetails {
  return {
    reason: info?.reason,
    metadata: info?.metadata,
    violations: badRequests.flatMap((b) => b.fieldViolations.map(({ field, description }) => ({ field, description }))),
  };
}

/** A failed call or prediction. */
export class VlmError extends Error {
  override readonly name: string = "VlmError";
  /** The gRPC status code (Connect's Code enum: the same numbers). */
  readonly code: Code;
  /** The ErrorInfo reason, e.g. "FILE_NOT_FOUND"; "" when the status carries none. */
  readonly reason: string;
  /** The ErrorInfo metadata, e.g. last_sequence or max_bytes. */
  readonly metadata: Readonly<Record<string, string>>;
  /** BadRequest.field_violations. */
  readonly violations: readonly FieldViolation[];
  /** The message as the server sent it (message adds the code and the reason). */
  readonly rawMessage: string;

  constructor(code: Code, rawMessage: string, { reason = "", metadata = {}, violations = [] }: ErrorDetails = {},
    options?: { cause?: unknown }) {
    const withReason = reason && !rawMessage.includes(reason) ? `${rawMessage} (reason ${reason})` : rawMessage;
    super(`${codeName(code)}: ${withReason}`, options);
    this.code = code;
    this.rawMessage = rawMessage;
    this.reason = reason;
    this.metadata = { ...metadata };
    this.violations = violations;
  }

  /** The gRPC name of the code, e.g. "INVALID_ARGUMENT". */
  get codeName(): string {
    return codeName(this.code);
  }

  /** Any error of a call as a VlmError (a VlmError passes through; errors without a status are UNKNOWN). */
  static from(error: unknown): VlmError {
    if (error instanceof VlmError) {
      return error;
    }
    const connect = ConnectError.from(error);
    return new VlmError(connect.code, connect.rawMessage,
      details(connect.findDetails(ErrorInfoSchema)[0], connect.findDetails(BadRequestSchema)), { cause: error });
  }

  /** A google.rpc.Status (e.g. Prediction.error) as a VlmError. */
  static fromStatus(status: Status): VlmError {
    const info = status.details.map((d) => anyUnpack(d, ErrorInfoSchema)).find((m) => m !== undefined);
    const badRequests = status.details.map((d) => anyUnpack(d, BadRequestSchema))
      .filter((m): m is BadRequest => m !== undefined);
    return new VlmError(status.code as Code, status.message, details(info, badRequests));
  }
}

/** A prediction that ended FAILED (a cancelled one has reason CANCELLED); the prediction is attached. */
export class PredictionFailedError extends VlmError {
  override readonly name: string = "PredictionFailedError";
  readonly prediction: Prediction;

  constructor(prediction: Prediction) {
    const error = prediction.error ? VlmError.fromStatus(prediction.error) :
      new VlmError(Code.Unknown, "the prediction failed without an error status");
    super(error.code, error.rawMessage, error);
    this.prediction = prediction;
  }
}
