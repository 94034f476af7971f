//! Client options: each with its default and its environment variable.

use std::time::Duration;

/// Why options cannot be built; the message names the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("usagelens option `{setting}`: {message}")]
pub struct ConfigError {
    /// The option (and its environment variable).
    pub setting: &'static str,
    /// What is wrong with it.
    pub message: String,
}

/// How the SDK talks to the collector.
///
/// | option | default | environment variable |
/// |---|---|---|
/// | `endpoint` | `http://127.0.0.1:8080` | `USAGELENS_ENDPOINT` |
/// | `app` | required | `USAGELENS_APP` |
/// | `write_key` | required | `USAGELENS_WRITE_KEY` |
/// | `batch_size` | 200 events | `USAGELENS_BATCH_SIZE` |
/// | `flush_interval` | 1 s | `USAGELENS_FLUSH_INTERVAL_MS` |
/// | `queue_capacity` | 10,000 events | `USAGELENS_QUEUE_CAPACITY` |
/// | `request_timeout` | 5 s | `USAGELENS_REQUEST_TIMEOUT_MS` |
/// | `max_retries` | 5 | `USAGELENS_MAX_RETRIES` |
/// | `shutdown_timeout` | 5 s (the guard's flush on drop) | `USAGELENS_SHUTDOWN_TIMEOUT_MS` |
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The collector's base URL; batches go to `<endpoint>/v1/batch`.
    pub endpoint: String,
    /// The app id.
    pub app: String,
    /// The app's write key.
    pub write_key: String,
    /// Events per request (at most 1000, the protocol's limit).
    pub batch_size: usize,
    /// A partial batch is sent after this long.
    pub flush_interval: Duration,
    /// Events held while the collector is slow or down; beyond it events are dropped and counted.
    pub queue_capacity: usize,
    /// Timeout of one request to the collector.
    pub request_timeout: Duration,
    /// Retries of a batch before it is dropped and counted: after network
    /// errors and 5xx (with backoff), and after 429/503 pauses (each as long
    /// as the collector's `Retry-After`, at most 600 s).
    pub max_retries: u32,
    /// How long the [`Guard`](crate::Guard) waits on drop to deliver what is queued.
    pub shutdown_timeout: Duration,
}

impl Options {
    /// Options for `app` with `write_key`, everything else at its default.
    pub fn new(app: impl Into<String>, write_key: impl Into<String>) -> Self {
        Self {
            endpoint: "http://127.0.0.1:8080".into(),
            app: app.into(),
            write_key: write_key.into(),
            batch_size: 200,
            flush_interval: Duration::from_secs(1),
            queue_capacity: 10_000,
            request_timeout: Duration::from_secs(5),
            max_retries: 5,
            shutdown_timeout: Duration::from_secs(5),
        }
    }

    /// Options from the `USAGELENS_*` environment variables (defaults for the unset ones).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Options from any key lookup (the environment, a config map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |setting: &'static str| {
            get(setting).filter(|v| !v.is_empty()).ok_or(ConfigError {
                setting,
                message: "is required".into(),
            })
        };
        let mut o = Self::new(required("USAGELENS_APP")?, required("USAGELENS_WRITE_KEY")?);
        if let Some(e) = get("USAGELENS_ENDPOINT") {
            o.endpoint = e;
        }
        let num = |setting: &'static str| -> Result<Option<u64>, ConfigError> {
            get(setting)
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|_| ConfigError {
                        setting,
                        message: format!("`{v}` is not a whole number"),
                    })
                })
                .transpose()
        };
        if let Some(v) = num("USAGELENS_BATCH_SIZE")? {
            o.batch_size = v as usize;
        }
        if let Some(v) = num("USAGELENS_FLUSH_INTERVAL_MS")? {
            o.flush_interval = Duration::from_millis(v);
        }
        if let Some(v) = num("USAGELENS_QUEUE_CAPACITY")? {
            o.queue_capacity = v as usize;
        }
        if let Some(v) = num("USAGELENS_REQUEST_TIMEOUT_MS")? {
            o.request_timeout = Duration::from_millis(v);
        }
        if let Some(v) = num("USAGELENS_MAX_RETRIES")? {
            o.max_retries = v as u32;
        }
        if let Some(v) = num("USAGELENS_SHUTDOWN_TIMEOUT_MS")? {
            o.shutdown_timeout = Duration::from_millis(v);
        }
        o.validate()?;
        Ok(o)
    }

    /// Checks every option; the error names the one at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |setting, message: &str| {
            Err(ConfigError {
                setting,
                message: message.to_owned(),
            })
        };
        if usagelens_protocol::batch::check_app(&self.app).is_err() {
            return bad(
                "app (USAGELENS_APP)",
                "app ids match ^[a-z0-9][a-z0-9_-]{0,63}$",
            );
        }
        if self.write_key.is_empty() {
            return bad("write_key (USAGELENS_WRITE_KEY)", "is required");
        }
        if !(self.endpoint.starts_with("http://") || self.endpoint.starts_with("https://")) {
            return bad(
                "endpoint (USAGELENS_ENDPOINT)",
                "must start with http:// or https://",
            );
        }
        if self.batch_size == 0
            || self.batch_size > usagelens_protocol::limits::MAX_EVENTS_PER_BATCH
        {
            return bad("batch_size (USAGELENS_BATCH_SIZE)", "must be 1 to 1000");
        }
        if self.queue_capacity == 0 {
            return bad(
                "queue_capacity (USAGELENS_QUEUE_CAPACITY)",
                "must be at least 1",
            );
        }
        if self.flush_interval.is_zero() {
            return bad(
                "flush_interval (USAGELENS_FLUSH_INTERVAL_MS)",
                "must be above 0",
            );
        }
        Ok(())
    }

    pub(crate) fn batch_url(&self) -> String {
        let mut u = self.endpoint.trim_end_matches('/').to_owned();
        u.push_str("/v1/batch");
        u
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn from_the_environment_with_defaults() {
        let o = Options::from_lookup(lookup(&[
            ("USAGELENS_APP", "shop"),
            ("USAGELENS_WRITE_KEY", "wk_1"),
            ("USAGELENS_FLUSH_INTERVAL_MS", "250"),
        ]))
        .unwrap();
        assert_eq!(o.app, "shop");
        assert_eq!(o.flush_interval, Duration::from_millis(250));
        assert_eq!(o.batch_size, 200);
        assert_eq!(o.batch_url(), "http://127.0.0.1:8080/v1/batch");
    }

    #[test]
    fn errors_name_the_setting() {
        let e = Options::from_lookup(lookup(&[("USAGELENS_WRITE_KEY", "k")])).unwrap_err();
        assert_eq!(e.setting, "USAGELENS_APP");
        let e = Options::from_lookup(lookup(&[
            ("USAGELENS_APP", "a"),
            ("USAGELENS_WRITE_KEY", "k"),
            ("USAGELENS_BATCH_SIZE", "lots"),
        ]))
        .unwrap_err();
        assert!(
            e.to_string().contains("USAGELENS_BATCH_SIZE") && e.to_string().contains("`lots`"),
            "{e}"
        );
        let mut o = Options::new("a", "k");
        o.batch_size = 5000;
        assert!(o.validate().unwrap_err().to_string().contains("1 to 1000"));
        o = Options::new("Bad App", "k");
        assert!(o.validate().is_err());
        o = Options::new("a", "k");
        o.endpoint = "collector:8080".into();
        assert!(o.validate().unwrap_err().to_string().contains("http://"));
    }
}
