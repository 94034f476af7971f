// query(), records(), dimensions() and hideDimension() against a real
// collector (see collector.js); every expected answer is computed from
// dataset.js here.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { InvalidQuery, QueryResult, UsageClient } from "../index.js";
import { startCollector } from "./collector.js";
import { alphaEvents, betaEvents, bucketStart, countBy, groupValues, percentileRange } from "./dataset.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Rows as a Map from the first n cells (joined) to the rest. */
function byKey(result, n = 1) {
  const m = new Map();
  for (const row of result.rows) {
    const key = row.slice(0, n).map(String).join("|");
    assert.ok(!m.has(key), `the key ${key} appears twice`);
    m.set(key, row.slice(n));
  }
  return m;
}

function mapOf(counts) {
  return new Map([...counts].map(([k, v]) => [String(k), [v]]));
}

let env;
let client;

before(async () => {
  env = await startCollector();
  client = new UsageClient(env.url, env.alpha.read_token);
});

after(async () => {
  await env?.stop();
});

describe("query()", { timeout: 120_000 }, () => {
  it("counts per group, ordered and limited", async () => {
    const clicks = alphaEvents.filter((e) => e.type === "click");
    const expected = [...countBy(clicks, (e) => [e.dims.widget])].sort((a, b) => b[1] - a[1]);
    // The data set is built so that no two widgets tie.
    assert.equal(new Set(expected.map((e) => e[1])).size, expected.length);

    const r = await client.query({
      app: "alpha",
      types: ["click"],
      group_by: ["widget"],
      measures: ["count"],
      order_by: [{ by: "count", desc: true }],
      limit: 3,
    });
    assert.ok(r instanceof QueryResult);
    assert.deepEqual(r.columns, ["widget", "count"]);
    assert.deepEqual(r.rows, expected.slice(0, 3));
    assert.equal(typeof r.meta.took_ms, "number");
    assert.equal(r.meta.plan, "raw");

    const asc = await client.query({
      app: "alpha",
      types: ["click"],
      group_by: ["widget"],
      order_by: [{ by: "widget" }],
    });
    assert.deepEqual(asc.rows, [...expected].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
  });

  it("groups a multi-valued dimension: an event counts once per distinct value, none in the null group", async () => {
    const r = await client.query({ app: "alpha", group_by: ["tags"] });
    assert.deepEqual(r.columns, ["tags", "count"]);
    const expected = countBy(alphaEvents, (e) => groupValues(e, "tags"));
    assert.deepEqual(byKey(r), mapOf(expected));
    // The data holds ["beta", "beta"], [] and events without tags.
    assert.ok(alphaEvents.some((e) => e.dims.tags?.length === 2 && e.dims.tags[0] === e.dims.tags[1]));
    assert.ok(expected.get(null) > 0);
  });

  it("groups by two dimensions", async () => {
    const r = await client.query({
      app: "alpha",
      types: ["click"],
      group_by: ["widget", "pro"],
      measures: ["count", "users"],
    });
    assert.deepEqual(r.columns, ["widget", "pro", "count", "users"]);
    const expected = new Map();
    for (const e of alphaEvents.filter((e) => e.type === "click")) {
      const key = `${e.dims.widget}|${e.dims.pro}`;
      const g = expected.get(key) ?? { count: 0, users: new Set() };
      g.count += 1;
      g.users.add(e.dims.user ?? e.dims.anon);
      expected.set(key, g);
    }
    assert.equal(expected.size, 10);
    assert.deepEqual(byKey(r, 2), new Map([...expected].map(([k, g]) => [k, [g.count, g.users.size]])));
  });

  it("applies every kind of where filter", async () => {
    const cases = [
      [{ dim: "page", op: "eq", value: "/settings" }, (e) => e.dims.page === "/settings"],
      [{ dim: "page", op: "ne", value: "/settings" }, (e) => e.dims.page !== "/settings"],
      [{ dim: "page", op: "in", value: ["/", "/reports"] }, (e) => ["/", "/reports"].includes(e.dims.page)],
      [{ dim: "page", op: "nin", value: ["/", "/reports"] }, (e) => !["/", "/reports"].includes(e.dims.page)],
      [{ dim: "tags", op: "contains", value: "admin" }, (e) => e.dims.tags?.includes("admin") ?? false],
      [{ dim: "user", op: "exists", value: false }, (e) => e.dims.user === undefined],
      [{ dim: "pro", op: "eq", value: true }, (e) => e.dims.pro === true],
      [{ dim: "retries", op: "gte", value: 3 }, (e) => e.dims.retries >= 3],
      [{ dim: "ratio", op: "lt", value: 1 }, (e) => e.dims.ratio < 1],
      [{ metric: "duration_ms", op: "gt", value: 300 }, (e) => e.metrics.duration_ms > 300],
      [{ metric: "bytes", op: "lte", value: 1300 }, (e) => e.metrics.bytes !== undefined && e.metrics.bytes <= 1300],
    ];
    for (const [filter, pred] of cases) {
      const r = await client.query({ app: "alpha", where: [filter] });
      const expected = alphaEvents.filter(pred).length;
      assert.ok(expected > 0 && expected < alphaEvents.length, `the data set exercises ${JSON.stringify(filter)}`);
      assert.deepEqual(r.rows, [[expected]], JSON.stringify(filter));
    }
    // Filters combine with AND, and with types.
    const r = await client.query({
      app: "alpha",
      types: ["click", "http"],
      where: [
        { dim: "tags", op: "contains", value: "beta" },
        { metric: "duration_ms", op: "gte", value: 100 },
      ],
    });
    const expected = alphaEvents.filter(
      (e) => ["click", "http"].includes(e.type) && e.dims.tags?.includes("beta") && e.metrics.duration_ms >= 100,
    ).length;
    assert.deepEqual(r.rows, [[expected]]);
  });

  it("computes sum, min, max and avg exactly, users and sessions, and a percentile within tolerance", async () => {
    const measures = [
      "count",
      "users",
      "sessions",
      { fn: "sum", of: "duration_ms" },
      { fn: "min", of: "duration_ms" },
      { fn: "max", of: "duration_ms" },
      { fn: "avg", of: "duration_ms" },
      { fn: "p95", of: "duration_ms" },
      { fn: "sum", of: "bytes" },
    ];
    const r = await client.query({ app: "alpha", group_by: ["page"], measures });
    assert.deepEqual(r.columns, [
      "page", "count", "users", "sessions", "sum_duration_ms", "min_duration_ms",
      "max_duration_ms", "avg_duration_ms", "p95_duration_ms", "sum_bytes",
    ]);
    const got = byKey(r);
    const pages = [...new Set(alphaEvents.map((e) => e.dims.page))].sort();
    assert.deepEqual([...got.keys()].sort(), pages);
    const check = (label, evs, [count, users, sessions, sum, min, max, avg, p95, bytes]) => {
      const d = evs.map((e) => e.metrics.duration_ms);
      assert.equal(count, evs.length, `count, ${label}`);
      assert.equal(users, new Set(evs.map((e) => e.dims.user ?? e.dims.anon)).size, `users, ${label}`);
      assert.equal(sessions, new Set(evs.map((e) => e.dims.session)).size, `sessions, ${label}`);
      const total = d.reduce((a, b) => a + b, 0);
      assert.equal(sum, total, `sum, ${label}`);
      assert.equal(min, Math.min(...d), `min, ${label}`);
      assert.equal(max, Math.max(...d), `max, ${label}`);
      assert.ok(Math.abs(avg - total / d.length) < 1e-9, `avg ${avg}, ${label}`);
      const [lo, hi] = percentileRange(d, 0.95, 0.02);
      assert.ok(p95 >= lo && p95 <= hi, `p95 ${p95} outside [${lo}, ${hi}], ${label}`);
      assert.equal(bytes, evs.reduce((a, e) => a + (e.metrics.bytes ?? 0), 0), `sum_bytes, ${label}`);
    };
    for (const page of pages) check(page, alphaEvents.filter((e) => e.dims.page === page), got.get(page));

    // One type: `bytes` only on http events; no group_by gives one row.
    const http = await client.query({ app: "alpha", types: ["http"], measures });
    assert.equal(http.rows.length, 1);
    check("http", alphaEvents.filter((e) => e.type === "http"), http.rows[0]);
  });

  it("buckets by interval, in UTC and in a time zone, within a half-open range", async () => {
    const day = await client.query({ app: "alpha", interval: "day" });
    assert.deepEqual(day.columns, ["bucket", "count"]);
    const expectedDays = countBy(alphaEvents, (e) => [new Date(bucketStart(e.ts, DAY)).toISOString()]);
    assert.equal(expectedDays.size, 3);
    // Without order_by, buckets come in time order.
    assert.deepEqual(day.rows, [...expectedDays].sort());

    // Asia/Kolkata is UTC+05:30 all year: its days start at 18:30 UTC.
    const offset = 5.5 * HOUR;
    const local = await client.query({ app: "alpha", interval: "day", tz: "Asia/Kolkata" });
    const expectedLocal = countBy(alphaEvents, (e) => [new Date(bucketStart(e.ts, DAY, offset)).toISOString()]);
    assert.deepEqual(local.rows, [...expectedLocal].sort());
    assert.notDeepEqual(local.rows, day.rows);

    // Hours between two instants: `from` inclusive, `to` exclusive.
    const from = alphaEvents[30].ts;
    const to = alphaEvents[90].ts;
    const hours = await client.query({
      app: "alpha",
      types: ["page"],
      group_by: ["page"],
      interval: "hour",
      from: new Date(from),
      to: new Date(to),
      order_by: [{ by: "bucket" }, { by: "page" }],
    });
    assert.deepEqual(hours.columns, ["page", "bucket", "count"]);
    const inRange = alphaEvents.filter((e) => e.type === "page" && e.ts >= from && e.ts < to);
    const expectedHours = countBy(inRange, (e) => [`${e.dims.page}|${new Date(bucketStart(e.ts, HOUR)).toISOString()}`]);
    assert.deepEqual(byKey(hours, 2), mapOf(expectedHours));
    const keys = hours.rows.map((r) => `${r[1]}|${r[0]}`);
    assert.deepEqual(keys, [...keys].sort(), "ordered by bucket, then page");
  });

  it("takes from/to as a Date, an RFC 3339 string or epoch milliseconds", async () => {
    const from = alphaEvents[100].ts;
    const to = alphaEvents[400].ts;
    const expected = alphaEvents.filter((e) => e.ts >= from && e.ts < to).length;
    assert.ok(alphaEvents.some((e) => e.ts === to), "an event sits exactly at `to` and is left out");
    for (const [f, t] of [
      [new Date(from), new Date(to)],
      [new Date(from).toISOString(), new Date(to).toISOString()],
      [from, to],
    ]) {
      const r = await client.query({ app: "alpha", from: f, to: t });
      assert.deepEqual(r.rows, [[expected]], `from ${f}, to ${t}`);
    }
    await assert.rejects(client.query({ app: "alpha", from: new Date("nonsense") }), {
      name: "TypeError",
      message: /from: invalid Date/,
    });
  });

  it("records() keys each row by column", async () => {
    const r = await client.query({
      app: "alpha",
      group_by: ["page"],
      measures: ["count", { fn: "max", of: "duration_ms" }],
      order_by: [{ by: "page" }],
    });
    const records = r.records();
    assert.equal(records.length, r.rows.length);
    const pages = [...new Set(alphaEvents.map((e) => e.dims.page))].sort();
    assert.deepEqual(
      records,
      pages.map((page) => {
        const evs = alphaEvents.filter((e) => e.dims.page === page);
        return { page, count: evs.length, max_duration_ms: Math.max(...evs.map((e) => e.metrics.duration_ms)) };
      }),
    );
  });

  it("sees only the token's own app", async () => {
    const betaClient = new UsageClient(env.url, env.beta.read_token);
    const r = await betaClient.query({ app: "beta", group_by: ["widget"] });
    assert.deepEqual(r.rows, [["beta-only", betaEvents.length]]);
  });

  it("returns the pipeline with explain", async () => {
    const r = await client.query({ app: "alpha", group_by: ["page"], explain: true });
    assert.ok(Array.isArray(r.meta.pipeline) && r.meta.pipeline.length > 0);
    assert.deepEqual(r.meta.pipeline[0], { $match: { app: "alpha" } });
  });
});

describe("dimensions() and hideDimension()", { timeout: 120_000 }, () => {
  it("lists every name with its kinds and types, and hides one", async () => {
    const entries = await client.dimensions("alpha");
    const byName = new Map(entries.map((e) => [`${e.field}:${e.name}`, e]));
    const dimNames = new Set(alphaEvents.flatMap((e) => Object.keys(e.dims)));
    const metricNames = new Set(alphaEvents.flatMap((e) => Object.keys(e.metrics)));
    assert.deepEqual(
      [...byName.keys()].sort(),
      [...[...dimNames].map((n) => `dimension:${n}`), ...[...metricNames].map((n) => `metric:${n}`)].sort(),
    );
    assert.deepEqual(byName.get("dimension:tags").kinds, ["list"]);
    assert.deepEqual(byName.get("dimension:pro").kinds, ["bool"]);
    assert.deepEqual(byName.get("dimension:retries").kinds, ["number"]);
    assert.deepEqual(byName.get("dimension:widget").types, ["click"]);
    assert.deepEqual(byName.get("metric:bytes").types, ["http"]);
    assert.deepEqual(byName.get("metric:duration_ms").kinds, ["number"]);
    const page = byName.get("dimension:page");
    assert.equal(page.first_seen, new Date(Math.min(...alphaEvents.map((e) => e.ts))).toISOString());
    assert.equal(page.last_seen, new Date(Math.max(...alphaEvents.map((e) => e.ts))).toISOString());

    assert.deepEqual(await client.hideDimension("alpha", "ratio"), { name: "ratio", hidden: true });
    const after = await client.dimensions("alpha");
    assert.deepEqual(
      after.map((e) => `${e.field}:${e.name}`).sort(),
      [...byName.keys()].filter((k) => k !== "dimension:ratio").sort(),
    );
    // The events keep the data: queries still use it.
    const r = await client.query({ app: "alpha", where: [{ dim: "ratio", op: "gte", value: 2 }] });
    assert.deepEqual(r.rows, [[alphaEvents.filter((e) => e.dims.ratio >= 2).length]]);

    const err = await client.hideDimension("alpha", "no_such_name").catch((e) => e);
    assert.ok(err instanceof InvalidQuery, String(err));
    assert.equal(err.status, 400);
    assert.match(err.message, /^name: /);
    assert.match(err.message, /no_such_name/);
  });

  it("checks its arguments before sending", async () => {
    await assert.rejects(client.dimensions(""), { name: "TypeError", message: /app must be the app id/ });
    await assert.rejects(client.hideDimension("alpha", ""), { name: "TypeError", message: /name must be/ });
  });
});
