//! `cargo xtask demo`: builds the beacon, starts the local store (unless
//! `MONGODB_URI` is set), the collector and the demo site, creates or reuses
//! the app `demo`, prints URLs and keys, and runs until Ctrl-C. The state
//! (store, keys, logs) persists in `.usagelens/`.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::beacon::build_beacon;
use crate::process::{port_of, wait_for_port, KillOnDrop};
use crate::store::store_uri;
use crate::workspace::{build_binaries, debug_bin, json_field, root, step};

pub(crate) fn task(args: &[&str]) -> Result<()> {
    let mut listen = "127.0.0.1:8080".to_owned();
    let mut site_listen = "127.0.0.1:3000".to_owned();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "--listen" => listen = it.next().context("--listen needs an address")?.to_string(),
            "--site-listen" => {
                site_listen = it
                    .next()
                    .context("--site-listen needs an address")?
                    .to_string()
            }
            other => {
                bail!("unknown option `{other}` (demo takes --listen ADDR and --site-listen ADDR)")
            }
        }
    }
    let beacon_dir = build_beacon()?;
    step("building the collector and the demo site");
    build_binaries()?;
    let state = root().join(".usagelens");
    let (uri, _store) = store_uri(Some(&state.join("store")))?;
    let bin = debug_bin("usagelens-collector");
    let collector = |args: &[&str]| {
        let mut c = Command::new(&bin);
        c.args(args).env("MONGODB_URI", &uri);
        c
    };

    step("creating or reusing the app `demo`");
    let keys_file = state.join("demo-app.json");
    let listed = collector(&["apps", "list"]).output()?;
    if !listed.status.success() {
        bail!(
            "apps list failed: {}",
            String::from_utf8_lossy(&listed.stderr)
        );
    }
    let exists = String::from_utf8_lossy(&listed.stdout).contains("\"id\":\"demo\"");
    let keys = if exists && keys_file.exists() {
        std::fs::read_to_string(&keys_file)?
    } else {
        let out = if exists {
            // Keys were lost: issue new ones.
            let wk = collector(&["apps", "rotate-key", "demo"]).output()?;
            let rt = collector(&["apps", "rotate-key", "demo", "--read-token"]).output()?;
            let field = |o: &std::process::Output, f: &str| {
                let s = String::from_utf8_lossy(&o.stdout).to_string();
                json_field(&s, f).unwrap_or_default()
            };
            format!(
                "{{\"id\":\"demo\",\"write_key\":\"{}\",\"read_token\":\"{}\"}}",
                field(&wk, "write_key"),
                field(&rt, "read_token")
            )
        } else {
            let o = collector(&[
                "apps",
                "create",
                "demo",
                "--origin",
                "http://127.0.0.1:3000",
                "--origin",
                "http://localhost:3000",
            ])
            .output()?;
            if !o.status.success() {
                bail!("apps create failed: {}", String::from_utf8_lossy(&o.stderr));
            }
            String::from_utf8_lossy(&o.stdout).trim().to_owned()
        };
        std::fs::create_dir_all(&state)?;
        std::fs::write(&keys_file, &out)?;
        out
    };

    step(&format!("starting the collector on {listen}"));
    let log = state.join("collector.log");
    eprintln!("collector log: {}", log.display());
    // Each server is owned (stopped when the task ends) before it is waited for.
    let mut child = KillOnDrop(
        collector(&["serve", "--listen", &listen])
            .arg("--beacon-dir")
            .arg(&beacon_dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?,
    );
    let port = port_of(&listen, "--listen")?;
    wait_for_port(
        port,
        &mut child.0,
        "the collector",
        &log,
        Duration::from_secs(90),
    )?;
    let write_key = json_field(&keys, "write_key").unwrap_or_default();
    let read_token = json_field(&keys, "read_token").unwrap_or_default();

    step(&format!("starting the demo site on {site_listen}"));
    let site_log = state.join("demo-site.log");
    let mut site = KillOnDrop(
        Command::new(debug_bin("usagelens-demo-site"))
            .args([
                "--listen",
                &site_listen,
                "--collector",
                &format!("http://{listen}"),
            ])
            .args(["--app", "demo", "--write-key", &write_key])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&site_log)?)
            .spawn()?,
    );
    let site_port = port_of(&site_listen, "--site-listen")?;
    wait_for_port(
        site_port,
        &mut site.0,
        "the demo site",
        &site_log,
        Duration::from_secs(90),
    )?;
    println!(
        "\nUsageLens is running.\n\
         \n  demo site   http://{site_listen}   (open it in a browser; ?as=<user> signs in as another user)\
         \n  collector   http://{listen}   (health: http://{listen}/healthz)\
         \n  store       {uri}\
         \n  app         demo\
         \n  write key   {write_key}\
         \n  read token  {read_token}\
         \n  (keys saved in {})\
         \n\nSend a batch:\n  curl -s http://{listen}/v1/batch -H 'content-type: application/json' \\\n    -d '{{\"app\":\"demo\",\"key\":\"{write_key}\",\"events\":[{{\"id\":\"e1\",\"type\":\"click\",\"props\":{{\"widget\":\"export-csv\"}}}}]}}'\
         \n\nThe beacon (served from {}), on a page at http://localhost:3000 (an allowed origin):\
         \n  <script async src=\"http://{listen}/beacon.js\" data-app=\"demo\" data-key=\"{write_key}\"></script>\
         \n\nCtrl-C stops everything.",
        keys_file.display(),
        beacon_dir.display()
    );
    let status = child.0.wait()?;
    if !status.success() {
        bail!("the collector exited with {status}");
    }
    Ok(())
}
