import { ConnectionError } from "@conn/core";

/** The default largest request body, in bytes (100 kB). */
export const DEFAULT_MAX_BODY_BYTES = 100 * 1024;

/**
 * The fault for a body over the limit. Spec §12 has one `tooLarge` code; a create body is its targets, so an
 * oversize body is refused with it, the reason saying it was the body's size.
 */
function tooLarge(maxBytes: number): ConnectionError {
  return new ConnectionError("cortex.tooLarge.connectionTargets", {
    reason: `the request body exceeds ${maxBytes} bytes`,
    path: "body",
  });
}

function invalid(reason: string): ConnectionError {
  return new ConnectionError("cortex.invalidArgument.unspecified", { reason, path: "body" });
}

/** True for `application/json` and `application/*+json`, with or without parameters. */
function isJsonType(contentType: string | null): boolean {
  if (contentType === null) return false;
  const essence = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  return essence === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(essence);
}

/**
 * Reads a JSON request body of at most `maxBytes` bytes and parses it. A declared `Content-Length` over the limit
 * is refused before a byte is read, and a streamed body is counted as it arrives and refused the moment it passes
 * the limit, so nothing over the limit is ever buffered or parsed. The body must be declared JSON (which also
 * keeps cross-site HTML forms, which cannot send `application/json`, from reaching the routes).
 */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > maxBytes)
    throw tooLarge(maxBytes);
  if (!isJsonType(request.headers.get("content-type"))) {
    throw invalid("the request body must be JSON (Content-Type: application/json)");
  }
  if (request.body === null) throw invalid("a JSON request body is required");

  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }

  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw invalid("the request body is not valid UTF-8");
  }
  if (text.trim() === "") throw invalid("a JSON request body is required");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalid("the request body is not well-formed JSON");
  }
}
