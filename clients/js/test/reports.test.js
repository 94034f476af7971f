// client.reports: POST /v1/reports/<name> against a real collector (see
// collector.js), the expected answers computed here from the data set.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { Forbidden, InvalidQuery, NotFound, UsageClient } from "../index.js";
import { startCollector } from "./collector.js";
import { T0, alphaEvents } from "./dataset.js";

let env;
let client;
const DAY = 86_400_000;
const range = { from: T0, to: T0 + 4 * DAY };

before(async () => {
  env = await startCollector();
  client = new UsageClient(env.url, env.alpha.read_token);
});

after(async () => {
  await env?.stop();
});

/** The widgets report computed from the events that pass `keep`. */
function expected(keep = () => true) {
  const clicks = alphaEvents.filter((e) => e.type === "click" && keep(e));
  const by = new Map();
  for (const e of clicks) {
    const w = by.get(e.dims.widget) ?? { clicks: 0, users: new Set(), sessions: new Set() };
    w.clicks += 1;
    w.users.add(e.dims.user ?? e.dims.anon);
    w.sessions.add(e.dims.session);
    by.set(e.dims.widget, w);
  }
  const widgets = [...by.entries()]
    .map(([widget, w]) => ({ widget, clicks: w.clicks, users: w.users.size, sessions: w.sessions.size, share: w.clicks / clicks.length }))
    .sort((a, b) => b.clicks - a.clicks || (a.widget < b.widget ? -1 : 1));
  return { widgets, total: clicks.length };
}

/** Ties in clicks are in no set order: sort both sides the same way. */
const ranked = (rows) =>
  rows
    .map(({ widget, clicks, users, sessions, share }) => ({ widget, clicks, users, sessions, share: Math.round(share * 1e12) / 1e12 }))
    .sort((a, b) => b.clicks - a.clicks || (a.widget < b.widget ? -1 : 1));

describe("reports", { timeout: 120_000 }, () => {
  it("widgets ranks the widgets by clicks with users, sessions and share", async () => {
    const r = await client.reports.widgets({ app: "alpha", ...range });
    const want = expected();
    assert.equal(r.report, "widgets");
    assert.equal(r.total_clicks, want.total);
    assert.deepEqual(ranked(r.widgets), ranked(want.widgets));
    assert.equal(r.widgets[0].widget, "export-csv");
    for (const w of r.widgets) {
      assert.equal(w.previous_clicks, 0, "nothing before T0");
      const onPages = alphaEvents.filter((e) => e.type === "click" && e.dims.widget === w.widget);
      assert.equal(w.pages.reduce((n, p) => n + p.clicks, 0), onPages.length, "every page of the widget (fewer than 5)");
    }
    assert.deepEqual(r.least_used.map((w) => w.clicks), [...want.widgets.map((w) => w.clicks)].sort((a, b) => a - b));
    assert.equal(r.meta.queries, 4);
    assert.equal(r.meta.from, new Date(range.from).toISOString());
  });

  it("segments by any dimension and takes the report's own fields", async () => {
    const r = await client.reports.widgets({
      app: "alpha", ...range, where: [{ dim: "pro", op: "eq", value: true }], page: "/settings", limit: 2,
    });
    const want = expected((e) => e.dims.pro === true && e.dims.page === "/settings");
    assert.equal(r.total_clicks, want.total);
    assert.ok(r.widgets.length <= 2);
    const all = ranked(want.widgets);
    for (const w of ranked(r.widgets)) assert.ok(all.some((x) => JSON.stringify(x) === JSON.stringify(w)), JSON.stringify(w));
    const same = await client.reports.run("widgets", { app: "alpha", from: range.from, to: range.to, where: [{ dim: "pro", op: "eq", value: true }], page: "/settings", limit: 2 });
    assert.deepEqual(same.widgets, r.widgets);
  });

  it("loadTime asks load-time with its own fields", async () => {
    // The data set has no `load` events: an empty breakdown, shaped as asked.
    const r = await client.reports.loadTime({ app: "alpha", ...range, percentiles: ["p90"], tz: "Europe/Berlin" });
    assert.equal(r.report, "load-time");
    assert.deepEqual(r.percentiles, ["p90"]);
    assert.deepEqual(r.pages, []);
    await assert.rejects(client.reports.loadTime({ app: "alpha", percentiles: ["avg"] }),
      (e) => e instanceof InvalidQuery && /percentiles\[0\]/.test(e.message));
  });

  it("performance gives the routes of the http events", async () => {
    const r = await client.reports.performance({ app: "alpha", ...range, interval: "day" });
    const calls = alphaEvents.filter((e) => e.type === "http");
    assert.equal(r.report, "performance");
    assert.equal(r.interval, "day");
    assert.equal(r.server.routes.reduce((n, x) => n + x.count, 0), calls.length);
  });

  it("userStory gives one user's sessions and week", async () => {
    const r = await client.reports.userStory({ app: "alpha", user: "u-7", ...range, limit: 2 });
    const mine = alphaEvents.filter((e) => e.dims.user === "u-7" && !["load", "memory", "timing", "http", "metric", "choice"].includes(e.type));
    assert.equal(r.report, "user-story");
    assert.equal(r.sessions_total, new Set(mine.map((e) => e.dims.session)).size);
    assert.equal(r.workday.matrix.flat().reduce((a, b) => a + b, 0), mine.length);
    assert.equal(r.workday.matrix[0].length, 24);
  });

  it("correlation joins each session's speed with its clicks", async () => {
    const r = await client.reports.correlation({ app: "alpha", ...range, metric: { type: "http", of: "duration_ms" }, outcome: "clicks", buckets: 2 });
    const withCalls = new Set(alphaEvents.filter((e) => e.type === "http").map((e) => e.dims.session));
    assert.equal(r.report, "correlation");
    assert.equal(r.sessions, withCalls.size);
    assert.equal(r.buckets.reduce((n, b) => n + b.sessions, 0), withCalls.size);
    assert.equal(r.spearman.n, withCalls.size);
  });

  it("defaults asks the defaults report", async () => {
    const r = await client.reports.defaults({ app: "alpha", ...range, min_samples: 5 });
    assert.equal(r.report, "defaults");
    assert.equal(r.min_samples, 5);
    assert.deepEqual(r.controls, [], "the data set has no choices");
  });

  it("throws the typed errors", async () => {
    await assert.rejects(client.reports.widgets({ app: "alpha", where: [{ dim: "page", op: "$regex", value: "/" }] }),
      (e) => e instanceof InvalidQuery && /where\[0\]\.op/.test(e.message));
    await assert.rejects(client.reports.run("nope", { app: "alpha" }), (e) => e instanceof NotFound && /the reports are widgets, defaults, load-time, performance, correlation, user-story/.test(e.message));
    await assert.rejects(new UsageClient(env.url, env.beta.read_token).reports.widgets({ app: "alpha" }), Forbidden);
    await assert.rejects(client.reports.widgets({ app: "alpha", where: "pro=true" }), TypeError);
    await assert.rejects(client.reports.run("../query", { app: "alpha" }), TypeError);
  });
});
