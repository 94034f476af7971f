//! What this demonstrates, for a frontend developer: the beacon's script tag
//! on every page, the pre-load stub, `identify` for the signed-in user, a
//! multi-valued custom dimension (`roles`) with `set`, named widgets
//! (`data-usage-widget`), controls whose defaults the beacon compares
//! against, `data-usage-ignore`, and a custom load phase with `mark`.

use crate::SiteConfig;

/// A signed-in user of the demo.
#[derive(Debug, Clone)]
pub struct User {
    /// The id sent with `usagelens.identify`.
    pub id: String,
    /// Roles, a multi-valued dimension.
    pub roles: Vec<String>,
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The page shell: the stub, identify/set, the beacon tag, the navigation.
pub fn layout(cfg: &SiteConfig, user: &User, title: &str, body: &str) -> String {
    let roles = serde_json::to_string(&user.roles).unwrap_or_else(|_| "[]".into());
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · Reports</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{{font-family:system-ui,sans-serif;margin:0;color:#1b1f24}} header{{background:#1b1f24;color:#fff;padding:.6rem 1rem;display:flex;gap:1rem;align-items:center}}
 header a{{color:#cfe3ff;text-decoration:none}} main{{padding:1rem}} .toolbar,.tabs{{display:flex;gap:.4rem;margin:.5rem 0}}
 button{{padding:.35rem .7rem}} .tab[aria-selected=true]{{font-weight:bold}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccd;padding:.25rem .5rem}}
</style>
<!-- UsageLens: calls before the beacon has loaded are queued and replayed. -->
<script>
window.usagelens=window.usagelens||[];["track","identify","set","unset","mark","flush"].forEach(function(m){{usagelens[m]=usagelens[m]||function(){{usagelens.push([m].concat([].slice.call(arguments)))}}}});
usagelens.identify({user});
usagelens.set("roles", {roles});
</script>
<script async src="{collector}/beacon.js" data-app="{app}" data-key="{key}"></script>
</head><body>
<header><strong>Reports</strong>
 <nav><a href="/" data-usage-widget="nav-home">Home</a> · <a href="/reports" data-usage-widget="nav-reports">All reports</a> ·
 <a href="/slow" data-usage-widget="nav-big-report">Quarterly (big)</a> · <a href="/settings" data-usage-widget="nav-settings">Settings</a></nav>
 <span style="margin-left:auto">{user_id}</span></header>
<main>{body}</main>
</body></html>"#,
        title = title,
        user = json_str(&user.id),
        user_id = user.id,
        roles = roles,
        collector = cfg.collector.trim_end_matches('/'),
        app = cfg.app,
        key = cfg.write_key,
    )
}

/// The workspace: a toolbar, tabs, an export menu, a rarely used widget.
pub fn home(cfg: &SiteConfig, user: &User) -> String {
    let body = r#"
<h1>Workspace</h1>
<div class="toolbar">
  <button data-usage-widget="toolbar-new">New report</button>
  <button data-usage-widget="toolbar-refresh" id="refresh">Refresh</button>
  <button data-usage-widget="toolbar-share">Share</button>
  <details data-usage-widget="export-menu"><summary>Export</summary>
    <button data-usage-widget="export-csv">CSV</button>
    <button data-usage-widget="export-pdf">PDF</button>
    <button data-usage-widget="export-xlsx">Excel</button>
  </details>
  <button data-usage-widget="archive-all" title="Rarely used">Archive all</button>
</div>
<div class="tabs" role="tablist">
  <button class="tab" role="tab" data-usage-widget="tab-overview" aria-selected="true">Overview</button>
  <button class="tab" role="tab" data-usage-widget="tab-trends">Trends</button>
  <button class="tab" role="tab" data-usage-widget="tab-raw">Raw data</button>
</div>
<section id="panel"><p>Loading reports…</p></section>
<p><button id="help-button" type="button">Help</button>
   <button id="feedback" data-usage-ignore>Send private feedback (not tracked)</button></p>
<script>
// The JSON API below is served through the native SDK's tower layer.
function load() {
  fetch('/api/reports').then(function (r) { return r.json(); }).then(function (rows) {
    document.getElementById('panel').innerHTML = '<table><tr><th>Report</th><th>Rows</th></tr>' +
      rows.map(function (r) { return '<tr><td><a href="/reports/' + r.id + '">' + r.name + '</a></td><td>' + r.rows + '</td></tr>'; }).join('') + '</table>';
  });
}
document.getElementById('refresh').addEventListener('click', load);
document.querySelectorAll('.tab').forEach(function (t) {
  t.addEventListener('click', function () {
    document.querySelectorAll('.tab').forEach(function (o) { o.setAttribute('aria-selected', String(o === t)); });
    history.pushState({}, '', '/' + t.textContent.trim().toLowerCase().replace(' ', '-'));
  });
});
load();
</script>"#;
    layout(cfg, user, "Workspace", body)
}

/// All reports, each with its own page.
pub fn reports(cfg: &SiteConfig, user: &User) -> String {
    let rows: String = crate::api::REPORTS
        .iter()
        .map(|r| {
            format!(
                r#"<tr><td><a href="/reports/{id}">{name}</a></td><td><button data-usage-widget="report-open">Open</button> <button data-usage-widget="report-duplicate">Duplicate</button></td></tr>"#,
                id = r.0,
                name = r.1
            )
        })
        .collect();
    let body = format!("<h1>All reports</h1><table>{rows}</table>");
    layout(cfg, user, "All reports", &body)
}

/// One report.
pub fn report(cfg: &SiteConfig, user: &User, id: u32) -> String {
    let body = format!(
        r#"<h1>Report {id}</h1><div class="toolbar"><button data-usage-widget="report-print">Print</button><button data-usage-widget="export-csv">CSV</button></div>
<pre id="data">…</pre><script>fetch('/api/reports/{id}').then(function(r){{return r.json()}}).then(function(d){{document.getElementById('data').textContent=JSON.stringify(d,null,1).slice(0,2000)}});</script>"#
    );
    layout(cfg, user, "Report", &body)
}

/// Settings: controls with defaults, so the beacon can tell kept from changed.
pub fn settings(cfg: &SiteConfig, user: &User, saved: bool) -> String {
    let user_id = &user.id;
    let note = if saved {
        "<p role=status>Saved.</p>"
    } else {
        ""
    };
    let body = format!(
        r#"<h1>Settings</h1>{note}
<form id="settings" method="post" action="/settings?as={user}">
  <p><label>Theme <select name="theme"><option value="light" selected>Light</option><option value="dark">Dark</option><option value="system">System</option></select></label></p>
  <p>Default export:
    <label><input type="radio" name="export_format" value="csv" checked> CSV</label>
    <label><input type="radio" name="export_format" value="pdf"> PDF</label>
    <label><input type="radio" name="export_format" value="xlsx"> Excel</label></p>
  <p>Notify me by:
    <label><input type="checkbox" name="notify" value="email" checked> e-mail</label>
    <label><input type="checkbox" name="notify" value="sms"> SMS</label>
    <label><input type="checkbox" name="notify" value="push"> push</label></p>
  <p><label><input type="checkbox" name="compact"> Compact tables</label></p>
  <p><label>Columns <select name="columns" multiple size="4">
    <option value="name" selected>Name</option><option value="owner" selected>Owner</option>
    <option value="updated" selected>Updated</option><option value="size">Size</option></select></label></p>
  <p><label>Signature <input type="text" name="signature" value=""></label></p>
  <p><label>API password <input type="password" name="api_password"></label></p>
  <p><button type="submit" data-usage-widget="settings-save">Save</button>
     <button type="reset" data-usage-widget="settings-reset">Reset</button></p>
</form>"#,
        user = user_id
    );
    layout(cfg, user, "Settings", &body)
}

/// A deliberately slow page: the server waits before answering (it shows in
/// `ttfb_ms`), a heavy script loads, and `usagelens.mark("app-ready")` marks
/// when the page's own work is done (`app-ready_ms`).
pub fn slow(cfg: &SiteConfig, user: &User) -> String {
    let body = r#"<h1>Quarterly report (big)</h1><p id="status">Crunching numbers…</p>
<script src="/assets/heavy.js"></script>
<script>
window.addEventListener('load', function () {
  var total = window.crunch ? window.crunch() : 0;
  document.getElementById('status').textContent = 'Done: ' + total;
  usagelens.mark('app-ready');
});
</script>"#;
    layout(cfg, user, "Quarterly", body)
}

/// About 400 KB of script: a heavy asset for the load breakdown.
pub fn heavy_asset() -> String {
    let mut s = String::from(
        "window.crunch=function(){var t=0;for(var i=0;i<200000;i++){t+=i%7}return t};\n",
    );
    s.push_str("window.__table=[");
    for i in 0..20_000 {
        s.push_str(&format!("{{\"k\":{i},\"v\":\"row-{i:08}\"}},"));
    }
    s.push_str("null];\n");
    s
}
