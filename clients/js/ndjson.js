// NDJSON from a byte stream, one object per line, read as it arrives.
// Internal to the client (not part of the package's exports).

import { TransportError, UsageLensError } from "./errors.js";

/**
 * Yields each line of `body` parsed as a JSON object. Every line must end
 * with "\n": a stream that ends in the middle of a line, or fails while
 * being read (a dropped connection), was cut off; that, invalid UTF-8, or a
 * line that is not a JSON object throws a TransportError (code `truncated`
 * or `invalid_response`). Stopping early (a `break` in `for await`)
 * cancels the stream.
 *
 * @param {ReadableStream<Uint8Array>} body
 * @param {{what?: string, beforeRead?: () => void, afterRead?: () => void}} [hooks]
 *   `what` names the response in errors; `beforeRead`/`afterRead` bracket
 *   each wait on the network (the client's timeout runs only then).
 * @returns {AsyncGenerator<Record<string, unknown>, void, undefined>}
 */
export async function* ndjsonObjects(body, hooks = {}) {
  const what = hooks.what ?? "the response";
  const reader = body.getReader();
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let buf = "";
  let line = 0;
  let finished = false;
  const decode = (bytes, stream) => {
    try {
      return decoder.decode(bytes, { stream });
    } catch (cause) {
      throw new TransportError(`${what}: the body is not valid UTF-8 (after line ${line})`, {
        code: "invalid_response",
        cause,
      });
    }
  };
  try {
    for (;;) {
      hooks.beforeRead?.();
      let chunk;
      try {
        chunk = await reader.read();
      } catch (cause) {
        // A timeout or an abort is reported as such by the caller.
        if (cause instanceof UsageLensError || cause?.name === "AbortError") throw cause;
        throw new TransportError(
          `${what} was cut off after line ${line}: the connection failed while reading (${cause?.cause?.code ?? cause?.message ?? cause})`,
          { code: "truncated", cause },
        );
      } finally {
        hooks.afterRead?.();
      }
      const { done, value } = chunk;
      if (done) break;
      buf += decode(value, true);
      let start = 0;
      let nl;
      const lines = [];
      while ((nl = buf.indexOf("\n", start)) !== -1) {
        lines.push(buf.slice(start, nl));
        start = nl + 1;
      }
      buf = buf.slice(start);
      for (const text of lines) {
        line += 1;
        yield parseLine(text, line, what);
      }
    }
    finished = true;
    buf += decode(undefined, false);
    if (buf.length > 0) {
      throw new TransportError(
        `${what} was cut off: it ends in the middle of line ${line + 1} (${buf.length} characters without the final newline)`,
        { code: "truncated" },
      );
    }
  } finally {
    if (!finished) {
      // Stopped early or failed: let go of the connection.
      reader.cancel().catch(() => {});
    }
    reader.releaseLock();
  }
}

function parseLine(text, line, what) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new TransportError(`${what}: line ${line} is not valid JSON: ${text.slice(0, 120)}`, {
      code: "invalid_response",
      cause,
    });
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TransportError(`${what}: line ${line} is not a JSON object: ${text.slice(0, 120)}`, {
      code: "invalid_response",
    });
  }
  return value;
}
