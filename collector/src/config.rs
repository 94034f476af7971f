//! Configuration of `usagelens-collector serve`. Each option has a flag and
//! an environment variable; precedence is default < environment < flag.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use ipnet::IpNet;

use crate::store::WriteAck;

/// Where the store is. Shared by `serve` and the `apps` commands.
#[derive(Debug, Clone, Args)]
pub struct StoreConfig {
    /// MongoDB connection string. `cargo xtask demo` starts a local store and sets it.
    #[arg(
        long,
        env = "MONGODB_URI",
        default_value = "mongodb://127.0.0.1:27017",
        global = true
    )]
    pub mongodb_uri: String,

    /// Database that holds `events`, `apps` and `catalog`.
    #[arg(
        long,
        env = "USAGELENS_DATABASE",
        default_value = "usagelens",
        global = true
    )]
    pub database: String,

    /// Write concern `w` for event writes: `majority`, a node count, or a tag set.
    #[arg(
        long,
        env = "USAGELENS_WRITE_CONCERN",
        default_value = "majority",
        global = true
    )]
    pub write_concern: String,

    /// Wait for the journal before acknowledging writes (`j`).
    #[arg(long, env = "USAGELENS_JOURNAL", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub journal: bool,

    /// How long to wait for the store before answering 503 (server selection timeout).
    #[arg(long, env = "USAGELENS_STORE_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration, global = true)]
    pub store_timeout: Duration,
}

impl StoreConfig {
    /// The write acknowledgement to ask for.
    pub fn write_ack(&self) -> WriteAck {
        WriteAck {
            w: self.write_concern.clone(),
            journal: self.journal,
        }
    }
}

/// A duration of at least 1ms: a query time limit (MongoDB counts
/// `maxTimeMS` in whole milliseconds, and 0 would mean no limit) or a
/// background job's period.
fn parse_at_least_1ms(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d < Duration::from_millis(1) {
        return Err(format!("`{s}` is shorter than 1ms"));
    }
    Ok(d)
}

/// A trusted proxy network: a CIDR (`10.0.0.0/8`) or one address (`10.1.2.3`).
fn parse_network(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| {
            format!("`{s}` is not a network: write a CIDR (10.0.0.0/8, fd00::/8) or an address")
        })
}

/// Which X-Forwarded-For entry, if any, is the client's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ForwardedFor<'a> {
    /// The header is not read: the client is the TCP peer.
    Ignored,
    /// So many proxies of ours append to the header.
    Hops(u32),
    /// Our proxies are in these networks.
    Networks(&'a [IpNet]),
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Options of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "USAGELENS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Requests per second per client address (burst: twice that); 0 turns it off.
    #[arg(long, env = "USAGELENS_RATE_LIMIT_IP", default_value_t = 100)]
    pub rate_limit_ip: u32,

    /// Events per second per app (burst: twice that); 0 turns it off.
    #[arg(long, env = "USAGELENS_RATE_LIMIT_APP", default_value_t = 20_000)]
    pub rate_limit_app: u32,

    /// The collector is behind this many proxies of yours, each appending
    /// to X-Forwarded-For: the client address is the entry this many from
    /// the right (only when no one can reach the collector but through
    /// them). 0: the header is not read.
    #[arg(
        long,
        env = "USAGELENS_TRUSTED_PROXY_HOPS",
        default_value_t = 0,
        conflicts_with = "trusted_proxies"
    )]
    pub trusted_proxy_hops: u32,

    /// Networks of your proxies (comma-separated CIDRs or addresses, e.g.
    /// `10.0.0.0/8,fd00::/8`): from a peer in one, the client address is the
    /// right-most X-Forwarded-For entry outside them.
    #[arg(
        long,
        env = "USAGELENS_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = parse_network
    )]
    pub trusted_proxies: Vec<IpNet>,

    /// Deprecated: `--trusted-proxy-hops 1` (one proxy of yours in front);
    /// ignored when either option above is set. It used to take the *first*
    /// entry, which the client writes.
    #[arg(long, env = "USAGELENS_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// How long an app's keys and origins are cached.
    #[arg(long, env = "USAGELENS_APP_CACHE_TTL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub app_cache_ttl: Duration,

    /// How often the dimension catalog is written (and the other upkeep jobs
    /// run). At least 1ms.
    #[arg(long, env = "USAGELENS_CATALOG_FLUSH", default_value = "10s", value_parser = parse_at_least_1ms)]
    pub catalog_flush: Duration,

    /// How often the rollup builder rebuilds the hours ingest marked dirty
    /// (on the one collector holding its lease). At least 1ms.
    #[arg(long, env = "USAGELENS_ROLLUP_BUILD_EVERY", default_value = "2s", value_parser = parse_at_least_1ms)]
    pub rollup_build_every: Duration,

    /// The server-side time limit of one `POST /v1/query` (MongoDB's
    /// `maxTimeMS`); past it the query answers 422 `query_too_slow`. At least 1ms.
    #[arg(long, env = "USAGELENS_QUERY_TIMEOUT", default_value = "30s", value_parser = parse_at_least_1ms)]
    pub query_timeout: Duration,

    /// How long shutdown waits for in-flight requests, and then again for
    /// the background jobs' last steps (the final catalog flush).
    #[arg(long, env = "USAGELENS_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,

    /// Log format.
    #[arg(long, env = "USAGELENS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Directory of the built beacon (`cargo xtask beacon` writes `target/beacon`),
    /// served at /beacon.js and /beacon/*; without it those answer 404.
    #[arg(long, env = "USAGELENS_BEACON_DIR")]
    pub beacon_dir: Option<PathBuf>,
}

impl ServeConfig {
    /// How the client address is read from `X-Forwarded-For`.
    pub(crate) fn forwarded_for(&self) -> ForwardedFor<'_> {
        if !self.trusted_proxies.is_empty() {
            ForwardedFor::Networks(&self.trusted_proxies)
        } else if self.trusted_proxy_hops > 0 {
            ForwardedFor::Hops(self.trusted_proxy_hops)
        } else if self.trust_forwarded_for {
            ForwardedFor::Hops(1)
        } else {
            ForwardedFor::Ignored
        }
    }
}

/// The defaults are the ones written on each field's `#[arg]` above, read
/// by clap with every environment variable ignored: each default is
/// written once.
impl Default for ServeConfig {
    fn default() -> Self {
        use clap::{Command, FromArgMatches};
        let command = Self::augment_args(Command::new("serve")).mut_args(|a| a.env(None));
        command
            .try_get_matches_from(["serve"])
            .map_err(|e| e.to_string())
            .and_then(|m| Self::from_arg_matches(&m).map_err(|e| e.to_string()))
            // The defaults are literals of this file, and a unit test parses them.
            .unwrap_or_else(|e| unreachable!("the serve defaults do not parse: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Serve {
        #[command(flatten)]
        config: ServeConfig,
    }

    fn parse(args: &[&str]) -> Result<ServeConfig, String> {
        Serve::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))
            .map(|s| s.config)
            .map_err(|e| e.to_string())
    }

    /// Run in a child process (the environment is the process's: setting a
    /// variable here would race with the other tests' reads).
    #[test]
    fn defaults_are_the_flags_defaults_without_the_environment() {
        const CHILD: &str = "USAGELENS_TEST_DEFAULTS_CHILD";
        if std::env::var_os(CHILD).is_none() {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "config::tests::defaults_are_the_flags_defaults_without_the_environment",
                ])
                .env(CHILD, "1")
                .env("USAGELENS_RATE_LIMIT_IP", "7")
                .env("USAGELENS_CATALOG_FLUSH", "1h")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{text}");
            assert!(text.contains("1 passed"), "the child ran the test: {text}");
            return;
        }
        // An environment variable must not leak into `Default`…
        let d = ServeConfig::default();
        assert_eq!(d.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(d.rate_limit_ip, 100);
        assert_eq!(d.rate_limit_app, 20_000);
        assert!(!d.trust_forwarded_for);
        assert_eq!(d.trusted_proxy_hops, 0);
        assert!(d.trusted_proxies.is_empty());
        assert_eq!(d.forwarded_for(), ForwardedFor::Ignored);
        assert_eq!(d.app_cache_ttl, Duration::from_secs(5));
        assert_eq!(d.catalog_flush, Duration::from_secs(10));
        assert_eq!(d.rollup_build_every, Duration::from_secs(2));
        assert_eq!(d.query_timeout, Duration::from_secs(30));
        assert_eq!(d.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(d.log_format, LogFormat::Text);
        assert_eq!(d.beacon_dir, None);
        // … while the flags read it.
        assert_eq!(parse(&[]).unwrap().rate_limit_ip, 7);
    }

    #[test]
    fn a_job_period_is_at_least_1ms() {
        assert_eq!(
            parse(&["--catalog-flush", "250ms"]).unwrap().catalog_flush,
            Duration::from_millis(250)
        );
        let e = parse(&["--catalog-flush", "0s"]).unwrap_err();
        assert!(
            e.contains("--catalog-flush") && e.contains("shorter than 1ms"),
            "{e}"
        );
    }

    #[test]
    fn query_timeout() {
        assert_eq!(parse(&[]).unwrap().query_timeout, Duration::from_secs(30));
        assert_eq!(
            ServeConfig::default().query_timeout,
            Duration::from_secs(30)
        );
        assert_eq!(
            parse(&["--query-timeout", "250ms"]).unwrap().query_timeout,
            Duration::from_millis(250)
        );
        for bad in ["0s", "500us", "soon"] {
            let e = parse(&["--query-timeout", bad]).unwrap_err();
            assert!(e.contains("--query-timeout"), "{bad}: {e}");
        }
    }

    #[test]
    fn trusted_proxies() {
        assert_eq!(
            parse(&["--trusted-proxy-hops", "2"])
                .unwrap()
                .forwarded_for(),
            ForwardedFor::Hops(2)
        );
        assert_eq!(
            parse(&["--trust-forwarded-for"]).unwrap().forwarded_for(),
            ForwardedFor::Hops(1),
            "the old flag is one trusted hop"
        );
        let c = parse(&["--trusted-proxies", "10.0.0.0/8, 192.168.1.7,fd00::/8"]).unwrap();
        let nets: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(nets, ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8"]);
        assert!(matches!(c.forwarded_for(), ForwardedFor::Networks(n) if n.len() == 3));
        // Host bits are dropped: 10.1.2.3/8 is 10.0.0.0/8.
        let c = parse(&["--trusted-proxies", "10.1.2.3/8"]).unwrap();
        assert_eq!(c.trusted_proxies[0].to_string(), "10.0.0.0/8");
        for bad in [
            &["--trusted-proxies", "10.0.0.0/33"][..],
            &["--trusted-proxies", "proxy.internal"],
            &["--trusted-proxies", "10.0.0.0/8,"],
            &["--trusted-proxy-hops", "many"],
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(bad[0]), "{bad:?}: {e}");
        }
        let e = parse(&[
            "--trusted-proxy-hops",
            "1",
            "--trusted-proxies",
            "10.0.0.0/8",
        ])
        .unwrap_err();
        assert!(e.contains("cannot be used with"), "{e}");
        assert_eq!(
            parse(&["--trust-forwarded-for", "--trusted-proxy-hops", "2"])
                .unwrap()
                .forwarded_for(),
            ForwardedFor::Hops(2),
            "the new option wins over the old one"
        );
    }
}
