// client.rollups, declareRollup, dropRollup and the query's plan against a
// real collector (see collector.js).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { Conflict, Forbidden, InvalidQuery, NotFound, UsageClient } from "../index.js";
import { startCollector } from "./collector.js";

let env;
let client;

before(async () => {
  env = await startCollector();
  client = new UsageClient(env.url, env.alpha.read_token);
});

after(async () => {
  await env?.stop();
});

describe("rollups", () => {
  it("declares, lists and drops a rollup of the app", async () => {
    const made = await client.declareRollup({ app: "alpha", name: "by_page", types: ["click"], dims: ["page"], grain: "day" });
    assert.equal(made.name, "by_page");
    assert.equal(made.builtin, false);
    assert.deepEqual(made.metrics, ["*"]);
    assert.match(made.built_from, /T00:00:00\.000Z$/);

    const status = await client.rollups("alpha");
    const byName = new Map(status.rollups.map((r) => [r.name, r]));
    assert.deepEqual(byName.get("by_page").dims, ["page"]);
    assert.equal(byName.get("clicks").builtin, true);
    assert.equal(typeof status.watermark, "string");
    assert.equal(typeof status.dirty.count, "number");

    await assert.rejects(
      client.declareRollup({ app: "alpha", name: "by_page", types: ["click"] }),
      (e) => e instanceof Conflict && e.status === 409 && /already has a rollup `by_page`/.test(e.message),
    );
    await assert.rejects(
      client.declareRollup({ app: "alpha", name: "bad", types: ["click"], dims: ["$where"] }),
      (e) => e instanceof InvalidQuery && e.code === "invalid_rollup" && /^dims\[0\]/.test(e.message),
    );
    await assert.rejects(
      new UsageClient(env.url, env.beta.read_token).declareRollup({ app: "alpha", name: "x", types: ["click"] }),
      (e) => e instanceof Forbidden,
    );

    const dropped = await client.dropRollup("alpha", "by_page");
    assert.equal(dropped.dropped, true);
    await assert.rejects(client.dropRollup("alpha", "by_page"), (e) => e instanceof NotFound);
  });

  it("says which plan answered, and answers raw when asked", async () => {
    const r = await client.query({ app: "alpha", types: ["click"], group_by: ["widget"], plan: "raw", explain: true });
    assert.equal(r.meta.plan, "raw");
    assert.equal(r.meta.approximate, false);
    assert.equal(r.meta.reason, "the request asked for plan raw");
    await assert.rejects(
      client.query({ app: "alpha", plan: "fast" }),
      (e) => e instanceof InvalidQuery && /^plan: `fast` is not a plan: use auto, raw/.test(e.message),
    );
  });
});
