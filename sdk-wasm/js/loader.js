/* UsageLens beacon loader. One script tag:
 *   <script async src="https://collector.example.com/beacon.js" data-app="demo" data-key="wk_..."></script>
 * Calls made before the module has loaded are queued by this stub (or by the
 * page's own `window.usagelens = window.usagelens || []` snippet) and replayed.
 * Nothing here throws into the page: a failed load leaves a silent no-op API. */
(function () {
  var w = window, d = document, s = d.currentScript;
  var methods = ["track", "identify", "set", "unset", "mark", "flush", "choice"];
  // Calls that say who and where: made before the beacon loaded, they
  // describe the page view, so they are replayed before it is recorded.
  var context = { identify: 1, set: 1, unset: 1 };
  var q = w.usagelens;
  if (q && q.__usagelens) return; // loaded twice
  if (!q || typeof q.push !== "function") q = [];
  var stub = q;
  for (var i = 0; i < methods.length; i++) {
    (function (m) {
      if (typeof stub[m] !== "function") {
        stub[m] = function () { stub.push([m].concat([].slice.call(arguments))); };
      }
    })(methods[i]);
  }
  w.usagelens = stub;
  if (!s) return;
  var ds = s.dataset || {};
  var cfg = {};
  for (var k in ds) cfg[k] = ds[k];
  try {
    cfg.endpoint = cfg.endpoint || new URL("/v1/batch", s.src).href;
    var wasmUrl = new URL("/beacon/@@WASM_FILE@@", s.src).href;
  } catch (e) { return; }
  var __ulh = /*@@HOST@@*/;
/*@@GLUE@@*/
  try {
    wasm_bindgen({ module_or_path: wasmUrl }).then(function () {
      var t0 = performance.now(), api = wasm_bindgen;
      __ulh.init(api.dispatch);
      cfg.deferView = true;
      var on = api.start_beacon(cfg);
      // The beacon's own main-thread start-up cost, visible in devtools.
      try { performance.measure("usagelens:init", { start: t0, end: performance.now() }); } catch (e) {}
      if (!on) return;
      var real = { __usagelens: true, push: function (c) { call(c); } };
      function call(c) {
        try {
          if (c && typeof real[c[0]] === "function") real[c[0]].apply(real, c.slice(1));
        } catch (e) {}
      }
      for (var j = 0; j < methods.length; j++) {
        (function (m) { real[m] = function () { try { return api[m].apply(api, arguments); } catch (e) {} }; })(methods[j]);
      }
      real.stats = function () { try { return api.stats(); } catch (e) {} };
      // choice(control, value, default, {form}): a control the page renders
      // itself, stored as a native `choice` (control_type "custom"); the
      // beacon checks the values as for track(), and a call without a
      // control name or a value is refused (stats().refused).
      real.choice = function (c, v, d, o) {
        try {
          var ok = typeof c === "string" && (c = c.trim()) && v != null;
          api.track(ok ? "choice" : "", {
            control: c, control_type: "custom", value: v, "default": d,
            is_default: d != null && JSON.stringify(v) === JSON.stringify(d),
            form: o && o.form, trigger: "change"
          });
        } catch (e) {}
      };
      w.usagelens = real;
      var n, later = [];
      for (n = 0; n < stub.length; n++) {
        if (stub[n] && context[stub[n][0]]) call(stub[n]); else later.push(stub[n]);
      }
      api.track("page");
      for (n = 0; n < later.length; n++) call(later[n]);
      stub.length = 0;
    })["catch"](function () {});
  } catch (e) {}
})();
