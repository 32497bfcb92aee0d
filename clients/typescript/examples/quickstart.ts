// The README's example: OCR a PDF with a server started by `make serve`.
//   node dist/examples/quickstart.js report.pdf
import { PredictionStatus, VlmClient, responseJson } from "@vlm-grpc/client";

const client = new VlmClient({ target: process.env.VLM_GRPC_TARGET ?? "127.0.0.1:50051" });
const file = await client.upload(process.argv[2] ?? "report.pdf", { contentType: "application/pdf" });
const prediction = await client.submitDocument({ fileId: file.id }, { domain: "document.ocr" });
// Every event from the first (afterSequence 0); a dropped stream resumes after the last one seen.
for await (const event of client.watch(prediction.id, { afterSequence: 0 })) {
  const p = event.prediction;
  console.log(`#${event.sequence} ${p && PredictionStatus[p.status]} ${p?.progress?.done}/${p?.progress?.total}`);
}
const done = await client.wait(prediction.id); // a failed one throws a PredictionFailedError (error.reason)
console.log((responseJson(done) as { text: string }).text);
client.close();
