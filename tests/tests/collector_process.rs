//! The collector binary as users run it: the apps commands, `serve` over
//! TCP, and graceful shutdown with a batch in flight.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use mongodb::bson::doc;
use serde_json::json;

#[test]
fn apps_commands_print_json_and_fail_clearly() {
    let db = unique_db();
    let created = cli_json(
        &db,
        &[
            "apps",
            "create",
            "shop",
            "--origin",
            "https://shop.example",
            "--origin",
            "http://localhost:3000",
        ],
    );
    assert_eq!(created["id"], "shop");
    let wk = created["write_key"].as_str().unwrap().to_owned();
    let rt = created["read_token"].as_str().unwrap().to_owned();
    assert!(wk.starts_with("wk_") && rt.starts_with("rt_"));
    assert_eq!(created.as_object().unwrap().len(), 3);

    let again = cli(&db, &["apps", "create", "shop"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("app `shop` exists already"));
    let bad = cli(&db, &["apps", "create", "x", "--origin", "not a url"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid origin"));

    let list = cli_json(&db, &["apps", "list"]);
    assert_eq!(list[0]["id"], "shop");
    assert_eq!(list[0]["write_key"], wk.as_str());
    assert_eq!(
        list[0]["origins"],
        json!(["https://shop.example", "http://localhost:3000"])
    );
    assert!(
        !list.to_string().contains(&rt),
        "list never shows the read token"
    );

    let rotated = cli_json(&db, &["apps", "rotate-key", "shop"]);
    assert_ne!(rotated["write_key"], wk.as_str());
    let rotated_rt = cli_json(&db, &["apps", "rotate-key", "shop", "--read-token"]);
    assert!(rotated_rt["read_token"]
        .as_str()
        .unwrap()
        .starts_with("rt_"));

    let missing = cli(&db, &["apps", "rotate-key", "ghost"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no app `ghost`"));
    let deleted = cli_json(&db, &["apps", "delete", "shop"]);
    assert_eq!(deleted["deleted"], true);
    assert_eq!(cli_json(&db, &["apps", "list"]), json!([]));
    Db::open(&db).drop_db();
}

#[test]
fn serve_ingests_over_tcp_and_keeps_serving_after_hostile_input() {
    let db = unique_db();
    let app = cli_json(&db, &["apps", "create", "demo"]);
    let key = app["write_key"].as_str().unwrap();
    let c = Collector::start(&db, &[]);
    let http = reqwest::blocking::Client::new();
    assert_eq!(
        http.get(c.url("/healthz")).send().unwrap().text().unwrap(),
        "ok"
    );
    assert_eq!(http.get(c.url("/readyz")).send().unwrap().status(), 200);

    let body = json!({"app": "demo", "events": [
        {"id": "t1", "type": "click", "props": {"widget": "export"}},
        {"id": "t2", "type": "http", "metrics": {"duration_ms": 4.5}},
    ]})
    .to_string();
    let post = |body: &[u8], gzip: bool| {
        let mut req = http
            .post(c.url("/v1/batch"))
            .header("content-type", "application/json")
            .header("x-write-key", key);
        let payload = if gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(body).unwrap();
            req = req.header("content-encoding", "gzip");
            enc.finish().unwrap()
        } else {
            body.to_vec()
        };
        let resp = req.body(payload).send().unwrap();
        (
            resp.status().as_u16(),
            resp.json::<serde_json::Value>().unwrap(),
        )
    };
    let (status, r) = post(body.as_bytes(), true);
    assert_eq!(
        (status, &r["accepted"], &r["duplicates"]),
        (200, &json!(2), &json!(0))
    );
    let (_, r) = post(body.as_bytes(), false);
    assert_eq!(
        (&r["accepted"], &r["duplicates"]),
        (&json!(0), &json!(2)),
        "a retry is stored once"
    );

    for hostile in [
        &b"\xff\xfe"[..],
        b"{\"app\":\"demo\",\"events\":[{\"id\":\"x\",\"type\":\"$where\"}]}",
        b"[[[[[[[[",
    ] {
        let (status, r) = post(hostile, false);
        assert_eq!(status, 400, "{r}");
        assert!(r["error"]["code"].is_string());
    }
    let (status, _) = post(
        br#"{"app":"demo","events":[{"id":"t3","type":"page"}]}"#,
        false,
    );
    assert_eq!(status, 200, "still serving");
    let store = Db::open(&db);
    assert_eq!(store.count("events", doc! {"app": "demo"}), 3);
    store.drop_db();
}

#[test]
fn shutdown_finishes_the_batch_in_flight_and_flushes_the_catalog() {
    let db = unique_db();
    let app = cli_json(&db, &["apps", "create", "demo"]);
    let key = app["write_key"].as_str().unwrap();
    let mut c = Collector::start(&db, &["--catalog-flush", "1h"]);
    let body = json!({"app": "demo", "key": key, "events": [
        {"id": "inflight", "type": "click", "props": {"widget": "slow"}}
    ]})
    .to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut conn = TcpStream::connect(&c.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        conn,
        "POST /v1/batch HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{head}",
        c.addr,
        body.len()
    )
    .unwrap();
    conn.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    c.terminate();
    // Wait until the collector has begun shutting down, then finish the request.
    loop {
        let line = c
            .logs
            .recv_timeout(Duration::from_secs(10))
            .expect("a shutdown log line");
        if line.contains("shutting down") {
            break;
        }
    }
    assert!(
        c.child.try_wait().unwrap().is_none(),
        "it waits for the request in flight"
    );
    conn.write_all(tail.as_bytes()).unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains(r#""accepted":1"#), "{resp}");
    let status = c.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{status}");
    let store = Db::open(&db);
    assert_eq!(store.count("events", doc! {"_id": "demo:inflight"}), 1);
    assert_eq!(
        store.count("catalog", doc! {"_id": "demo:d:widget"}),
        1,
        "the catalog is flushed at shutdown"
    );
    store.drop_db();
}

#[test]
fn the_query_command_prints_a_ranking() {
    let db = unique_db();
    let app = cli_json(&db, &["apps", "create", "demo"]);
    let c = Collector::start(&db, &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut events = Vec::new();
    for (i, w) in [
        "export-csv",
        "export-csv",
        "export-csv",
        "refresh",
        "refresh",
        "share",
    ]
    .iter()
    .enumerate()
    {
        events.push(json!({"id": format!("e{i}"), "type": "click", "ts": now - 1000, "props": {"widget": w}}));
    }
    events.push(json!({"id": "old", "type": "click", "ts": now - 10 * 86_400_000_i64, "props": {"widget": "share"}}));
    events.push(json!({"id": "p", "type": "page", "ts": now - 1000, "props": {"widget": "share"}}));
    let resp = reqwest::blocking::Client::new()
        .post(c.url("/v1/batch"))
        .header("content-type", "application/json")
        .body(json!({"app": "demo", "key": app["write_key"], "events": events}).to_string())
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let out = cli(
        &db,
        &[
            "query",
            "--app",
            "demo",
            "--type",
            "click",
            "--group-by",
            "widget",
            "--measure",
            "count",
            "--since",
            "7d",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["widget", "count"]);
    assert_eq!(
        &lines[2..],
        [
            vec!["export-csv", "3"],
            vec!["refresh", "2"],
            vec!["share", "1"]
        ],
        "{text}"
    );
    // All types, all time: `share` also has the old click and the page view.
    let all = cli_json(
        &db,
        &["query", "--app", "demo", "--group-by", "widget", "--json"],
    );
    assert_eq!(all["columns"], json!(["widget", "count"]));
    let share = all["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[0] == "share")
        .unwrap()
        .clone();
    assert_eq!(share[1], 3);
    let bad = cli(&db, &["query", "--app", "demo", "--group-by", "$where"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("group_by[0]"));
    Db::open(&db).drop_db();
}

#[test]
fn report_prints_the_apis_answer_as_tables_or_json() {
    let db = unique_db();
    let created = cli_json(&db, &["apps", "create", "shop"]);
    let (wk, rt) = (
        created["write_key"].as_str().unwrap().to_owned(),
        created["read_token"].as_str().unwrap().to_owned(),
    );
    let collector = Collector::start(&db, &[]);
    let now = mongodb::bson::DateTime::now().timestamp_millis();
    // export: 3 clicks (2 by admins), search: 1.
    let events: Vec<serde_json::Value> = [("export", "admin"), ("export", "admin"), ("export", "viewer"), ("search", "viewer")]
        .iter()
        .enumerate()
        .map(|(i, (w, role))| json!({"id": format!("r{i}"), "type": "click", "ts": now - 3_600_000,
                                     "props": {"widget": w, "role": role, "user": format!("u{i}"), "page": "/"}}))
        .collect();
    let r = reqwest::blocking::Client::new()
        .post(collector.url("/v1/batch"))
        .header("content-type", "application/json")
        .body(json!({"app": "shop", "key": wk, "events": events}).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let url = format!("http://{}", collector.addr);
    let report = |extra: &[&str]| {
        let mut args = vec![
            "report", "widgets", "--app", "shop", "--url", &url, "--token", &rt,
        ];
        args.extend_from_slice(extra);
        cli(&db, &args)
    };

    let out = report(&["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["report"], "widgets");
    assert_eq!(answer["widgets"][0]["widget"], "export");
    assert_eq!(answer["widgets"][0]["clicks"], 3);
    assert_eq!(answer["total_clicks"], 4);

    let out = report(&["--since", "1d", "--where", "role=admin"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("widgets: 2 clicks from "), "{text}");
    let export_row = text
        .lines()
        .find(|l| l.starts_with("export "))
        .expect(&text);
    let cells: Vec<&str> = export_row.split_whitespace().collect();
    assert_eq!(&cells[..5], ["export", "2", "2", "0", "100.0%"], "{text}");
    assert!(text.contains("least used"), "{text}");
    assert!(
        !text.contains("search "),
        "search had no admin click in the table: {text}"
    );

    let out = cli(
        &db,
        &[
            "report",
            "load-time",
            "--app",
            "shop",
            "--url",
            &url,
            "--token",
            &rt,
            "--percentile",
            "p90",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["report"], "load-time");
    assert_eq!(answer["percentiles"], json!(["p90"]));

    let out = cli(
        &db,
        &[
            "report",
            "user-story",
            "--app",
            "shop",
            "--url",
            &url,
            "--token",
            &rt,
            "--user",
            "u0",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("u0: 0 sessions; active 1 days"), "{text}");
    assert!(
        text.contains("Mon") && text.contains("common paths"),
        "{text}"
    );

    let out = cli(
        &db,
        &[
            "report",
            "correlation",
            "--app",
            "shop",
            "--url",
            &url,
            "--token",
            &rt,
            "--outcome",
            "widget:export",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["outcome"], json!({"widget": "export"}));

    let out = cli(
        &db,
        &[
            "report",
            "defaults",
            "--app",
            "shop",
            "--url",
            &url,
            "--token",
            &rt,
            "--min-samples",
            "3",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 suggestion(s)"));

    // The API's errors, as the API words them; the CLI's own, before any request.
    for (extra, what) in [
        (
            vec!["--where", "$where=1"],
            "400 Bad Request invalid_query: where[0].dim",
        ),
        (
            vec!["--where", "role"],
            "--where \"role\": write name=value",
        ),
    ] {
        let out = report(&extra);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(what), "{what}: {err}");
    }
    let out = cli(
        &db,
        &[
            "report", "nope", "--app", "shop", "--url", &url, "--token", &rt,
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(
        "the reports are widgets, defaults, load-time, performance, correlation, user-story"
    ));
    let out = cli(
        &db,
        &[
            "report",
            "widgets",
            "--app",
            "shop",
            "--url",
            "http://127.0.0.1:9",
            "--token",
            &rt,
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot reach the collector at http://127.0.0.1:9"));
    drop(collector);
    Db::open(&db).drop_db();
}
