// FileService.UploadFile's request stream: first the metadata (name, size, SHA-256, content type), then the
// bytes in chunks. A file on disk is read twice (once to hash it, since the checksum goes first), so a large
// file is never held in memory.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { basename } from "node:path";

import { create } from "@bufbuild/protobuf";

import { UploadFileRequestSchema, type UploadFileRequest } from "./gen/vlm/v1/file_service_pb.js";

/** The size of the upload chunks (the API suggests up to 1 MiB). */
export const CHUNK_SIZE = 1 << 20;

export interface UploadOptions {
  /** The file's name (default: the path's base name; required for bytes). */
  filename?: string;
  /** Its MIME type, e.g. "application/pdf" (optional: the service detects the type itself). */
  contentType?: string;
  /** The File's purpose (default "assistants"). */
  purpose?: string;
}

/** A file on disk (its path) or bytes held in memory. */
export type UploadSource = string | Uint8Array;

interface Digest {
  size: bigint;
  sha256: string;
}

async function digest(source: UploadSource): Promise<Digest> {
  const hash = createHash("sha256");
  let size = 0;
  if (typeof source === "string") {
    for await (const chunk of createReadStream(source) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
  } else {
    hash.update(source);
    size = source.length;
  }
  return { size: BigInt(size), sha256: hash.digest("hex") };
}

async function* chunks(source: UploadSource, chunkSize: number): AsyncGenerator<Uint8Array> {
  if (typeof source === "string") {
    yield* createReadStream(source, { highWaterMark: chunkSize }) as AsyncIterable<Buffer>;
    return;
  }
  for (let offset = 0; offset < source.length; offset += chunkSize) {
    yield source.subarray(offset, offset + chunkSize);
  }
}

/** The messages of one upload: the metadata, then the content in chunks of at most chunkSize bytes. A missing
 * filename throws here, before any call starts. */
export function uploadRequests(source: UploadSource, options: UploadOptions = {},
  chunkSize = CHUNK_SIZE): AsyncGenerator<UploadFileRequest> {
  const filename = options.filename ?? (typeof source === "string" ? basename(source) : "");
  if (!filename) {
    throw new TypeError("upload: a filename is required when uploading bytes");
  }
  return messages(source, { ...options, filename }, chunkSize);
}

async function* messages(source: UploadSource, options: UploadOptions & { filename: string },
  chunkSize: number): AsyncGenerator<UploadFileRequest> {
  const { size, sha256 } = await digest(source);
  yield create(UploadFileRequestSchema, {
    content: {
      case: "metadata",
      value: {
        filename: options.filename, sizeBytes: size, sha256, contentType: options.contentType ?? "",
        purpose: options.purpose ?? "",
      },
    },
  });
  for await (const chunk of chunks(source, chunkSize)) {
    yield create(UploadFileRequestSchema, { content: { case: "chunk", value: chunk } });
  }
}
