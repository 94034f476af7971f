// Compiled by `npx tsc -p .` (never run): the types accept what the API
// takes and refuse what it does not. Each `@ts-expect-error` must be an error.
import {
  type CatalogEntry,
  type ExportedEvent,
  type Filter,
  type QuerySpec,
  Forbidden,
  InvalidQuery,
  QueryResult,
  RateLimited,
  StoreUnavailable,
  TransportError,
  UsageClient,
  UsageLensError,
} from "@usagelens/client";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | void {}

const client = new UsageClient("http://127.0.0.1:8080", "rt_x", { timeoutMs: 5000 });
new UsageClient(new URL("https://example.com/usagelens/"), "rt_x", { fetch: (input, init) => fetch(input, init) });
// @ts-expect-error the token is required
new UsageClient("http://127.0.0.1:8080");

export async function examples(): Promise<void> {
  // A literal spec: records() is keyed by exactly its columns.
  const r = await client.query({
    app: "demo",
    types: ["click"],
    from: new Date("2026-11-01T00:00:00Z"),
    to: "2026-11-28T00:00:00Z",
    where: [
      { dim: "page", op: "eq", value: "/settings" },
      { dim: "roles", op: "contains", value: "admin" },
      { dim: "browser", op: "in", value: ["Chrome", "Firefox"] },
      { dim: "user", op: "exists", value: false },
      { metric: "duration_ms", op: "gt", value: 100 },
    ],
    group_by: ["widget", "browser"],
    interval: "hour",
    tz: "Europe/Berlin",
    measures: ["count", "users", "sessions", { fn: "p95", of: "duration_ms" }],
    order_by: [{ by: "count", desc: true }],
    limit: 20,
  });
  assertType<Equal<(typeof r.columns)[number], "widget" | "browser" | "bucket" | "count" | "users" | "sessions" | "p95_duration_ms">>();
  for (const row of r.records()) {
    const p95: string | number | boolean | null = row.p95_duration_ms;
    void p95;
    // @ts-expect-error not a column of this query
    void row.p50_duration_ms;
  }
  const took: number = r.meta.took_ms;
  void took;

  // No measures: the answer has `count`.
  const counts = await client.query({ app: "demo", group_by: ["page"], from: 1795860000000 });
  assertType<Equal<(typeof counts.columns)[number], "page" | "count">>();

  // A spec built elsewhere, typed as QuerySpec: columns are plain strings.
  const spec: QuerySpec = { app: "demo", measures: [{ fn: "sum", of: "bytes" }] };
  const loose: QueryResult = await client.query(spec);
  assertType<Equal<(typeof loose.columns)[number], string>>();

  // @ts-expect-error `like` is not an operator
  await client.query({ app: "demo", where: [{ dim: "page", op: "like", value: "/a" }] });
  // @ts-expect-error `in` takes an array
  await client.query({ app: "demo", where: [{ dim: "page", op: "in", value: "/a" }] });
  // @ts-expect-error `exists` takes a bool
  await client.query({ app: "demo", where: [{ dim: "page", op: "exists", value: "yes" }] });
  // @ts-expect-error a filter names a dim or a metric, not both
  const both: Filter = { dim: "a", metric: "b", op: "eq", value: 1 };
  void both;
  // @ts-expect-error `fortnight` is not an interval
  await client.query({ app: "demo", interval: "fortnight" });
  // @ts-expect-error `median` is not a measure function
  await client.query({ app: "demo", measures: [{ fn: "median", of: "duration_ms" }] });
  // @ts-expect-error `total` is not a named measure
  await client.query({ app: "demo", measures: ["total"] });
  // @ts-expect-error the app is required
  await client.query({ group_by: ["page"] });
  // @ts-expect-error from: not a boolean
  await client.query({ app: "demo", from: true });

  const dims: CatalogEntry[] = await client.dimensions("demo");
  const kinds: ("string" | "number" | "bool" | "list")[] = dims[0]!.kinds;
  void kinds;
  const hidden = await client.hideDimension("demo", "widget");
  const yes: true = hidden.hidden;
  void yes;

  const controller = new AbortController();
  for await (const ev of client.export({
    app: "demo",
    from: new Date(0),
    to: "2026-11-28T00:00:00Z",
    types: ["click", "page"],
    pageSize: 500,
    signal: controller.signal,
  })) {
    const e: ExportedEvent = ev;
    const d: number | undefined = e.metrics["duration_ms"];
    void d;
  }
  // @ts-expect-error export needs the app
  client.export({ pageSize: 10 });

  try {
    await client.dimensions("demo");
  } catch (e) {
    if (e instanceof RateLimited || e instanceof StoreUnavailable) {
      const wait: number | null = e.retryAfter;
      void wait;
    } else if (e instanceof InvalidQuery || e instanceof Forbidden) {
      const s: number = e.status;
      const c: string = e.code;
      void s, c;
    } else if (e instanceof TransportError) {
      const cause: unknown = e.cause;
      void cause;
    } else if (e instanceof UsageLensError) {
      // @ts-expect-error only RateLimited and StoreUnavailable carry retryAfter
      void e.retryAfter;
    }
  }
}
