//! The project's task runner: `cargo xtask <task>`.
//!
//! | task | what it does |
//! |---|---|
//! | `demo` | builds the beacon, starts the local store (unless `MONGODB_URI` is set), the collector, creates or reuses the app `demo`, prints URLs and keys, runs until Ctrl-C |
//! | `test` | installs what the tests need, builds the beacon, starts a throwaway local store (unless `MONGODB_URI` is set), runs every test |
//! | `beacon` | builds the browser beacon into `target/beacon/` (see `beacon.rs`) |
//! | `bench ingest` | the ingest benchmarks of `BENCHMARKS.md` |
//! | `store` | just the local store, on a free port, until Ctrl-C |
//!
//! The local store is SecantusDB, pinned below, installed from PyPI into a
//! project-local virtualenv under `target/usagelens-tools/`.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

mod beacon;
mod wasm_names;
use beacon::build_beacon;

/// The SecantusDB release the project is tested against.
const SECANTUS_VERSION: &str = "0.7.0b3";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["test", rest @ ..] => test(rest),
        ["demo", rest @ ..] => demo(rest),
        ["beacon"] => build_beacon().map(|_| ()),
        ["bench", "ingest", rest @ ..] => bench_ingest(rest),
        ["bench", "beacon", rest @ ..] => bench_beacon(rest),
        ["bench", "query", rest @ ..] => bench_query(rest),
        ["store", rest @ ..] => store_only(rest),
        ["simulate", rest @ ..] => simulate(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  \
                 demo              run the system: local store, collector, app `demo`\n  \
                 test [ARGS..]     run every test (ARGS go to `cargo test`)\n  \
                 beacon            build the browser beacon into target/beacon\n  \
                 bench ingest      the ingest benchmarks (see BENCHMARKS.md)\n  \
                 bench beacon      the beacon's main-thread cost in headless Chromium\n  \
                 bench query       the query engine and API over 1 M events against the bare pipelines\n  \
                 store             run only the local store\n  \
                 simulate [--users N] [--history 7d]   drive the running demo like real users\n\n\
                 With MONGODB_URI set, tasks use that server instead of a local store."
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn step(what: &str) {
    eprintln!("\n==> {what}");
}

// ---------------------------------------------------------------------------
// The local store

/// A running local store; stopped on drop.
struct LocalStore {
    child: Child,
    uri: String,
}

impl Drop for LocalStore {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The project-local Python virtualenv (`target/usagelens-tools/venv`),
/// created when missing: SecantusDB and the Python client's tests live there.
fn tools_venv() -> Result<PathBuf> {
    let venv = target_dir().join("usagelens-tools").join("venv");
    if venv.join("bin").join("pip").exists() {
        return Ok(venv);
    }
    let python = ["python3", "python"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .context("python3 is needed for the local store (SecantusDB) and the Python client; install Python 3.10+")?;
    run(Command::new(python).args(["-m", "venv"]).arg(&venv))?;
    Ok(venv)
}

/// Installs SecantusDB into the project-local virtualenv (once).
fn install_store() -> Result<PathBuf> {
    let venv = target_dir().join("usagelens-tools").join("venv");
    let server = venv.join("bin").join("secantusd-py");
    let marker = venv.join(format!(".secantus-{SECANTUS_VERSION}"));
    if server.exists() && marker.exists() {
        return Ok(server);
    }
    step(&format!(
        "installing SecantusDB {SECANTUS_VERSION} into {}",
        venv.display()
    ));
    let venv = tools_venv()?;
    run(Command::new(venv.join("bin").join("pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        &format!("SecantusDB=={SECANTUS_VERSION}"),
    ]))?;
    if !server.exists() {
        bail!("SecantusDB installed, but {} is missing", server.display());
    }
    std::fs::write(&marker, SECANTUS_VERSION)?;
    Ok(server)
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(port: u16, child: &mut Child, what: &str, log: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            bail!("{what} exited with {status} before listening:\n{tail}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "{what} did not listen on port {port} within 90 s (log: {})",
        log.display()
    )
}

/// Starts the local store on a free port. `data`: a directory that persists,
/// or `None` for an in-memory store that vanishes with the process.
fn start_store(data: Option<&Path>) -> Result<LocalStore> {
    start_store_with(&install_store()?, data)
}

/// Starts `server` (`secantusd-py` or `secantusd-rs`, which take the same
/// flags) on a free port.
fn start_store_with(server: &Path, data: Option<&Path>) -> Result<LocalStore> {
    let port = free_port()?;
    let logs = target_dir().join("usagelens-tools").join("logs");
    std::fs::create_dir_all(&logs)?;
    let log = logs.join(format!("store-{port}.log"));
    let storage = match data {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.display().to_string()
        }
        None => ":memory:".to_owned(),
    };
    step(&format!(
        "starting the local store (SecantusDB) on 127.0.0.1:{port}"
    ));
    let mut child = Command::new(server)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--storage-path", &storage, "--log-level", "WARNING"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::options().append(true).open(&log)?)
        .spawn()
        .with_context(|| format!("cannot start {}", server.display()))?;
    wait_for_port(port, &mut child, "the local store", &log)?;
    Ok(LocalStore {
        child,
        uri: format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
    })
}

/// `MONGODB_URI` if set, else a local store started now.
fn store_uri(data: Option<&Path>) -> Result<(String, Option<LocalStore>)> {
    if let Some(uri) = env_store_uri() {
        return Ok((uri, None));
    }
    let s = start_store(data)?;
    Ok((s.uri.clone(), Some(s)))
}

/// `MONGODB_URI`, when set: then no local store is started.
fn env_store_uri() -> Option<String> {
    let uri = std::env::var("MONGODB_URI")
        .ok()
        .filter(|u| !u.is_empty())?;
    eprintln!("using MONGODB_URI (no local store started)");
    Some(uri)
}

/// The collector and demo site binaries (`target/debug`).
fn build_binaries() -> Result<()> {
    run(cargo().args([
        "build",
        "--quiet",
        "-p",
        "usagelens-collector",
        "-p",
        "usagelens-demo-site",
    ]))
}

// ---------------------------------------------------------------------------
// Tasks

fn test(extra: &[&str]) -> Result<()> {
    step("checking that the protocol crate builds for wasm32-unknown-unknown");
    ensure_wasm_target()?;
    run(cargo().args([
        "check",
        "--quiet",
        "-p",
        "usagelens-protocol",
        "--target",
        "wasm32-unknown-unknown",
    ]))?;
    ensure_browser_tools()?;
    let beacon_dir = build_beacon()?;
    beacon::check_size_budget(&beacon_dir)?;
    let chromedriver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.to_owned());
    step("building the collector and demo site binaries for the end-to-end tests");
    build_binaries()?;
    let (uri, _store) = store_uri(None)?;
    step("running the tests (unit, integration, end-to-end, browser; benchmarks once each, in test mode)");
    let bin = target_dir().join("debug").join("usagelens-collector");
    run(cargo()
        .args([
            "test",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--no-fail-fast",
        ])
        .args(extra)
        .env("MONGODB_URI", &uri)
        .env("USAGELENS_COLLECTOR_BIN", &bin)
        .env("USAGELENS_BEACON_DIR", &beacon_dir)
        .env("CHROMEDRIVER", &chromedriver))?;
    step("running the beacon's browser tests in headless Chromium (wasm-bindgen-test)");
    run(cargo()
        .args([
            "test",
            "-p",
            "usagelens-sdk-wasm",
            "--target",
            "wasm32-unknown-unknown",
            // `wasm-bindgen-test` brings `std`: without the shipped build's
            // own panic handler and allocator (the `standalone` feature).
            "--no-default-features",
        ])
        .env("CHROMEDRIVER", &chromedriver)
        .env("WASM_BINDGEN_TEST_TIMEOUT", "120"))?;
    client_tests(&uri, &bin)?;
    step("running the documentation examples");
    run(cargo()
        .args(["test", "--workspace", "--all-features", "--doc"])
        .env("MONGODB_URI", &uri))?;
    Ok(())
}

/// The Python client's pytest suite and the JavaScript client's type check
/// and `node --test` suite, each against collectors they start themselves
/// (`bin`) on the store at `uri`.
fn client_tests(uri: &str, bin: &Path) -> Result<()> {
    let root = root();
    step("installing the Python client with its test extras (pip) into the tools venv");
    let venv = tools_venv()?;
    run(Command::new(venv.join("bin").join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("{}[test]", root.join("clients/python").display())))?;
    step("running the Python client's tests (pytest, clients/python/tests)");
    run(Command::new(venv.join("bin").join("python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root.join("clients/python/tests"))
        .current_dir(&root)
        .env("MONGODB_URI", uri)
        .env("USAGELENS_COLLECTOR_BIN", bin))?;

    ensure_node()?;
    let js = root.join("clients/js");
    step("installing the JavaScript client's dev dependencies (npm ci, clients/js)");
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&js))?;
    step("type-checking the JavaScript client's TypeScript declarations (tsc)");
    run(Command::new("npx")
        .args(["--no-install", "tsc", "-p", "."])
        .current_dir(&js))?;
    step("running the JavaScript client's tests (node --test, clients/js/test)");
    let tests: Vec<PathBuf> = std::fs::read_dir(js.join("test"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".test.js"))
        .collect();
    if tests.is_empty() {
        bail!("clients/js/test has no *.test.js files");
    }
    run(Command::new("node")
        .arg("--test")
        .args(&tests)
        .current_dir(&js)
        .env("MONGODB_URI", uri)
        .env("USAGELENS_COLLECTOR_BIN", bin))?;
    Ok(())
}

/// Node.js 18 or later (the JavaScript client's tests), from Debian's
/// packages when missing.
fn ensure_node() -> Result<()> {
    let major = |out: &[u8]| -> Option<u32> {
        String::from_utf8_lossy(out)
            .trim()
            .strip_prefix('v')?
            .split('.')
            .next()?
            .parse()
            .ok()
    };
    let version = Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| major(&o.stdout));
    let has_npm = Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    match version {
        Some(v) if v >= 18 && has_npm => return Ok(()),
        Some(v) if v < 18 => {
            bail!("Node.js {v} is installed; the JavaScript client needs 18 or later")
        }
        _ => {}
    }
    step("installing nodejs and npm (apt-get) for the JavaScript client's tests");
    run(Command::new("apt-get").args(["install", "-y", "--no-install-recommends", "nodejs", "npm"]))
        .context("the JavaScript client's tests need Node.js 18+ and npm: install them")
}

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Headless Chromium and chromedriver for the browser tests (and binaryen's
/// wasm-opt for the beacon), from Debian's packages when missing.
fn ensure_browser_tools() -> Result<()> {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return Ok(());
    }
    step("installing chromium, chromium-driver and binaryen (apt-get) for the browser tests");
    let hint = "the browser tests need /usr/bin/chromium and /usr/bin/chromedriver: \
                as root, run `apt-get update && apt-get install -y chromium chromium-driver binaryen`";
    run(Command::new("apt-get").args(["update", "-q"])).context(hint)?;
    run(Command::new("apt-get")
        .args([
            "install",
            "-y",
            "-q",
            "chromium",
            "chromium-driver",
            "binaryen",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive"))
    .context(hint)?;
    for p in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(p).exists() {
            bail!("{p} is still missing after apt-get install; {hint}");
        }
    }
    Ok(())
}

fn ensure_wasm_target() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match out {
        Ok(o) if String::from_utf8_lossy(&o.stdout).contains("wasm32-unknown-unknown") => Ok(()),
        Ok(_) => run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"])),
        Err(e) => bail!("rustup is needed to add the wasm32-unknown-unknown target: {e}"),
    }
}

fn demo(args: &[&str]) -> Result<()> {
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
    let bin = target_dir().join("debug").join("usagelens-collector");
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
    let mut child = collector(&["serve", "--listen", &listen])
        .arg("--beacon-dir")
        .arg(&beacon_dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    let port = port_of(&listen, "--listen")?;
    wait_for_port(port, &mut child, "the collector", &log)?;
    let write_key = json_field(&keys, "write_key").unwrap_or_default();
    let read_token = json_field(&keys, "read_token").unwrap_or_default();

    step(&format!("starting the demo site on {site_listen}"));
    let site_log = state.join("demo-site.log");
    let mut site = Command::new(target_dir().join("debug").join("usagelens-demo-site"))
        .args([
            "--listen",
            &site_listen,
            "--collector",
            &format!("http://{listen}"),
        ])
        .args(["--app", "demo", "--write-key", &write_key])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&site_log)?)
        .spawn()?;
    let site_port = port_of(&site_listen, "--site-listen")?;
    wait_for_port(site_port, &mut site, "the demo site", &site_log)?;
    let _site = KillOnDrop(site);
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
    let status = child.wait()?;
    if !status.success() {
        bail!("the collector exited with {status}");
    }
    Ok(())
}

/// `cargo xtask simulate`: drives the demo that `cargo xtask demo` runs.
fn simulate(args: &[&str]) -> Result<()> {
    let keys_file = root().join(".usagelens").join("demo-app.json");
    let keys = std::fs::read_to_string(&keys_file).with_context(|| {
        format!(
            "{} is missing: start the demo first (`cargo xtask demo` in another terminal)",
            keys_file.display()
        )
    })?;
    let write_key = json_field(&keys, "write_key").context("no write key in demo-app.json")?;
    if TcpStream::connect("127.0.0.1:3000").is_err() {
        bail!("the demo site is not running on 127.0.0.1:3000: start `cargo xtask demo` in another terminal first");
    }
    if !args.contains(&"--history") {
        ensure_browser_tools()?;
    }
    run(cargo()
        .args([
            "run",
            "--quiet",
            "-p",
            "usagelens-demo-site",
            "--bin",
            "usagelens-simulate",
            "--",
        ])
        .args(["--write-key", &write_key])
        .args(args))
}

/// The port of an `ADDR:PORT` option.
fn port_of(addr: &str, flag: &str) -> Result<u16> {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("{flag} must end in :PORT"))
}

/// A child process stopped when the task ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn store_only(_args: &[&str]) -> Result<()> {
    let mut s = start_store(Some(&root().join(".usagelens").join("store")))?;
    println!("MONGODB_URI={}\nCtrl-C stops it.", s.uri);
    s.child.wait()?;
    Ok(())
}

fn bench_beacon(extra: &[&str]) -> Result<()> {
    ensure_browser_tools()?;
    let beacon_dir = build_beacon()?;
    run(cargo().args(["build", "--quiet", "--release", "-p", "usagelens-collector"]))?;
    let (uri, _store) = store_uri(None)?;
    step("beacon main-thread benchmark (headless Chromium)");
    let bin = target_dir().join("release").join("usagelens-collector");
    run(cargo()
        .args(["bench", "-p", "usagelens-e2e", "--bench", "beacon", "--"])
        .args(extra)
        .env("MONGODB_URI", &uri)
        .env("USAGELENS_COLLECTOR_BIN", &bin)
        .env("USAGELENS_BEACON_DIR", &beacon_dir))?;
    Ok(())
}

fn bench_ingest(extra: &[&str]) -> Result<()> {
    let (uri, _store) = store_uri(None)?;
    step("ingest benchmarks");
    run(cargo()
        .args([
            "bench",
            "-p",
            "usagelens-collector",
            "--bench",
            "ingest",
            "--",
        ])
        .args(extra)
        .env("MONGODB_URI", &uri))?;
    Ok(())
}

/// SecantusDB's Rust server, when installed (`cargo +1.98.0 install
/// secantus-mdb --version 0.5.3-beta.196`): about 7x the Python server's
/// insert rate, which makes a million events practical.
fn rust_store() -> Option<PathBuf> {
    let installed = beacon::cargo_home().join("bin").join("secantusd-rs");
    [PathBuf::from("secantusd-rs"), installed]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("--help")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

fn bench_query(extra: &[&str]) -> Result<()> {
    let (uri, _store) = match env_store_uri() {
        Some(uri) => (uri, None),
        None => match rust_store() {
            Some(server) => {
                // On disk, kept between runs: the benchmark reuses the loaded events.
                let data = target_dir().join("usagelens-tools").join("bench-store");
                let s = start_store_with(&server, Some(&data))?;
                (s.uri.clone(), Some(s))
            }
            None => {
                eprintln!(
                    "note: secantusd-rs is not installed; the Python server loads a million \
                     events slowly (set BENCH_EVENTS lower, or install it: \
                     `cargo +1.98.0 install secantus-mdb --version 0.5.3-beta.196`)"
                );
                let s = start_store(None)?;
                (s.uri.clone(), Some(s))
            }
        },
    };
    step("query benchmark (collector/benches/query.rs)");
    run(cargo()
        .args([
            "bench",
            "-p",
            "usagelens-collector",
            "--bench",
            "query",
            "--",
        ])
        .args(extra)
        .env("MONGODB_URI", &uri))?;
    Ok(())
}

/// A string field of a flat JSON object (xtask stays dependency-light).
fn json_field(json: &str, field: &str) -> Option<String> {
    let pat = format!("\"{field}\":\"");
    let start = json.find(&pat)? + pat.len();
    let len = json[start..].find('"')?;
    Some(json[start..start + len].to_owned())
}
