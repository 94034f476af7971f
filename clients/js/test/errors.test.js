// Every typed error, from a real collector where it can produce one on
// demand; 422 and 429 (which the query routes cannot be made to answer in a
// test) through the client's `fetch` option, with real Response objects.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { after, before, describe, it } from "node:test";

import {
  Forbidden,
  InvalidQuery,
  NotFound,
  QueryTooSlow,
  StoreTooOld,
  RateLimited,
  StoreUnavailable,
  TransportError,
  Unauthorized,
  UsageClient,
  UsageLensError,
} from "../index.js";
import { closedPort, serve, startCollector, waitReady } from "./collector.js";

let env;

before(async () => {
  env = await startCollector();
});

after(async () => {
  await env?.stop();
});

/** The error `promise` rejects with, checked to be an instance of `Class`. */
async function errorOf(promise, Class) {
  const err = await promise.then(
    (v) => assert.fail(`expected ${Class.name}, got ${JSON.stringify(v)}`),
    (e) => e,
  );
  assert.ok(err instanceof Class, `expected ${Class.name}, got ${err?.name}: ${err?.message}`);
  assert.ok(err instanceof UsageLensError);
  assert.equal(err.name, Class.name);
  return err;
}

describe("errors from the collector", { timeout: 120_000 }, () => {
  it("Unauthorized (401) for an unknown token, on every method", async () => {
    const c = new UsageClient(env.url, "rt_not_a_real_token");
    for (const call of [
      () => c.query({ app: "alpha" }),
      () => c.dimensions("alpha"),
      () => c.hideDimension("alpha", "page"),
    ]) {
      const err = await errorOf(call(), Unauthorized);
      assert.equal(err.status, 401);
      assert.equal(err.code, "unauthorized");
      assert.match(err.message, /read token/);
    }
  });

  it("Forbidden (403) for another app's token", async () => {
    const c = new UsageClient(env.url, env.beta.read_token);
    for (const call of [() => c.query({ app: "alpha" }), () => c.dimensions("alpha"), () => c.hideDimension("alpha", "page")]) {
      const err = await errorOf(call(), Forbidden);
      assert.equal(err.status, 403);
      assert.equal(err.code, "forbidden");
      assert.match(err.message, /alpha/);
    }
  });

  it("InvalidQuery (400) naming the field", async () => {
    const c = new UsageClient(env.url, env.alpha.read_token);
    const cases = [
      [{ app: "alpha", group_by: ["page", "a.b"] }, /^group_by\[1\]: `a\.b` is not a valid name/],
      [{ app: "alpha", where: [{ dim: "page", op: "eq", value: "/" }, { metric: "x y", op: "gt", value: 1 }] }, /^where\[1\]\.metric: /],
      [{ app: "alpha", where: [{ dim: "page", op: "like", value: "/" }] }, /^where\[0\]\.op: `like` is not an operator/],
      [{ app: "alpha", measures: [{ fn: "median", of: "duration_ms" }] }, /^measures\[0\]\.fn: /],
      [{ app: "alpha", measures: [{ fn: "sum", of: "$bad" }] }, /^measures\[0\]\.of: /],
      [{ app: "alpha", interval: "fortnight" }, /^interval: /],
      [{ app: "alpha", order_by: [{ by: "nope" }] }, /^order_by\[0\]\.by: `nope` is not a column; the columns are count/],
      [{ app: "alpha", limit: 0 }, /^limit: /],
      [{ app: "alpha", types: ["Not A Type"] }, /^types: /],
    ];
    for (const [spec, message] of cases) {
      const err = await errorOf(c.query(spec), InvalidQuery);
      assert.equal(err.status, 400);
      assert.equal(err.code, "invalid_query");
      assert.match(err.message, message, JSON.stringify(spec));
    }
  });

  it("InvalidQuery for a timestamp that is not one", async () => {
    const c = new UsageClient(env.url, env.alpha.read_token);
    const err = await errorOf(c.query({ app: "alpha", from: "yesterday" }), InvalidQuery);
    assert.equal(err.code, "invalid_query");
    assert.match(err.message, /`yesterday` is not an RFC 3339 timestamp/);
  });

  it("InvalidQuery for `$where` as a dimension name, wherever a name goes", async () => {
    const c = new UsageClient(env.url, env.alpha.read_token);
    let err = await errorOf(c.query({ app: "alpha", group_by: ["$where"] }), InvalidQuery);
    assert.match(err.message, /^group_by\[0\]: `\$where` is not a valid name/);
    err = await errorOf(c.query({ app: "alpha", where: [{ dim: "$where", op: "exists", value: true }] }), InvalidQuery);
    assert.match(err.message, /^where\[0\]\.dim: `\$where`/);
    err = await errorOf(c.hideDimension("alpha", "$where"), InvalidQuery);
    assert.match(err.message, /^name: `\$where` is not a valid name/);
    // Nothing was hidden or broken: the catalog still answers in full.
    assert.ok((await c.dimensions("alpha")).some((e) => e.name === "page"));
  });

  it("NotFound (404) for a base URL that is not the collector's", async () => {
    const c = new UsageClient(`${env.url}/not-here/`, env.alpha.read_token);
    const err = await errorOf(c.query({ app: "alpha" }), NotFound);
    assert.equal(err.status, 404);
    assert.equal(err.code, "http_404");
    assert.match(err.message, /POST \/not-here\/v1\/query: HTTP 404/);
  });

  it("StoreUnavailable (503) with retryAfter when the collector cannot reach its store", async () => {
    const deadStore = `mongodb://127.0.0.1:${await closedPort()}/?directConnection=true`;
    const server = await serve({
      database: `jsclient_dead_${randomBytes(4).toString("hex")}`,
      uri: deadStore,
      extraArgs: ["--store-timeout", "500ms"],
    });
    try {
      const c = new UsageClient(server.url, env.alpha.read_token);
      const err = await errorOf(c.query({ app: "alpha" }), StoreUnavailable);
      assert.equal(err.status, 503);
      assert.equal(err.code, "store_unavailable");
      assert.equal(err.retryAfter, 5);
    } finally {
      await server.stop();
    }
  });
});

describe("transport errors", { timeout: 120_000 }, () => {
  it("TransportError with a cause when nothing listens", async () => {
    const c = new UsageClient(`http://127.0.0.1:${await closedPort()}`, "rt_x");
    const err = await errorOf(c.query({ app: "alpha" }), TransportError);
    assert.equal(err.status, 0);
    assert.equal(err.code, "network");
    assert.ok(err.cause instanceof Error);
    assert.match(err.message, /^POST \/v1\/query: the request failed \(ECONNREFUSED\)/);
  });

  it("TransportError (timeout) when the server never answers", async () => {
    const sockets = new Set();
    const silent = net.createServer((s) => sockets.add(s));
    await new Promise((r) => silent.listen(0, "127.0.0.1", r));
    try {
      const c = new UsageClient(`http://127.0.0.1:${silent.address().port}`, "rt_x", { timeoutMs: 300 });
      const started = Date.now();
      const err = await errorOf(c.dimensions("alpha"), TransportError);
      const took = Date.now() - started;
      assert.equal(err.code, "timeout");
      assert.match(err.message, /no answer within 300 ms/);
      assert.ok(took >= 250 && took < 5000, `gave up after ${took} ms`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it("an aborted signal rejects with its reason", async () => {
    const c = new UsageClient(env.url, env.alpha.read_token);
    const controller = new AbortController();
    const reason = new Error("user navigated away");
    controller.abort(reason);
    await assert.rejects(c.query({ app: "alpha" }, { signal: controller.signal }), (e) => e === reason);
  });
});

describe("status mapping (through options.fetch)", { timeout: 120_000 }, () => {
  const answering = (status, body, headers = {}) =>
    new UsageClient("http://collector.invalid", "rt_x", {
      fetch: async () => new Response(body, { status, headers: { "content-type": "application/json", ...headers } }),
    });
  const errorBody = (code, message) => JSON.stringify({ error: { code, message } });

  it("422 is QueryTooSlow", async () => {
    const c = answering(422, errorBody("query_too_slow", "the query ran over the 30 s limit: narrow `from`/`to`"));
    const err = await errorOf(c.query({ app: "alpha" }), QueryTooSlow);
    assert.equal(err.status, 422);
    assert.equal(err.code, "query_too_slow");
    assert.match(err.message, /narrow/);
  });

  it("422 store_too_old is StoreTooOld, not QueryTooSlow", async () => {
    const c = answering(422, errorBody("store_too_old", "percentiles need MongoDB 7.0 or later; the store is 6.0.14"));
    const err = await errorOf(c.query({ app: "alpha" }), StoreTooOld);
    assert.ok(!(err instanceof QueryTooSlow));
    assert.equal(err.status, 422);
    assert.equal(err.code, "store_too_old");
    assert.match(err.message, /7\.0/);
  });

  it("429 is RateLimited with retryAfter, in seconds or from an HTTP date", async () => {
    let err = await errorOf(answering(429, errorBody("rate_limited", "slow down"), { "retry-after": "7" }).dimensions("a"), RateLimited);
    assert.equal(err.retryAfter, 7);
    assert.equal(err.code, "rate_limited");
    const inTwoMinutes = new Date(Date.now() + 120_000).toUTCString();
    err = await errorOf(answering(429, errorBody("rate_limited", "slow down"), { "retry-after": inTwoMinutes }).dimensions("a"), RateLimited);
    assert.ok(err.retryAfter >= 118 && err.retryAfter <= 120, String(err.retryAfter));
    err = await errorOf(answering(429, "").dimensions("a"), RateLimited);
    assert.equal(err.retryAfter, null);
  });

  it("another status is a plain UsageLensError with the collector's code", async () => {
    const err = await errorOf(answering(500, errorBody("internal", "internal error")).query({ app: "a" }), UsageLensError);
    assert.equal(err.constructor, UsageLensError);
    assert.equal(err.status, 500);
    assert.equal(err.code, "internal");
  });

  it("a 200 that is not JSON is a TransportError (invalid_response)", async () => {
    const err = await errorOf(answering(200, "<html>proxy login</html>").query({ app: "a" }), TransportError);
    assert.equal(err.code, "invalid_response");
  });
});

describe("arguments", { timeout: 120_000 }, () => {
  it("the module exports what index.d.ts declares", async () => {
    const mod = await import("../index.js");
    assert.deepEqual(Object.keys(mod).sort(), [
      "Conflict", "DEFAULT_TIMEOUT_MS", "Forbidden", "InvalidQuery", "NotFound", "QueryResult", "QueryTooSlow",
      "RateLimited", "StoreTooOld", "StoreUnavailable", "TransportError", "Unauthorized", "UsageClient", "UsageLensError",
    ]);
    assert.equal(mod.DEFAULT_TIMEOUT_MS, 60_000);
  });

  it("the constructor refuses a bad URL, token or option", () => {
    assert.throws(() => new UsageClient("127.0.0.1:8080", "rt_x"), TypeError);
    assert.throws(() => new UsageClient("not a url", "rt_x"), /absolute http\(s\) URL/);
    assert.throws(() => new UsageClient("ftp://example.com", "rt_x"), /http or https/);
    assert.throws(() => new UsageClient("http://example.com", ""), /read token/);
    assert.throws(() => new UsageClient("http://example.com", "rt_x", { timeoutMs: 0 }), /timeoutMs/);
    assert.throws(() => new UsageClient("http://example.com", "rt_x", { fetch: "no" }), /options.fetch/);
    assert.equal(new UsageClient("http://example.com/base", "rt_x").url, "http://example.com/base/");
  });

  it("query() refuses a spec without an app, and a bad from", async () => {
    const c = new UsageClient(env.url, env.alpha.read_token);
    await assert.rejects(c.query({ group_by: ["page"] }), { name: "TypeError", message: /app must be the app id/ });
    await assert.rejects(c.query(null), { name: "TypeError" });
    await assert.rejects(c.query({ app: "alpha", from: 1.5 }), { name: "TypeError", message: /^from: / });
  });
});
