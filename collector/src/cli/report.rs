//! `usagelens-collector report <name> …`: a report from a collector's HTTP
//! API (`POST /v1/reports/<name>`), printed as tables or JSON. It asks the
//! API like any client does, so the command line and the API cannot
//! disagree.

use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

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

/// Rows of the objects of `list` under `columns` (a list cell as `a, b`).
fn rows(list: &Value, columns: &[&str], cell: impl Fn(&str, &Value) -> Value) -> Vec<Vec<Value>> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .map(|o| columns.iter().map(|c| cell(c, &o[*c])).collect())
                .collect()
        })
        .unwrap_or_default()
}

fn print_widgets(answer: &Value) {
    println!(
        "widgets: {} clicks from {} to {}",
        answer["total_clicks"],
        answer["meta"]["from"].as_str().unwrap_or("?"),
        answer["meta"]["to"].as_str().unwrap_or("?")
    );
    let columns = [
        "widget",
        "clicks",
        "users",
        "sessions",
        "share",
        "previous_clicks",
        "pages",
    ];
    let table = rows(&answer["widgets"], &columns, |c, v| match c {
        "share" => json!(format!("{:.1}%", v.as_f64().unwrap_or(0.0) * 100.0)),
        "pages" => json!(v
            .as_array()
            .map(|ps| ps
                .iter()
                .map(|p| format!("{} ({})", p["page"].as_str().unwrap_or("?"), p["clicks"]))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()),
        _ => v.clone(),
    });
    let names: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
    super::table::print(&names, &table);
    println!();
    println!("least used (clicked in the 90 days before `to`, fewest clicks first):");
    let columns = ["widget", "clicks", "last_seen"];
    let table = rows(&answer["least_used"], &columns, |_, v| v.clone());
    let names: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
    super::table::print(&names, &table);
}

fn print_load_time(answer: &Value) {
    let percentiles: Vec<String> = answer["percentiles"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let ms = |v: &Value| match v.as_f64() {
        Some(x) => json!(format!("{x:.1}")),
        None => json!("-"),
    };
    for page in answer["pages"].as_array().into_iter().flatten() {
        println!(
            "{}: {} loads, total {}",
            page["page"].as_str().unwrap_or("?"),
            page["loads"],
            percentiles
                .iter()
                .map(|p| format!("{p} {}", ms(&page["total"][p]).as_str().unwrap_or("-")))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut columns = vec!["phase".to_owned()];
        columns.extend(percentiles.iter().cloned());
        columns.push("count".into());
        let table: Vec<Vec<Value>> = page["phases"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|ph| {
                let mut row = vec![ph["phase"].clone()];
                row.extend(percentiles.iter().map(|p| ms(&ph[p])));
                row.push(ph["count"].clone());
                row
            })
            .collect();
        super::table::print(&columns, &table);
        println!();
    }
    println!("by day:");
    let columns = ["bucket", "loads", "p75_total_ms"];
    let table = rows(&answer["trend"], &columns, |c, v| {
        if c == "p75_total_ms" {
            ms(v)
        } else {
            v.clone()
        }
    });
    let names: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
    super::table::print(&names, &table);
}

fn print_performance(answer: &Value) {
    let table = |title: &str, list: &Value, columns: &[&str]| {
        println!("{title}:");
        let rows = rows(list, columns, |_, v| match v.as_f64() {
            Some(x) if x.fract() != 0.0 => json!(format!("{x:.3}")),
            _ => v.clone(),
        });
        let names: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        super::table::print(&names, &rows);
        println!();
    };
    table(
        "API routes",
        &answer["server"]["routes"],
        &[
            "route",
            "method",
            "count",
            "error_rate",
            "p50_duration_ms",
            "p95_duration_ms",
            "p99_duration_ms",
            "p95_serialize_ms",
            "serialize_share",
        ],
    );
    table(
        "browser memory",
        &answer["browser"]["series"],
        &[
            "bucket",
            "samples",
            "heap_p50",
            "heap_p95",
            "gc_count",
            "longtask_ms",
            "blocking_ms",
        ],
    );
    table(
        "browser memory by page",
        &answer["browser"]["by_page"],
        &[
            "page",
            "samples",
            "heap_p50",
            "heap_p95",
            "gc_count",
            "longtask_ms",
        ],
    );
    table(
        "server memory",
        &answer["server"]["memory"],
        &["bucket", "samples", "rss_p50", "rss_max", "virtual_max"],
    );
}

fn print_user_story(answer: &Value) {
    let w = &answer["workday"];
    println!(
        "{}: {} sessions; active {} days ({:.1} a week), typically {} to {} ({}, {})",
        answer["user"].as_str().unwrap_or("?"),
        answer["sessions_total"],
        w["active_days"],
        w["active_days_per_week"].as_f64().unwrap_or(0.0),
        w["typical_start"].as_str().unwrap_or("-"),
        w["typical_end"].as_str().unwrap_or("-"),
        w["tz"].as_str().unwrap_or("UTC"),
        w["tz_source"].as_str().unwrap_or("-"),
    );
    println!();
    println!("week (activity per hour, Monday first):");
    let mut columns = vec!["day".to_owned()];
    columns.extend((0..24).map(|h| format!("{h:02}")));
    let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let table: Vec<Vec<Value>> = w["matrix"]
        .as_array()
        .into_iter()
        .flatten()
        .zip(days)
        .map(|(row, d)| {
            let mut r = vec![json!(d)];
            r.extend(row.as_array().into_iter().flatten().cloned());
            r
        })
        .collect();
    super::table::print(&columns, &table);
    println!();
    let list = |title: &str, v: &Value, columns: &[&str]| {
        println!("{title}:");
        let rows = rows(v, columns, |c, v| match (c, v) {
            ("steps", Value::Array(s)) => json!(s
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" → ")),
            ("top_actions" | "top", Value::Array(a)) => json!(a
                .iter()
                .map(|x| format!("{} ({})", x["action"].as_str().unwrap_or("?"), x["count"]))
                .collect::<Vec<_>>()
                .join(", ")),
            (_, Value::Number(n)) if n.as_f64().is_some_and(|x| x.fract() != 0.0) => {
                json!(format!("{:.3}", n.as_f64().unwrap_or(0.0)))
            }
            _ => v.clone(),
        });
        let names: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        super::table::print(&names, &rows);
        println!();
    };
    list("dayparts", &w["dayparts"], &["part", "top"]);
    list(
        "sessions (latest first)",
        &answer["sessions"],
        &["session", "start", "end", "events", "pages", "top_actions"],
    );
    list("common paths", &answer["sequences"], &["steps", "count"]);
    list(
        "distinctive",
        &answer["distinctive"],
        &["action", "user_share", "everyone_share", "lift"],
    );
}

fn print_correlation(answer: &Value) {
    println!(
        "{} sessions: the median {} of {} events against {} per session",
        answer["sessions"],
        answer["metric"]["of"].as_str().unwrap_or("?"),
        answer["metric"]["type"].as_str().unwrap_or("?"),
        answer["outcome"],
    );
    match answer["spearman"]["rho"].as_f64() {
        Some(rho) => println!(
            "Spearman's rho {rho:.3} over {} sessions (correlation, not causation)",
            answer["spearman"]["n"]
        ),
        None => println!("Spearman's rho: too few sessions"),
    }
    println!();
    let fmt = |_: &str, v: &Value| match v.as_f64() {
        Some(x) if x.fract() != 0.0 => json!(format!("{x:.2}")),
        _ => v.clone(),
    };
    let columns = ["range", "sessions", "users", "outcome_per_session"];
    let table = rows(&answer["buckets"], &columns, fmt);
    let names: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
    super::table::print(&names, &table);
    if let Some(groups) = answer["by"]["groups"].as_array() {
        println!();
        println!("by {}:", answer["by"]["dimension"].as_str().unwrap_or("?"));
        let columns = [
            "value",
            "sessions",
            "metric_p50",
            "metric_p95",
            "outcome_per_session",
        ];
        let table = rows(&json!(groups), &columns, fmt);
        let names: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        super::table::print(&names, &table);
    }
}

fn print_defaults(answer: &Value) {
    let columns = [
        "control",
        "form",
        "page",
        "control_type",
        "default",
        "samples",
        "kept_share",
        "top values",
        "suggestion",
    ];
    let table = rows(
        &answer["controls"],
        &[
            "control",
            "form",
            "page",
            "control_type",
            "default",
            "samples",
            "kept_share",
            "values",
            "suggestion",
        ],
        |c, v| match c {
            "kept_share" => json!(format!("{:.0}%", v.as_f64().unwrap_or(0.0) * 100.0)),
            "values" => json!(v
                .as_array()
                .into_iter()
                .flatten()
                .take(3)
                .map(|x| format!(
                    "{} {:.0}%",
                    x["value"],
                    x["share"].as_f64().unwrap_or(0.0) * 100.0
                ))
                .collect::<Vec<_>>()
                .join(", ")),
            "suggestion" if !v.is_null() => json!(format!(
                "{} ({:.0}% against {:.0}%)",
                v["value"],
                v["share"].as_f64().unwrap_or(0.0) * 100.0,
                v["default_share"].as_f64().unwrap_or(0.0) * 100.0
            )),
            _ => v.clone(),
        },
    );
    let names: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
    super::table::print(&names, &table);
    println!();
    println!(
        "{} suggestion(s): another value chosen more often than the default, 95% Wilson intervals apart, at least {} samples",
        answer["suggestions"], answer["min_samples"]
    );
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
        "widgets" => print_widgets(&answer),
        "load-time" => print_load_time(&answer),
        "performance" => print_performance(&answer),
        "user-story" => print_user_story(&answer),
        "correlation" => print_correlation(&answer),
        "defaults" => print_defaults(&answer),
        _ => println!("{answer:#}"),
    }
    Ok(())
}
