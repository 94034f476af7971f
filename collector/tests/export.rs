//! `GET /v1/events` against the real local store: the lines and rows it
//! streams, the time range, types, paging through identical timestamps,
//! CSV quoting, auth, every bad parameter, and a store failure mid-stream.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::*;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use usagelens_collector::apps;
use usagelens_protocol::Timestamp;

/// 2026-03-28T12:00:00Z.
const T0: i64 = 1_774_699_200_000;

fn rfc(ms: i64) -> String {
    Timestamp::from_millis(ms).to_rfc3339()
}

async fn get(env: &TestEnv, token: &str, query: &str) -> Resp {
    get_with(env, token, query, None).await
}

async fn get_with(env: &TestEnv, token: &str, query: &str, accept: Option<&str>) -> Resp {
    let mut req = Request::get(format!("/v1/events?{query}"))
        .header("authorization", format!("Bearer {token}"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    env.send(req.body(Body::empty()).unwrap()).await
}

/// Posts `events` to app `demo` in batches of at most 1000.
async fn load(env: &TestEnv, events: &[Value]) {
    for chunk in events.chunks(1000) {
        let r = env
            .post_json(json!({"app": "demo", "events": chunk}).to_string())
            .await;
        assert_eq!(r.json["accepted"], chunk.len(), "{}", r.text);
    }
}

/// The lines of an NDJSON answer, checking the answer's form on the way.
#[track_caller]
fn lines(r: &Resp) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["content-type"], "application/x-ndjson");
    assert!(
        r.text.is_empty() || r.text.ends_with('\n'),
        "a complete page ends with a newline: {:?}",
        r.text
    );
    r.text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn ids(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect()
}

fn next_cursor(r: &Resp) -> Option<String> {
    r.headers
        .get("usagelens-next-cursor")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn the_index_app_ts_id_replaces_app_ts() {
    use mongodb::bson::doc;
    use mongodb::IndexModel;
    let env = TestEnv::new().await;
    let events = env.collection("events");
    // A database from before the export: it has `app_ts`.
    events
        .create_index(
            IndexModel::builder()
                .keys(doc! { "app": 1, "ts": 1 })
                .options(
                    mongodb::options::IndexOptions::builder()
                        .name("app_ts".to_owned())
                        .build(),
                )
                .build(),
        )
        .await
        .unwrap();
    env.store.ensure_indexes().await.unwrap();
    env.store.ensure_indexes().await.unwrap();
    let mut names = events.list_index_names().await.unwrap();
    names.sort();
    assert_eq!(names, ["_id_", "app_ts_id", "app_type_ts", "app_user_ts"]);
    env.drop_db().await;
}

#[tokio::test]
async fn ndjson_lines_keep_ids_types_timestamps_and_value_kinds() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let body = json!({"app": "demo", "context": {"user": "u-42"}, "events": [
        {"id": "e1", "type": "click", "ts": T0,
         "props": {"widget": "export-csv", "n": 3, "f": 2.5, "ok": true,
                   "tags": ["beta", "admin"], "nums": [1, 2.5]},
         "metrics": {"duration_ms": 12.5, "count": 3}},
        {"id": "e:2", "type": "page.view", "ts": T0 + 1, "props": {"user": "u-7"}},
    ]});
    assert_eq!(env.post_json(body.to_string()).await.status, 200);
    let stored = env.events().await;
    let received = rfc(stored[0]
        .get_datetime("received_at")
        .unwrap()
        .timestamp_millis());

    let r = get(&env, &token, "app=demo").await;
    let got = lines(&r);
    assert_eq!(
        got,
        [
            json!({"id": "e1", "type": "click", "ts": "2026-03-28T12:00:00.000Z",
                   "client_ts": "2026-03-28T12:00:00.000Z", "received_at": received,
                   "dims": {"widget": "export-csv", "n": 3, "f": 2.5, "ok": true,
                            "tags": ["beta", "admin"], "nums": [1, 2.5], "user": "u-42"},
                   "metrics": {"duration_ms": 12.5, "count": 3.0}}),
            json!({"id": "e:2", "type": "page.view", "ts": "2026-03-28T12:00:00.001Z",
                   "client_ts": "2026-03-28T12:00:00.001Z", "received_at": received,
                   "dims": {"user": "u-7"}, "metrics": {}}),
        ]
    );
    // Integers stay integers and metrics are doubles, in the text itself;
    // the fields come in the documented order.
    let first = r.text.lines().next().unwrap();
    assert!(
        first.starts_with(
            r#"{"id":"e1","type":"click","ts":"2026-03-28T12:00:00.000Z","client_ts":"#
        ),
        "{first}"
    );
    assert!(first.contains(r#""n":3,"#), "{first}");
    assert!(first.contains(r#""nums":[1,2.5]"#), "{first}");
    assert!(first.contains(r#""count":3.0"#), "{first}");
    assert_eq!(r.text.lines().count(), 2);
    assert!(next_cursor(&r).is_none() && r.headers.get("link").is_none());
    env.drop_db().await;
}

#[tokio::test]
async fn from_is_inclusive_to_exclusive_and_types_filter() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let events: Vec<Value> = (0..10)
        .map(|i| {
            json!({"id": format!("e{i}"), "type": if i % 2 == 0 { "click" } else { "page" },
                   "ts": T0 + i * 1000})
        })
        .collect();
    load(&env, &events).await;
    let cases = [
        (
            format!("from={}&to={}", T0 + 2000, T0 + 5000),
            vec!["e2", "e3", "e4"],
        ),
        (
            format!("from={}&to={}", rfc(T0 + 2000), rfc(T0 + 5000)),
            vec!["e2", "e3", "e4"],
        ),
        // An offset, with its `+` percent-encoded and unencoded.
        (
            "from=2026-03-28T13:00:08%2B01:00".to_owned(),
            vec!["e8", "e9"],
        ),
        (
            "from=2026-03-28T13:00:08+01:00".to_owned(),
            vec!["e8", "e9"],
        ),
        (format!("to={}", T0 + 1000), vec!["e0"]),
        (format!("from={0}&to={0}", T0), vec![]),
        ("types=page".to_owned(), vec!["e1", "e3", "e5", "e7", "e9"]),
        (
            format!("types=click,page&from={}&to={}", T0 + 7000, T0 + 9001),
            vec!["e7", "e8", "e9"],
        ),
        (format!("types=click&from={}", T0 + 5000), vec!["e6", "e8"]),
        ("types=other".to_owned(), vec![]),
    ];
    for (q, want) in cases {
        let r = get(&env, &token, &format!("app=demo&{q}")).await;
        assert_eq!(ids(&lines(&r)), want, "{q}");
    }
    // An empty page is an empty body.
    assert_eq!(get(&env, &token, "app=demo&types=other").await.text, "");
    env.drop_db().await;
}

#[tokio::test]
async fn paging_returns_every_event_once_in_ts_then_id_order() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    // 250 events, 7 per timestamp, ids not in insertion order.
    let mut want: Vec<(i64, String)> = (0..250_i64)
        .map(|i| (T0 + (i / 7) * 1000, format!("e{:03}", (i * 37) % 250)))
        .collect();
    let events: Vec<Value> = want
        .iter()
        .rev()
        .map(|(ts, id)| json!({"id": id, "type": if ts % 2000 == 0 { "click" } else { "page" }, "ts": ts}))
        .collect();
    load(&env, &events).await;
    want.sort();

    for (format, accept) in [("", None), ("", Some("text/csv")), ("&format=csv", None)] {
        let mut got: Vec<(i64, String)> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut q = format!("app=demo&limit=16{format}");
            if let Some(c) = &cursor {
                q.push_str(&format!("&cursor={c}"));
            }
            let r = get_with(&env, &token, &q, accept).await;
            assert_eq!(r.status, 200, "{}", r.text);
            pages += 1;
            let page: Vec<(i64, String)> = if format.is_empty() && accept.is_none() {
                lines(&r)
                    .iter()
                    .map(|l| {
                        let ts = Timestamp::parse_rfc3339(l["ts"].as_str().unwrap()).unwrap();
                        (ts.as_millis(), l["id"].as_str().unwrap().to_owned())
                    })
                    .collect()
            } else {
                assert_eq!(r.headers["content-type"], "text/csv; charset=utf-8");
                let mut rd = csv::Reader::from_reader(r.text.as_bytes());
                rd.records()
                    .map(|rec| {
                        let rec = rec.unwrap();
                        let ts = Timestamp::parse_rfc3339(&rec[2]).unwrap();
                        (ts.as_millis(), rec[0].to_owned())
                    })
                    .collect()
            };
            got.extend(page.iter().cloned());
            match next_cursor(&r) {
                Some(c) => {
                    assert_eq!(page.len(), 16, "a page before the last is full");
                    let mut link = format!("app=demo&limit=16{format}");
                    if accept.is_some() {
                        link.push_str("&format=csv");
                    }
                    assert_eq!(
                        r.headers["link"],
                        format!("</v1/events?{link}&cursor={c}>; rel=\"next\"")
                    );
                    cursor = Some(c);
                }
                None => {
                    assert!(r.headers.get("link").is_none());
                    assert!(page.len() <= 16);
                    break;
                }
            }
            assert!(pages < 100, "paging does not end");
        }
        assert_eq!(got, want, "format {format:?} accept {accept:?}");
        assert_eq!(pages, 250_usize.div_ceil(16));
    }

    // Following the Link header as given, with a filter and a time range.
    let from = T0 + 3000;
    let to = T0 + 30_000;
    let mut path = format!("/v1/events?app=demo&types=click&from={from}&to={to}&limit=5");
    let mut got = Vec::new();
    loop {
        let r = env
            .send(
                Request::get(&path)
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        got.extend(ids(&lines(&r)));
        let Some(link) = r.headers.get("link") else {
            break;
        };
        let link = link.to_str().unwrap();
        path = link[1..link.find('>').unwrap()].to_owned();
    }
    let want: Vec<String> = want
        .iter()
        .filter(|(ts, _)| *ts >= from && *ts < to && ts % 2000 == 0)
        .map(|(_, id)| id.clone())
        .collect();
    assert!(want.len() > 10);
    assert_eq!(got, want);
    env.drop_db().await;
}

#[tokio::test]
async fn csv_header_from_the_catalog_and_rfc_4180_quoting() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let body = json!({"app": "demo", "events": [
        {"id": "c1", "type": "click", "ts": T0,
         "props": {"widget": "a,b", "quote": "say \"hi\"", "note": "line1\nline2",
                   "tags": ["x", "y,z"], "n": 7, "ok": false, "secret": "s"},
         "metrics": {"duration_ms": 12.5}},
        {"id": "c\"2", "type": "page", "ts": T0 + 1000,
         "props": {"widget": "plain"}, "metrics": {"ttfb_ms": 3}},
    ]});
    assert_eq!(env.post_json(body.to_string()).await.status, 200);
    let received = rfc(env.events().await[0]
        .get_datetime("received_at")
        .unwrap()
        .timestamp_millis());
    // The names are still pending in memory: the export flushes them first.
    let r = get(&env, &token, "app=demo&format=csv").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["content-type"], "text/csv; charset=utf-8");
    let want = format!(
        "id,type,ts,client_ts,received_at,dims.n,dims.note,dims.ok,dims.quote,dims.secret,dims.tags,dims.widget,metrics.duration_ms,metrics.ttfb_ms\r\n\
         c1,click,2026-03-28T12:00:00.000Z,2026-03-28T12:00:00.000Z,{received},7,\"line1\nline2\",false,\"say \"\"hi\"\"\",s,\"[\"\"x\"\",\"\"y,z\"\"]\",\"a,b\",12.5,\r\n\
         \"c\"\"2\",page,2026-03-28T12:00:01.000Z,2026-03-28T12:00:01.000Z,{received},,,,,,,plain,,3.0\r\n"
    );
    assert_eq!(r.text, want);

    // A hidden name is not a column.
    let hide = env
        .send(
            Request::post("/v1/dimensions/secret/hide?app=demo")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(hide.status, 200, "{}", hide.text);
    let r = get_with(&env, &token, "app=demo", Some("application/json, text/csv")).await;
    assert_eq!(r.headers["content-type"], "text/csv; charset=utf-8");
    let mut rd = csv::Reader::from_reader(r.text.as_bytes());
    let header: Vec<String> = rd.headers().unwrap().iter().map(str::to_owned).collect();
    assert!(!header.contains(&"dims.secret".to_owned()), "{header:?}");
    assert_eq!(header.len(), 13);
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(&rows[0][5], "7");
    assert_eq!(&rows[0][6], "line1\nline2");
    assert_eq!(&rows[0][8], "say \"hi\"");
    assert_eq!(&rows[0][9], "[\"x\",\"y,z\"]");
    assert_eq!(&rows[1][0], "c\"2");

    // `format` wins over Accept; `*/*` is NDJSON.
    let r = get_with(&env, &token, "app=demo&format=ndjson", Some("text/csv")).await;
    assert_eq!(ids(&lines(&r)), ["c1", "c\"2"]);
    let r = get_with(&env, &token, "app=demo", Some("*/*")).await;
    assert_eq!(lines(&r).len(), 2);
    // An app without events: just the header.
    let r = get(&env, &token, "app=demo&format=csv&types=none").await;
    assert!(r
        .text
        .starts_with("id,type,ts,client_ts,received_at,dims.n,"));
    assert_eq!(r.text.matches("\r\n").count(), 1, "{}", r.text);
    env.drop_db().await;
}

#[tokio::test]
async fn auth_bad_parameters_and_hostile_names() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let other = apps::create(&env.store, "other", &[]).await.unwrap();
    load(
        &env,
        &[
            json!({"id": "d1", "type": "click", "ts": T0}),
            json!({"id": "d2", "type": "click", "ts": T0}),
        ],
    )
    .await;

    let r = env
        .send(
            Request::get("/v1/events?app=demo")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    r.assert_error(401, "unauthorized", "Bearer");
    get(&env, "rt_nope", "app=demo")
        .await
        .assert_error(401, "unauthorized", "unknown read token");
    get(&env, &other.read_token, "app=demo").await.assert_error(
        403,
        "forbidden",
        "not valid for app `demo`",
    );

    // A real cursor of the other app.
    let r = env
        .send(
            Request::post("/v1/batch")
                .header("content-type", "application/json")
                .header("x-write-key", &other.write_key)
                .body(Body::from(
                    json!({"app": "other", "events": [{"id": "o1", "type": "x", "ts": T0}, {"id": "o2", "type": "x", "ts": T0}]})
                        .to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = get(&env, &other.read_token, "app=other&limit=1").await;
    assert_eq!(ids(&lines(&r)), ["o1"]);
    let other_cursor = next_cursor(&r).expect("a next page");
    let r = get(&env, &token, "app=demo&limit=1").await;
    let own_cursor = next_cursor(&r).expect("a next page");
    let r = get(&env, &token, &format!("app=demo&cursor={own_cursor}")).await;
    assert_eq!(ids(&lines(&r)), ["d2"]);

    // (query, the parameter the message starts with, a part of the message)
    let other_c = format!("app=demo&cursor={other_cursor}");
    let forged = |version: u8, id: &str| {
        let mut b = vec![version];
        b.extend_from_slice(&T0.to_be_bytes());
        b.extend_from_slice(id.as_bytes());
        format!("app=demo&cursor={}", URL_SAFE_NO_PAD.encode(b))
    };
    let (wrong_version, no_event_id) = (forged(2, "demo:d2"), forged(1, "demo:"));
    assert_eq!(
        ids(&lines(&get(&env, &token, &forged(1, "demo:d2")).await)),
        ["d2"],
        "a cursor is (ts, _id) in base64url after a version byte"
    );
    let reversed = format!("app=demo&from={}&to={}", T0 + 1, T0);
    let bad: Vec<(&str, &str, &str)> = vec![
        ("", "app", "required"),
        ("app=", "app", "invalid app"),
        ("app=$where", "app", "invalid app"),
        ("app=demo&cursor=nope", "cursor", "UsageLens-Next-Cursor"),
        ("app=demo&cursor=", "cursor", "UsageLens-Next-Cursor"),
        (
            "app=demo&cursor=%24where",
            "cursor",
            "UsageLens-Next-Cursor",
        ),
        (&wrong_version, "cursor", "UsageLens-Next-Cursor"),
        (&no_event_id, "cursor", "UsageLens-Next-Cursor"),
        (&other_c, "cursor", "another app"),
        ("app=demo&limit=0", "limit", "1 to 100000"),
        ("app=demo&limit=100001", "limit", "1 to 100000"),
        ("app=demo&limit=-1", "limit", "1 to 100000"),
        ("app=demo&limit=ten", "limit", "1 to 100000"),
        ("app=demo&types=Click", "types", "not a valid event type"),
        ("app=demo&types=$where", "types", "`$where`"),
        ("app=demo&types=click,%24ne", "types", "`$ne`"),
        (
            "app=demo&types=click,,page",
            "types",
            "not a valid event type",
        ),
        ("app=demo&types=", "types", "not a valid event type"),
        ("app=demo&format=xml", "format", "ndjson or csv"),
        ("app=demo&format=", "format", "ndjson or csv"),
        (&reversed, "from", "later than `to`"),
        ("app=demo&from=yesterday", "from", "RFC 3339"),
        (
            "app=demo&from=1774699200",
            "from",
            "outside the accepted range",
        ),
        ("app=demo&to=2026-13-01T00:00:00Z", "to", "RFC 3339"),
        ("app=demo&type=click", "`type`", "is not a parameter"),
        (
            "app=demo&types%5B%24ne%5D=x",
            "`types[$ne]`",
            "is not a parameter",
        ),
        ("app=demo&%24where=1", "`$where`", "is not a parameter"),
        ("app=demo&limit=1&limit=2", "limit", "given more than once"),
        ("app=demo&app=other", "app", "given more than once"),
    ];
    for (q, param, part) in bad {
        let r = get(&env, &token, q).await;
        r.assert_error(400, "invalid_query", part);
        assert!(
            r.message().starts_with(param),
            "{q}: the message names `{param}` first: {}",
            r.message()
        );
    }
    env.drop_db().await;
}

/// A store failure after the first bytes were sent ends the body with an
/// error, never like a complete answer. Driven through the router, the
/// test decides when the store fails: after the first chunk, before the
/// driver's next batch (`getMore`).
#[tokio::test]
async fn a_store_error_mid_stream_ends_the_body_with_an_error() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let events: Vec<Value> = (0..3000_i64)
        .map(|i| json!({"id": format!("m{i:05}"), "type": "click", "ts": T0 + i, "props": {"widget": "w"}}))
        .collect();
    load(&env, &events).await;
    let request = || {
        Request::get("/v1/events?app=demo&limit=100000")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let full = env.send(request()).await;
    assert_eq!(lines(&full).len(), 3000);

    let resp = env.router.clone().oneshot(request()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let first = body
        .frame()
        .await
        .expect("a first chunk")
        .unwrap()
        .into_data()
        .unwrap();
    assert!(!first.is_empty() && first.len() < full.text.len());
    // Dropping the collection kills the server-side cursor: the next
    // getMore fails.
    env.collection("events").drop().await.unwrap();
    let mut received = first.len();
    let failed = loop {
        match body.frame().await {
            Some(Ok(f)) => received += f.into_data().map_or(0, |d| d.len()),
            Some(Err(e)) => break e.to_string(),
            None => panic!("the body ended as if complete after {received} bytes"),
        }
    };
    assert!(received < full.text.len(), "{failed}");
    env.drop_db().await;
}

/// Over a socket, the same failure aborts the transfer: an HTTP client sees
/// an error reading the body, not a short complete answer.
#[tokio::test]
async fn over_a_socket_a_store_error_mid_stream_aborts_the_transfer() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    // 16 KB per event: the driver's first batch (1000 events, 16 MB) is
    // far more than a fresh connection's socket buffers take while the
    // client does not read, so the server cannot reach the next batch
    // before the store fails.
    let pad = "x".repeat(1000);
    let props: serde_json::Map<String, Value> =
        (0..16).map(|i| (format!("pad{i}"), json!(pad))).collect();
    let events: Vec<Value> = (0..1300_i64)
        .map(|i| json!({"id": format!("m{i:05}"), "type": "click", "ts": T0 + i, "props": props}))
        .collect();
    for chunk in events.chunks(50) {
        let r = env
            .post_json(json!({"app": "demo", "events": chunk}).to_string())
            .await;
        assert_eq!(r.json["accepted"], chunk.len(), "{}", r.text);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(usagelens_collector::serve(
        env.state.clone(),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    let url = format!("http://{addr}/v1/events?app=demo&limit=100000");
    let full = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(full.lines().count(), 1300);

    // A new client: a new connection, whose buffers the full read above
    // has not grown.
    let client = reqwest::Client::new();
    let mut resp = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.unwrap().expect("a first chunk");
    env.collection("events").drop().await.unwrap();
    let mut received = first.len();
    let outcome = loop {
        match tokio::time::timeout(Duration::from_secs(30), resp.chunk()).await {
            Ok(Ok(Some(c))) => received += c.len(),
            Ok(Ok(None)) => break Ok(received),
            Ok(Err(e)) => break Err(e),
            Err(_) => panic!("the body neither ended nor failed"),
        }
    };
    let err = outcome.expect_err("the transfer must fail, not end as if complete");
    assert!(err.is_body() || err.is_decode(), "{err:?}");
    assert!(received < full.len());
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    env.drop_db().await;
}

/// `s` percent-encoded for a query string (every byte but letters and digits).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn where_filters_select_one_users_events_across_pages() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    // 90 events over 90 minutes: users u-1, u-2 and an anonymous visitor in turn.
    let events: Vec<Value> = (0..90_i64)
        .map(|i| {
            let mut props = json!({"anon": "a-1", "page": if i % 4 == 0 { "/settings" } else { "/" }});
            match i % 3 {
                0 => props["user"] = json!("u-1"),
                1 => props["user"] = json!("u-2"),
                _ => {}
            }
            json!({"id": format!("w{i:02}"), "type": "click", "ts": T0 + i * 60_000, "props": props})
        })
        .collect();
    load(&env, &events).await;
    let want = |keep: &dyn Fn(i64) -> bool| -> Vec<String> {
        (0..90_i64)
            .filter(|i| keep(*i))
            .map(|i| format!("w{i:02}"))
            .collect()
    };

    // One user's events, page by page.
    let one_user = enc(r#"[{"dim": "user", "op": "eq", "value": "u-1"}]"#);
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = format!("app=demo&limit=7&where={one_user}");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let r = get(&env, &token, &q).await;
        got.extend(ids(&lines(&r)));
        cursor = next_cursor(&r);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(got, want(&|i| i % 3 == 0));

    // Several filters, derived dimensions (in UTC) included; with `types` and `from`.
    let w = enc(r#"[{"dim": "user", "op": "exists", "value": true},
            {"dim": "page", "op": "ne", "value": "/settings"},
            {"dim": "hour", "op": "eq", "value": 13}]"#);
    let r = get(
        &env,
        &token,
        &format!(
            "app=demo&types=click&from={}&where={w}",
            enc(&rfc(T0 + 3_600_000))
        ),
    )
    .await;
    // 12:00Z + 60 min onward is 13:00Z; minutes 60–89.
    assert_eq!(
        ids(&lines(&r)),
        want(&|i| i >= 60 && i % 3 != 2 && i % 4 != 0)
    );

    for (w, what) in [
        ("user=u-1", "where: give a JSON array of filters"),
        (
            r#"[{"dim": "user", "op": "$regex", "value": "u"}]"#,
            "where[0].op",
        ),
        (
            r#"[{"dim": "$where", "op": "eq", "value": 1}]"#,
            "where[0].dim",
        ),
        (
            r#"[{"dim": "hour", "op": "eq", "value": 25}]"#,
            "where[0]: `hour` is a whole number from 0 to 23",
        ),
        (r#"{"dim": "user"}"#, "where: give a JSON array"),
    ] {
        let r = get(&env, &token, &format!("app=demo&where={}", enc(w))).await;
        assert_eq!(r.status, 400, "{w}: {}", r.text);
        assert!(r.message().starts_with(what), "{w}: {}", r.message());
    }
    let many = format!(
        "[{}]",
        vec![r#"{"dim": "user", "op": "exists", "value": true}"#; 33].join(",")
    );
    let r = get(&env, &token, &format!("app=demo&where={}", enc(&many))).await;
    assert_eq!(r.status, 400);
    assert!(
        r.message().contains("at most 32 filters"),
        "{}",
        r.message()
    );
    env.drop_db().await;
}
