//! `cargo xtask beacon`: the browser beacon, built into `target/beacon/`.
//!
//! 1. `cargo build -p usagelens-sdk-wasm --lib --target wasm32-unknown-unknown --profile beacon`
//! 2. `wasm-bindgen --target no-modules` (the CLI at exactly the version of
//!    the `wasm-bindgen` crate in Cargo.lock, installed with `cargo install`
//!    when missing or different)
//! 3. `wasm-opt -Oz` when binaryen is installed, kept only when it leaves the
//!    exported tables as they were (`beacon/wasm_opt.rs`)
//! 4. short import and export names in the wasm and the glue
//!    (`beacon/wasm_names.rs`)
//! 5. the loader `sdk-wasm/js/loader.js` with the host functions, the glue
//!    and the hashed wasm name put in its placeholders, minified
//!    (`beacon/bundle.rs`)
//! 6. the hashed files, their zopfli `.gz` and the manifest written
//!    (`beacon/output.rs`)
//!
//! The output: `usagelens-<hash>.wasm`, `beacon-<hash>.js`, `beacon.js` (the
//! same content under the fixed name of the script tag) and `manifest.json`
//! (`{"js": ..., "wasm": ...}`), where `<hash>` is the first 12 hex digits of
//! the file's SHA-256. The collector serves that directory with
//! `--beacon-dir`. `cargo xtask test` checks its size budget
//! (`beacon/budget.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::tools::{ensure_wasm_bindgen, ensure_wasm_target};
use crate::workspace::{cargo, run, step, target_dir};

mod budget;
mod bundle;
mod output;
mod wasm;
mod wasm_names;
mod wasm_opt;

pub(crate) use budget::check_size_budget;

const TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "beacon";
/// The `[lib] name` of `sdk-wasm`.
const LIB: &str = "usagelens_beacon";
/// The beacon is built without the `reference-types` target feature: then
/// wasm-bindgen keeps JS values in a small array in the glue rather than an
/// externref table. The wasm is 4% smaller, and any binaryen can optimize it
/// (108, Debian 12's, corrupts the export of an externref table).
///
/// `usagelens_trap_oom` gives the beacon an allocation-error handler that
/// traps (`sdk-wasm/src/page.rs`), which needs the unstable
/// `alloc_error_handler`: [`BOOTSTRAP_CRATES`] allows it in that one crate
/// (ADR 008).
const RUSTFLAGS: &str = "-Ctarget-feature=-reference-types\x1f--cfg\x1fusagelens_trap_oom";
/// `RUSTC_BOOTSTRAP` for the beacon build: unstable features in the beacon's
/// own crate only (no dependency sees a nightly compiler).
const BOOTSTRAP_CRATES: &str = "usagelens_beacon";

/// The directory the beacon is built into.
fn out_dir() -> PathBuf {
    target_dir().join("beacon")
}

/// Builds the beacon into [`out_dir`] and returns it.
pub(crate) fn build_beacon() -> Result<PathBuf> {
    step("building the beacon (sdk-wasm) for wasm32-unknown-unknown, profile `beacon`");
    ensure_wasm_target()?;
    let bindgen = ensure_wasm_bindgen()?;
    run(cargo()
        .args([
            "build",
            "-p",
            "usagelens-sdk-wasm",
            "--lib",
            "--target",
            TARGET,
            "--profile",
            PROFILE,
        ])
        .env("CARGO_ENCODED_RUSTFLAGS", RUSTFLAGS)
        .env("RUSTC_BOOTSTRAP", BOOTSTRAP_CRATES))?;
    let wasm = target_dir()
        .join(TARGET)
        .join(PROFILE)
        .join(format!("{LIB}.wasm"));
    if !wasm.exists() {
        bail!(
            "the build left no {}: sdk-wasm must stay a cdylib named `{LIB}`",
            wasm.display()
        );
    }

    step("generating the JS glue (wasm-bindgen --target no-modules)");
    let work = target_dir().join("beacon-bindgen");
    if work.exists() {
        std::fs::remove_dir_all(&work)
            .with_context(|| format!("cannot empty {}", work.display()))?;
    }
    run(Command::new(&bindgen)
        .args(["--target", "no-modules", "--no-typescript"])
        // The loader always passes the wasm's URL.
        .arg("--omit-default-module-path")
        // Of no use in the browser (already gone while the profile strips symbols).
        .args(["--remove-name-section", "--remove-producers-section"])
        .arg("--out-dir")
        .arg(&work)
        .arg(&wasm))?;
    let glue_path = work.join(format!("{LIB}.js"));
    let bg_path = work.join(format!("{LIB}_bg.wasm"));
    wasm_opt::optimize(&bg_path)?;
    step("shortening the import and export names (xtask/src/beacon/wasm_names.rs)");
    let (short_wasm, short_glue) = wasm_names::shorten(
        &std::fs::read(&bg_path).with_context(|| format!("cannot read {}", bg_path.display()))?,
        &std::fs::read_to_string(&glue_path)
            .with_context(|| format!("cannot read {}", glue_path.display()))?,
    )?;
    std::fs::write(&bg_path, short_wasm)?;
    std::fs::write(&glue_path, bundle::without_init_sync(&short_glue)?)?;

    step(&format!("assembling the loader ({})", bundle::LOADER));
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    let glue =
        String::from_utf8(read(&glue_path)?).context("the wasm-bindgen glue is not UTF-8")?;
    let (loader, glue) = bundle::loader_with_host(&glue)?;
    let out = out_dir();
    let built = output::write_output(&out, &loader, &glue, &read(&bg_path)?)?;
    built.print_sizes(&out);
    Ok(out)
}
