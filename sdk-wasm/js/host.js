/* The beacon's host: the only JS the Rust beacon calls (src/host.rs binds
 * each function, by name, under `__ulh`). Generic plumbing only: property
 * access, calls, listeners, timers, observers, fetch and sendBeacon. What to
 * capture, how to name it, batching and retries are all decided in Rust.
 * Nothing here throws: a page whose getters or APIs throw sees no error. */
(function () {
  var g = typeof window !== "undefined" ? window : self, dispatch;
  function fire(id) {
    return function (v) { try { dispatch(id, v); } catch (e) {} };
  }
  function get(o, k) { try { return o == null ? undefined : o[k]; } catch (e) {} }
  return {
    init: function (f) { dispatch = f; },
    global: function () { return g; },
    get: get,
    at: get,
    set: function (o, k, v) { try { o[k] = v; } catch (e) {} },
    call: function (o, k, a, b) { try { return o[k](a, b); } catch (e) {} },
    obj: function () { return {}; },
    arr: function () { return []; },
    push: function (a, v) { a.push(v); },
    keys: function (o) {
      return o !== null && typeof o === "object" && !Array.isArray(o)
        ? Object.keys(o).filter(function (k) { return get(o, k) != null; }) : [];
    },
    isArray: Array.isArray,
    json: function (v) { try { return JSON.stringify(v); } catch (e) { return ""; } },
    str: function (v) { return String(v); },
    float: function (v) { return typeof v === "number" ? v : parseFloat(v); },
    now: Date.now,
    random: Math.random,
    hex: function (n) {
      var a = new Uint8Array(n), s = "", i;
      try { g.crypto.getRandomValues(a); } catch (e) { for (i = 0; i < n; i++) a[i] = Math.random() * 256; }
      for (i = 0; i < n; i++) s += (256 + a[i]).toString(16).slice(1);
      return s;
    },
    listen: function (t, type, id) {
      try { t.addEventListener(type, fire(id), { capture: true, passive: true }); } catch (e) {}
    },
    every: function (ms, id) { setInterval(fire(id), ms); },
    after: function (ms, id) { setTimeout(fire(id), ms); },
    observe: function (type, id) {
      try {
        new PerformanceObserver(function (l) { fire(id)(l.getEntries()); })
          .observe({ type: type, buffered: true });
      } catch (e) {} // a browser without this entry type
    },
    // Wraps o[k] (history.pushState): the page's call runs as before, then the beacon hears of it.
    wrap: function (o, k, id) {
      var f = o && o[k];
      if (typeof f === "function") {
        o[k] = function () { var r = f.apply(this, arguments); fire(id)(); return r; };
      }
    },
    post: function (url, body, keepalive, id) {
      var done = fire(id);
      try {
        fetch(url, {
          method: "POST", body: body, keepalive: keepalive, mode: "cors", credentials: "omit",
          headers: { "content-type": "text/plain;charset=UTF-8" }
        }).then(function (r) {
          var h = r.headers.get("retry-after");
          // A 200 lists the events it refused in `rejected`.
          r.json().then(function (a) { return a.rejected.length || 0; })
            .then(null, function () { return 0; })
            .then(function (n) { done([r.status, h, n]); });
        }, function () { done([0, null]); });
      } catch (e) { setTimeout(function () { done([0, null]); }, 0); }
    },
    about: function (o) {
      var d = g.document, n = g.navigator, s = g.screen;
      try {
        if (d && d.referrer) o.referrer = d.referrer.slice(0, 1024);
        if (n && n.language) o.lang = n.language;
        if (s && s.width) o.screen = s.width + "x" + s.height;
        if (g.innerWidth) o.viewport = g.innerWidth + "x" + g.innerHeight;
      } catch (e) {}
    },
    send: function (url, body) {
      try { return !!navigator.sendBeacon(url, body); } catch (e) { return false; }
    }
  };
})()
