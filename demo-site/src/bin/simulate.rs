//! `usagelens-simulate`: realistic data for the analyses. Run with
//! `cargo xtask simulate [--users N] [--history 7d]` while `cargo xtask demo` runs.
//!
//! - Live: N simulated users with roles and habits drive the demo site in
//!   headless Chromium (through chromedriver): analysts export, admins tune
//!   settings, viewers browse tabs; most keep the defaults, some change them.
//! - `--history 7d`: a simulated working week of the same users' behaviour,
//!   backfilled through the ingest protocol with past event timestamps
//!   (`sent_at` is the real send time, so no skew correction moves them),
//!   busier on weekdays and at each role's usual hours.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Parser;
use fantoccini::{ClientBuilder, Locator};
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use usagelens_e2e::chromedriver::ChromeDriver;

/// Drive the demo site like real users do, and backfill a week of history.
#[derive(Debug, Parser)]
struct Args {
    /// The demo site.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    site: String,
    /// The collector (for the history backfill).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    collector: String,
    /// The app's write key (`cargo xtask simulate` reads it from .usagelens/demo-app.json).
    #[arg(long, env = "USAGELENS_WRITE_KEY")]
    write_key: String,
    /// How many users.
    #[arg(long, default_value_t = 8)]
    users: usize,
    /// Backfill this much history (like `7d`) instead of driving the browser.
    #[arg(long)]
    history: Option<String>,
    /// Seed, for a repeatable run.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// chromedriver binary.
    #[arg(long, env = "CHROMEDRIVER", default_value = "/usr/bin/chromedriver")]
    chromedriver: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Analyst,
    Admin,
    Viewer,
}

impl Role {
    fn of(i: usize) -> Self {
        match i % 4 {
            0 | 1 => Self::Analyst,
            2 => Self::Admin,
            _ => Self::Viewer,
        }
    }
    fn roles(self) -> Value {
        match self {
            Self::Analyst => json!(["analyst"]),
            Self::Admin => json!(["analyst", "admin"]),
            Self::Viewer => json!(["viewer"]),
        }
    }
    /// Usual working hours (UTC) for this role.
    fn hours(self) -> std::ops::Range<u32> {
        match self {
            Self::Analyst => 8..12,
            Self::Admin => 13..17,
            Self::Viewer => 9..18,
        }
    }
    /// Widgets this role clicks, most used first.
    fn widgets(self) -> &'static [&'static str] {
        match self {
            Self::Analyst => &[
                "export-csv",
                "toolbar-refresh",
                "export-menu",
                "tab-trends",
                "toolbar-new",
                "export-pdf",
            ],
            Self::Admin => &[
                "nav-settings",
                "settings-save",
                "toolbar-share",
                "tab-raw",
                "archive-all",
            ],
            Self::Viewer => &[
                "tab-trends",
                "tab-overview",
                "nav-reports",
                "report-open",
                "toolbar-refresh",
            ],
        }
    }
}

fn user_name(i: usize) -> String {
    const NAMES: &[&str] = &[
        "ada", "grace", "linus", "barbara", "ken", "margaret", "dennis", "frances", "alan", "radia",
    ];
    format!("{}-{i}", NAMES[i % NAMES.len()])
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_owned());
    pb
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let run = async {
        match &args.history {
            Some(h) => backfill(&args, parse_days(h)?).await,
            None => live(&args).await,
        }
    };
    // On Ctrl-C the run is dropped, and with it chromedriver and its browsers.
    tokio::select! {
        done = run => done,
        _ = tokio::signal::ctrl_c() => bail!("interrupted"),
    }
}

fn parse_days(h: &str) -> Result<u32> {
    let n = h
        .strip_suffix('d')
        .context("--history takes days, like 7d")?;
    let n: u32 = n.parse().context("--history takes days, like 7d")?;
    if n == 0 || n > 90 {
        bail!("--history: 1d to 90d");
    }
    Ok(n)
}

/// Users drive the demo site in headless Chromium, one session each.
async fn live(args: &Args) -> Result<()> {
    // Closes the sessions left open and kills chromedriver and Chrome on drop,
    // also when a step fails.
    let driver = ChromeDriver::start(&args.chromedriver).with_context(|| {
        format!(
            "cannot start {} (apt-get install chromium chromium-driver)",
            args.chromedriver
        )
    })?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    const ACTIONS: u64 = 12;
    let pb = bar(args.users as u64 * ACTIONS, "actions");
    for i in 0..args.users {
        let role = Role::of(i);
        let user = user_name(i);
        let caps = json!({"goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-quic", "--no-first-run"]}});
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(
                caps.as_object()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
            )
            .connect(&driver.url())
            .await
            .context("a WebDriver session")?;
        let session = c.session_id().await.ok().flatten();
        if let Some(id) = &session {
            driver.track_session(id.clone());
        }
        let changes_defaults = rng.random_bool(0.25);
        for step in 0..ACTIONS {
            let r: f64 = rng.random();
            let result = if step == 0 || r < 0.15 {
                c.goto(&format!("{}/?as={user}", args.site))
                    .await
                    .map(|_| ())
            } else if role == Role::Admin && r < 0.45 || r < 0.22 {
                settings(&c, &args.site, &user, changes_defaults, &mut rng).await
            } else if r < 0.3 {
                c.goto(&format!("{}/slow?as={user}", args.site))
                    .await
                    .map(|_| ())
            } else {
                let w = role
                    .widgets()
                    .choose(&mut rng)
                    .copied()
                    .unwrap_or("toolbar-refresh");
                click(&c, &args.site, &user, w).await
            };
            if let Err(e) = result {
                pb.println(format!("{user}: {e}"));
            }
            tokio::time::sleep(Duration::from_millis(rng.random_range(100..400))).await;
            pb.inc(1);
        }
        // Leaving: the beacon hands everything to sendBeacon.
        let _ = c.goto("about:blank").await;
        if c.close().await.is_ok() {
            if let Some(id) = &session {
                driver.forget_session(id);
            }
        }
    }
    pb.finish_with_message("done");
    println!(
        "{} users drove the demo site; see the events with the collector's API or in MongoDB.",
        args.users
    );
    Ok(())
}

async fn click(
    c: &fantoccini::Client,
    site: &str,
    user: &str,
    widget: &str,
) -> Result<(), fantoccini::error::CmdError> {
    let sel = format!("[data-usage-widget={widget}]");
    if c.find(Locator::Css(&sel)).await.is_err() {
        c.goto(&format!("{site}/?as={user}")).await?;
    }
    if widget.starts_with("export-") && widget != "export-menu" {
        // Open the menu first, as a person would.
        if let Ok(m) = c
            .find(Locator::Css("[data-usage-widget=export-menu] summary"))
            .await
        {
            let _ = m.click().await;
        }
    }
    match c.find(Locator::Css(&sel)).await {
        Ok(el) => el.click().await.map(|_| ()),
        Err(_) => Ok(()),
    }
}

async fn settings(
    c: &fantoccini::Client,
    site: &str,
    user: &str,
    changes_defaults: bool,
    rng: &mut rand::rngs::StdRng,
) -> Result<(), fantoccini::error::CmdError> {
    c.goto(&format!("{site}/settings?as={user}")).await?;
    if changes_defaults {
        let theme = ["dark", "system"].choose(rng).copied().unwrap_or("dark");
        c.find(Locator::Css("[name=theme]"))
            .await?
            .select_by_value(theme)
            .await?;
        if rng.random_bool(0.5) {
            c.find(Locator::Css("[name=export_format][value=pdf]"))
                .await?
                .click()
                .await?;
        }
    }
    c.find(Locator::Css("[data-usage-widget=settings-save]"))
        .await?
        .click()
        .await?;
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A simulated working week through the ingest protocol.
async fn backfill(args: &Args, days: u32) -> Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let http = reqwest::Client::new();
    let url = format!("{}/v1/batch", args.collector.trim_end_matches('/'));
    let today = now_ms() / 86_400_000 * 86_400_000;
    let pb = bar(u64::from(days) * args.users as u64, "user-days");
    let mut total = 0u64;
    for d in (1..=days).rev() {
        let day = today - i64::from(d) * 86_400_000;
        // 1970-01-01 was a Thursday: day index 0 = Thursday.
        let weekday = ((day / 86_400_000) + 3) % 7; // 0 = Monday
        let busy = if weekday < 5 { 1.0 } else { 0.15 };
        for i in 0..args.users {
            let role = Role::of(i);
            let user = user_name(i);
            let sessions = if rng.random_bool(busy) {
                rng.random_range(1..4)
            } else {
                0
            };
            let mut events = Vec::new();
            for s in 0..sessions {
                let hours = role.hours();
                let hour = rng.random_range(hours.start..hours.end);
                let mut t = day + i64::from(hour) * 3_600_000 + rng.random_range(0..3_600_000);
                let session = format!("h{d}-{i}-{s}");
                let mut push = |kind: &str, props: Value, metrics: Value, t: i64| {
                    let id = format!("sim-{}-{}-{}", user, t, events.len());
                    let mut p = props;
                    p["user"] = json!(user);
                    p["roles"] = role.roles();
                    p["session"] = json!(session);
                    p["anon"] = json!(format!("anon-{i}"));
                    p["tz"] = json!(if i % 2 == 0 {
                        "Europe/Berlin"
                    } else {
                        "America/New_York"
                    });
                    events.push(
                        json!({"id": id, "type": kind, "ts": t, "props": p, "metrics": metrics}),
                    );
                };
                push("page", json!({"page": "/"}), json!({}), t);
                // Some sessions are slow (a weak network, a busy laptop), and
                // slow sessions do a little less.
                let slow = rng.random::<f64>();
                let ttfb = 40.0 + rng.random::<f64>() * 80.0 + slow * 400.0;
                let dns = rng.random::<f64>() * 20.0;
                let connect = rng.random::<f64>() * 30.0 + slow * 60.0;
                let dom = 30.0 + rng.random::<f64>() * 40.0 + slow * 200.0;
                let total = ttfb + dom + 150.0 + rng.random::<f64>() * 300.0 + slow * 900.0;
                push(
                    "load",
                    json!({"page": "/"}),
                    json!({"ttfb_ms": ttfb, "dns_ms": dns, "connect_ms": connect, "request_ms": ttfb - dns - connect.min(ttfb - dns),
                           "response_ms": 5.0 + rng.random::<f64>() * 10.0, "dom_ms": dom, "dcl_ms": ttfb + dom + 20.0,
                           "load_event_ms": 2.0 + rng.random::<f64>() * 5.0, "fcp_ms": ttfb + dom * 0.6, "lcp_ms": ttfb + dom,
                           "charts_ms": 120.0 + slow * 500.0, "total_ms": total}),
                    t + 1_000,
                );
                let clicks = rng.random_range(3..12) - (slow * 3.0) as usize;
                for _ in 0..clicks {
                    t += rng.random_range(5_000..120_000);
                    let w = role
                        .widgets()
                        .choose(&mut rng)
                        .copied()
                        .unwrap_or("toolbar-refresh");
                    push(
                        "click",
                        json!({"page": "/", "widget": w, "tag": "button"}),
                        json!({}),
                        t,
                    );
                    push(
                        "http",
                        json!({"route": "/api/reports", "method": "GET", "status": 200, "source": "server"}),
                        json!({"duration_ms": 2.0 + rng.random::<f64>() * 20.0, "serialize_ms": rng.random::<f64>() * 0.5, "response_bytes": 420.0}),
                        t + 50,
                    );
                }
                if role == Role::Admin || rng.random_bool(0.2) {
                    t += 30_000;
                    // Most who open the settings pick the dark theme: the
                    // default (light) loses. The export format's default wins.
                    let changed = rng.random_bool(0.7);
                    let theme = if changed { "dark" } else { "light" };
                    let format = if rng.random_bool(0.15) { "xlsx" } else { "csv" };
                    push("page", json!({"page": "/settings"}), json!({}), t - 1_000);
                    let submitted = rng.random_bool(0.6);
                    for trigger in ["submit", "hide"] {
                        if trigger == "submit" && !submitted {
                            continue;
                        }
                        push(
                            "choice",
                            json!({"page": "/settings", "control": "theme", "control_type": "select", "value": theme, "default": "light", "is_default": !changed, "form": "settings", "trigger": trigger}),
                            json!({}),
                            t,
                        );
                        push(
                            "choice",
                            json!({"page": "/settings", "control": "export_format", "control_type": "radio", "value": format, "default": "csv", "is_default": format == "csv", "form": "settings", "trigger": trigger}),
                            json!({}),
                            t,
                        );
                    }
                }
                push(
                    "timing",
                    json!({"page": "/", "inp_widget": "export-csv"}),
                    json!({"inp_ms": 40.0 + rng.random::<f64>() * 120.0 + slow * 200.0, "cls": rng.random::<f64>() * 0.1}),
                    t + 4_000,
                );
                push(
                    "memory",
                    json!({"page": "/", "source": "browser"}),
                    json!({"used_heap_bytes": 8.0e6 + rng.random::<f64>() * 6.0e6, "gc_count": f64::from(rng.random_range(0..4))}),
                    t + 5_000,
                );
            }
            for chunk in events.chunks(500) {
                // `sent_at` is the real send time: the events' past timestamps stay as they are.
                let body = json!({"app": "demo", "key": args.write_key, "sent_at": now_ms(), "events": chunk});
                let resp = http
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .context("the collector")?;
                let status = resp.status();
                let answer: Value = resp.json().await.unwrap_or(Value::Null);
                if !status.is_success() {
                    bail!("the collector answered {status}: {answer}");
                }
                total += answer["accepted"].as_u64().unwrap_or(0)
                    + answer["duplicates"].as_u64().unwrap_or(0);
            }
            pb.inc(1);
        }
    }
    pb.finish_with_message("done");
    println!(
        "backfilled {total} events over {days} days for {} users",
        args.users
    );
    Ok(())
}
