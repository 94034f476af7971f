// The errors a UsageClient throws. Every one is a UsageLensError with
// `status` (0 when no HTTP answer was read), `code` (the collector's stable
// code, or the client's own for transport failures) and `message`.

export class UsageLensError extends Error {
  /**
   * @param {string} message
   * @param {{status?: number, code?: string, cause?: unknown}} [options]
   */
  constructor(message, options = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status ?? 0;
    this.code = options.code ?? "error";
  }
}
UsageLensError.prototype.name = "UsageLensError";

/** 400: the request is malformed; the message names the field. */
export class InvalidQuery extends UsageLensError {}
InvalidQuery.prototype.name = "InvalidQuery";

/** 401: no read token, or one the collector does not know. */
export class Unauthorized extends UsageLensError {}
Unauthorized.prototype.name = "Unauthorized";

/** 403: the read token belongs to another app. */
export class Forbidden extends UsageLensError {}
Forbidden.prototype.name = "Forbidden";

/** 404: no such endpoint (a wrong base URL, or a collector without it). */
export class NotFound extends UsageLensError {}
NotFound.prototype.name = "NotFound";

/** 409: the name is taken (`rollup_exists`). */
export class Conflict extends UsageLensError {}
Conflict.prototype.name = "Conflict";

/** 422: the query ran over the server's time limit. */
export class QueryTooSlow extends UsageLensError {}
QueryTooSlow.prototype.name = "QueryTooSlow";

/**
 * 422 `store_too_old`: the query needs a newer MongoDB than the collector's
 * store (percentiles need 7.0); the message names the version.
 */
export class StoreTooOld extends UsageLensError {}
StoreTooOld.prototype.name = "StoreTooOld";

/** Base of the errors that carry `retryAfter` (seconds, or null). */
class RetryableError extends UsageLensError {
  /**
   * @param {string} message
   * @param {{status?: number, code?: string, cause?: unknown, retryAfter?: number | null}} [options]
   */
  constructor(message, options = {}) {
    super(message, options);
    this.retryAfter = options.retryAfter ?? null;
  }
}

/** 429: over a rate limit; wait `retryAfter` seconds. */
export class RateLimited extends RetryableError {}
RateLimited.prototype.name = "RateLimited";

/** 503: the collector cannot reach its store; wait `retryAfter` seconds. */
export class StoreUnavailable extends RetryableError {}
StoreUnavailable.prototype.name = "StoreUnavailable";

/**
 * No usable HTTP answer: the network failed, the request timed out, or the
 * answer was cut off or unreadable. `code` is `network`, `timeout`,
 * `truncated` or `invalid_response`; `cause` holds the underlying error.
 */
export class TransportError extends UsageLensError {}
TransportError.prototype.name = "TransportError";

/** Codes whose error class is not their status's. */
const BY_CODE = new Map([["store_too_old", StoreTooOld]]);

const BY_STATUS = new Map([
  [400, InvalidQuery],
  [401, Unauthorized],
  [403, Forbidden],
  [404, NotFound],
  [409, Conflict],
  [422, QueryTooSlow],
  [429, RateLimited],
  [503, StoreUnavailable],
]);

/**
 * `Retry-After` as seconds: a whole number, or an HTTP date turned into
 * the seconds from now. Null when absent or unreadable.
 * @param {string | null} value
 * @returns {number | null}
 */
export function parseRetryAfter(value) {
  if (value == null) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/**
 * The error for a non-2xx answer, from its `{"error": {"code", "message"}}`
 * body when it has one. Reads the body.
 * @param {Response} res
 * @param {string} what e.g. `POST /v1/query`
 * @returns {Promise<UsageLensError>}
 */
export async function errorFromResponse(res, what) {
  let text = "";
  try {
    text = await res.text();
  } catch {
    // The status alone says enough.
  }
  let code;
  let message;
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === "object" && body.error !== null) {
      if (typeof body.error.code === "string") code = body.error.code;
      if (typeof body.error.message === "string") message = body.error.message;
    }
  } catch {
    // Not the collector's error body (an empty 404, a proxy's HTML page).
  }
  const status = res.status;
  if (message === undefined) {
    const snippet = text.trim().slice(0, 200);
    message = `${what}: HTTP ${status}${res.statusText ? ` ${res.statusText}` : ""}` +
      (snippet ? `: ${snippet}` : "") +
      (status === 404 ? " (is the base URL the collector's, and does it serve this endpoint?)" : "");
  }
  const Class = (code && BY_CODE.get(code)) ?? BY_STATUS.get(status) ?? UsageLensError;
  return new Class(message, {
    status,
    code: code ?? `http_${status}`,
    retryAfter: parseRetryAfter(res.headers.get("retry-after")),
  });
}
