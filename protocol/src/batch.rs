//! Batches and events: the body of `POST /v1/batch`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::limits::{MAX_DIMS_PER_EVENT, MAX_EVENTS_PER_BATCH};
use crate::names::{is_valid_app, is_valid_event_id, is_valid_type, APP_RULE, TYPE_RULE};
use crate::timestamp::Timestamp;
use crate::value::{Dims, Metrics};

/// A rule a batch or an event built in code breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError(pub String);

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValidationError {}

/// An event id: 1 to 64 bytes, no control characters; chosen by the client and
/// unique per app, so a retried batch never duplicates an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EventId(pub String);

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if is_valid_event_id(&s) {
            Ok(Self(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "invalid event id `{}`: ids are 1 to 64 bytes without control characters",
                s.escape_debug()
            )))
        }
    }
}

/// An event type, `^[a-z][a-z0-9_.-]{0,63}$`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EventType(pub String);

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if is_valid_type(&s) {
            Ok(Self(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "invalid event type `{}`: types match {TYPE_RULE}",
                s.escape_debug()
            )))
        }
    }
}

/// One event. Its dimensions are the batch context merged with `props`
/// (the event's own value wins a clash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Unique per app; chosen by the client (a UUID v7 is a good choice).
    pub id: EventId,
    /// `page`, `click`, `choice`, `load`, `memory`, `http`, `timing`, `metric`,
    /// or a custom type.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When it happened, by the client's clock. Absent: the batch's `sent_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<Timestamp>,
    /// The event's own dimensions.
    #[serde(default, skip_serializing_if = "Dims::is_empty")]
    pub props: Dims,
    /// The event's measurements.
    #[serde(default, skip_serializing_if = "Metrics::is_empty")]
    pub metrics: Metrics,
}

impl Event {
    /// An event with no timestamp, dimensions or metrics. `id` and `kind`
    /// are checked by [`Event::validate`].
    pub fn new(id: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            id: EventId(id.into()),
            kind: EventType(kind.into()),
            ts: None,
            props: Dims::new(),
            metrics: Metrics::new(),
        }
    }

    /// Checks every rule on an event built in code, as if the collector had
    /// received it in a batch with `context`.
    pub fn validate(&self, context: &Dims) -> Result<(), ValidationError> {
        if !is_valid_event_id(&self.id.0) {
            return Err(ValidationError(format!(
                "invalid event id `{}`: ids are 1 to 64 bytes without control characters",
                self.id.0.escape_debug()
            )));
        }
        if !is_valid_type(&self.kind.0) {
            return Err(ValidationError(format!(
                "invalid event type `{}`: types match {TYPE_RULE}",
                self.kind.0.escape_debug()
            )));
        }
        self.props.validate().map_err(ValidationError)?;
        self.metrics.validate().map_err(ValidationError)?;
        let merged = merged_dim_count(context, &self.props);
        if merged > MAX_DIMS_PER_EVENT {
            return Err(ValidationError(too_many_merged(merged)));
        }
        Ok(())
    }
}

/// How many dimensions an event has once `context` is merged into `props`.
pub fn merged_dim_count(context: &Dims, props: &Dims) -> usize {
    props.len()
        + context
            .iter()
            .filter(|(name, _)| props.get(name).is_none())
            .count()
}

/// The message for an event over the dimension limit after the merge.
pub fn too_many_merged(n: usize) -> String {
    format!(
        "the event has {n} dimensions with the batch context merged in; the limit is {MAX_DIMS_PER_EVENT}"
    )
}

/// A batch as an SDK builds and sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// The app id.
    pub app: String,
    /// The app's write key (or send the `X-Write-Key` header instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// When the batch left the client, by the client's clock; the collector
    /// uses it to correct the events' timestamps for clock skew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<Timestamp>,
    /// Dimensions shared by every event of the batch.
    #[serde(default, skip_serializing_if = "Dims::is_empty")]
    pub context: Dims,
    /// At most [`MAX_EVENTS_PER_BATCH`] events.
    pub events: Vec<Event>,
}

impl Batch {
    /// An empty batch for `app`.
    pub fn new(app: impl Into<String>) -> Self {
        Self {
            app: app.into(),
            key: None,
            sent_at: None,
            context: Dims::new(),
            events: Vec::new(),
        }
    }

    /// Checks every rule the collector applies.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_app(&self.app).map_err(ValidationError)?;
        check_event_count(self.events.len()).map_err(ValidationError)?;
        self.context
            .validate()
            .map_err(|e| ValidationError(format!("context: {e}")))?;
        for (i, e) in self.events.iter().enumerate() {
            e.validate(&self.context)
                .map_err(|e| ValidationError(format!("event {i}: {e}")))?;
        }
        Ok(())
    }
}

/// Checks an app id.
pub fn check_app(app: &str) -> Result<(), String> {
    if is_valid_app(app) {
        Ok(())
    } else {
        Err(format!(
            "invalid app `{}`: app ids match {APP_RULE}",
            app.escape_debug()
        ))
    }
}

/// Checks the number of events in a batch.
pub fn check_event_count(n: usize) -> Result<(), String> {
    if n > MAX_EVENTS_PER_BATCH {
        Err(format!(
            "the batch has {n} events; the limit is {MAX_EVENTS_PER_BATCH} per batch: send smaller batches"
        ))
    } else {
        Ok(())
    }
}

/// A batch as the collector reads it: the envelope is parsed and checked at
/// once, each event stays raw JSON until it is parsed on its own, so one bad
/// event is rejected with its index while the others are stored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBatch<'a> {
    /// The app id.
    pub app: String,
    /// The write key, if sent in the body.
    #[serde(default)]
    pub key: Option<String>,
    /// When the batch left the client.
    #[serde(default)]
    pub sent_at: Option<Timestamp>,
    /// Dimensions shared by every event.
    #[serde(default)]
    pub context: Dims,
    /// The events, each still raw JSON.
    #[serde(borrow)]
    pub events: Vec<&'a RawValue>,
}

impl RawBatch<'_> {
    /// Parses the envelope of a batch body and checks the app id and event
    /// count. The message of the error says what to fix.
    pub fn parse(body: &[u8]) -> Result<RawBatch<'_>, String> {
        let batch: RawBatch<'_> = serde_json::from_slice(body)
            .map_err(|e| format!("the body is not a valid batch: {e}"))?;
        check_app(&batch.app)?;
        check_event_count(batch.events.len())?;
        Ok(batch)
    }
}

/// Parses one raw event and checks it against the batch context.
pub fn parse_event(raw: &RawValue, context: &Dims) -> Result<Event, String> {
    let event: Event = serde_json::from_str(raw.get()).map_err(|e| {
        // serde_json reports positions inside the event; keep just the reason.
        let msg = e.to_string();
        match msg.rfind(" at line ") {
            Some(i) if e.is_data() => msg[..i].to_owned(),
            _ => msg,
        }
    })?;
    let merged = merged_dim_count(context, &event.props);
    if merged > MAX_DIMS_PER_EVENT {
        return Err(too_many_merged(merged));
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::DimValue;

    fn event(json: &str) -> Result<Event, String> {
        let raw: Box<RawValue> = serde_json::from_str(json).map_err(|e| e.to_string())?;
        parse_event(&raw, &Dims::new())
    }

    #[test]
    fn accepted_events() {
        let e = event(
            r#"{"id":"0193a1b2-x","type":"click","ts":"2026-11-28T09:59:58.120Z",
                "props":{"widget":"export-csv","tags":["beta","admin"]},
                "metrics":{"duration_ms":12.5}}"#,
        )
        .unwrap();
        assert_eq!(e.id.0, "0193a1b2-x");
        assert_eq!(e.kind.0, "click");
        assert_eq!(e.ts, Some(Timestamp::from_millis(1_795_859_998_120)));
        assert_eq!(
            e.props.get("tags"),
            Some(&DimValue::strings(["beta", "admin"]))
        );
        assert!(event(r#"{"id":"a","type":"my.custom_event-2"}"#).is_ok());
        assert!(event(r#"{"id":"a","type":"page","ts":1795845598120}"#).is_ok());
        assert!(event(r#"{"id":"a","type":"page","props":{},"metrics":{}}"#).is_ok());
    }

    #[test]
    fn rejected_events() {
        let cases = [
            (r#"{"type":"click"}"#, "missing field `id`"),
            (r#"{"id":"a"}"#, "missing field `type`"),
            (r#"{"id":"","type":"click"}"#, "invalid event id"),
            (r#"{"id":1,"type":"click"}"#, "invalid type: integer"),
            (r#"{"id":"a","type":"Click"}"#, "invalid event type `Click`"),
            (r#"{"id":"a","type":"$where"}"#, "invalid event type"),
            (
                r#"{"id":"a","type":"click","ts":"now"}"#,
                "not an RFC 3339 timestamp",
            ),
            (
                r#"{"id":"a","type":"click","props":[]}"#,
                "invalid type: sequence",
            ),
            (
                r#"{"id":"a","type":"click","metrics":{"x":"1"}}"#,
                "invalid type: string",
            ),
            (
                r#"{"id":"a","type":"click","prop":{}}"#,
                "unknown field `prop`",
            ),
            (
                r#"{"id":"a","type":"click","props":{"a.b":1}}"#,
                "invalid dimension name `a.b`",
            ),
            (r#"[]"#, "expected struct Event"),
            (r#""x""#, "invalid type: string"),
        ];
        for (json, want) in cases {
            let err = event(json).expect_err(json);
            assert!(err.contains(want), "{json}: got {err:?}, want {want:?}");
            assert!(!err.contains(" at line "), "{err}");
        }
    }

    #[test]
    fn the_merge_counts_against_the_dimension_limit() {
        let mut context = Dims::new();
        for i in 0..40 {
            context.insert(format!("c{i}"), 1i64);
        }
        let props: Vec<String> = (0..30).map(|i| format!(r#""p{i}":1"#)).collect();
        let json = format!(r#"{{"id":"a","type":"x","props":{{{}}}}}"#, props.join(","));
        let raw: Box<RawValue> = serde_json::from_str(&json).unwrap();
        let err = parse_event(&raw, &context).unwrap_err();
        assert!(err.contains("70 dimensions"), "{err}");
        // Names shared with the context count once.
        let shared: Vec<String> = (0..30).map(|i| format!(r#""c{i}":2"#)).collect();
        let json = format!(
            r#"{{"id":"a","type":"x","props":{{{}}}}}"#,
            shared.join(",")
        );
        let raw: Box<RawValue> = serde_json::from_str(&json).unwrap();
        assert!(parse_event(&raw, &context).is_ok());
    }

    #[test]
    fn batch_envelope() {
        let ok = br#"{"app":"demo","key":"k","sent_at":1795845598120,"context":{"user":"u"},"events":[{"id":"a","type":"x"},{"bad":1}]}"#;
        let b = RawBatch::parse(ok).unwrap();
        assert_eq!(b.events.len(), 2);
        assert_eq!(b.context.get("user"), Some(&DimValue::Str("u".into())));
        let many: Vec<&str> = vec![r#"{"id":"a","type":"x"}"#; 1001];
        let too_many = format!(r#"{{"app":"demo","events":[{}]}}"#, many.join(","));
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "EOF while parsing"),
            (b"{".to_vec(), "EOF while parsing"),
            (b"null".to_vec(), "invalid type: null"),
            (b"[]".to_vec(), "expected struct RawBatch"),
            (br#"{"events":[]}"#.to_vec(), "missing field `app`"),
            (br#"{"app":"demo"}"#.to_vec(), "missing field `events`"),
            (
                br#"{"app":"Demo!","events":[]}"#.to_vec(),
                "invalid app `Demo!`",
            ),
            (
                br#"{"app":"demo","events":{}}"#.to_vec(),
                "invalid type: map",
            ),
            (
                br#"{"app":"demo","events":[],"context":{"$gt":1}}"#.to_vec(),
                "invalid dimension name `$gt`",
            ),
            (
                br#"{"app":"demo","events":[],"sent_at":"x"}"#.to_vec(),
                "not an RFC 3339",
            ),
            (
                br#"{"app":"demo","events":[],"extra":1}"#.to_vec(),
                "unknown field `extra`",
            ),
            (
                b"{\"app\":\"demo\",\"events\":[],\"key\":\"\xff\"}".to_vec(),
                "invalid unicode",
            ),
            (
                too_many.into_bytes(),
                "the batch has 1001 events; the limit is 1000",
            ),
        ];
        for (body, want) in cases {
            let err = RawBatch::parse(&body).expect_err(&String::from_utf8_lossy(&body));
            assert!(
                err.contains(want),
                "{}: got {err:?}, want {want:?}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    #[test]
    fn built_batches_validate() {
        let mut b = Batch::new("demo");
        b.events.push(Event::new("e1", "click"));
        assert!(b.validate().is_ok());
        b.events.push(Event::new("", "click"));
        assert_eq!(
            b.validate().unwrap_err().0.split(':').next(),
            Some("event 1")
        );
        b.events.pop();
        b.events.push(Event::new("e2", "Bad"));
        assert!(b.validate().unwrap_err().0.contains("invalid event type"));
        let b = Batch::new("No");
        assert!(b.validate().unwrap_err().0.contains("invalid app"));
    }
}
