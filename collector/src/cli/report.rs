//! `usagelens-collector report <name> …`: a report from a collector's HTTP
//! API (`POST /v1/reports/<name>`), printed as tables or JSON. It asks the
//! API like any client does, so the command line and the API cannot
//! disagree.

use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use super::report_tables as tables;
use crate::reports::REPORTS;

/// `usagelens-collector report widgets --app demo --since 7d --where role=admin`
#[derive(Debug, clap::Args)]
pub(super) struct ReportArgs {
    /// The report: widgets, defaults, load-time, performance, correlation, user-story.
    name: String,
    /// App id.
    #[arg(long)]
    app: String,
    /// The collector's base URL.
    #[arg(long, env = "USAGELENS_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The app's read token (`apps create` printed it).
    #[arg(long, env = "USAGELENS_READ_TOKEN", hide_env_values = true)]
    token: String,
    /// The last N minutes/hours/days to now (`30m`, `12h`, `7d`); default 7d.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    since: Option<String>,
    /// From (inclusive): RFC 3339 or epoch ms.
    #[arg(long)]
    from: Option<String>,
    /// To (exclusive): RFC 3339 or epoch ms.
    #[arg(long)]
    to: Option<String>,
    /// A segment: `name=value`, `name!=value`, `name>=3`, `name<3` … (repeatable; all must hold).
    #[arg(long = "where")]
    filters: Vec<String>,
    /// Time zone (IANA) for reports that bucket by time.
    #[arg(long)]
    tz: Option<String>,
    /// correlation: the per-session metric, `<type>:<metric>` (default load:total_ms).
    #[arg(long)]
    metric: Option<String>,
    /// correlation: clicks, events, pages, duration, widget:<name> or type:<event type>.
    #[arg(long)]
    outcome: Option<String>,
    /// correlation: break the sessions down by this dimension.
    #[arg(long)]
    by: Option<String>,
    /// correlation: a bucket edge (repeatable, ascending); default quintiles.
    #[arg(long = "edge")]
    edges: Vec<f64>,
    /// correlation: the most sessions joined (3 to 10000, default 10000).
    #[arg(long)]
    max_sessions: Option<u32>,
    /// defaults: only this control.
    #[arg(long)]
    control: Option<String>,
    /// defaults: fewest samples for a suggestion (default 30).
    #[arg(long)]
    min_samples: Option<u64>,
    /// user-story: the user's id.
    #[arg(long)]
    user: Option<String>,
    /// user-story: sessions to skip (latest first).
    #[arg(long)]
    offset: Option<u32>,
    /// performance: the series' buckets (minute, hour, day, week, month).
    #[arg(long)]
    interval: Option<String>,
    /// widgets, load-time: only this page.
    #[arg(long)]
    page: Option<String>,
    /// load-time: the percentiles (repeatable: p50, p75, p90, p95, p99).
    #[arg(long = "percentile")]
    percentiles: Vec<String>,
    /// Rows of each list.
    #[arg(long)]
    limit: Option<u32>,
    /// Print the answer as JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// A `--where` value: an integer, a number, `true`/`false`, else a string.
fn typed(v: &str) -> Value {
    if let Ok(n) = v.parse::<i64>() {
        return json!(n);
    }
    if let Ok(x) = v.parse::<f64>() {
        if x.is_finite() {
            return json!(x);
        }
    }
    match v {
        "true" => json!(true),
        "false" => json!(false),
        _ => json!(v),
    }
}

/// `--where name<op>value` as a filter of the query API.
fn filter(s: &str) -> anyhow::Result<Value> {
    for (token, op) in [
        ("!=", "ne"),
        (">=", "gte"),
        ("<=", "lte"),
        ("=", "eq"),
        (">", "gt"),
        ("<", "lt"),
    ] {
        if let Some((name, value)) = s.split_once(token) {
            let name = name.trim();
            if name.is_empty() {
                break;
            }
            return Ok(json!({"dim": name, "op": op, "value": typed(value.trim())}));
        }
    }
    bail!("--where {s:?}: write name=value, name!=value, name>=value, name<=value, name>value or name<value")
}

/// `--from`/`--to`: epoch ms as a number, anything else as given (the API
/// checks it and names the field).
fn time(s: &str) -> Value {
    match s.parse::<i64>() {
        Ok(ms) => json!(ms),
        Err(_) => json!(s),
    }
}

/// The request body of the arguments.
fn body(a: &ReportArgs, now_ms: i64) -> anyhow::Result<Value> {
    let mut b = json!({"app": a.app});
    if let Some(s) = &a.since {
        b["from"] = json!(now_ms - super::query::since_span_ms(s)?);
        b["to"] = json!(now_ms);
    }
    if let Some(f) = &a.from {
        b["from"] = time(f);
    }
    if let Some(t) = &a.to {
        b["to"] = time(t);
    }
    if !a.filters.is_empty() {
        b["where"] = a
            .filters
            .iter()
            .map(|f| filter(f))
            .collect::<anyhow::Result<Vec<_>>>()?
            .into();
    }
    if let Some(tz) = &a.tz {
        b["tz"] = json!(tz);
    }
    if let Some(m) = &a.metric {
        let (kind, of) = m.split_once(':').ok_or_else(|| {
            anyhow::anyhow!("--metric {m:?}: write <type>:<metric>, like load:total_ms")
        })?;
        b["metric"] = json!({"type": kind, "of": of});
    }
    if let Some(o) = &a.outcome {
        b["outcome"] = match o.split_once(':') {
            Some(("widget", w)) => json!({"widget": w}),
            Some(("type", t)) => json!({"type": t}),
            _ => json!(o),
        };
    }
    if let Some(by) = &a.by {
        b["by"] = json!(by);
    }
    if !a.edges.is_empty() {
        b["edges"] = json!(a.edges);
    }
    if let Some(n) = a.max_sessions {
        b["max_sessions"] = json!(n);
    }
    if let Some(c) = &a.control {
        b["control"] = json!(c);
    }
    if let Some(m) = a.min_samples {
        b["min_samples"] = json!(m);
    }
    if let Some(u) = &a.user {
        b["user"] = json!(u);
    }
    if let Some(o) = a.offset {
        b["offset"] = json!(o);
    }
    if let Some(i) = &a.interval {
        b["interval"] = json!(i);
    }
    if let Some(p) = &a.page {
        b["page"] = json!(p);
    }
    if !a.percentiles.is_empty() {
        b["percentiles"] = json!(a.percentiles);
    }
    if let Some(l) = a.limit {
        b["limit"] = json!(l);
    }
    Ok(b)
}

pub(super) async fn run(a: ReportArgs) -> anyhow::Result<()> {
    if !REPORTS.contains(&a.name.as_str()) {
        bail!(
            "no report named {:?}: the reports are {}",
            a.name,
            REPORTS.join(", ")
        );
    }
    let now = mongodb::bson::DateTime::now().timestamp_millis();
    let body = body(&a, now)?;
    let base = a.url.trim_end_matches('/');
    let url = format!("{base}/v1/reports/{}", a.name);
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?
        .post(&url)
        .bearer_auth(a.token.trim())
        .json(&body)
        .send()
        .await
        .with_context(|| format!("cannot reach the collector at {base} (--url, USAGELENS_URL)"))?;
    let status = resp.status();
    let text = resp.text().await?;
    let answer: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{url} answered {status} with something that is not JSON: {}",
            text.chars().take(200).collect::<String>()
        )
    })?;
    if !status.is_success() {
        let code = answer["error"]["code"].as_str().unwrap_or("error");
        let message = answer["error"]["message"].as_str().unwrap_or(&text);
        bail!("{status} {code}: {message}");
    }
    if a.json {
        println!("{answer}");
        return Ok(());
    }
    match a.name.as_str() {
        "widgets" => tables::print_widgets(&answer),
        "load-time" => tables::print_load_time(&answer),
        "performance" => tables::print_performance(&answer),
        "user-story" => tables::print_user_story(&answer),
        "correlation" => tables::print_correlation(&answer),
        "defaults" => tables::print_defaults(&answer),
        _ => println!("{answer:#}"),
    }
    Ok(())
}
