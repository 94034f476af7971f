// Types of @usagelens/client (index.js). They use the standard fetch types
// (Response, Headers, AbortSignal): from TypeScript's "dom" lib in a browser
// project, from @types/node in a Node one. TypeScript >= 5.0.

// ---------------------------------------------------------------- queries

/** `where` operators. `contains` matches any element of a multi-valued dimension. */
export type Operator = "eq" | "ne" | "in" | "nin" | "gt" | "gte" | "lt" | "lte" | "exists" | "contains";

/** A value to compare with. */
export type Scalar = string | number | boolean;

/** A filter on a dimension (`dim`) or a metric (`metric`): exactly one of the two. */
export type Filter = ({ dim: string; metric?: never } | { metric: string; dim?: never }) &
  (
    | { op: "eq" | "ne" | "gt" | "gte" | "lt" | "lte" | "contains"; value: Scalar }
    | { op: "in" | "nin"; value: readonly Scalar[] }
    | { op: "exists"; value: boolean }
  );

/** Bucket sizes; weeks start on Monday. */
export type Interval = "minute" | "hour" | "day" | "week" | "month";

/** Functions of a metric. Percentiles are approximate (MongoDB's `$percentile`). */
export type MeasureFn = "sum" | "avg" | "min" | "max" | "p50" | "p75" | "p90" | "p95" | "p99";

/** `users`: distinct `user` (else `anon`); `sessions`: distinct `session`. */
export type NamedMeasure = "count" | "users" | "sessions";

/** A function of a metric; its column is `<fn>_<of>`, e.g. `p95_duration_ms`. */
export interface MetricMeasure {
  fn: MeasureFn;
  of: string;
}

export type Measure = NamedMeasure | MetricMeasure;

/** A Date, an RFC 3339 string (`2026-11-01T00:00:00Z`), or epoch milliseconds. */
export type TimeInput = Date | string | number;

export interface OrderBy {
  /** A column of the answer: a `group_by` dimension, `bucket`, or a measure's column. */
  by: string;
  desc?: boolean;
}

/** The body of `POST /v1/query` (docs/query.md). */
export interface QuerySpec {
  app: string;
  /** Event types; all when absent. */
  types?: readonly string[];
  /** Inclusive. */
  from?: TimeInput;
  /** Exclusive. */
  to?: TimeInput;
  /** Filters; all must hold. */
  where?: readonly Filter[];
  /** Dimensions to group by; a multi-valued one gives a row per value; events without it fall in the `null` group. */
  group_by?: readonly string[];
  /** Adds a `bucket` column: the start of each bucket, RFC 3339 UTC. */
  interval?: Interval;
  /** IANA time zone the buckets are cut in; default `UTC`. */
  tz?: string;
  /** Default `["count"]`. */
  measures?: readonly Measure[];
  order_by?: readonly OrderBy[];
  /** 1 to 10,000; default 1,000. */
  limit?: number;
  /** Return the aggregation pipeline in `meta.pipeline` (and `meta.reason`: why this plan). */
  explain?: boolean;
  /** `raw` forces the exact answer from the raw events; default `auto` (a rollup where one covers). */
  plan?: "auto" | "raw";
}

/** One cell of a row: a dimension value (null for the null group), a bucket, a number. */
export type Cell = string | number | boolean | null;

type MeasureColumn<M> = M extends string
  ? M
  : M extends { fn: infer F extends string; of: infer O extends string }
    ? `${F}_${O}`
    : never;

/**
 * The column names a spec gives, when it is written as a literal:
 * its `group_by` dimensions, `bucket` with an `interval`, and one per
 * measure. `string` for a spec typed only as `QuerySpec`.
 */
export type ColumnsOf<S extends QuerySpec> = QuerySpec extends S
  ? string
  :
      | (S extends { group_by: readonly (infer G extends string)[] } ? G : never)
      | (S extends { interval: Interval } ? "bucket" : never)
      | (S extends { measures: readonly (infer M)[] } ? MeasureColumn<M> : "count");

export interface QueryMeta {
  /** Server time of the query, in milliseconds. */
  took_ms: number;
  /** `raw`, `rollup:<name>` or `rollup:<name>+raw`. */
  plan: string;
  /** Whether a sketch answered (distinct users, sessions, percentiles); the bounds in `error`. */
  approximate?: boolean;
  /** With `explain: true`: the aggregation pipeline. */
  pipeline?: unknown[];
  [key: string]: unknown;
}

/** The answer of `query()`. */
export declare class QueryResult<C extends string = string> {
  constructor(columns: C[], rows: Cell[][], meta: QueryMeta);
  /** Column names: the dimensions, `bucket`, then the measures. */
  readonly columns: C[];
  /** Rows, each in column order. */
  readonly rows: Cell[][];
  readonly meta: QueryMeta;
  /** The rows as objects keyed by column name. */
  records(): Array<Record<C, Cell>>;
}

// ---------------------------------------------------------------- catalog

export type ValueKind = "string" | "number" | "bool" | "list";

/** One entry of `GET /v1/dimensions`. */
export interface CatalogEntry {
  name: string;
  field: "dimension" | "metric";
  kinds: ValueKind[];
  /** Event types it appeared on. */
  types: string[];
  /** RFC 3339. */
  first_seen: string;
  /** RFC 3339. */
  last_seen: string;
}

export interface HideResult {
  name: string;
  hidden: true;
}

// ---------------------------------------------------------------- export

/** A dimension value as stored: string, number, bool, or a list of strings and numbers. */
export type DimValue = string | number | boolean | Array<string | number>;

/** One event of `GET /v1/events`; timestamps are RFC 3339 UTC with milliseconds. */
export interface ExportedEvent {
  /** The event id the client sent (without the app prefix). */
  id: string;
  type: string;
  /** Event time, corrected for clock skew. */
  ts: string;
  /** Event time as the client sent it. */
  client_ts: string;
  received_at: string;
  dims: Record<string, DimValue>;
  metrics: Record<string, number>;
}

export interface ExportOptions {
  app: string;
  /** Inclusive. */
  from?: TimeInput;
  /** Exclusive. */
  to?: TimeInput;
  /** Only these event types. */
  types?: readonly string[];
  /** Filters, as in `query()` (all must hold; `hour`/`weekday` in UTC). */
  where?: readonly Filter[];
  /** Events per request (the collector's `limit`): 1 to 100,000, default 10,000. */
  pageSize?: number;
  signal?: AbortSignal;
}

// --------------------------------------------------------------- reports

/** What every report takes: the app, the range (default the last 7 days) and a segment. */
export interface ReportScope {
  app: string;
  /** Inclusive. */
  from?: TimeInput;
  /** Exclusive. */
  to?: TimeInput;
  /** Filters, as in `query()`: segment by any dimension. */
  where?: readonly Filter[];
  /** IANA time zone, for reports that bucket by time. */
  tz?: string;
  signal?: AbortSignal;
}

export interface ReportMeta {
  took_ms: number;
  plan: string;
  /** Engine queries the report ran. */
  queries: number;
  from: string;
  to: string;
}

export interface WidgetsOptions extends ReportScope {
  /** Only clicks on this page. */
  page?: string;
  /** Rows of each list, 1 to 1000 (default 50). */
  limit?: number;
}

export interface WidgetRow {
  widget: string;
  clicks: number;
  users: number;
  sessions: number;
  /** Of all clicks in the range (`total_clicks`). */
  share: number;
  /** In the same-length period just before `from`. */
  previous_clicks: number;
  /** Its top 5 pages by clicks. */
  pages: { page: string; clicks: number }[];
}

export interface WidgetsReport {
  report: "widgets";
  total_clicks: number;
  /** Most clicks first. */
  widgets: WidgetRow[];
  /** Widgets clicked in the 90 days before `to`, fewest clicks in the range first (zero included). */
  least_used: { widget: string; clicks: number; last_seen: string }[];
  previous: { from: string; to: string };
  meta: ReportMeta;
}

export type Percentile = "p50" | "p75" | "p90" | "p95" | "p99";

export interface LoadTimeOptions extends ReportScope {
  /** Only this page. */
  page?: string;
  /** Default p50, p75, p95. */
  percentiles?: readonly Percentile[];
  /** Most pages, by loads (1 to 1000, default 20). */
  limit?: number;
}

/** A phase: its percentiles (null when no load of the page reports it) and how many loads do. */
export type PhaseRow = { phase: string; count: number } & Partial<Record<Percentile, number | null>>;

export interface LoadTimeReport {
  report: "load-time";
  percentiles: Percentile[];
  /** Most loads first. */
  pages: {
    page: string;
    loads: number;
    /** The waterfall (redirect … load_event), then the app's own phases, then fcp, lcp, inp, cls. */
    phases: PhaseRow[];
    total: Partial<Record<Percentile, number | null>>;
  }[];
  /** The app's own phases found (`usagelens.mark`, `usage:` measures). */
  custom_phases: string[];
  trend: { bucket: string; loads: number; p75_total_ms: number | null }[];
  meta: ReportMeta;
}

export interface PerformanceOptions extends ReportScope {
  /** The series' buckets, default `hour`. */
  interval?: "minute" | "hour" | "day" | "week" | "month";
  /** Most routes and pages (1 to 1000, default 50). */
  limit?: number;
}

export interface BrowserMemoryRow {
  samples: number;
  heap_p50: number | null;
  heap_p95: number | null;
  gc_count: number;
  gc_reclaimed_bytes: number;
  longtask_count: number;
  longtask_ms: number;
  blocking_ms: number;
  longtask_max_ms: number | null;
}

export interface PerformanceReport {
  report: "performance";
  interval: string;
  browser: {
    series: (BrowserMemoryRow & { bucket: string })[];
    by_page: (BrowserMemoryRow & { page: string | null })[];
  };
  server: {
    routes: {
      route: string | null;
      method: string | null;
      count: number;
      errors: number;
      error_rate: number;
      p50_duration_ms: number | null;
      p95_duration_ms: number | null;
      p99_duration_ms: number | null;
      p95_serialize_ms: number | null;
      serialize_share: number;
    }[];
    memory: {
      bucket: string;
      samples: number;
      rss_p50: number | null;
      rss_max: number | null;
      virtual_max: number | null;
      jemalloc_allocated_p50: number | null;
      mimalloc_committed_max: number | null;
    }[];
  };
  meta: ReportMeta;
}

export interface UserStoryOptions extends ReportScope {
  /** The user's id, as `identify()` set it. */
  user: string;
  /** Sessions per page (1 to 200, default 20). */
  limit?: number;
  /** Sessions to skip, latest first. */
  offset?: number;
}

export interface UserStoryReport {
  report: "user-story";
  user: string;
  sessions: { session: string; start: string; end: string; events: number; pages: number; top_actions: { action: string; count: number }[] }[];
  sessions_total: number;
  workday: {
    tz: string;
    /** `user`: the tz the user's browser sends; else the request's, else UTC. */
    tz_source: "user" | "request" | "default";
    /** 7 × 24 activity counts, Monday first, hours in `tz`. */
    matrix: number[][];
    by_hour: number[];
    by_weekday: number[];
    active_days: number;
    active_days_per_week: number;
    typical_start: string | null;
    typical_end: string | null;
    dayparts: { part: "night" | "morning" | "afternoon" | "evening"; hours: [number, number]; top: { action: string; count: number }[] }[];
  };
  sequences: { steps: [string, string, string]; count: number }[];
  distinctive: { action: string; user_share: number; everyone_share: number; lift: number }[];
  experience: Record<"load" | "api", { metric: string; user_p75: number | null; user_count: number; everyone_p75: number | null; everyone_count: number }>;
  meta: ReportMeta;
}

export type Outcome = "clicks" | "events" | "pages" | "duration" | { widget: string } | { type: string };

export interface CorrelationOptions extends ReportScope {
  /** Default `{type: "load", of: "total_ms"}`; each session's median is used. */
  metric?: { type: string; of: string };
  /** Default `"clicks"`. */
  outcome?: Outcome;
  /** A session dimension to break the sessions down by (role, plan, browser …). */
  by?: string;
  /** Bucket edges, ascending; default quantile buckets. */
  edges?: readonly number[];
  /** Quantile buckets without `edges` (2 to 20, default 5). */
  buckets?: number;
  /** The most sessions joined (3 to 10,000, default 10,000): fewer answer sooner. */
  max_sessions?: number;
}

export interface CorrelationReport {
  report: "correlation";
  metric: { type: string; of: string; per_session: "p50" };
  outcome: Outcome;
  sessions: number;
  /** The read reached `max_sessions` (default 10,000): the first sessions by id were joined (any past them were not). */
  truncated: boolean;
  /** Fastest first. */
  buckets: { range: string; min: number | null; max: number | null; sessions: number; users: number; outcome_per_session: number | null }[];
  /** null below 3 sessions or with a constant side. */
  spearman: { rho: number | null; n: number };
  by: null | { dimension: string; groups: { value: string; sessions: number; metric_p50: number | null; metric_p95: number | null; outcome_per_session: number | null }[] };
  meta: ReportMeta;
}

export interface DefaultsOptions extends ReportScope {
  page?: string;
  control?: string;
  /** Fewest samples for a suggestion (default 30). */
  min_samples?: number;
  /** Most controls (1 to 1000, default 100). */
  limit?: number;
}

export interface DefaultsReport {
  report: "defaults";
  min_samples: number;
  /** Most samples first. */
  controls: {
    control: string;
    form: string | null;
    page: string | null;
    control_type: string;
    /** A checkbox group or multi-select: values are the options, each with the share of samples that include it. */
    multi: boolean;
    default: unknown;
    samples: number;
    kept_default: number;
    kept_share: number;
    values: { value: unknown; count: number; share: number; is_default: boolean }[];
    suggestion: null | { value: unknown; share: number; default_share: number; confidence: number; interval: [number, number]; default_interval: [number, number] };
  }[];
  /** Controls with a suggestion. */
  suggestions: number;
  meta: ReportMeta;
}

export interface Reports {
  /** Which widgets are used most, and least. */
  widgets(options: WidgetsOptions): Promise<WidgetsReport>;
  /** The load-time breakdown per page, and by day. */
  loadTime(options: LoadTimeOptions): Promise<LoadTimeReport>;
  /** Per control: are the defaults the options users use? */
  defaults(options: DefaultsOptions): Promise<DefaultsReport>;
  /** Browser memory, GC and long tasks; the server's API routes and memory. */
  performance(options: PerformanceOptions): Promise<PerformanceReport>;
  /** What one user typically does on a workday. */
  userStory(options: UserStoryOptions): Promise<UserStoryReport>;
  /** Per session, a performance metric against a usage outcome (correlation, not causation). */
  correlation(options: CorrelationOptions): Promise<CorrelationReport>;
  /** Any report by name, with its body as given. */
  run(name: string, body: Record<string, unknown> & { app: string }, options?: CallOptions): Promise<Record<string, unknown> & { report: string; meta: ReportMeta }>;
}

// ---------------------------------------------------------------- client

/** What the client calls to send a request; the global `fetch` by default. */
export type FetchLike = (
  input: string,
  init: { method: string; headers: Headers; body?: string; signal: AbortSignal },
) => Promise<Response>;

export interface ClientOptions {
  /**
   * Milliseconds to wait for an answer before throwing `TransportError`
   * (code `timeout`); `Infinity` for none. Covers a whole query; for
   * `export()`, each wait on the network. Default 60,000.
   */
  timeoutMs?: number;
  /** A fetch to use instead of the global one. */
  fetch?: FetchLike;
}

/** A rollup to declare (docs/rollups.md). */
export interface RollupDeclaration {
  app: string;
  name: string;
  types: readonly string[];
  dims?: readonly string[];
  /** Default `["*"]`: every metric. */
  metrics?: readonly string[];
  /** Default `hour`; buckets are UTC. */
  grain?: "minute" | "hour" | "day";
}

/** A rollup as `GET /v1/rollups` and `POST /v1/rollups` describe it. */
export interface RollupInfo {
  name: string;
  types: string[];
  dims: string[];
  metrics: string[];
  grain: "minute" | "hour" | "day";
  builtin: boolean;
  /** The first bucket it is built from for the app (RFC 3339), or null. */
  built_from: string | null;
  /** `GET /v1/rollups`: its documents for the app. */
  documents?: number;
}

/** `GET /v1/rollups`. */
export interface RollupStatus {
  app: string;
  rollups: RollupInfo[];
  /** Every bucket before it is built. */
  watermark: string;
  dirty: { count: number; hours: { hour: string; marked_at: string }[] };
}

export interface CallOptions {
  /** Aborts the request; the call then throws `signal.reason`. */
  signal?: AbortSignal;
}

/** Default `timeoutMs`: 60,000 (the collector stops a query at 30 s). */
export declare const DEFAULT_TIMEOUT_MS: number;

export declare class UsageClient {
  /**
   * @param url the collector's base URL, e.g. `http://127.0.0.1:8080` (a path prefix is kept)
   * @param token the app's read token (`rt_…`)
   * @throws TypeError on a URL that is not absolute http(s), or an empty token
   */
  constructor(url: string | URL, token: string, options?: ClientOptions);

  /** The base URL, ending with `/`. */
  readonly url: string;

  /** `POST /v1/query`. With a literal spec, `records()` is keyed by its columns. */
  query<const S extends QuerySpec>(spec: S, options?: CallOptions): Promise<QueryResult<ColumnsOf<S>>>;

  /** `GET /v1/dimensions?app=`: every dimension and metric name the app sent, hidden ones left out. */
  dimensions(app: string, options?: CallOptions): Promise<CatalogEntry[]>;

  /** `POST /v1/dimensions/<name>/hide?app=`: retire a name from the catalog (events keep it). */
  hideDimension(app: string, name: string, options?: CallOptions): Promise<HideResult>;

  /** The reports (`POST /v1/reports/<name>`, docs/reports.md). */
  readonly reports: Reports;

  /** `GET /v1/rollups?app=`: the app's rollups, what each is built from, the dirty hours and the watermark. */
  rollups(app: string, options?: CallOptions): Promise<RollupStatus>;

  /** `POST /v1/rollups`: declare a rollup of the app. */
  declareRollup(rollup: RollupDeclaration, options?: CallOptions): Promise<RollupInfo>;

  /** `DELETE /v1/rollups/<name>?app=`: drop a rollup the app declared, and its documents. */
  dropRollup(app: string, name: string, options?: CallOptions): Promise<{ app: string; name: string; dropped: true; documents: number }>;

  /**
   * `GET /v1/events`: the app's events in (ts, id) order, as an async
   * iterator, streamed page by page and line by line. Break out of the
   * loop to stop; the connection is released.
   */
  export(options: ExportOptions): AsyncGenerator<ExportedEvent, void, undefined>;
}

// ---------------------------------------------------------------- errors

export interface UsageLensErrorOptions {
  status?: number;
  code?: string;
  cause?: unknown;
}

/** Every error the client throws (besides `TypeError` for bad arguments and an aborted signal's reason). */
export declare class UsageLensError extends Error {
  constructor(message: string, options?: UsageLensErrorOptions);
  /** HTTP status; 0 when no answer was read. */
  readonly status: number;
  /** The collector's code (`invalid_query`, `unauthorized`, …), `http_<status>` without one, or a TransportError's code. */
  readonly code: string;
}

/** 400: a bad request; the message names the field (e.g. `group_by[0]`). */
export declare class InvalidQuery extends UsageLensError {}
/** 401: no read token, or an unknown one. */
export declare class Unauthorized extends UsageLensError {}
/** 403: the read token belongs to another app. */
export declare class Forbidden extends UsageLensError {}
/** 404: no such endpoint at this base URL, or no such declared rollup. */
export declare class NotFound extends UsageLensError {}
/** 409: the name is taken (`rollup_exists`). */
export declare class Conflict extends UsageLensError {}
/** 422: the query ran over the collector's 30 s limit; narrow it. */
export declare class QueryTooSlow extends UsageLensError {}
/** 422 `store_too_old`: the query needs a newer MongoDB (percentiles: 7.0). */
export declare class StoreTooOld extends UsageLensError {}

/** 429: over a rate limit. */
export declare class RateLimited extends UsageLensError {
  constructor(message: string, options?: UsageLensErrorOptions & { retryAfter?: number | null });
  /** Seconds to wait (from `Retry-After`), or null. */
  readonly retryAfter: number | null;
}

/** 503: the collector cannot reach its store. */
export declare class StoreUnavailable extends UsageLensError {
  constructor(message: string, options?: UsageLensErrorOptions & { retryAfter?: number | null });
  /** Seconds to wait (from `Retry-After`), or null. */
  readonly retryAfter: number | null;
}

/**
 * No usable answer. `code`: `network` (refused, reset, DNS, CORS in a
 * browser), `timeout`, `truncated` (an export page cut off),
 * `invalid_response` (not JSON, not UTF-8). `cause` holds the underlying error.
 */
export declare class TransportError extends UsageLensError {}
