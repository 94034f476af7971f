/* UsageLens beacon loader. One script tag:
 *   <script async src="https://collector.example.com/beacon.js" data-app="demo" data-key="wk_..."></script>
 * Calls made before the module has loaded are queued by this stub (or by the
 * page's own `window.usagelens = window.usagelens || []` snippet) and replayed.
 * Nothing here throws into the page: a failed load leaves a silent no-op API. */
(function () {
  var w = window, d = document, s = d.currentScript;
  var methods = ["track", "identify", "set", "unset", "mark", "flush"];
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
      var on = api.start_beacon(cfg);
      // The beacon's own main-thread start-up cost, visible in devtools.
      try { performance.measure("usagelens:init", { start: t0, end: performance.now() }); } catch (e) {}
      if (!on) return;
      var real = { __usagelens: true, push: function (c) { call(c); } };
      function call(c) {
        try {
          if (c && typeof api[c[0]] === "function") api[c[0]].apply(api, c.slice(1));
        } catch (e) {}
      }
      for (var j = 0; j < methods.length; j++) {
        (function (m) { real[m] = function () { try { return api[m].apply(api, arguments); } catch (e) {} }; })(methods[j]);
      }
      real.stats = function () { try { return api.stats(); } catch (e) {} };
      w.usagelens = real;
      for (var n = 0; n < stub.length; n++) call(stub[n]);
      stub.length = 0;
    })["catch"](function () {});
  } catch (e) {}
})();
