// WatchPrediction that survives a dropped stream: when it breaks (UNAVAILABLE, e.g. the server's
// SHUTTING_DOWN, or closed before the terminal event) it is re-opened after the last sequence number seen,
// so the caller sees every status and progress event once, in order.
import { setTimeout as sleep } from "node:timers/promises";

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";

import { VlmError } from "./errors.js";
import {
  PredictionEventType,
  PredictionStatus,
  type Prediction,
  type PredictionEvent,
} from "./gen/vlm/v1/prediction_pb.js";
import { WatchPredictionRequestSchema, type PredictionService } from "./gen/vlm/v1/prediction_service_pb.js";

/** How long a watch keeps re-opening a dropped stream while no event arrives (a server restart with its
 * embedded Triton fits). */
export const DEFAULT_RESUME_TIMEOUT_MS = 120_000;

export interface WatchOptions {
  /** The last sequence number already seen: events after it are replayed first (0: the whole history).
   * Left out, the watch starts with a snapshot of the prediction's current state. */
  afterSequence?: bigint | number;
  /** Yield heartbeats too (they repeat the latest sequence number). */
  heartbeats?: boolean;
  /** Ends the watch (it throws a CANCELLED VlmError). */
  signal?: AbortSignal;
  /** Give up resuming after this long without an event. */
  resumeTimeoutMs?: number;
  /** Called each time the stream is re-opened, with the last sequence seen and what ended the stream
   * (undefined: it closed cleanly before the terminal event). */
  onResume?: (afterSequence: bigint | undefined, error: VlmError | undefined) => void;
}

/** Whether the prediction is COMPLETED or FAILED. */
export function isTerminal(prediction: Prediction | undefined): prediction is Prediction {
  const status = prediction?.status;
  return status === PredictionStatus.COMPLETED || status === PredictionStatus.FAILED;
}

// Live events that repeat the latest sequence number instead of taking a new one.
const REPEATING = new Set([PredictionEventType.HEARTBEAT, PredictionEventType.OUTPUT_DELTA]);
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 3_000;

type Stream = AsyncIterator<{ event?: PredictionEvent }>;

/** Reads one message; a stream that ends (cleanly or not) is reported as { done } with its error. */
async function next(stream: Stream): Promise<{ event?: PredictionEvent; done: boolean; error?: unknown }> {
  try {
    const result = await stream.next();
    return result.done ? { done: true } : { event: result.value.event, done: false };
  } catch (error) {
    return { done: true, error };
  }
}

// Codes a broken connection shows up as in Connect for Node (a reset stream is CANCELLED or INTERNAL, a reset
// connection ABORTED), where gRPC's own clients say UNAVAILABLE.
const BROKEN = new Set([Code.Canceled, Code.Aborted, Code.Internal, Code.Unknown]);

/** Worth re-opening the stream: UNAVAILABLE (the server is going away, e.g. SHUTTING_DOWN, or unreachable),
 * or the connection broke mid-stream: an error that is not the server's (it sends a gRPC status, and this
 * service an ErrorInfo reason with every error). */
function resumable(raw: unknown, error: VlmError): boolean {
  if (error.code === Code.Unavailable) {
    return true;
  }
  const fromServer = error.reason !== "" || (raw instanceof ConnectError && raw.metadata.has("grpc-status"));
  return !fromServer && BROKEN.has(error.code);
}

/** The events of a prediction until its terminal one (the generator's return value is the terminal
 * prediction), resuming dropped streams; the server's errors other than UNAVAILABLE (e.g. NOT_FOUND), an
 * abort, or resumeTimeoutMs without an event end it with a VlmError. */
export async function* watchPrediction(predictions: Client<typeof PredictionService>, id: string,
  options: WatchOptions = {}): AsyncGenerator<PredictionEvent, Prediction, undefined> {
  const { signal, heartbeats = false, resumeTimeoutMs = DEFAULT_RESUME_TIMEOUT_MS } = options;
  let last = options.afterSequence === undefined ? undefined : BigInt(options.afterSequence);
  let lastEventAt = Date.now();
  let backoffMs = FIRST_BACKOFF_MS;
  for (;;) {
    const seenBefore = last;
    const request = create(WatchPredictionRequestSchema, { id, afterSequence: last });
    const stream = predictions.watchPrediction(request, { signal })[Symbol.asyncIterator]();
    let ended: unknown;
    try {
      for (;;) {
        const { event, done, error } = await next(stream);
        if (done) {
          ended = error;
          break;
        }
        if (!event) {
          continue;
        }
        lastEventAt = Date.now();
        if (REPEATING.has(event.type)) {
          if (heartbeats || event.type !== PredictionEventType.HEARTBEAT) {
            yield event;
          }
          continue;
        }
        if (last !== undefined && event.sequence <= last) {
          continue; // a replay of what was already seen
        }
        last = event.sequence;
        yield event;
        if (isTerminal(event.prediction)) {
          return event.prediction;
        }
      }
    } finally {
      await stream.return?.(); // the caller stopped early, or the stream broke: end the call
    }
    const error = ended === undefined ? undefined : VlmError.from(ended);
    if (signal?.aborted) {
      throw new VlmError(Code.Canceled, "the watch was aborted", {}, { cause: signal.reason });
    }
    if (error && !resumable(ended, error)) {
      throw error;
    }
    if (Date.now() - lastEventAt > resumeTimeoutMs) {
      throw error ?? new VlmError(Code.Unavailable, "the watch stream kept closing before the prediction finished");
    }
    if (last !== seenBefore) {
      backoffMs = FIRST_BACKOFF_MS; // it got somewhere: resume quickly
    }
    try {
      await sleep(backoffMs, undefined, { signal });
    } catch {
      throw new VlmError(Code.Canceled, "the watch was aborted", {}, { cause: signal?.reason });
    }
    options.onResume?.(last, error);
    backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
  }
}
