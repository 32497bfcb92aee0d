// ocr-document uploads a PDF (or image) to vlm-grpc, submits a document prediction, prints its status changes
// and page progress to stderr while it runs, and the answer as JSON to stdout.
//
//   VLM_GRPC_TARGET=127.0.0.1:50051 node dist/examples/ocr-document.js [--domain document.markdown] report.pdf
//
// VLM_GRPC_TOKEN, when set, is sent as the bearer token.
import { extname } from "node:path";
import { parseArgs } from "node:util";

import {
  PredictionFailedError, PredictionStatus, VlmClient, isTerminal, responseJson, type Prediction,
  type PredictionEvent,
} from "../src/index.js";

const USAGE = "usage: ocr-document [--domain D] [--timeout-ms N] FILE   (target: $VLM_GRPC_TARGET, token: $VLM_GRPC_TOKEN)";
const CONTENT_TYPES: Record<string, string> = {
  ".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
  ".tif": "image/tiff", ".tiff": "image/tiff", ".webp": "image/webp",
};

function statusName(status: PredictionStatus): string {
  return PredictionStatus[status].toLowerCase();
}

/** Prints each status change and each finished page (the watch already leaves heartbeats out). */
function eventPrinter(): (event: PredictionEvent) => void {
  let lastStatus: PredictionStatus | undefined;
  let lastDone = -1;
  return (event) => {
    const p = event.prediction;
    if (!p) {
      return; // an output delta
    }
    const done = p.progress?.done ?? 0;
    const progress = `${done}/${p.progress?.total ?? 0} pages`;
    if (p.status !== lastStatus) {
      console.error(`#${event.sequence} ${statusName(p.status)} ${progress}`);
    } else if (done !== lastDone) {
      console.error(`#${event.sequence} page ${progress}`);
    }
    lastStatus = p.status;
    lastDone = done;
  };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { domain: { type: "string", default: "document.ocr" }, "timeout-ms": { type: "string", default: "600000" } },
  });
  if (positionals.length !== 1) {
    console.error(USAGE);
    process.exit(2);
  }
  const [path] = positionals as [string];
  const client = new VlmClient({
    target: process.env.VLM_GRPC_TARGET || "127.0.0.1:50051", // `make serve`
    token: process.env.VLM_GRPC_TOKEN || undefined,
    deadlineMs: 120_000,
  });
  const signal = AbortSignal.timeout(Number(values["timeout-ms"]));
  try {
    const file = await client.upload(path, { contentType: CONTENT_TYPES[extname(path).toLowerCase()] });
    console.error(`uploaded ${file.filename} as ${file.id} (${file.bytes} bytes, ${file.detectedType})`);

    const prediction = await client.submitDocument({ fileId: file.id }, { domain: values.domain });
    console.error(`submitted ${prediction.id} (${values.domain})`);

    // After sequence 0: the whole history from the first event, then live events until the terminal one.
    const print = eventPrinter();
    const events = client.watch(prediction.id, {
      afterSequence: 0, signal,
      onResume: (after, error) => console.error(`watch dropped (${error?.message ?? "closed"}); resuming after #${after}`),
    });
    let final: Prediction | undefined;
    for await (const event of events) {
      print(event);
      if (isTerminal(event.prediction)) {
        final = event.prediction; // the last event the watch yields
      }
    }
    if (final?.status !== PredictionStatus.COMPLETED) {
      throw new PredictionFailedError(final!);
    }
    console.log(JSON.stringify(responseJson(final) ?? null, null, 2));
  } finally {
    client.close();
  }
}

main().catch((error: unknown) => {
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
