//! Every report over the demo's simulated week (`usagelens-simulate
//! --history 7d`, as `cargo xtask simulate` runs it): a real collector, the
//! backfill through the ingest protocol, each report through the HTTP API,
//! with non-empty answers that show what the simulation put in.

mod common;

use std::process::Command;

use common::*;
use serde_json::{json, Value};

fn simulate_bin() -> std::path::PathBuf {
    let bin = collector_bin().with_file_name("usagelens-simulate");
    assert!(
        bin.exists(),
        "build the demo site first: `cargo build -p usagelens-demo-site` (cargo xtask test does)"
    );
    bin
}

#[test]
fn every_report_answers_the_simulated_week_plausibly() {
    let db = unique_db();
    let app = cli_json(&db, &["apps", "create", "demo"]);
    let (wk, rt) = (
        app["write_key"].as_str().unwrap().to_owned(),
        app["read_token"].as_str().unwrap().to_owned(),
    );
    let collector = Collector::start(&db, &["--rate-limit-ip", "0", "--rate-limit-app", "0"]);
    let out = Command::new(simulate_bin())
        .args([
            "--history",
            "7d",
            "--users",
            "8",
            "--collector",
            &collector.url(""),
            "--write-key",
            &wk,
        ])
        .output()
        .expect("run usagelens-simulate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let http = reqwest::blocking::Client::new();
    let now = mongodb::bson::DateTime::now().timestamp_millis();
    let report = |name: &str, mut body: Value| -> Value {
        body["app"] = json!("demo");
        body["from"] = json!(now - 8 * 86_400_000);
        body["to"] = json!(now);
        let r = http
            .post(collector.url(&format!("/v1/reports/{name}")))
            .bearer_auth(&rt)
            .json(&body)
            .send()
            .unwrap();
        let status = r.status();
        let answer: Value = r.json().unwrap();
        assert_eq!(status, 200, "{name}: {answer}");
        assert_eq!(answer["report"], name);
        answer
    };

    let w = report("widgets", json!({}));
    let widgets = w["widgets"].as_array().unwrap();
    assert!(widgets.len() >= 3, "{w}");
    let shares: f64 = widgets.iter().map(|x| x["share"].as_f64().unwrap()).sum();
    assert!(
        shares > 0.99 && shares <= 1.0 + 1e-9,
        "every click has a widget: {shares}"
    );
    assert!(widgets[0]["users"].as_u64().unwrap() >= 2);

    let d = report("defaults", json!({"min_samples": 10}));
    let control = |name: &str| {
        d["controls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["control"] == name)
            .unwrap_or_else(|| panic!("{name} in {d}"))
            .clone()
    };
    let theme = control("theme");
    assert!(theme["samples"].as_u64().unwrap() >= 10, "{theme}");
    assert!(
        theme["kept_share"].as_f64().unwrap() < 0.5,
        "most pick dark: {theme}"
    );
    assert!(
        theme["suggestion"].is_null() || theme["suggestion"]["value"] == "dark",
        "{theme}"
    );
    let format = control("export_format");
    assert!(format["kept_share"].as_f64().unwrap() > 0.6, "{format}");
    assert!(
        format["suggestion"].is_null(),
        "csv, the default, wins: {format}"
    );

    let l = report("load-time", json!({}));
    let page = &l["pages"][0];
    assert_eq!(page["page"], "/");
    let phases: Vec<&str> = page["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    for p in [
        "dns", "connect", "dom", "charts", "fcp", "lcp", "inp", "cls",
    ] {
        assert!(phases.contains(&p), "{p} in {phases:?}");
    }
    assert_eq!(l["custom_phases"], json!(["charts_ms"]));
    assert!(page["total"]["p75"].as_f64().unwrap() > page["total"]["p50"].as_f64().unwrap());
    assert!(l["trend"].as_array().unwrap().len() >= 5, "{}", l["trend"]);

    let p = report("performance", json!({"interval": "day"}));
    let routes = p["server"]["routes"].as_array().unwrap();
    assert_eq!(routes[0]["route"], "/api/reports");
    assert!(routes[0]["count"].as_u64().unwrap() > 100);
    assert_eq!(routes[0]["error_rate"], 0.0);
    assert!(!p["browser"]["series"].as_array().unwrap().is_empty());

    let c = report("correlation", json!({"by": "roles"}));
    assert!(c["sessions"].as_u64().unwrap() > 20, "{c}");
    assert!(
        c["spearman"]["rho"].as_f64().unwrap() < 0.0,
        "slow sessions click less in the simulation: {}",
        c["spearman"]
    );
    let b = c["buckets"].as_array().unwrap();
    assert_eq!(b.len(), 5);
    assert!(
        b[0]["outcome_per_session"].as_f64().unwrap()
            > b[4]["outcome_per_session"].as_f64().unwrap(),
        "{b:?}"
    );
    assert!(!c["by"]["groups"].as_array().unwrap().is_empty());

    let u = report("user-story", json!({"user": "ada-0"}));
    assert!(u["sessions_total"].as_u64().unwrap() >= 3, "{u}");
    assert_eq!(u["workday"]["tz"], "Europe/Berlin");
    assert!(u["workday"]["active_days"].as_u64().unwrap() >= 3);
    assert!(!u["sequences"].as_array().unwrap().is_empty());
    assert!(!u["distinctive"].as_array().unwrap().is_empty());
    drop(collector);
    Db::open(&db).drop_db();
}
