// VlmClient: every service's Connect client on one HTTP/2 connection speaking the gRPC protocol (plaintext
// h2c, as `make serve` listens), a bearer token on every call, and thin typed helpers to upload, submit,
// watch (resuming dropped streams) and wait; failures are VlmErrors.
import { toJson, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { Http2SessionManager, createGrpcTransport } from "@connectrpc/connect-node";

import { PredictionFailedError, VlmError } from "./errors.js";
import { DocumentService } from "./gen/vlm/v1/document_service_pb.js";
import { FileService, type File } from "./gen/vlm/v1/file_service_pb.js";
import { HubService } from "./gen/vlm/v1/hub_service_pb.js";
import { ImageService } from "./gen/vlm/v1/image_service_pb.js";
import { ModelService } from "./gen/vlm/v1/model_service_pb.js";
import {
  PredictionStatus,
  type DocumentInput,
  type GenerationConfigSchema,
  type Prediction,
  type PredictionEvent,
  type RequestMetadataSchema,
} from "./gen/vlm/v1/prediction_pb.js";
import { PredictionService } from "./gen/vlm/v1/prediction_service_pb.js";
import { uploadRequests, type UploadOptions } from "./upload.js";
import { isTerminal, watchPrediction, type WatchOptions } from "./watch.js";

/** Bounds each message received or sent (as the Python and Go clients do): long documents' answers exceed
 * gRPC's usual 4 MiB. */
export const MAX_MESSAGE_BYTES = 64 << 20;

export interface VlmClientOptions {
  /** "host:port" (plaintext, e.g. "127.0.0.1:50051" for `make serve`) or a URL (https:// for TLS with
   * Node's trusted CAs). */
  target: string;
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /** The deadline of each unary call and upload (watches end with their signal instead). */
  deadlineMs?: number;
  /** A transport of your own (e.g. Connect's in-memory router transport in tests); target is then unused. */
  transport?: Transport;
}

/** Where a document or image comes from: an uploaded file, bytes sent inline, or a URL the server fetches. */
export type Source = { fileId: string } | { data: Uint8Array } | { url: string };

export interface SubmitOptions {
  /** The prediction's domain, e.g. "document.ocr". */
  domain: string;
  config?: MessageInitShape<typeof GenerationConfigSchema>;
  /** A model of the domain other than its default. */
  model?: string;
  /** Idempotency key: resubmitting the same request with it returns the same prediction. */
  requestId?: string;
  callbackUrl?: string;
  metadata?: MessageInitShape<typeof RequestMetadataSchema>;
}

// DocumentInput and ImageInput share this oneof.
function input(source: Source): Pick<DocumentInput, "source"> {
  if ("fileId" in source) {
    return { source: { case: "fileId", value: source.fileId } };
  }
  if ("data" in source) {
    return { source: { case: "data", value: source.data } };
  }
  return { source: { case: "url", value: source.url } };
}

function baseUrl(target: string): string {
  return /^https?:\/\//.test(target) ? target : `http://${target}`;
}

export class VlmClient {
  readonly documents: Client<typeof DocumentService>;
  readonly images: Client<typeof ImageService>;
  readonly predictions: Client<typeof PredictionService>;
  readonly files: Client<typeof FileService>;
  readonly hub: Client<typeof HubService>;
  readonly models: Client<typeof ModelService>;
  private readonly sessions?: Http2SessionManager;
  private readonly deadlineMs?: number;

  constructor(options: VlmClientOptions) {
    this.deadlineMs = options.deadlineMs;
    let transport = options.transport;
    if (!transport) {
      const url = baseUrl(options.target);
      this.sessions = new Http2SessionManager(url);
      transport = createGrpcTransport({
        baseUrl: url, sessionManager: this.sessions, interceptors: options.token ? [bearer(options.token)] : [],
        readMaxBytes: MAX_MESSAGE_BYTES, writeMaxBytes: MAX_MESSAGE_BYTES,
      });
    }
    this.documents = createClient(DocumentService, transport);
    this.images = createClient(ImageService, transport);
    this.predictions = createClient(PredictionService, transport);
    this.files = createClient(FileService, transport);
    this.hub = createClient(HubService, transport);
    this.models = createClient(ModelService, transport);
  }

  /** Submits a prediction over a document and returns it at once, accepted (batch): follow it with watch
   * or wait. */
  async submitDocument(document: Source, options: SubmitOptions): Promise<Prediction> {
    const reply = await this.call(() => this.documents.generate({
      ...this.common(options), batch: true, document: input(document),
    }, this.callOptions()));
    return required(reply.prediction);
  }

  /** Submits a prediction over images and returns it at once, accepted (batch: images would otherwise
   * answer only when terminal): follow it with watch or wait. */
  async submitImages(images: Source[], options: SubmitOptions): Promise<Prediction> {
    const reply = await this.call(() => this.images.generate({
      ...this.common(options), batch: true, images: images.map(input),
    }, this.callOptions()));
    return required(reply.prediction);
  }

  /** Uploads a file (a path, or bytes with options.filename): the SHA-256 metadata first, then 1 MiB chunks. */
  async upload(source: string | Uint8Array, options: UploadOptions = {}): Promise<File> {
    const requests = uploadRequests(source, options);
    const reply = await this.call(() => this.files.uploadFile(requests, this.callOptions()));
    return required(reply.file);
  }

  async getPrediction(id: string): Promise<Prediction> {
    const reply = await this.call(() => this.predictions.getPrediction({ id }, this.callOptions()));
    return required(reply.prediction);
  }

  /** Cancels a prediction; it ends FAILED with reason CANCELLED. */
  async cancel(id: string): Promise<Prediction> {
    const reply = await this.call(() => this.predictions.cancelPrediction({ id }, this.callOptions()));
    return required(reply.prediction);
  }

  /** The prediction's events until the terminal one, re-opening a dropped stream after the last sequence
   * number seen (see WatchOptions); `for await` over it. */
  watch(id: string, options: WatchOptions = {}): AsyncGenerator<PredictionEvent, Prediction, undefined> {
    return watchPrediction(this.predictions, id, options);
  }

  /** Follows a prediction until it is terminal: the COMPLETED prediction, or a PredictionFailedError. */
  async wait(id: string, options: Omit<WatchOptions, "heartbeats"> = {}): Promise<Prediction> {
    const events = this.watch(id, options);
    let result = await events.next();
    while (!result.done) {
      result = await events.next();
    }
    const final = result.value;
    if (!isTerminal(final) || final.status === PredictionStatus.FAILED) {
      throw new PredictionFailedError(final);
    }
    return final;
  }

  /** Closes the connection (calls in flight fail). */
  close(): void {
    this.sessions?.abort();
  }

  private common(options: SubmitOptions) {
    return {
      domain: options.domain, config: options.config, model: options.model, id: options.requestId ?? "",
      callbackUrl: options.callbackUrl, metadata: options.metadata,
    };
  }

  private callOptions() {
    return this.deadlineMs === undefined ? {} : { timeoutMs: this.deadlineMs };
  }

  private async call<T>(rpc: () => Promise<T>): Promise<T> {
    try {
      return await rpc();
    } catch (error) {
      throw VlmError.from(error);
    }
  }
}

function bearer(token: string): Interceptor {
  return (next) => (request) => {
    request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
}

function required<T>(value: T | undefined): T {
  if (value === undefined) {
    throw new VlmError(Code.Unknown, "the server's reply lacks its result");
  }
  return value;
}

/** A prediction's answer (google.protobuf.Value) as plain JSON; undefined until it has one. */
export function responseJson(prediction: Prediction): JsonValue | undefined {
  return prediction.response ? toJson(ValueSchema, prediction.response) : undefined;
}
