//! The beacon in a real headless Chromium (`wasm-bindgen-test`): capture
//! paths, batching, retry, the queue bound, page-hide delivery. The network is
//! replaced by recording mocks of `fetch` and `navigator.sendBeacon` so each
//! request can be asserted exactly; the collector itself is tested on its own
//! and end to end in `tests/`.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Object, Reflect};
use serde_json::Value;
use usagelens_beacon::dom::{choice_for, form_choices, widget_for, ChoiceValue};
use usagelens_beacon::start_beacon;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Document, Element, HtmlElement};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(inline_js = r#"
export function install_mocks(statuses, beaconResult) {
  window.__requests = [];
  window.__beacons = [];
  window.__statuses = statuses.slice();
  window.fetch = function (url, init) {
    window.__requests.push({ url: url, body: init.body, keepalive: init.keepalive, headers: init.headers });
    var s = window.__statuses.length > 1 ? window.__statuses.shift() : window.__statuses[0];
    var headers = s === 503 || s === 429 ? { "retry-after": "1" } : {};
    return Promise.resolve(new Response("{}", { status: s, headers: headers }));
  };
  Object.defineProperty(navigator, "sendBeacon", {
    configurable: true,
    value: function (url, body) { window.__beacons.push({ url: url, body: body }); return beaconResult; },
  });
}
export function requests() { return window.__requests.map(function (r) { return r.body; }); }
export function beacons() { return window.__beacons.map(function (r) { return r.body; }); }
export function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
export function count_storage_reads() {
  window.__storageReads = 0;
  var original = Storage.prototype.getItem;
  if (!window.__storagePatched) {
    window.__storagePatched = true;
    Storage.prototype.getItem = function (k) { window.__storageReads++; return original.call(this, k); };
  }
}
export function storage_reads() { return window.__storageReads; }
export function idle() { return new Promise(function (r) { requestIdleCallback(r); }); }
export function count_time_zone_reads() {
  window.__tzReads = 0;
  var now = Temporal.Now, original = now.timeZoneId, format = Intl.DateTimeFormat;
  now.timeZoneId = function () { window.__tzReads++; return original.call(now); };
  Intl.DateTimeFormat = function (a, b) { window.__tzReads++; return format(a, b); };
  return function () { now.timeZoneId = original; Intl.DateTimeFormat = format; };
}
export function time_zone_reads() { return window.__tzReads; }
export function restore_from_bfcache() {
  dispatchEvent(new PageTransitionEvent("pageshow", { persisted: true }));
}
"#)]
extern "C" {
    fn install_mocks(statuses: Array, beacon_result: bool);
    fn requests() -> Array;
    fn beacons() -> Array;
    async fn sleep(ms: u32);
    fn count_storage_reads();
    fn storage_reads() -> u32;
    /// Resolves in an idle callback: after the beacon's own (idle callbacks run in order).
    async fn idle();
    /// Counts `Temporal.Now.timeZoneId` and `Intl.DateTimeFormat` calls; returns the undo.
    fn count_time_zone_reads() -> js_sys::Function;
    fn time_zone_reads() -> u32;
    fn restore_from_bfcache();
}

/// The host functions (`js/host.js`) the loader puts in the beacon's scope,
/// installed as the global `__ulh` for these tests.
fn install_host() {
    let script = concat!(
        "globalThis.__ulh = globalThis.__ulh || ",
        include_str!("../js/host.js")
    );
    js_sys::eval(script).expect("js/host.js evaluates");
    // What the loader does: the host reports to the beacon's `dispatch`.
    thread_local!(static DISPATCH: Closure<dyn FnMut(u32, JsValue)> =
        Closure::new(usagelens_beacon::dispatch));
    DISPATCH.with(|d| usagelens_beacon::host::init(d.as_ref()));
}

/// The JS API as the loader exposes it (`window.usagelens`).
struct Beacon;

impl Beacon {
    fn track(&self, kind: JsValue, props: JsValue, metrics: JsValue) {
        usagelens_beacon::track(kind, props, metrics);
    }
    fn identify(&self, user: JsValue) {
        usagelens_beacon::identify(user);
    }
    fn set(&self, name: JsValue, value: JsValue) {
        usagelens_beacon::set_dimension(name, value);
    }
    fn mark(&self, phase: JsValue) {
        usagelens_beacon::mark(phase);
    }
    fn flush(&self) {
        usagelens_beacon::flush();
    }
    fn stats(&self) -> JsValue {
        usagelens_beacon::stats()
    }
}

fn doc() -> Document {
    web_sys::window().unwrap().document().unwrap()
}

/// Puts `html` in a fresh container and returns it.
fn fixture(html: &str) -> Element {
    install_host();
    let d = doc();
    let c = d.create_element("div").unwrap();
    c.set_inner_html(html);
    d.body().unwrap().append_child(&c).unwrap();
    c
}

fn q(root: &Element, sel: &str) -> Element {
    root.query_selector(sel)
        .unwrap()
        .unwrap_or_else(|| panic!("no {sel}"))
}

fn start(options: &[(&str, &str)]) -> Beacon {
    install_host();
    let cfg = Object::new();
    for (k, v) in [
        ("app", "demo"),
        ("key", "wk_test"),
        ("endpoint", "http://collector.test/v1/batch"),
        ("reset", "true"),
    ]
    .iter()
    .chain(options.iter())
    {
        Reflect::set(&cfg, &(*k).into(), &(*v).into()).unwrap();
    }
    start_beacon(cfg.into());
    Beacon
}

fn bodies(list: Array) -> Vec<Value> {
    list.iter()
        .map(|b| serde_json::from_str(&b.as_string().unwrap()).unwrap())
        .collect()
}

fn events(batches: &[Value]) -> Vec<Value> {
    batches
        .iter()
        .flat_map(|b| b["events"].as_array().unwrap().clone())
        .collect()
}

fn stat(b: &Beacon, k: &str) -> f64 {
    Reflect::get(&b.stats(), &k.into())
        .unwrap()
        .as_f64()
        .unwrap()
}

fn hide_page() {
    let e = web_sys::Event::new("pagehide").unwrap();
    web_sys::window().unwrap().dispatch_event(&e).unwrap();
}

// --- click naming rules ------------------------------------------------------

#[wasm_bindgen_test]
fn click_naming_rules() {
    let c = fixture(
        r#"<section data-usage-widget="export-menu"><button id="inner"><span class="x">Export</span></button></section>
           <button id="save-btn">Save</button>
           <button aria-label="Close dialog">×</button>
           <button>   Download
              as   CSV  </button>
           <a href="/reports">Reports</a>
           <div role="button">Refresh</div>
           <input type="submit" value="Send now">
           <details><summary>More options</summary></details>
           <button>x</button>
           <div class="plain">not a widget</div>
           <input type="text" value="typed secret">
           <button class="long">aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</button>"#,
    );
    let name = |sel: &str| widget_for(&q(&c, sel)).map(|w| (w.name, w.tag));
    let s = |a: &str, b: &str| Some((a.to_owned(), b.to_owned()));
    assert_eq!(
        name("span.x"),
        s("export-menu", "section"),
        "the nearest data-usage-widget wins"
    );
    assert_eq!(name("#save-btn"), s("save-btn", "button"), "then the id");
    assert_eq!(
        name("[aria-label]"),
        s("Close dialog", "button"),
        "then the aria-label"
    );
    assert_eq!(
        name("button:nth-of-type(3)"),
        s("Download as CSV", "button"),
        "then the trimmed text"
    );
    assert_eq!(name("a"), s("Reports", "a"));
    assert_eq!(name("[role=button]"), s("Refresh", "div"));
    assert_eq!(name("input[type=submit]"), s("Send now", "input"));
    assert_eq!(name("summary"), s("More options", "summary"));
    assert_eq!(name("div.plain"), None, "not interactive");
    assert_eq!(
        name("input[type=text]"),
        None,
        "typing targets are not widgets"
    );
    let long = name("button.long").unwrap();
    assert_eq!(
        long.0.chars().count(),
        64,
        "text names stop at 64 characters"
    );
    c.remove();
}

#[wasm_bindgen_test]
fn the_ignore_attribute_suppresses_capture() {
    let c = fixture(
        r#"<div data-usage-ignore><button id="a">A</button><section data-usage-widget="w"><span>x</span></section></div>
           <button id="b" data-usage-ignore>B</button>"#,
    );
    assert_eq!(widget_for(&q(&c, "#a")), None);
    assert_eq!(
        widget_for(&q(&c, "span")),
        None,
        "an ignored ancestor wins over a widget name"
    );
    assert_eq!(widget_for(&q(&c, "#b")), None);
    c.remove();
}

// --- choices with defaults ---------------------------------------------------

#[wasm_bindgen_test]
fn choices_with_defaults() {
    let c = fixture(
        r#"<form id="settings">
             <select name="theme"><option value="light">L</option><option value="dark" selected>D</option></select>
             <select name="density"><option value="cozy">C</option><option value="compact">P</option></select>
             <select name="cols" multiple><option value="a" selected>A</option><option value="b">B</option><option value="c" selected>C</option></select>
             <input type="radio" name="export" value="csv" checked><input type="radio" name="export" value="xlsx">
             <input type="checkbox" name="notify" value="email" checked><input type="checkbox" name="notify" value="sms">
             <input type="checkbox" name="beta">
             <input type="text" name="title" value="Untitled">
             <input type="password" name="pw" value="hunter2">
             <textarea name="notes">hello</textarea>
           </form>"#,
    );
    let get = |sel: &str| choice_for(&q(&c, sel)).unwrap_or_else(|| panic!("{sel}"));
    // Untouched: everything at its default.
    let theme = get("[name=theme]");
    assert_eq!(
        (theme.value.clone(), theme.default.clone(), theme.is_default),
        (
            Some(ChoiceValue::One("dark".into())),
            Some(ChoiceValue::One("dark".into())),
            true
        )
    );
    assert_eq!(theme.form.as_deref(), Some("settings"));
    let density = get("[name=density]");
    assert_eq!(
        density.default,
        Some(ChoiceValue::One("cozy".into())),
        "no `selected`: the first option is the default"
    );
    assert!(density.is_default);

    // Change some.
    q(&c, "[name=theme]")
        .unchecked_ref::<web_sys::HtmlSelectElement>()
        .set_value("light");
    let t = get("[name=theme]");
    assert_eq!(
        (t.value, t.is_default),
        (Some(ChoiceValue::One("light".into())), false)
    );

    let cols = q(&c, "[name=cols]").unchecked_into::<web_sys::HtmlSelectElement>();
    cols.options()
        .item(1)
        .unwrap()
        .unchecked_into::<web_sys::HtmlOptionElement>()
        .set_selected(true);
    let m = get("[name=cols]");
    assert_eq!(
        m.value,
        Some(ChoiceValue::Many(vec!["a".into(), "b".into(), "c".into()]))
    );
    assert_eq!(
        m.default,
        Some(ChoiceValue::Many(vec!["a".into(), "c".into()]))
    );
    assert!(!m.is_default);

    q(&c, "[value=xlsx]")
        .unchecked_ref::<web_sys::HtmlInputElement>()
        .set_checked(true);
    let r = get("[value=csv]");
    assert_eq!(
        (r.control.as_str(), r.value, r.default, r.is_default),
        (
            "export",
            Some(ChoiceValue::One("xlsx".into())),
            Some(ChoiceValue::One("csv".into())),
            false
        )
    );

    q(&c, "[value=sms]")
        .unchecked_ref::<web_sys::HtmlInputElement>()
        .set_checked(true);
    let g = get("[value=email]");
    assert_eq!(
        g.value,
        Some(ChoiceValue::Many(vec!["email".into(), "sms".into()]))
    );
    assert_eq!(g.default, Some(ChoiceValue::Many(vec!["email".into()])));
    assert!(!g.is_default);

    let beta = get("[name=beta]");
    assert_eq!(
        (beta.value, beta.is_default),
        (Some(ChoiceValue::Flag(false)), true)
    );

    q(&c, "[name=title]")
        .unchecked_ref::<web_sys::HtmlInputElement>()
        .set_value("My report");
    let title = get("[name=title]");
    assert_eq!(
        (title.value, title.default, title.is_default),
        (None, None, false),
        "free text: only whether it changed"
    );
    assert!(
        choice_for(&q(&c, "[name=pw]")).is_none(),
        "password fields report nothing"
    );
    assert!(get("[name=notes]").is_default);

    // On submit: one choice per control, groups once.
    let form = q(&c, "form").unchecked_into::<web_sys::HtmlFormElement>();
    let all = form_choices(&form);
    let controls: Vec<&str> = all.iter().map(|c| c.control.as_str()).collect();
    assert_eq!(
        controls,
        ["theme", "density", "cols", "export", "notify", "beta", "title", "notes"]
    );
    let props = all[0].to_props("submit");
    let json = js_sys::JSON::stringify(&props)
        .unwrap()
        .as_string()
        .unwrap();
    assert!(
        !json.contains("hunter2") && !json.contains("My report"),
        "never what a user typed: {json}"
    );
    c.remove();
}

// --- delivery ----------------------------------------------------------------

fn local_storage() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

/// The context of the one batch a start, a flush and a short wait send.
async fn context_of_next_page_view(options: &[(&str, &str)]) -> Value {
    install_mocks(Array::of1(&200.into()), true);
    let b = start(options);
    b.flush();
    sleep(30).await;
    let sent = bodies(requests());
    assert_eq!(sent.len(), 1, "{sent:?}");
    sent[0]["context"].clone()
}

#[wasm_bindgen_test]
async fn anon_session_and_user_persist_across_page_views() {
    let ls = local_storage();
    for k in ["usagelens:anon", "usagelens:session", "usagelens:user"] {
        ls.remove_item(k).unwrap();
    }
    let opts = [("flushInterval", "600000"), ("skipLoad", "true")];
    // Start-up leaves localStorage alone: a cold first access costs milliseconds.
    count_storage_reads();
    install_mocks(Array::of1(&200.into()), true);
    start(&opts);
    assert_eq!(storage_reads(), 0, "start_beacon read localStorage");
    sleep(20).await;
    assert!(
        storage_reads() > 0,
        "the ids are read in a task right after"
    );

    let first = context_of_next_page_view(&opts).await;
    let anon = first["anon"].as_str().unwrap().to_owned();
    let session = first["session"].as_str().unwrap().to_owned();
    assert_eq!(
        ls.get_item("usagelens:anon").unwrap().as_deref(),
        Some(anon.as_str())
    );
    let stored = ls.get_item("usagelens:session").unwrap().unwrap();
    assert!(stored.starts_with(&format!("{session}|")), "{stored}");

    // The next page view: the same visitor, the same session.
    let next = context_of_next_page_view(&opts).await;
    assert_eq!(next["anon"], anon.as_str());
    assert_eq!(next["session"], session.as_str());

    // 31 minutes idle: a new session, the same visitor.
    let old = js_sys::Date::now() - 31.0 * 60_000.0;
    ls.set_item("usagelens:session", &format!("{session}|{old}"))
        .unwrap();
    let later = context_of_next_page_view(&opts).await;
    assert_eq!(later["anon"], anon.as_str());
    assert_ne!(later["session"], session.as_str());

    // A stored user comes back; `identify` before the ids are read replaces
    // it from then on (the page view, recorded before, stays the stored user's).
    ls.set_item("usagelens:user", "u-stored").unwrap();
    let ctx = context_of_next_page_view(&opts).await;
    assert_eq!(ctx["user"], "u-stored");
    install_mocks(Array::of1(&200.into()), true);
    let b = start(&opts);
    b.identify("u-new".into());
    b.track("after".into(), JsValue::NULL, JsValue::NULL);
    b.flush();
    sleep(30).await;
    let sent = bodies(requests());
    assert_eq!(sent.len(), 2, "a batch per context: {sent:?}");
    assert_eq!(sent[0]["context"]["user"], "u-stored");
    assert_eq!(sent[0]["events"][0]["type"], "page");
    assert_eq!(sent[1]["context"]["user"], "u-new");
    assert_eq!(sent[1]["events"][0]["type"], "after");
    assert_eq!(
        ls.get_item("usagelens:user").unwrap().as_deref(),
        Some("u-new")
    );
    ls.remove_item("usagelens:user").unwrap();
}

#[wasm_bindgen_test]
async fn batching_at_flush_at_with_context() {
    install_mocks(Array::of1(&200.into()), true);
    let b = start(&[
        ("flushAt", "3"),
        ("flushInterval", "600000"),
        ("skipLoad", "true"),
    ]);
    idle().await;
    b.identify("u-42".into());
    b.set(
        "roles".into(),
        Array::of2(&"admin".into(), &"dev".into()).into(),
    );
    b.track("export".into(), JsValue::NULL, JsValue::NULL); // 2 with the page view
    assert_eq!(requests().length(), 0, "not yet: 2 of 3");
    let props = Object::new();
    Reflect::set(&props, &"format".into(), &"csv".into()).unwrap();
    let metrics = Object::new();
    Reflect::set(&metrics, &"rows".into(), &1200.into()).unwrap();
    b.track("export".into(), props.clone().into(), metrics.into());
    sleep(50).await;
    let sent = bodies(requests());
    // The page view came before `identify` and `set`: its own batch, sent first.
    assert_eq!(
        sent.len(),
        2,
        "the 3 events, one batch per context: {sent:?}"
    );
    assert!(sent[0]["context"].get("user").is_none(), "{}", sent[0]);
    assert!(sent[0]["context"].get("roles").is_none(), "{}", sent[0]);
    assert_eq!(sent[0]["events"][0]["type"], "page");
    let batch = &sent[1];
    assert_eq!(batch["app"], "demo");
    assert_eq!(batch["key"], "wk_test");
    assert!(batch["sent_at"].as_f64().unwrap() > 1.7e12);
    let ctx = &batch["context"];
    assert_eq!(ctx["user"], "u-42");
    assert_eq!(
        ctx["tz"].as_str(),
        browser_time_zone().as_deref(),
        "the time zone, read when the page was idle"
    );
    assert_eq!(ctx["roles"], serde_json::json!(["admin", "dev"]));
    for k in ["anon", "session", "lang", "screen", "viewport", "tz"] {
        assert!(ctx[k].is_string(), "context has {k}: {ctx}");
    }
    let evs = events(&sent);
    let types: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["page", "export", "export"]);
    assert_eq!(evs[2]["props"]["format"], "csv");
    assert_eq!(evs[2]["metrics"]["rows"], 1200.0);
    let mut ids: Vec<&str> = evs.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "unique ids");
    assert_eq!(stat(&b, "sent"), 3.0);
    b.track("Not A Type".into(), JsValue::NULL, JsValue::NULL);
    assert_eq!(stat(&b, "refused"), 1.0);
    // An invalid name refuses the whole call: it never leaves the page.
    Reflect::set(&props, &"$where".into(), &"x".into()).unwrap();
    b.track("export".into(), props.into(), JsValue::NULL);
    assert_eq!(stat(&b, "refused"), 2.0);
    assert_eq!(stat(&b, "queued"), 0.0);
    b.identify(JsValue::NULL);
}

fn browser_time_zone() -> Option<String> {
    js_sys::eval("Intl.DateTimeFormat().resolvedOptions().timeZone")
        .unwrap()
        .as_string()
}

#[wasm_bindgen_test]
async fn the_time_zone_is_read_once_when_the_page_is_idle_not_at_each_send() {
    idle().await; // the idle callbacks of earlier tests' beacons
    let undo = count_time_zone_reads();
    install_mocks(Array::of1(&200.into()), true);
    // The page view is sent at once (`flushAt` 1), before the page is idle:
    // without the time zone, and without reading it on the way.
    let b = start(&[
        ("flushAt", "1"),
        ("flushInterval", "600000"),
        ("skipLoad", "true"),
    ]);
    assert_eq!(time_zone_reads(), 0, "read during start-up or a send");
    idle().await;
    assert_eq!(time_zone_reads(), 1, "read once, in the idle callback");
    for i in 0..3 {
        b.track("later".into(), JsValue::NULL, JsValue::NULL);
        sleep(20).await;
        assert_eq!(time_zone_reads(), 1, "read again at send {i}");
    }
    undo.call0(&JsValue::NULL).unwrap();
    let sent = bodies(requests());
    assert_eq!(sent.len(), 4, "the page view, then one batch per event");
    assert!(sent[0]["context"].get("tz").is_none(), "{}", sent[0]);
    for batch in &sent[1..] {
        assert_eq!(
            batch["context"]["tz"].as_str(),
            browser_time_zone().as_deref()
        );
    }
}

#[wasm_bindgen_test]
async fn retry_after_503_resends_the_same_events() {
    install_mocks(Array::of2(&503.into(), &200.into()), true);
    let b = start(&[
        ("flushAt", "100"),
        ("flushInterval", "600000"),
        ("skipLoad", "true"),
    ]);
    b.track("a".into(), JsValue::NULL, JsValue::NULL);
    b.flush();
    sleep(50).await;
    assert_eq!(requests().length(), 1);
    assert_eq!(stat(&b, "queued"), 2.0, "kept after the 503");
    b.flush();
    sleep(50).await;
    assert_eq!(requests().length(), 1, "Retry-After: 1 is honoured");
    sleep(1100).await;
    b.flush();
    sleep(50).await;
    let sent = bodies(requests());
    assert_eq!(sent.len(), 2);
    let ids = |b: &Value| {
        b["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&sent[0]),
        ids(&sent[1]),
        "the retry carries the same ids: the collector stores them once"
    );
    assert_eq!((stat(&b, "queued"), stat(&b, "sent")), (0.0, 2.0));
}

#[wasm_bindgen_test]
async fn a_4xx_drops_and_counts() {
    install_mocks(Array::of1(&400.into()), true);
    let b = start(&[
        ("flushAt", "100"),
        ("flushInterval", "600000"),
        ("skipLoad", "true"),
    ]);
    b.flush();
    sleep(50).await;
    assert_eq!(
        (stat(&b, "queued"), stat(&b, "dropped"), stat(&b, "sent")),
        (0.0, 1.0, 0.0)
    );
}

#[wasm_bindgen_test]
fn the_queue_is_bounded_dropping_the_oldest() {
    install_mocks(Array::of1(&200.into()), false);
    let b = start(&[
        ("flushAt", "1000"),
        ("flushInterval", "600000"),
        ("maxQueue", "5"),
        ("skipLoad", "true"),
    ]);
    for i in 0..10 {
        let p = Object::new();
        Reflect::set(&p, &"i".into(), &i.into()).unwrap();
        b.track("n".into(), p.into(), JsValue::NULL);
    }
    assert_eq!((stat(&b, "queued"), stat(&b, "dropped")), (5.0, 6.0));
    // The newest five survive; a refused beacon keeps them queued.
    hide_page();
    let kept: Vec<Value> = events(&bodies(beacons()));
    assert!(kept.iter().any(|e| e["props"]["i"] == 9), "{kept:?}");
    assert!(
        !kept.iter().any(|e| e["type"] == "page"),
        "the oldest went first"
    );
    assert!(
        stat(&b, "queued") >= 5.0,
        "sendBeacon refused: still queued"
    );
}

#[wasm_bindgen_test]
fn page_hide_sends_everything_through_send_beacon_in_64k_bodies() {
    install_mocks(Array::of1(&200.into()), true);
    let b = start(&[
        ("flushAt", "100000"),
        ("maxQueue", "100000"),
        ("flushInterval", "600000"),
    ]);
    let pad = "x".repeat(900);
    for i in 0..300 {
        let p = Object::new();
        Reflect::set(&p, &"i".into(), &i.into()).unwrap();
        Reflect::set(&p, &"pad".into(), &pad.as_str().into()).unwrap();
        b.track("bulk".into(), p.into(), JsValue::NULL);
    }
    hide_page();
    let raw: Vec<String> = beacons().iter().map(|b| b.as_string().unwrap()).collect();
    assert!(raw.len() >= 5, "{} beacons", raw.len());
    for r in &raw {
        assert!(r.len() < 64 * 1024, "a beacon of {} bytes", r.len());
    }
    let evs = events(&bodies(beacons()));
    let bulk: Vec<&Value> = evs.iter().filter(|e| e["type"] == "bulk").collect();
    assert_eq!(bulk.len(), 300, "every event exactly once");
    assert_eq!(stat(&b, "queued"), 0.0);

    // The load breakdown and a memory sample go out on hide as well.
    let load = evs
        .iter()
        .find(|e| e["type"] == "load")
        .expect("a load event");
    let m = load["metrics"].as_object().unwrap();
    let total = m["total_ms"].as_f64().unwrap();
    assert!(total > 0.0);
    for k in [
        "dns_ms",
        "connect_ms",
        "ttfb_ms",
        "response_ms",
        "dom_ms",
        "dcl_ms",
        "transfer_bytes",
    ] {
        assert!(m.contains_key(k), "{k} in {m:?}");
    }
    for (k, v) in m {
        let v = v.as_f64().unwrap();
        assert!(v >= 0.0, "{k} = {v}");
        if k.ends_with("_ms") && k != "lcp_ms" && k != "fcp_ms" {
            assert!(v <= total, "{k} = {v} > total {total}");
        }
    }
    let mem = evs
        .iter()
        .find(|e| e["type"] == "memory")
        .expect("a memory event");
    assert_eq!(mem["props"]["source"], "browser");
    assert_eq!(
        mem["props"]["longtask_type"], "long-animation-frame",
        "Chromium has long animation frames"
    );
    assert!(mem["metrics"]["wasm_memory_bytes"].as_f64().unwrap() > 0.0);
    assert!(
        mem["metrics"]["used_heap_bytes"].as_f64().unwrap() > 0.0,
        "Chromium exposes performance.memory"
    );
    for k in [
        "gc_count",
        "gc_reclaimed_bytes",
        "longtask_count",
        "longtask_ms",
        "blocking_ms",
        "longtask_max_ms",
        "total_heap_bytes",
        "heap_limit_bytes",
    ] {
        assert!(mem["metrics"][k].is_number(), "{k}");
    }
}

#[wasm_bindgen_test]
fn captured_clicks_choices_marks_and_route_changes() {
    install_mocks(Array::of1(&200.into()), true);
    let b = start(&[("flushAt", "1000"), ("flushInterval", "600000")]);
    let c = fixture(
        r#"<button data-usage-widget="export-csv">Export</button><button data-usage-ignore>Hidden</button>
           <select name="fmt"><option value="csv">CSV</option><option value="pdf">PDF</option></select>"#,
    );
    q(&c, "[data-usage-widget]")
        .unchecked_ref::<HtmlElement>()
        .click();
    q(&c, "[data-usage-ignore]")
        .unchecked_ref::<HtmlElement>()
        .click();
    let sel = q(&c, "select");
    sel.unchecked_ref::<web_sys::HtmlSelectElement>()
        .set_value("pdf");
    // The beacon listens in the capture phase, so even a non-bubbling event is seen.
    sel.dispatch_event(&web_sys::Event::new("change").unwrap())
        .unwrap();
    b.mark("app-ready".into());
    let history = web_sys::window().unwrap().history().unwrap();
    let before = web_sys::window().unwrap().location().pathname().unwrap();
    history
        .push_state_with_url(&JsValue::NULL, "", Some("/spa-route"))
        .unwrap();
    history
        .replace_state_with_url(&JsValue::NULL, "", Some(&before))
        .unwrap();
    hide_page();
    let evs = events(&bodies(beacons()));
    let clicks: Vec<&Value> = evs.iter().filter(|e| e["type"] == "click").collect();
    assert_eq!(
        clicks.len(),
        1,
        "the ignored button sent nothing: {clicks:?}"
    );
    assert_eq!(clicks[0]["props"]["widget"], "export-csv");
    assert_eq!(clicks[0]["props"]["tag"], "button");
    let choice = evs
        .iter()
        .find(|e| e["type"] == "choice")
        .expect("a choice");
    assert_eq!(choice["props"]["control"], "fmt");
    assert_eq!(choice["props"]["value"], "pdf");
    assert_eq!(choice["props"]["default"], "csv");
    assert_eq!(choice["props"]["is_default"], false);
    let load = evs.iter().find(|e| e["type"] == "load").expect("load");
    assert!(
        load["metrics"]["app-ready_ms"].as_f64().unwrap() > 0.0,
        "the custom phase is on the breakdown"
    );
    let pages: Vec<&str> = evs
        .iter()
        .filter(|e| e["type"] == "page")
        .map(|e| e["props"]["page"].as_str().unwrap())
        .collect();
    assert_eq!(pages, [before.as_str(), "/spa-route", before.as_str()]);
    let views: Vec<&str> = evs
        .iter()
        .filter(|e| e["type"] == "page")
        .map(|e| e["props"]["view"].as_str().unwrap())
        .collect();
    assert_ne!(views[0], views[1], "a route change is a new page view");
    c.remove();
}

/// The `timing` events with CLS of the beacons sent since the mocks were installed.
fn vitals_events() -> Vec<Value> {
    events(&bodies(beacons()))
        .into_iter()
        .filter(|e| e["type"] == "timing" && e["metrics"].get("cls").is_some())
        .collect()
}

#[wasm_bindgen_test]
async fn cls_and_inp_once_per_view_and_again_after_a_bfcache_restore() {
    install_mocks(Array::of1(&200.into()), true);
    let b = start(&[("flushAt", "1000"), ("flushInterval", "600000")]);
    // Whatever earlier tests did (and reported) is forgotten, as on a
    // restore, once the frames they changed are painted.
    sleep(100).await;
    restore_from_bfcache();
    hide_page();
    let first = vitals_events();
    assert_eq!(first.len(), 1, "at the first hide: {first:?}");
    assert_eq!(
        first[0]["metrics"]["cls"], 0.0,
        "nothing moved since the restore"
    );
    assert!(
        first[0]["metrics"].get("inp_ms").is_none(),
        "no interaction since the restore: {}",
        first[0]
    );
    hide_page();
    assert_eq!(vitals_events().len(), 1, "once per view");

    // A restored view reports its own, at its first hide.
    restore_from_bfcache();
    b.track("after-restore".into(), JsValue::NULL, JsValue::NULL);
    hide_page();
    assert_eq!(vitals_events().len(), 2, "{:?}", vitals_events());
}

#[wasm_bindgen_test]
fn sampling_keeps_usage_and_drops_performance_events() {
    install_mocks(Array::of1(&200.into()), true);
    let b = start(&[
        ("flushAt", "1000"),
        ("flushInterval", "600000"),
        ("sample", "0"),
    ]);
    b.track("kept".into(), JsValue::NULL, JsValue::NULL);
    hide_page();
    let evs = events(&bodies(beacons()));
    let types: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["page", "kept"], "data-sample=0: no load, no memory");
    assert_eq!(Reflect::get(&b.stats(), &"sampled".into()).unwrap(), false);
}

#[wasm_bindgen_test]
fn respect_dnt_sends_nothing_when_the_visitor_opted_out() {
    install_mocks(Array::of1(&200.into()), true);
    let nav = web_sys::window().unwrap().navigator();
    let desc = Object::new();
    Reflect::set(&desc, &"value".into(), &true.into()).unwrap();
    Reflect::set(&desc, &"configurable".into(), &true.into()).unwrap();
    Object::define_property(&nav, &"globalPrivacyControl".into(), &desc);
    let b = start(&[("flushAt", "1"), ("respectDnt", "")]);
    b.track("x".into(), JsValue::NULL, JsValue::NULL);
    b.flush();
    assert_eq!(Reflect::get(&b.stats(), &"enabled".into()).unwrap(), false);
    // Without data-respect-dnt the same visitor is counted.
    let b = start(&[
        ("flushAt", "1000"),
        ("flushInterval", "600000"),
        ("skipLoad", "true"),
    ]);
    b.track("y".into(), JsValue::NULL, JsValue::NULL);
    Reflect::delete_property(&nav, &"globalPrivacyControl".into()).unwrap();
    assert_eq!(stat(&b, "queued"), 2.0);
    assert_eq!(
        requests().length() + beacons().length(),
        0,
        "the opted-out beacon sent nothing"
    );
}
