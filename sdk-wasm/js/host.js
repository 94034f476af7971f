/* The beacon's host: the only JS the Rust beacon calls (src/host.rs binds
 * each function, by name, under `__ulh`). Generic plumbing: property access,
 * calls, listeners, timers, observers, fetch and sendBeacon. What to capture,
 * how to name it, batching and retries are decided in Rust; the one
 * exception is the bookkeeping of the per-entry signals (CLS, INP, long
 * animation frames) below, kept here because each entry crossing into the
 * wasm, and each line of Rust, costs more of the beacon's 20 KB than JS does.
 * Nothing here throws: a page whose getters or APIs throw sees no error. */
(function () {
  var g = typeof window !== "undefined" ? window : self, dispatch, V, O, Y = "long-animation-frame",
    T = { longtask_count: 0, longtask_ms: 0, blocking_ms: 0, longtask_max_ms: 0 };
  function fire(id) {
    return (v) => { try { dispatch(id, v); } catch (e) {} };
  }
  function get(o, k) { try { return o == null ? undefined : o[k]; } catch (e) {} }
  function has(type) {
    try { return PerformanceObserver.supportedEntryTypes.includes(type); } catch (e) {}
  }
  // A buffered observer of `type` calling `f` with each batch of entries.
  function po(type, f, threshold) {
    try {
      var o = new PerformanceObserver((l) => f(l.getEntries()));
      o.observe({ type: type, buffered: true, durationThreshold: threshold });
      return o;
    } catch (e) {} // a browser without this entry type
  }
  // CLS and INP of a page view, as web-vitals computes them: c the largest
  // session window so far (null without layout-shift), w the current window
  // (a its first shift, b its last), l the 10 worst interactions (enough for
  // the 98th percentile of 500), k the browser's interaction count when the
  // view began. T: the long frames since the last `tasks`.
  function fresh() { V = { c: has("layout-shift") ? 0 : null, w: 0, l: [], k: performance.interactionCount }; }
  function each(list) {
    list.forEach((e) => {
      var t = e.entryType, d = e.duration, s = e.startTime, l = V.l, i = e.interactionId, x;
      if (t == Y) {
        T.longtask_count++; T.longtask_ms += d; T.blocking_ms += e.blockingDuration ?? d - 50;
        T.longtask_max_ms = Math.max(T.longtask_max_ms, d);
      } else if (t == "layout-shift") {
        if (!e.hadRecentInput) {
          // A window ends after a gap of 1 s or 5 s in all.
          if (V.w && s - V.b < 1e3 && s - V.a < 5e3) V.w += e.value;
          else { V.w = e.value; V.a = s; }
          V.b = s;
          if (V.w > V.c) V.c = V.w;
        }
      } else if (i) { // `event` and `first-input`: an interaction's latency is its longest entry
        x = l.find((x) => x.i == i) || l[l.push({ i: i, d: -1 }) - 1];
        if (d > x.d) { x.d = d; x.y = e.name; }
        // Its target and event: the longest entry with a target (pointer events have none in Chromium).
        if (e.target && (!x.t || d >= x.d)) { x.t = e.target; x.y = e.name; }
        l.sort((a, b) => b.d - a.d).splice(10);
      }
    });
  }
  return {
    init(f) { dispatch = f; },
    global() { return g; },
    get: get,
    at: get,
    set(o, k, v) { try { o[k] = v; } catch (e) {} },
    call(o, k, a, b) { try { return o[k](a, b); } catch (e) {} },
    obj() { return {}; },
    arr() { return []; },
    push(a, v) { a.push(v); },
    keys(o) {
      return o !== null && typeof o === "object" && !Array.isArray(o)
        ? Object.keys(o).filter((k) => get(o, k) != null) : [];
    },
    isArray: Array.isArray,
    json(v) { try { return JSON.stringify(v); } catch (e) { return ""; } },
    str(v) { return String(v); },
    float(v) { return typeof v === "number" ? v : parseFloat(v); },
    now: Date.now,
    random: Math.random,
    hex(n) {
      var a = new Uint8Array(n), s = "", i;
      try { g.crypto.getRandomValues(a); } catch (e) { for (i = 0; i < n; i++) a[i] = Math.random() * 256; }
      for (i = 0; i < n; i++) s += (256 + a[i]).toString(16).slice(1);
      return s;
    },
    listen(t, type, id) {
      try { t.addEventListener(type, fire(id), { capture: true, passive: true }); } catch (e) {}
    },
    every(ms, id) { setInterval(fire(id), ms); },
    after(ms, id) { setTimeout(fire(id), ms); },
    observe(type, id) { po(type, fire(id)); },
    // Once per page (at its first hide; again after a bfcache restore): each
    // form to `dispatch(id, form)` (the end of the view), then `cls` and `inp_ms` (the worst interaction, or the worst but one per 50)
    // into the metrics `m`, the interaction's `inp_event` and `inp_tag` into
    // the props `p`; returns its target, for the beacon to name.
    vitals(m, p, id) {
      O.map((o) => o && each(o.takeRecords())); // the entries not delivered yet
      var l = V.l, x = l[Math.min(l.length - 1, (performance.interactionCount - V.k) / 50 | 0 /* 0 without interactionCount */)];
      if (V.s) return;
      V.s = 1;
      [].forEach.call(g.document.forms || [], fire(id));
      if (V.c != null) m.cls = V.c;
      if (x) {
        m.inp_ms = x.d; p.inp_event = x.y; p.inp_tag = x.t?.localName;
        return x.t;
      }
    },
    // The long frames since the last call into the metrics `m`, their type into the props `p`.
    tasks(m, p) {
      if (Y) {
        for (var k in T) m[k] = Math.round(T[k]), T[k] = 0;
        p.longtask_type = Y;
      }
    },
    // At the beacon's start: the signals' observers, once (CLS, INP from
    // interactions of 40 ms or more and the first input, long animation
    // frames else long tasks; a page restored from the bfcache is a new view,
    // whose CLS and INP start over); then the time zone, read when the page
    // is idle (at most 2 s later; `setTimeout` reads the options as 0 ms):
    // `dispatch(id, tz)`. Intl's first `DateTimeFormat` costs 12-18 ms in a fresh page.
    begin(id) {
      if (!V) {
        Y = has(Y) ? Y : has("longtask") && "longtask";
        fresh();
        O = [po(Y, each), po("layout-shift", each), po("event", each, 40), po("first-input", each)];
        g.addEventListener("pageshow", (e) => e.persisted && fresh());
      }
      (g.requestIdleCallback || setTimeout)(() => {
        try {
          dispatch(id, g.Temporal ? Temporal.Now.timeZoneId() : Intl.DateTimeFormat().resolvedOptions().timeZone);
        } catch (e) {}
      }, { timeout: 2e3 });
    },
    // Wraps o[k] (history.pushState): the page's call runs as before, then the beacon hears of it.
    wrap(o, k, id) {
      var f = o && o[k];
      if (typeof f === "function") {
        o[k] = function () { var r = f.apply(this, arguments); fire(id)(); return r; };
      }
    },
    post(url, body, keepalive, id) {
      var done = fire(id);
      try {
        fetch(url, {
          method: "POST", body: body, keepalive: keepalive, mode: "cors", credentials: "omit",
          headers: { "content-type": "text/plain;charset=UTF-8" }
        }).then((r) => {
          var h = r.headers.get("retry-after");
          // A 200 lists the events it refused in `rejected`.
          // Not JSON, or no list: none.
          r.json().then((a) => a.rejected.length).catch(() => 0).then((n) => done([r.status, h, n]));
        }, () => done([0, null]));
      } catch (e) { setTimeout(() => done([0, null])); }
    },
    about(o) {
      var d = g.document, n = g.navigator, s = g.screen;
      try {
        if (d && d.referrer) o.referrer = d.referrer.slice(0, 1024);
        if (n && n.language) o.lang = n.language;
        if (s && s.width) o.screen = s.width + "x" + s.height;
        if (g.innerWidth) o.viewport = g.innerWidth + "x" + g.innerHeight;
      } catch (e) {}
    },
    path() {
      var l = g.location || {}, h = l.hash || "";
      return ((l.pathname || "") + (/^#[\/!]/.test(h) ? h : "")).slice(0, 1024);
    },
    optedOut() {
      var n = g.navigator || {}, d = n.doNotTrack;
      return d == "1" || d == "yes" || g.doNotTrack == "1" || n.globalPrivacyControl === true;
    },
    send(url, body) {
      try { return !!navigator.sendBeacon(url, body); } catch (e) { return false; }
    }
  };
})()
