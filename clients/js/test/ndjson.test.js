// The NDJSON reader under export(): lines split anywhere across chunks, a
// cut-off body and a bad line detected, the stream released on an early
// stop. Fed from in-memory ReadableStreams: these cases (a connection cut
// mid-line, a corrupted body) are what a healthy collector never sends.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { TransportError } from "../index.js";
import { ndjsonObjects } from "../ndjson.js";

/** A stream of `chunks` (strings are UTF-8 encoded; Uint8Arrays pass as is). */
function streamOf(chunks, onCancel) {
  const enc = new TextEncoder();
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i === chunks.length) return controller.close();
      const c = chunks[i++];
      controller.enqueue(typeof c === "string" ? enc.encode(c) : c);
    },
    cancel(reason) {
      onCancel?.(reason);
    },
  });
}

async function collect(stream) {
  const out = [];
  for await (const v of ndjsonObjects(stream, { what: "GET /v1/events (page 1)" })) out.push(v);
  return out;
}

describe("ndjsonObjects", () => {
  it("yields one object per line wherever the chunks split, multi-byte characters included", async () => {
    const lines = [{ id: "a", dims: { page: "/größe" } }, { id: "b", dims: { emoji: "🙂" } }, { id: "c" }];
    const bytes = new TextEncoder().encode(lines.map((l) => JSON.stringify(l) + "\n").join(""));
    // Every split point, including inside the 2- and 4-byte characters.
    for (let cut = 0; cut <= bytes.length; cut++) {
      const got = await collect(streamOf([bytes.slice(0, cut), bytes.slice(cut)]));
      assert.deepEqual(got, lines, `split at byte ${cut}`);
    }
    // One byte at a time.
    assert.deepEqual(await collect(streamOf([...bytes].map((b) => Uint8Array.of(b)))), lines);
  });

  it("an empty body is no events", async () => {
    assert.deepEqual(await collect(streamOf([])), []);
  });

  it("a body cut off in the middle of a line throws TransportError (truncated)", async () => {
    const err = await collect(streamOf(['{"id":"a"}\n{"id":"b"}\n{"id":"c', '","type":'])).catch((e) => e);
    assert.ok(err instanceof TransportError, String(err));
    assert.equal(err.code, "truncated");
    assert.match(err.message, /^GET \/v1\/events \(page 1\) was cut off: it ends in the middle of line 3/);
    // A complete last line without its newline is cut off too: the newline is the end marker.
    const noNewline = await collect(streamOf(['{"id":"a"}\n{"id":"b"}'])).catch((e) => e);
    assert.equal(noNewline.code, "truncated");
  });

  it("the events before the cut are delivered first", async () => {
    const seen = [];
    const err = await (async () => {
      for await (const v of ndjsonObjects(streamOf(['{"id":"a"}\n{"id":"b"}\n{"id"']))) seen.push(v.id);
    })().catch((e) => e);
    assert.deepEqual(seen, ["a", "b"]);
    assert.equal(err.code, "truncated");
  });

  it("a stream that fails while being read (a dropped connection) throws TransportError (truncated)", async () => {
    const enc = new TextEncoder();
    let sent = false;
    const dropped = new ReadableStream({
      pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(enc.encode('{"id":"a"}\n{"id":"b"}\n'));
        } else {
          controller.error(new TypeError("terminated", { cause: { code: "UND_ERR_SOCKET" } }));
        }
      },
    });
    const seen = [];
    const err = await (async () => {
      for await (const v of ndjsonObjects(dropped, { what: "GET /v1/events (page 4)" })) seen.push(v.id);
    })().catch((e) => e);
    assert.deepEqual(seen, ["a", "b"]);
    assert.ok(err instanceof TransportError, String(err));
    assert.equal(err.code, "truncated");
    assert.match(err.message, /^GET \/v1\/events \(page 4\) was cut off after line 2: the connection failed while reading \(UND_ERR_SOCKET\)/);
    assert.equal(err.cause.message, "terminated");
  });

  it("a line that is not a JSON object throws TransportError (invalid_response)", async () => {
    for (const bad of ['{"id":"a"}\n{"id":\n', '{"id":"a"}\n[1,2]\n', '{"id":"a"}\n\n', '{"id":"a"}\nnull\n']) {
      const err = await collect(streamOf([bad])).catch((e) => e);
      assert.ok(err instanceof TransportError, JSON.stringify(bad));
      assert.equal(err.code, "invalid_response");
      assert.match(err.message, /line 2 is not/);
    }
  });

  it("invalid UTF-8 throws TransportError (invalid_response)", async () => {
    const err = await collect(streamOf([Uint8Array.of(0x7b, 0xff, 0x7d, 0x0a)])).catch((e) => e);
    assert.ok(err instanceof TransportError);
    assert.equal(err.code, "invalid_response");
  });

  it("stopping early cancels the stream", async () => {
    let cancelled = false;
    const stream = streamOf(['{"n":1}\n{"n":2}\n', '{"n":3}\n'], () => (cancelled = true));
    for await (const v of ndjsonObjects(stream)) {
      if (v.n === 1) break;
    }
    assert.equal(cancelled, true);
    assert.equal(stream.locked, false);
  });
});
