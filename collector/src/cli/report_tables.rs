//! `report`'s tables: each report's answer printed for a terminal (the
//! answer as JSON is `--json`).

use serde_json::{json, Value};

use super::table;

/// Rows of the objects of `list` under `columns` (a list cell as `a, b`).
pub(super) fn rows(
    list: &Value,
    columns: &[&str],
    cell: impl Fn(&str, &Value) -> Value,
) -> Vec<Vec<Value>> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .map(|o| columns.iter().map(|c| cell(c, &o[*c])).collect())
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn print_widgets(answer: &Value) {
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
    table::print(&names, &table);
    println!();
    println!("least used (clicked in the 90 days before `to`, fewest clicks first):");
    let columns = ["widget", "clicks", "last_seen"];
    let table = rows(&answer["least_used"], &columns, |_, v| v.clone());
    let names: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
    table::print(&names, &table);
}

pub(super) fn print_load_time(answer: &Value) {
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
        table::print(&columns, &table);
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
    table::print(&names, &table);
}

pub(super) fn print_performance(answer: &Value) {
    let table = |title: &str, list: &Value, columns: &[&str]| {
        println!("{title}:");
        let rows = rows(list, columns, |_, v| match v.as_f64() {
            Some(x) if x.fract() != 0.0 => json!(format!("{x:.3}")),
            _ => v.clone(),
        });
        let names: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        table::print(&names, &rows);
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

pub(super) fn print_user_story(answer: &Value) {
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
    table::print(&columns, &table);
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
        table::print(&names, &rows);
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

pub(super) fn print_correlation(answer: &Value) {
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
    table::print(&names, &table);
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
        table::print(&names, &table);
    }
}

pub(super) fn print_defaults(answer: &Value) {
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
    table::print(&names, &table);
    println!();
    println!(
        "{} suggestion(s): another value chosen more often than the default, 95% Wilson intervals apart, at least {} samples",
        answer["suggestions"], answer["min_samples"]
    );
}
