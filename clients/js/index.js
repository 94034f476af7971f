// @usagelens/client: the UsageLens query API from JavaScript, in browsers
// and Node >= 18. No dependencies: fetch, Headers, URL, TextDecoder and
// ReadableStream only. Types: index.d.ts.

import {
  Conflict,
  Forbidden,
  InvalidQuery,
  NotFound,
  QueryTooSlow,
  RateLimited,
  StoreTooOld,
  StoreUnavailable,
  TransportError,
  Unauthorized,
  UsageLensError,
  errorFromResponse,
} from "./errors.js";
import { ndjsonObjects } from "./ndjson.js";

export {
  Conflict,
  Forbidden,
  InvalidQuery,
  NotFound,
  QueryTooSlow,
  RateLimited,
  StoreTooOld,
  StoreUnavailable,
  TransportError,
  Unauthorized,
  UsageLensError,
};

/** Default `timeoutMs`: above the collector's own 30 s query limit, so a slow query answers 422 rather than timing out here. */
export const DEFAULT_TIMEOUT_MS = 60_000;

/** The answer of `query()`: columns, rows in column order, meta. */
export class QueryResult {
  /**
   * @param {string[]} columns
   * @param {unknown[][]} rows
   * @param {Record<string, unknown>} meta
   */
  constructor(columns, rows, meta) {
    this.columns = columns;
    this.rows = rows;
    this.meta = meta;
  }

  /** The rows as objects keyed by column name. */
  records() {
    const { columns } = this;
    return this.rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i]])));
  }
}

/**
 * A time for `from`/`to`: a Date, an RFC 3339 string, or epoch milliseconds.
 * @param {string} field
 * @param {unknown} value
 * @returns {string | number}
 */
function timeValue(field, value) {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TypeError(`${field}: invalid Date`);
    return value.toISOString();
  }
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isInteger(value)) return value;
  throw new TypeError(
    `${field}: give a Date, an RFC 3339 string or whole epoch milliseconds, not ${describe(value)}`,
  );
}

function describe(value) {
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") return String(value);
  return typeof value;
}

function checkApp(method, app) {
  if (typeof app !== "string" || app === "") {
    throw new TypeError(`${method}: app must be the app id (a non-empty string), not ${describe(app)}`);
  }
}

export class UsageClient {
  #base;
  #token;
  #timeoutMs;
  #fetch;

  /**
   * @param {string | URL} url the collector's base URL, e.g. `http://127.0.0.1:8080`
   *   (a path prefix such as `https://example.com/usagelens/` is kept)
   * @param {string} token the app's read token (`rt_…`)
   * @param {{timeoutMs?: number, fetch?: typeof fetch}} [options]
   */
  constructor(url, token, options = {}) {
    let base;
    try {
      base = new URL(String(url));
    } catch {
      throw new TypeError(`UsageClient: url must be an absolute http(s) URL, not ${describe(url)}`);
    }
    if (base.protocol !== "http:" && base.protocol !== "https:") {
      throw new TypeError(`UsageClient: url must be http or https, not ${base.protocol}`);
    }
    if (!base.pathname.endsWith("/")) base.pathname += "/";
    base.search = "";
    base.hash = "";
    if (typeof token !== "string" || token.trim() === "") {
      throw new TypeError("UsageClient: token must be the app's read token (rt_…)");
    }
    const { timeoutMs = DEFAULT_TIMEOUT_MS, fetch: fetchImpl } = options ?? {};
    if (typeof timeoutMs !== "number" || !(timeoutMs > 0)) {
      throw new TypeError(`UsageClient: timeoutMs must be a positive number (Infinity for none), not ${describe(timeoutMs)}`);
    }
    if (fetchImpl !== undefined && typeof fetchImpl !== "function") {
      throw new TypeError("UsageClient: options.fetch must be a function");
    }
    if (fetchImpl === undefined && typeof globalThis.fetch !== "function") {
      throw new TypeError("UsageClient: no global fetch here (Node >= 18 has one); pass options.fetch");
    }
    this.#base = base;
    this.#token = token.trim();
    this.#timeoutMs = timeoutMs;
    // Called through globalThis so browsers never see an unbound `fetch`.
    this.#fetch = fetchImpl ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** The collector's base URL, ending with `/`. */
  get url() {
    return this.#base.href;
  }

  /**
   * The reports (POST /v1/reports/<name>, docs/reports.md): one method per
   * report, each taking the common scope `{app, from?, to?, where?, tz?}`
   * and the report's own fields, and `run(name, body)` for any report.
   */
  get reports() {
    const run = async (name, body, options = {}) => {
      if (typeof name !== "string" || !/^[a-z][a-z-]*$/.test(name)) {
        throw new TypeError(`reports.run: name must be a report name like "widgets", not ${describe(name)}`);
      }
      if (body === null || typeof body !== "object" || Array.isArray(body)) {
        throw new TypeError(`reports.${name}: options must be an object like {app, from, to, where}`);
      }
      checkApp(`reports.${name}`, body.app);
      const { signal, ...fields } = { ...options, ...body };
      for (const field of ["from", "to"]) {
        if (fields[field] === undefined) delete fields[field];
        else fields[field] = timeValue(field, fields[field]);
      }
      if (fields.where !== undefined && !Array.isArray(fields.where)) {
        throw new TypeError(`reports.${name}: where must be an array of filters like {dim: "role", op: "eq", value: "admin"}`);
      }
      const answer = await this.#json("POST", `v1/reports/${name}`, { body: fields, signal });
      if (!answer || answer.report !== name) {
        throw new TransportError(`POST /v1/reports/${name}: the answer is not the ${name} report`, { code: "invalid_response" });
      }
      return answer;
    };
    return {
      run: (name, body, options) => run(name, body, options),
      widgets: (options) => run("widgets", options ?? {}),
      loadTime: (options) => run("load-time", options ?? {}),
      defaults: (options) => run("defaults", options ?? {}),
      performance: (options) => run("performance", options ?? {}),
      userStory: (options) => run("user-story", options ?? {}),
      correlation: (options) => run("correlation", options ?? {}),
    };
  }

  /**
   * POST /v1/query.
   * @param {Record<string, unknown>} spec
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<QueryResult>}
   */
  async query(spec, options = {}) {
    if (spec === null || typeof spec !== "object" || Array.isArray(spec)) {
      throw new TypeError("query: spec must be an object like {app, measures, group_by, …}");
    }
    checkApp("query", spec.app);
    const body = { ...spec };
    for (const field of ["from", "to"]) {
      if (body[field] === undefined) delete body[field];
      else body[field] = timeValue(field, body[field]);
    }
    const answer = await this.#json("POST", "v1/query", { body, signal: options.signal });
    if (!answer || !Array.isArray(answer.columns) || !Array.isArray(answer.rows)) {
      throw new TransportError("POST /v1/query: the answer has no columns and rows", { code: "invalid_response" });
    }
    return new QueryResult(answer.columns, answer.rows, answer.meta ?? {});
  }

  /**
   * GET /v1/dimensions?app=: every dimension and metric name the app has sent
   * (hidden ones left out).
   * @param {string} app
   * @param {{signal?: AbortSignal}} [options]
   */
  async dimensions(app, options = {}) {
    checkApp("dimensions", app);
    return this.#json("GET", "v1/dimensions", { params: { app }, signal: options.signal });
  }

  /**
   * POST /v1/dimensions/<name>/hide?app=: retires a name from the catalog.
   * @param {string} app
   * @param {string} name
   * @param {{signal?: AbortSignal}} [options]
   */
  async hideDimension(app, name, options = {}) {
    checkApp("hideDimension", app);
    if (typeof name !== "string" || name === "") {
      throw new TypeError(`hideDimension: name must be a dimension or metric name, not ${describe(name)}`);
    }
    return this.#json("POST", `v1/dimensions/${encodeURIComponent(name)}/hide`, {
      params: { app },
      signal: options.signal,
    });
  }

  /**
   * GET /v1/rollups?app=: the app's rollups (built-in and declared), what
   * each is built from, the dirty hours and the watermark.
   * @param {string} app
   * @param {{signal?: AbortSignal}} [options]
   */
  async rollups(app, options = {}) {
    checkApp("rollups", app);
    const answer = await this.#json("GET", "v1/rollups", { params: { app }, signal: options.signal });
    if (!answer || !Array.isArray(answer.rollups)) {
      throw new TransportError("GET /v1/rollups: the answer has no rollups", { code: "invalid_response" });
    }
    return answer;
  }

  /**
   * POST /v1/rollups: declares a rollup of the app, built for new events
   * from `built_from` on (`usagelens-collector rollups backfill` builds the
   * history). `metrics` defaults to all (`["*"]`), `grain` to `hour`.
   * @param {{app: string, name: string, types: string[], dims?: string[],
   *   metrics?: string[], grain?: "minute" | "hour" | "day"}} rollup
   * @param {{signal?: AbortSignal}} [options]
   */
  async declareRollup(rollup, options = {}) {
    if (rollup === null || typeof rollup !== "object" || Array.isArray(rollup)) {
      throw new TypeError("declareRollup: rollup must be an object like {app, name, types, dims, grain}");
    }
    checkApp("declareRollup", rollup.app);
    const body = { dims: [], grain: "hour", ...rollup };
    return this.#json("POST", "v1/rollups", { body, signal: options.signal });
  }

  /**
   * DELETE /v1/rollups/<name>?app=: drops a rollup the app declared, and its documents.
   * @param {string} app
   * @param {string} name
   * @param {{signal?: AbortSignal}} [options]
   */
  async dropRollup(app, name, options = {}) {
    checkApp("dropRollup", app);
    if (typeof name !== "string" || name === "") {
      throw new TypeError(`dropRollup: name must be a rollup name, not ${describe(name)}`);
    }
    return this.#json("DELETE", `v1/rollups/${encodeURIComponent(name)}`, {
      params: { app },
      signal: options.signal,
    });
  }

  /**
   * GET /v1/events: every event of the app in (ts, id) order, streamed page
   * by page (`UsageLens-Next-Cursor`), each page read line by line.
   * `where` takes the filters of `query()` (`[{dim: "user", op: "eq", value: "u-1"}]`
   * exports one user's events; `hour` and `weekday` are in UTC here).
   * @param {{app: string, from?: Date | string | number, to?: Date | string | number,
   *   types?: string[], where?: object[], pageSize?: number, signal?: AbortSignal}} options
   * @returns {AsyncGenerator<Record<string, unknown>, void, undefined>}
   */
  async *export(options) {
    const { app, from, to, types, where, pageSize, signal } = options ?? {};
    checkApp("export", app);
    const params = { app, format: "ndjson" };
    if (from !== undefined) params.from = String(timeValue("from", from));
    if (to !== undefined) params.to = String(timeValue("to", to));
    if (types !== undefined) {
      if (!Array.isArray(types) || types.some((t) => typeof t !== "string" || t === "" || t.includes(","))) {
        throw new TypeError("export: types must be an array of event type names");
      }
      if (types.length > 0) params.types = types.join(",");
    }
    if (where !== undefined) {
      if (!Array.isArray(where) || where.some((f) => f === null || typeof f !== "object" || Array.isArray(f))) {
        throw new TypeError("export: where must be an array of filters like {dim: \"user\", op: \"eq\", value: \"u-1\"}");
      }
      if (where.length > 0) params.where = JSON.stringify(where);
    }
    if (pageSize !== undefined) {
      if (!Number.isInteger(pageSize) || pageSize < 1) {
        throw new TypeError(`export: pageSize must be a whole number of events, at least 1, not ${describe(pageSize)}`);
      }
      params.limit = String(pageSize);
    }
    let page = 0;
    let cursor = null;
    do {
      page += 1;
      if (cursor !== null) params.cursor = cursor;
      const req = await this.#send("GET", "v1/events", {
        params,
        signal,
        accept: "application/x-ndjson",
        bodyTimeout: false,
      });
      const what = `${req.what} (page ${page})`;
      try {
        const res = req.response;
        if (!res.ok) {
          req.arm();
          throw await errorFromResponse(res, what);
        }
        if (!res.body) throw new TransportError(`${what}: the answer has no body`, { code: "invalid_response" });
        cursor = res.headers.get("usagelens-next-cursor");
        yield* ndjsonObjects(res.body, { what, beforeRead: req.arm, afterRead: req.disarm });
      } catch (e) {
        throw req.fail(e);
      } finally {
        req.cleanup();
      }
    } while (cursor !== null && cursor !== "");
  }

  /** A JSON request: the whole exchange, body included, runs under the timeout. */
  async #json(method, path, { params, body, signal }) {
    const req = await this.#send(method, path, { params, body, signal, accept: "application/json", bodyTimeout: true });
    const { what } = req;
    try {
      const res = req.response;
      if (!res.ok) throw await errorFromResponse(res, what);
      const text = await res.text();
      try {
        return JSON.parse(text);
      } catch (cause) {
        throw new TransportError(`${what}: the answer is not JSON: ${text.slice(0, 120)}`, {
          code: "invalid_response",
          status: res.status,
          cause,
        });
      }
    } catch (e) {
      throw req.fail(e);
    } finally {
      req.cleanup();
    }
  }

  /**
   * Sends one request under the timeout and the caller's signal. Returns the
   * response with `arm`/`disarm` (the timer), `fail` (turns any error into
   * the one to throw) and `cleanup`. With `bodyTimeout`, the timer keeps
   * running after the headers, through the body.
   */
  async #send(method, path, { params, body, signal, accept, bodyTimeout }) {
    const url = new URL(path, this.#base);
    for (const [k, v] of Object.entries(params ?? {})) url.searchParams.set(k, v);
    const what = `${method} ${url.pathname}`;
    const headers = new Headers({ Authorization: `Bearer ${this.#token}`, Accept: accept });
    if (body !== undefined) headers.set("Content-Type", "application/json");

    const controller = new AbortController();
    const ms = this.#timeoutMs;
    let timer;
    let timedOut = false;
    const disarm = () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
    const arm = () => {
      disarm();
      if (Number.isFinite(ms)) {
        timer = setTimeout(() => {
          timedOut = true;
          controller.abort(new TransportError(`${what}: no answer within ${ms} ms`, { code: "timeout" }));
        }, ms);
      }
    };
    const onAbort = () => controller.abort(signal.reason);
    const cleanup = () => {
      disarm();
      signal?.removeEventListener("abort", onAbort);
    };
    const fail = (err) => {
      if (signal?.aborted) return signal.reason;
      if (timedOut) return new TransportError(`${what}: no answer within ${ms} ms`, { code: "timeout", cause: err });
      if (err instanceof UsageLensError) return err;
      const detail = err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(err);
      return new TransportError(`${what}: the request failed (${detail})`, { code: "network", cause: err });
    };

    if (signal?.aborted) throw signal.reason;
    signal?.addEventListener("abort", onAbort, { once: true });
    arm();
    let response;
    try {
      response = await this.#fetch(url.href, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
      });
    } catch (e) {
      cleanup();
      throw fail(e);
    }
    if (!bodyTimeout) disarm();
    return { response, what, arm, disarm, fail, cleanup };
  }
}
