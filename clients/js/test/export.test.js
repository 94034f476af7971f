// export(): GET /v1/events against a real collector (see collector.js),
// page after page through UsageLens-Next-Cursor.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { Forbidden, InvalidQuery, TransportError, Unauthorized, UsageClient } from "../index.js";
import { startCollector } from "./collector.js";
import { alphaEvents, betaEvents } from "./dataset.js";

let env;
let client;

before(async () => {
  env = await startCollector();
  client = new UsageClient(env.url, env.alpha.read_token);
});

after(async () => {
  await env?.stop();
});

async function all(iterable) {
  const out = [];
  for await (const v of iterable) out.push(v);
  return out;
}

/** The data set's events in the export's order: by ts, then id. */
function inExportOrder(events) {
  return [...events].sort((a, b) => a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Fetch that counts requests to /v1/events and remembers their cursors. */
function countingFetch() {
  const calls = [];
  const f = (input, init) => {
    const url = new URL(input);
    if (url.pathname === "/v1/events") calls.push(url.searchParams.get("cursor"));
    return fetch(input, init);
  };
  return { calls, fetch: f };
}

describe("export()", { timeout: 120_000 }, () => {
  it("yields every event exactly once, in (ts, id) order, across many small pages", async () => {
    const { calls, fetch } = countingFetch();
    const c = new UsageClient(env.url, env.alpha.read_token, { fetch });
    const got = await all(c.export({ app: "alpha", pageSize: 25 }));
    const ids = got.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, "no event twice");
    assert.deepEqual(ids, inExportOrder(alphaEvents).map((e) => e.id));
    // 720 events, 25 a page: 29 pages, each after the first with the previous
    // page's cursor. 25 is not a multiple of 3, so pages split events sharing a timestamp.
    assert.equal(calls.length, Math.ceil(alphaEvents.length / 25));
    assert.equal(calls[0], null);
    assert.ok(calls.slice(1).every((cur) => typeof cur === "string" && cur.length > 0));
    assert.equal(new Set(calls).size, calls.length, "every page has its own cursor");
  });

  it("gives each event's fields as stored: id, type, times, dims of every kind, metrics", async () => {
    const got = await all(client.export({ app: "alpha", pageSize: 500 }));
    const sent = new Map(alphaEvents.map((e) => [e.id, e]));
    for (const ev of got) {
      const e = sent.get(ev.id);
      assert.ok(e, `exported an unknown event ${ev.id}`);
      assert.equal(ev.type, e.type);
      assert.equal(ev.ts, new Date(e.ts).toISOString());
      assert.equal(ev.client_ts, new Date(e.ts).toISOString());
      assert.match(ev.received_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.deepEqual(ev.dims, e.dims, ev.id);
      assert.deepEqual(ev.metrics, e.metrics, ev.id);
    }
    assert.equal(got.length, alphaEvents.length);
  });

  it("filters by types", async () => {
    const got = await all(client.export({ app: "alpha", types: ["page", "http"], pageSize: 50 }));
    const expected = inExportOrder(alphaEvents.filter((e) => e.type === "page" || e.type === "http"));
    assert.deepEqual(got.map((e) => e.id), expected.map((e) => e.id));
    assert.ok(expected.length > 0 && expected.length < alphaEvents.length);
  });

  it("filters with where, as query() does: one user's events", async () => {
    const got = await all(client.export({ app: "alpha", where: [{ dim: "user", op: "eq", value: "u-7" }], pageSize: 5 }));
    const expected = inExportOrder(alphaEvents.filter((e) => e.dims.user === "u-7"));
    assert.ok(expected.length > 5, "more than one page");
    assert.deepEqual(got.map((e) => e.id), expected.map((e) => e.id));
    const clicks = await all(client.export({
      app: "alpha",
      types: ["click"],
      where: [{ dim: "user", op: "exists", value: true }, { dim: "hour", op: "lt", value: 12 }],
    }));
    assert.deepEqual(
      clicks.map((e) => e.id),
      inExportOrder(alphaEvents.filter((e) => e.type === "click" && e.dims.user !== undefined && new Date(e.ts).getUTCHours() < 12)).map((e) => e.id),
    );
    await assert.rejects(all(client.export({ app: "alpha", where: [{ dim: "user", op: "$regex", value: "u" }] })),
      (e) => e instanceof InvalidQuery && /^where\[0\]\.op/.test(e.message));
    await assert.rejects(all(client.export({ app: "alpha", where: "user=u-7" })), TypeError);
  });

  it("takes a half-open time range: from inclusive, to exclusive", async () => {
    // Events 3k..3k+2 share a timestamp: both bounds sit on such a group.
    const from = alphaEvents[60].ts;
    const to = alphaEvents[150].ts;
    const expected = inExportOrder(alphaEvents.filter((e) => e.ts >= from && e.ts < to)).map((e) => e.id);
    assert.deepEqual(expected.slice(0, 3), ["ev-0060", "ev-0061", "ev-0062"]);
    assert.ok(!expected.includes("ev-0150"));
    for (const [f, t] of [
      [new Date(from), new Date(to)],
      [new Date(from).toISOString(), new Date(to).toISOString()],
      [from, to],
    ]) {
      const got = await all(client.export({ app: "alpha", from: f, to: t, pageSize: 10 }));
      assert.deepEqual(got.map((e) => e.id), expected, `from ${f}, to ${t}`);
    }
    // Only `from`, or only `to`.
    const tail = await all(client.export({ app: "alpha", from }));
    assert.equal(tail.length, alphaEvents.filter((e) => e.ts >= from).length);
    const head = await all(client.export({ app: "alpha", to: new Date(from) }));
    assert.equal(head.length, alphaEvents.filter((e) => e.ts < from).length);
  });

  it("exports only the token's app", async () => {
    const c = new UsageClient(env.url, env.beta.read_token);
    const got = await all(c.export({ app: "beta" }));
    assert.deepEqual(got.map((e) => e.id), inExportOrder(betaEvents).map((e) => e.id));
    // Pages that divide the events exactly: the last full page is not repeated.
    const paged = await all(c.export({ app: "beta", pageSize: 10 }));
    assert.deepEqual(paged.map((e) => e.id), inExportOrder(betaEvents).map((e) => e.id));
  });

  it("can stop early, and the client goes on working", async () => {
    const { calls, fetch } = countingFetch();
    const c = new UsageClient(env.url, env.alpha.read_token, { fetch });
    const firstTen = [];
    for await (const ev of c.export({ app: "alpha", pageSize: 4 })) {
      firstTen.push(ev.id);
      if (firstTen.length === 10) break;
    }
    assert.deepEqual(firstTen, inExportOrder(alphaEvents).slice(0, 10).map((e) => e.id));
    assert.equal(calls.length, 3, "no page is asked for after the break");
    const r = await c.query({ app: "alpha" });
    assert.deepEqual(r.rows, [[alphaEvents.length]]);
  });

  it("throws TransportError when a page is cut off, after the events before the cut", async () => {
    let page = 0;
    const c = new UsageClient(env.url, env.alpha.read_token, {
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        page += 1;
        if (page < 2) return res;
        // The second page loses its last 10 bytes, as when a connection drops.
        const text = await res.text();
        return new Response(text.slice(0, -10), { status: res.status, headers: res.headers });
      },
    });
    const seen = [];
    const err = await (async () => {
      for await (const ev of c.export({ app: "alpha", pageSize: 5 })) seen.push(ev.id);
    })().catch((e) => e);
    assert.ok(err instanceof TransportError, String(err));
    assert.equal(err.code, "truncated");
    assert.match(err.message, /^GET \/v1\/events \(page 2\) was cut off/);
    assert.deepEqual(seen, inExportOrder(alphaEvents).slice(0, 9).map((e) => e.id));
  });

  it("throws TransportError when the connection drops mid-page", async () => {
    let page = 0;
    const c = new UsageClient(env.url, env.alpha.read_token, {
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        page += 1;
        if (page < 3) return res;
        // The third page's body fails after its first 100 bytes.
        const bytes = new Uint8Array(await res.arrayBuffer());
        let sent = false;
        const body = new ReadableStream({
          pull(controller) {
            if (sent) return controller.error(new TypeError("terminated"));
            sent = true;
            controller.enqueue(bytes.slice(0, 100));
          },
        });
        return new Response(body, { status: res.status, headers: res.headers });
      },
    });
    const seen = [];
    const err = await (async () => {
      for await (const ev of c.export({ app: "alpha", pageSize: 5 })) seen.push(ev.id);
    })().catch((e) => e);
    assert.ok(err instanceof TransportError, String(err));
    assert.equal(err.code, "truncated");
    assert.match(err.message, /^GET \/v1\/events \(page 3\) was cut off after line 0: the connection failed/);
    assert.deepEqual(seen, inExportOrder(alphaEvents).slice(0, 10).map((e) => e.id));
  });

  it("throws the typed errors", async () => {
    let err = await all(new UsageClient(env.url, "rt_nope").export({ app: "alpha" })).catch((e) => e);
    assert.ok(err instanceof Unauthorized, String(err));
    err = await all(new UsageClient(env.url, env.beta.read_token).export({ app: "alpha" })).catch((e) => e);
    assert.ok(err instanceof Forbidden, String(err));
    err = await all(client.export({ app: "alpha", types: ["Bad Type"] })).catch((e) => e);
    assert.ok(err instanceof InvalidQuery, String(err));
    assert.match(err.message, /types/);
    err = await all(client.export({ app: "alpha", pageSize: 100_001 })).catch((e) => e);
    assert.ok(err instanceof InvalidQuery, String(err));
    assert.match(err.message, /limit/);
    await assert.rejects(all(client.export({ app: "alpha", pageSize: 0 })), { name: "TypeError", message: /pageSize/ });
    await assert.rejects(all(client.export({ app: "alpha", types: "page" })), { name: "TypeError", message: /types/ });
    await assert.rejects(all(client.export({})), { name: "TypeError", message: /app must be the app id/ });
  });
});
