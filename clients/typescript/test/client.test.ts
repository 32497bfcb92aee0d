// The wrapper's own logic against scripted services (as the Go client's unit tests script a stream), over
// Connect's in-memory router transport: upload message order, error details, and watch resumption.
// The live server is exercised by tests/integration/test_client_typescript.py.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createRouterTransport, type ConnectRouter, type Interceptor } from "@connectrpc/connect";

import { BadRequestSchema, ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import {
  CHUNK_SIZE, FileService, PredictionEventSchema, PredictionEventType, PredictionFailedError, PredictionService,
  PredictionStatus, VlmClient, VlmError, type PredictionEvent, type UploadFileRequest, type WatchPredictionRequest,
} from "../src/index.js";

function client(routes: (router: ConnectRouter) => void, interceptors: Interceptor[] = []): VlmClient {
  return new VlmClient({ target: "unused", transport: createRouterTransport(routes, { transport: { interceptors } }) });
}

/** Breaks the first response stream after `after` messages the way Connect for Node reports a stream the
 * peer reset (a server killed mid-stream): an error with no gRPC status. */
function breakFirstStream(after: number): Interceptor {
  let broken = false;
  return (next) => async (request) => {
    const response = await next(request);
    if (!response.stream || broken) {
      return response;
    }
    broken = true;
    const messages = response.message;
    async function* cut() {
      let count = 0;
      for await (const message of messages) {
        if (count++ === after) {
          throw new ConnectError("http/2 stream closed with error code CANCEL (0x8)", Code.Canceled);
        }
        yield message;
      }
    }
    return { ...response, message: cut() };
  };
}

function event(sequence: number, status: PredictionStatus, type = PredictionEventType.STATUS_CHANGED): PredictionEvent {
  return create(PredictionEventSchema, { sequence: BigInt(sequence), type, prediction: { id: "p", status } });
}

function shuttingDown(): ConnectError {
  return new ConnectError("SHUTTING_DOWN: the server is shutting down", Code.Unavailable, undefined,
    [{ desc: ErrorInfoSchema, value: { reason: "SHUTTING_DOWN" } }]);
}

/** A PredictionService whose n-th WatchPrediction call plays scripts[n]: events, then maybe an error. */
function scriptedWatch(scripts: (PredictionEvent | Error)[][], requests: WatchPredictionRequest[]) {
  return (router: ConnectRouter) => router.service(PredictionService, {
    async *watchPrediction(request) {
      requests.push(request);
      for (const item of scripts[requests.length - 1] ?? []) {
        if (item instanceof Error) {
          throw item;
        }
        yield { event: item };
      }
    },
  });
}

test("upload sends the metadata with the SHA-256 first, then the bytes in chunks", async () => {
  const data = Buffer.alloc(CHUNK_SIZE * 2.5, "0123456789");
  const path = join(await mkdtemp(join(tmpdir(), "vlm-upload-")), "a.pdf");
  await writeFile(path, data);
  for (const [source, options] of [[path, {}], [data, { filename: "a.pdf" }]] as const) {
    const received: UploadFileRequest[] = [];
    const vlm = client((router) => router.service(FileService, {
      async uploadFile(requests) {
        for await (const request of requests) {
          received.push(request);
        }
        return { file: { id: "file-1", filename: "a.pdf" } };
      },
    }));
    const file = await vlm.upload(source, { ...options, contentType: "application/pdf" });
    assert.equal(file.id, "file-1");
    const [first, ...rest] = received;
    assert.equal(first?.content.case, "metadata");
    const metadata = first.content.value;
    assert.equal(metadata.filename, "a.pdf");
    assert.equal(metadata.sizeBytes, BigInt(data.length));
    assert.equal(metadata.sha256, createHash("sha256").update(data).digest("hex"));
    assert.equal(metadata.contentType, "application/pdf");
    const chunks = rest.map((r) => (r.content.case === "chunk" ? r.content.value : assert.fail("not a chunk")));
    assert.equal(chunks.length, 3);
    assert.ok(Buffer.concat(chunks).equals(data));
  }
  await assert.rejects(client(() => {}).upload(data), /filename is required/);
});

test("a failed call is a VlmError with the code, reason, metadata and field violations", async () => {
  const vlm = client((router) => router.service(PredictionService, {
    getPrediction() {
      throw new ConnectError("UNKNOWN_DOMAIN: no such domain", Code.InvalidArgument, undefined, [
        { desc: ErrorInfoSchema, value: { reason: "UNKNOWN_DOMAIN", domain: "vlm-grpc.dev", metadata: { served: "x" } } },
        { desc: BadRequestSchema, value: { fieldViolations: [{ field: "domain", description: "unknown" }] } },
      ]);
    },
  }));
  const error = await vlm.getPrediction("p").catch((e: unknown) => e);
  assert.ok(error instanceof VlmError);
  assert.equal(error.code, Code.InvalidArgument);
  assert.equal(error.codeName, "INVALID_ARGUMENT");
  assert.equal(error.reason, "UNKNOWN_DOMAIN");
  assert.deepEqual(error.metadata, { served: "x" });
  assert.deepEqual(error.violations, [{ field: "domain", description: "unknown" }]);
  assert.equal(error.message, "INVALID_ARGUMENT: UNKNOWN_DOMAIN: no such domain");
});

test("watch resumes after the last sequence seen when the stream drops, and drops replays", async () => {
  const requests: WatchPredictionRequest[] = [];
  const vlm = client(scriptedWatch([
    [event(1, PredictionStatus.PENDING), event(2, PredictionStatus.RUNNING), shuttingDown()],
    [event(2, PredictionStatus.RUNNING), event(2, PredictionStatus.RUNNING, PredictionEventType.HEARTBEAT)],
    [event(3, PredictionStatus.COMPLETED)],
  ], requests));
  const resumes: string[] = [];
  const seen: bigint[] = [];
  const events = vlm.watch("p", {
    onResume: (after, error) => resumes.push(`${after} ${error?.reason ?? "closed"}`),
  });
  for await (const e of events) {
    seen.push(e.sequence);
  }
  assert.deepEqual(seen, [1n, 2n, 3n]);
  assert.deepEqual(requests.map((r) => r.afterSequence), [undefined, 2n, 2n]);
  assert.deepEqual(resumes, ["2 SHUTTING_DOWN", "2 closed"]); // the second stream closed before the end
});

test("watch resumes a stream the connection broke, but not a server's error of the same code", async () => {
  const requests: WatchPredictionRequest[] = [];
  const script = [event(1, PredictionStatus.RUNNING), event(2, PredictionStatus.RUNNING), event(3, PredictionStatus.COMPLETED)];
  const resumes: string[] = [];
  const final = await client(scriptedWatch([script, script.slice(1)], requests), [breakFirstStream(1)])
    .wait("p", { onResume: (after, error) => resumes.push(`${after} ${error?.code}`) });
  assert.equal(final.status, PredictionStatus.COMPLETED);
  assert.deepEqual(requests.map((r) => r.afterSequence), [undefined, 1n]);
  assert.deepEqual(resumes, [`1 ${Code.Canceled}`]);

  const internal = new ConnectError("INTERNAL: internal error", Code.Internal, undefined,
    [{ desc: ErrorInfoSchema, value: { reason: "INTERNAL" } }]);
  const failing: WatchPredictionRequest[] = [];
  await assert.rejects(client(scriptedWatch([[event(1, PredictionStatus.RUNNING), internal]], failing)).wait("p"),
    (e: unknown) => e instanceof VlmError && e.reason === "INTERNAL");
  assert.equal(failing.length, 1);
});

test("wait resolves with the completed prediction, replaying from afterSequence", async () => {
  const requests: WatchPredictionRequest[] = [];
  const vlm = client(scriptedWatch([[event(4, PredictionStatus.COMPLETED)]], requests));
  const final = await vlm.wait("p", { afterSequence: 0 });
  assert.equal(final.status, PredictionStatus.COMPLETED);
  assert.equal(requests[0]?.afterSequence, 0n);
});

test("watch stops on errors other than UNAVAILABLE; wait throws the failed prediction's reason", async () => {
  const missing = new ConnectError("gone", Code.NotFound, undefined,
    [{ desc: ErrorInfoSchema, value: { reason: "PREDICTION_NOT_FOUND" } }]);
  const requests: WatchPredictionRequest[] = [];
  await assert.rejects(client(scriptedWatch([[missing]], requests)).wait("p"),
    (e: unknown) => e instanceof VlmError && e.reason === "PREDICTION_NOT_FOUND" && e.code === Code.NotFound);
  assert.equal(requests.length, 1);

  const failed = event(5, PredictionStatus.FAILED);
  failed.prediction!.error = {
    $typeName: "google.rpc.Status", code: Code.Canceled, message: "cancelled",
    details: [anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { reason: "CANCELLED" }))],
  };
  const error = await client(scriptedWatch([[failed]], [])).wait("p").catch((e: unknown) => e);
  assert.ok(error instanceof PredictionFailedError);
  assert.equal(error.reason, "CANCELLED");
  assert.equal(error.code, Code.Canceled);
  assert.equal(error.prediction.id, "p");
});

test("watch gives up resuming after resumeTimeoutMs without an event", async () => {
  const requests: WatchPredictionRequest[] = [];
  const vlm = client(scriptedWatch(Array.from({ length: 50 }, () => [shuttingDown()]), requests));
  await assert.rejects(vlm.wait("p", { resumeTimeoutMs: 250 }),
    (e: unknown) => e instanceof VlmError && e.reason === "SHUTTING_DOWN");
  assert.ok(requests.length >= 2 && requests.length < 10, `${requests.length} attempts`);
});

test("an aborted watch ends at once with CANCELLED, and is not resumed", async () => {
  const requests: WatchPredictionRequest[] = [];
  const vlm = client((router) => router.service(PredictionService, {
    async *watchPrediction(request, context) {
      requests.push(request);
      yield { event: event(1, PredictionStatus.RUNNING) };
      await new Promise((resolve) => context.signal.addEventListener("abort", resolve));
    },
  }));
  const controller = new AbortController();
  const seen: bigint[] = [];
  await assert.rejects((async () => {
    for await (const e of vlm.watch("p", { signal: controller.signal })) {
      seen.push(e.sequence);
      controller.abort();
    }
  })(), (e: unknown) => e instanceof VlmError && e.code === Code.Canceled);
  assert.deepEqual(seen, [1n]);
  assert.equal(requests.length, 1);
});
