//! Malformed and malicious bodies: each gets the right 4xx with a stable
//! error body, the collector keeps serving, and nothing is stored.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::*;
use serde_json::json;

struct Case {
    name: &'static str,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    encoding: Option<&'static str>,
    key: bool,
    status: u16,
    code: &'static str,
}

fn case(name: &'static str, body: impl Into<Vec<u8>>, status: u16, code: &'static str) -> Case {
    Case {
        name,
        body: body.into(),
        content_type: Some("application/json"),
        encoding: None,
        key: true,
        status,
        code,
    }
}

const EMPTY: &str = r#"{"app":"demo","events":[]}"#;

impl Case {
    fn encoding(mut self, e: &'static str) -> Self {
        self.encoding = Some(e);
        self
    }
    fn content_type(mut self, ct: Option<&'static str>) -> Self {
        self.content_type = ct;
        self
    }
    fn no_key(mut self) -> Self {
        self.key = false;
        self
    }
}

fn with_context(ctx: &str) -> String {
    format!(r#"{{"app":"demo","context":{ctx},"events":[{{"id":"e","type":"click"}}]}}"#)
}

fn with_event(ev: &str) -> String {
    format!(r#"{{"app":"demo","events":[{ev}]}}"#)
}

fn cases() -> Vec<Case> {
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    let mut bomb = vec![0u8; 0];
    {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![b' '; 1024 * 1024];
        for _ in 0..200 {
            enc.write_all(&zeros).unwrap();
        }
        bomb.extend(enc.finish().unwrap());
    }
    assert!(
        bomb.len() < 1024 * 1024,
        "the bomb itself is small: {}",
        bomb.len()
    );
    let big_props: Vec<String> = (0..65).map(|i| format!(r#""p{i}":1"#)).collect();
    let ctx64: Vec<String> = (0..64).map(|i| format!(r#""c{i}":1"#)).collect();
    let over_1001: Vec<&str> = vec![r#"{"id":"x","type":"click"}"#; 1001];
    vec![
        // Not JSON, or not a batch.
        case("empty body", "", 400, "invalid_body"),
        case("lone brace", "{", 400, "invalid_body"),
        case("null", "null", 400, "invalid_body"),
        case("array", "[]", 400, "invalid_body"),
        case("string", r#""batch""#, 400, "invalid_body"),
        case("number", "42", 400, "invalid_body"),
        case("missing events", r#"{"app":"demo"}"#, 400, "invalid_body"),
        case("missing app", r#"{"events":[]}"#, 400, "invalid_body"),
        case(
            "app is a number",
            r#"{"app":1,"events":[]}"#,
            400,
            "invalid_body",
        ),
        case(
            "events is a string",
            r#"{"app":"demo","events":"x"}"#,
            400,
            "invalid_body",
        ),
        case(
            "events is an object",
            r#"{"app":"demo","events":{"0":{}}}"#,
            400,
            "invalid_body",
        ),
        case(
            "app with $",
            r#"{"app":"$demo","events":[]}"#,
            400,
            "invalid_body",
        ),
        case(
            "app with a dot",
            r#"{"app":"de.mo","events":[]}"#,
            400,
            "invalid_body",
        ),
        case(
            "app operator object",
            r#"{"app":{"$ne":""},"events":[]}"#,
            400,
            "invalid_body",
        ),
        case(
            "huge app",
            format!(r#"{{"app":"{}","events":[]}}"#, "a".repeat(500_000)),
            400,
            "invalid_body",
        ),
        case(
            "unknown envelope field",
            r#"{"app":"demo","events":[],"$where":"1"}"#,
            400,
            "invalid_body",
        ),
        case(
            "duplicate app field",
            r#"{"app":"demo","app":"other","events":[]}"#,
            400,
            "invalid_body",
        ),
        case(
            "trailing garbage",
            r#"{"app":"demo","events":[]} x"#,
            400,
            "invalid_body",
        ),
        case(
            "two documents",
            r#"{"app":"demo","events":[]}{"app":"demo","events":[]}"#,
            400,
            "invalid_body",
        ),
        case(
            "byte order mark",
            b"\xEF\xBB\xBF{\"app\":\"demo\",\"events\":[]}".to_vec(),
            400,
            "invalid_body",
        ),
        case(
            "invalid UTF-8 in a string",
            b"{\"app\":\"demo\",\"key\":\"\xC3\x28\",\"events\":[]}".to_vec(),
            400,
            "invalid_body",
        ),
        case(
            "invalid UTF-8 byte",
            b"\xFF\xFE\xFD".to_vec(),
            400,
            "invalid_body",
        ),
        case("NUL bytes", vec![0u8; 64], 400, "invalid_body"),
        case(
            "NaN token",
            r#"{"app":"demo","context":{"x":NaN},"events":[]}"#,
            400,
            "invalid_body",
        ),
        case(
            "Infinity token",
            r#"{"app":"demo","context":{"x":Infinity},"events":[]}"#,
            400,
            "invalid_body",
        ),
        case(
            "deeply nested arrays",
            format!(r#"{{"app":"demo","events":{deep_array}}}"#),
            400,
            "invalid_events",
        ),
        case(
            "deeply nested context list",
            format!(r#"{{"app":"demo","context":{{"l":{deep_array}}},"events":[]}}"#),
            400,
            "invalid_body",
        ),
        case(
            "deeply nested objects",
            format!(r#"{{"app":"demo","context":{deep_obj},"events":[]}}"#),
            400,
            "invalid_body",
        ),
        case(
            "sent_at not a time",
            r#"{"app":"demo","sent_at":"now","events":[]}"#,
            400,
            "invalid_body",
        ),
        case(
            "sent_at huge",
            r#"{"app":"demo","sent_at":1e300,"events":[]}"#,
            400,
            "invalid_body",
        ),
        case(
            "sent_at negative",
            r#"{"app":"demo","sent_at":-5,"events":[]}"#,
            400,
            "invalid_body",
        ),
        case(
            "key is a number",
            r#"{"app":"demo","key":1,"events":[]}"#,
            400,
            "invalid_body",
        ),
        // Context: names that MongoDB would read as operators or paths, bad values.
        case(
            "context $where",
            with_context(r#"{"$where":"sleep(1000)"}"#),
            400,
            "invalid_body",
        ),
        case(
            "context dotted path",
            with_context(r#"{"a.b":"x"}"#),
            400,
            "invalid_body",
        ),
        case(
            "context operator value",
            with_context(r#"{"user":{"$gt":""}}"#),
            400,
            "invalid_body",
        ),
        case(
            "context null",
            with_context(r#"{"user":null}"#),
            400,
            "invalid_body",
        ),
        case(
            "context huge number",
            with_context(r#"{"n":1e400}"#),
            400,
            "invalid_body",
        ),
        case(
            "context huge string",
            with_context(&format!(r#"{{"s":"{}"}}"#, "x".repeat(5000))),
            400,
            "invalid_body",
        ),
        case(
            "context long array",
            with_context(&format!(r#"{{"l":{:?}}}"#, vec![1; 65])),
            400,
            "invalid_body",
        ),
        case(
            "context nested array",
            with_context(r#"{"l":[[1]]}"#),
            400,
            "invalid_body",
        ),
        case(
            "context NUL in name",
            with_context(r#"{"a\u0000b":1}"#),
            400,
            "invalid_body",
        ),
        // Every event bad: nothing to store.
        case(
            "event props $where",
            with_event(r#"{"id":"e","type":"click","props":{"$where":"1"}}"#),
            400,
            "invalid_events",
        ),
        case(
            "event props dotted",
            with_event(r#"{"id":"e","type":"click","props":{"dims.user":"x"}}"#),
            400,
            "invalid_events",
        ),
        case(
            "event props $set",
            with_event(r#"{"id":"e","type":"click","props":{"$set":{"a":1}}}"#),
            400,
            "invalid_events",
        ),
        case(
            "event metric $inc",
            with_event(r#"{"id":"e","type":"click","metrics":{"$inc":1}}"#),
            400,
            "invalid_events",
        ),
        case(
            "event operator value",
            with_event(r#"{"id":"e","type":"click","props":{"w":{"$ne":null}}}"#),
            400,
            "invalid_events",
        ),
        case(
            "event type operator",
            with_event(r#"{"id":"e","type":"$where"}"#),
            400,
            "invalid_events",
        ),
        case(
            "event type path",
            with_event(r#"{"id":"e","type":"../../etc/passwd"}"#),
            400,
            "invalid_events",
        ),
        case(
            "event empty id",
            with_event(r#"{"id":"","type":"click"}"#),
            400,
            "invalid_events",
        ),
        case(
            "event huge id",
            with_event(&format!(
                r#"{{"id":"{}","type":"click"}}"#,
                "i".repeat(1000)
            )),
            400,
            "invalid_events",
        ),
        case(
            "event NUL in id",
            with_event(r#"{"id":"a\u0000","type":"click"}"#),
            400,
            "invalid_events",
        ),
        case(
            "event metric string",
            with_event(r#"{"id":"e","type":"click","metrics":{"m":"1"}}"#),
            400,
            "invalid_events",
        ),
        case(
            "event metric overflow",
            with_event(r#"{"id":"e","type":"click","metrics":{"m":1e309}}"#),
            400,
            "invalid_events",
        ),
        case(
            "event metric null",
            with_event(r#"{"id":"e","type":"click","metrics":{"m":null}}"#),
            400,
            "invalid_events",
        ),
        case(
            "event ts garbage",
            with_event(r#"{"id":"e","type":"click","ts":"yesterday"}"#),
            400,
            "invalid_events",
        ),
        case("event is a number", with_event("7"), 400, "invalid_events"),
        case("event is null", with_event("null"), 400, "invalid_events"),
        case(
            "event homoglyph name",
            with_event(r#"{"id":"e","type":"click","props":{"widgеt":"x"}}"#),
            400,
            "invalid_events",
        ),
        case(
            "event 65 props",
            with_event(&format!(
                r#"{{"id":"e","type":"click","props":{{{}}}}}"#,
                big_props.join(",")
            )),
            400,
            "invalid_events",
        ),
        case(
            "event over the limit after the merge",
            format!(
                r#"{{"app":"demo","context":{{{}}},"events":[{{"id":"e","type":"x","props":{{"p":1}}}}]}}"#,
                ctx64.join(",")
            ),
            400,
            "invalid_events",
        ),
        case(
            "event unknown field",
            with_event(r#"{"id":"e","type":"click","$where":"1"}"#),
            400,
            "invalid_events",
        ),
        // Sizes.
        case(
            "over 1 MiB",
            format!(r#"{{"app":"demo","events":[]}}{}"#, " ".repeat(1024 * 1024)),
            413,
            "too_large",
        ),
        case(
            "1001 events",
            format!(r#"{{"app":"demo","events":[{}]}}"#, over_1001.join(",")),
            413,
            "too_large",
        ),
        case("gzip bomb (200 MiB inflated)", bomb, 413, "too_large").encoding("gzip"),
        case("gzip header over plain JSON", EMPTY, 400, "invalid_body").encoding("gzip"),
        case("deflate encoding", EMPTY, 415, "unsupported_media_type").encoding("deflate"),
        case("no content type", EMPTY, 415, "unsupported_media_type").content_type(None),
        case("XML", "<batch/>", 415, "unsupported_media_type")
            .content_type(Some("application/xml")),
        case(
            "form post",
            "app=demo&events=1",
            415,
            "unsupported_media_type",
        )
        .content_type(Some("application/x-www-form-urlencoded")),
        case(
            "null key, no header",
            r#"{"app":"demo","key":null,"events":[{"id":"e","type":"click"}]}"#,
            401,
            "missing_key",
        )
        .no_key(),
        case(
            "unknown app",
            r#"{"app":"other","events":[{"id":"e","type":"click"}]}"#,
            401,
            "unknown_app",
        ),
        case(
            "key for another app in body",
            r#"{"app":"demo","key":"wk_0000","events":[{"id":"e","type":"click"}]}"#,
            401,
            "wrong_key",
        ),
    ]
}

#[tokio::test]
async fn hostile_bodies_get_the_right_4xx_and_store_nothing() {
    let env = TestEnv::new().await;
    let cases = cases();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let mut req = Request::post("/v1/batch");
        if let Some(ct) = c.content_type {
            req = req.header("content-type", ct);
        }
        if let Some(enc) = c.encoding {
            req = req.header("content-encoding", enc);
        }
        if c.key {
            req = req.header("x-write-key", env.key());
        }
        let r = env
            .send(req.body(Body::from(c.body.clone())).unwrap())
            .await;
        let keys: Vec<&String> = r
            .json
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        if r.status.as_u16() != c.status
            || r.code() != c.code
            || keys != ["error"]
            || r.message().is_empty()
        {
            failures.push(format!(
                "{}: got {} {}",
                c.name,
                r.status,
                &r.text[..r.text.len().min(200)]
            ));
        }
        // Internals never reach the client.
        assert!(
            !r.text.contains("mongodb") && !r.text.contains("src/"),
            "{}: {}",
            c.name,
            r.text
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(env.event_count().await, 0, "nothing partial is stored");
    // Still serving.
    let r = env
        .post_json(batch(json!([click("after")])).to_string())
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json["accepted"].as_u64()),
        (200, Some(1)),
        "{}",
        r.text
    );
    env.drop_db().await;
}
