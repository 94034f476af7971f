//! `defaults`: are the defaults the options users actually use? Per
//! control, how often the default was kept, the distribution of the values
//! chosen, and a suggestion when another value wins with confidence.
//!
//! A *sample* is a control's final state in one page view: the beacon
//! reports every named control of the page's forms when the page is first
//! hidden (`choice` events with `trigger: "hide"`), whether it was changed,
//! submitted or never touched, so untouched controls count as kept
//! defaults. A page's own controls (`usagelens.choice`, `control_type:
//! "custom"`) count each call as a sample. Three queries of the engine per
//! kind: samples and kept defaults, values, and defaults.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};
use usagelens_protocol::Timestamp;

use super::{desc, dim_filter, event_type, name, Context, Runner, Scope};
use crate::apps::AppId;
use crate::query::{self, Filter, Measure, Op, QueryError, QueryRequest};

const DEFAULT_MIN_SAMPLES: u64 = 30;
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;
/// Values listed per control, most chosen first.
const TOP_VALUES: usize = 20;
/// The normal quantile of a two-sided 95% interval.
const Z95: f64 = 1.959_964;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(deserialize_with = "query::app_id")]
    app: AppId,
    #[serde(default)]
    from: Option<Timestamp>,
    #[serde(default)]
    to: Option<Timestamp>,
    #[serde(default, rename = "where")]
    filters: Vec<Filter>,
    #[serde(default)]
    tz: Option<String>,
    /// Answer with the pipelines too (`meta.pipelines`).
    #[serde(default)]
    explain: bool,
    /// `raw`: every query from the raw events (exact).
    #[serde(default)]
    plan: Option<crate::query::PlanChoice>,
    /// Only controls on this page.
    #[serde(default)]
    page: Option<String>,
    /// Only this control.
    #[serde(default)]
    control: Option<String>,
    /// Fewest samples for a suggestion.
    #[serde(default)]
    min_samples: Option<u64>,
    #[serde(default)]
    limit: Option<u32>,
}

/// A checked `defaults` request.
#[derive(Debug, Clone)]
pub(crate) struct DefaultsRequest {
    pub(crate) scope: Scope,
    min_samples: u64,
    limit: usize,
}

pub(super) fn parse(body: &[u8], now_ms: i64) -> Result<DefaultsRequest, QueryError> {
    let b: Body = query::parse_json(body, "", "the body is not a valid defaults report request")?;
    let min_samples = b.min_samples.unwrap_or(DEFAULT_MIN_SAMPLES);
    if min_samples == 0 {
        return Err(QueryError::Invalid("min_samples: at least 1".into()));
    }
    let limit = b.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(QueryError::Invalid(format!("limit: 1 to {MAX_LIMIT}")));
    }
    let mut filters = b.filters;
    if let Some(p) = b.page {
        filters.push(dim_filter("page", Op::Eq, json!(p)));
    }
    if let Some(c) = b.control {
        filters.push(dim_filter("control", Op::Eq, json!(c)));
    }
    Ok(DefaultsRequest {
        scope: Scope::new(b.app, b.from, b.to, filters, b.tz, b.explain, now_ms)?.with_plan(b.plan),
        min_samples,
        limit: limit as usize,
    })
}

/// Wilson's score interval of `k` successes in `n` at 95%.
fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (n, p) = (n as f64, k as f64 / n as f64);
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    (centre - half, centre + half)
}

/// A control: its name, form and page.
type Key = (Value, Value, Value);

fn key(row: &[Value]) -> Key {
    (row[0].clone(), row[1].clone(), row[2].clone())
}

#[derive(Default)]
struct Control {
    control_type: Value,
    samples: u64,
    kept: u64,
    values: Vec<(Value, u64)>,
    defaults: Vec<(Value, u64)>,
}

/// The three queries of one kind of sample (`filter` selects it).
async fn read(
    runner: &mut Runner<'_>,
    base: &QueryRequest,
    filter: Filter,
    controls: &mut BTreeMap<String, (Key, Control)>,
) -> Result<(), QueryError> {
    let by = |extra: &str| {
        let mut q = base.clone();
        q.types = Some(vec![event_type("choice")]);
        q.filters.push(filter.clone());
        q.group_by = vec![name("control"), name("form"), name("page"), name(extra)];
        q.measures = vec![Measure::Count];
        q.order_by = vec![desc("count")];
        q
    };
    let id = |k: &Key| serde_json::to_string(&[&k.0, &k.1, &k.2]).unwrap_or_default();
    let mut kept_q = by("is_default");
    kept_q.group_by.insert(3, name("control_type"));
    for row in &runner.run(&kept_q).await?.rows {
        if !row[0].is_string() {
            continue;
        }
        let k = key(row);
        let entry = controls
            .entry(id(&k))
            .or_insert_with(|| (k, Control::default()));
        let c = &mut entry.1;
        c.control_type = row[3].clone();
        let n = row[5].as_u64().unwrap_or(0);
        c.samples += n;
        if row[4] == json!(true) {
            c.kept += n;
        }
    }
    for (field, pick) in [("value", true), ("default", false)] {
        for row in &runner.run(&by(field)).await?.rows {
            if !row[0].is_string() || row[3].is_null() {
                continue;
            }
            if let Some((_, c)) = controls.get_mut(&id(&key(row))) {
                let list = if pick { &mut c.values } else { &mut c.defaults };
                list.push((row[3].clone(), row[4].as_u64().unwrap_or(0)));
            }
        }
    }
    Ok(())
}

pub(super) async fn run(cx: &Context<'_>, r: &DefaultsRequest) -> Result<Value, QueryError> {
    let s = &r.scope;
    let mut runner = Runner::new(cx, s.explain);
    let base = s.query(s.from, s.to);
    let mut controls: BTreeMap<String, (Key, Control)> = BTreeMap::new();
    // The end of each page view: every native control, touched or not.
    read(
        &mut runner,
        &base,
        dim_filter("trigger", Op::Eq, json!("hide")),
        &mut controls,
    )
    .await?;
    // The page's own controls: each `usagelens.choice` call.
    read(
        &mut runner,
        &base,
        dim_filter("control_type", Op::Eq, json!("custom")),
        &mut controls,
    )
    .await?;

    let mut list: Vec<(u64, Value)> = controls
        .into_values()
        .map(|((control, form, page), c)| {
            // A multi-valued control has one row per option it holds: the
            // share of samples that include the option.
            let multi = matches!(c.control_type.as_str(), Some("checkbox" | "select"))
                && c.values.iter().map(|v| v.1).sum::<u64>() > c.samples;
            let default = c
                .defaults
                .iter()
                .max_by_key(|d| d.1)
                .map(|d| d.0.clone())
                .unwrap_or(Value::Null);
            let default_values: Vec<&Value> = if multi {
                c.defaults.iter().map(|d| &d.0).collect()
            } else {
                vec![&default]
            };
            let values: Vec<Value> = c
                .values
                .iter()
                .take(TOP_VALUES)
                .map(|(v, n)| {
                    json!({"value": v, "count": n, "share": *n as f64 / c.samples.max(1) as f64,
                           "is_default": default_values.contains(&v)})
                })
                .collect();
            // A suggestion: another single value chosen more often than the
            // default, the 95% Wilson intervals apart, with enough samples.
            let suggestion = (!multi && c.samples >= r.min_samples)
                .then(|| {
                    let (best, n) = c.values.iter().find(|(v, _)| *v != default)?;
                    let (lo, _) = wilson(*n, c.samples);
                    let (_, hi) = wilson(c.kept, c.samples);
                    (lo > hi).then(|| {
                        json!({
                            "value": best,
                            "share": *n as f64 / c.samples as f64,
                            "default_share": c.kept as f64 / c.samples as f64,
                            "confidence": 0.95,
                            "interval": [lo, wilson(*n, c.samples).1],
                            "default_interval": [wilson(c.kept, c.samples).0, hi],
                        })
                    })
                })
                .flatten();
            let samples = c.samples;
            (
                samples,
                json!({
                    "control": control,
                    "form": form,
                    "page": page,
                    "control_type": c.control_type,
                    "multi": multi,
                    "default": if multi { json!(default_values) } else { default },
                    "samples": samples,
                    "kept_default": c.kept,
                    "kept_share": c.kept as f64 / samples.max(1) as f64,
                    "values": values,
                    "suggestion": suggestion,
                }),
            )
        })
        .collect();
    // Most samples first; among equals, by control name.
    list.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| a.1["control"].as_str().cmp(&b.1["control"].as_str()))
    });
    let suggestions = list
        .iter()
        .filter(|(_, c)| !c["suggestion"].is_null())
        .count();
    Ok(json!({
        "report": "defaults",
        "min_samples": r.min_samples,
        "controls": list.into_iter().take(r.limit).map(|(_, c)| c).collect::<Vec<_>>(),
        "suggestions": suggestions,
        "meta": runner.meta(s),
    }))
}
