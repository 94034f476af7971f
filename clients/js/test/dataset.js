// The tests' data: generated, deterministic, and small enough that every
// expected answer is computed here in plain JavaScript, not by the engine.

/** Monday 2025-03-03T00:00:00Z: every event falls within the three days from here. */
export const T0 = Date.UTC(2025, 2, 3);
const MINUTE = 60_000;

const WIDGETS = ["export-csv", "save", "search", "filter", "share"];
// Uneven on purpose, so the counts per widget differ.
const WIDGET_PATTERN = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 4];
const PAGES = ["/", "/settings", "/reports", "/reports/weekly"];
const TYPES = ["click", "click", "page", "click", "http", "page", "click"];
const TAGS = [["beta", "admin"], ["beta", "beta"], [], undefined, ["admin"], ["gamma", "beta", "admin"]];

/**
 * One event as the test knows it: `ts` in epoch ms, `dims` as they will
 * be stored (the batch context merged in), `metrics`.
 * @typedef {{id: string, type: string, ts: number, dims: Record<string, unknown>, metrics: Record<string, number>}} Ev
 */

/** Events 3k, 3k+1 and 3k+2 share a timestamp, so (ts, id) order matters. */
function alpha(n) {
  /** @type {Ev[]} */
  const events = [];
  for (let i = 0; i < n; i++) {
    const k = Math.floor(i / 3);
    const type = TYPES[i % TYPES.length];
    const dims = {
      release: "2025.3", // from the batch context
      page: PAGES[(i * 5) % PAGES.length],
      session: `s-${Math.floor(i / 9)}`,
      pro: i % 4 === 0,
      retries: i % 5,
      ratio: (i % 8) / 4 + 0.5,
    };
    if (i % 11 === 0) dims.anon = `anon-${i % 4}`;
    else dims.user = `u-${(i * 7) % 23}`;
    if (type === "click") dims.widget = WIDGETS[WIDGET_PATTERN[i % WIDGET_PATTERN.length]];
    const tags = TAGS[i % TAGS.length];
    if (tags !== undefined) dims.tags = tags;
    // Multiples of 0.25: sums are exact in floating point.
    const metrics = { duration_ms: ((i * 37) % 401) + 0.25 * (i % 4) };
    if (type === "http") metrics.bytes = 1000 + i;
    events.push({
      id: `ev-${String(i).padStart(4, "0")}`,
      type,
      ts: T0 + k * 17 * MINUTE + (k % 7) * 123,
      dims,
      metrics,
    });
  }
  return events;
}

function beta(n) {
  /** @type {Ev[]} */
  const events = [];
  for (let i = 0; i < n; i++) {
    events.push({
      id: `b-${i}`,
      type: "click",
      ts: T0 + i * 60 * MINUTE,
      dims: { release: "2025.3", widget: "beta-only", user: `bu-${i % 3}` },
      metrics: { duration_ms: 10 + i },
    });
  }
  return events;
}

export const alphaEvents = alpha(720);
export const betaEvents = beta(30);

/** The events as POST /v1/batch bodies of 100, `release` sent in the context. */
export function toBatches(app, events) {
  const batches = [];
  for (let start = 0; start < events.length; start += 100) {
    batches.push({
      app,
      context: { release: "2025.3" },
      events: events.slice(start, start + 100).map((e) => {
        const { release, ...props } = e.dims;
        return { id: e.id, type: e.type, ts: new Date(e.ts).toISOString(), props, metrics: e.metrics };
      }),
    });
  }
  return batches;
}

// ------------------------------------------------------------ expectations

/** Counts per key; `keysOf(e)` gives the keys an event counts for. */
export function countBy(events, keysOf) {
  const counts = new Map();
  for (const e of events) {
    for (const key of keysOf(e)) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** The distinct values of a (possibly multi-valued) dimension; [null] when it has none. */
export function groupValues(e, dim) {
  const v = e.dims[dim];
  if (v === undefined) return [null];
  if (Array.isArray(v)) return v.length === 0 ? [null] : [...new Set(v)];
  return [v];
}

/** The exact p-th percentile's neighbourhood: the values ranked within `slack` of p·n. */
export function percentileRange(values, p, slack) {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = p * sorted.length;
  const lo = sorted[Math.max(0, Math.floor(rank - slack * sorted.length) - 1)];
  const hi = sorted[Math.min(sorted.length - 1, Math.ceil(rank + slack * sorted.length))];
  return [lo, hi];
}

/** Start of `ts`'s bucket: `unit` ms wide, cut at `offsetMs` from UTC. */
export function bucketStart(ts, unitMs, offsetMs = 0) {
  return Math.floor((ts + offsetMs) / unitMs) * unitMs - offsetMs;
}
