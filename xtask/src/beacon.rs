//! `cargo xtask beacon`: the browser beacon, built into `target/beacon/`.
//!
//! 1. `cargo build -p usagelens-sdk-wasm --lib --target wasm32-unknown-unknown --profile beacon`
//! 2. `wasm-bindgen --target no-modules` (the CLI at exactly the version of
//!    the `wasm-bindgen` crate in Cargo.lock, installed with `cargo install`
//!    when missing or different)
//! 3. `wasm-opt -Oz` when binaryen ≥ 110 is installed (older ones corrupt
//!    wasm-bindgen's externref table export; Debian 12 ships 108)
//! 4. the loader `sdk-wasm/js/loader.js` with the glue and the hashed wasm
//!    name put in its placeholders
//!
//! The output: `usagelens-<hash>.wasm`, `beacon-<hash>.js`, `beacon.js` (the
//! same content under the fixed name of the script tag) and `manifest.json`
//! (`{"js": ..., "wasm": ...}`), where `<hash>` is the first 12 hex digits of
//! the file's SHA-256. The collector serves that directory with
//! `--beacon-dir`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::{cargo, ensure_wasm_target, root, run, step, target_dir};

const TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "beacon";
/// The `[lib] name` of `sdk-wasm`.
const LIB: &str = "usagelens_beacon";
/// Where the loader template sits, relative to the workspace root.
const LOADER: &str = "sdk-wasm/js/loader.js";
/// Replaced by the whole wasm-bindgen glue.
const GLUE_PLACEHOLDER: &str = "/*@@GLUE@@*/";
/// The host functions the wasm calls (`__ulh`), put in the loader's scope.
const HOST: &str = "sdk-wasm/js/host.js";
/// Replaced by the text of [`HOST`].
const HOST_PLACEHOLDER: &str = "/*@@HOST@@*/";
/// Replaced by the hashed wasm file name.
const WASM_PLACEHOLDER: &str = "@@WASM_FILE@@";
const HASH_LEN: usize = 12;
/// The beacon is built without the `reference-types` target feature: then
/// wasm-bindgen keeps JS values in a small array in the glue rather than an
/// externref table. The wasm is 4% smaller, and any binaryen can optimize it
/// (108, Debian 12's, corrupts the export of an externref table).
const RUSTFLAGS: &str = "-Ctarget-feature=-reference-types";
/// What binaryen 108 must be told the Rust wasm32 target emits.
const WASM_OPT_FEATURES: [&str; 5] = [
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-multivalue",
];

/// Issue 3's budget: `beacon.js` plus the wasm, as served gzipped.
pub const SIZE_BUDGET_BYTES: u64 = 20_000;

/// Fails when the built beacon (`<file>.gz` of the script and the wasm of
/// the manifest in `out`) is over [`SIZE_BUDGET_BYTES`]: a size is not noisy,
/// so the budget is checked on every test run, not only benchmarked.
pub fn check_size_budget(out: &Path) -> Result<()> {
    let manifest = std::fs::read_to_string(out.join("manifest.json"))
        .context("the beacon build has no manifest.json")?;
    let field = |name: &str| -> Result<String> {
        let key = format!("\"{name}\":\"");
        let start = manifest
            .find(&key)
            .with_context(|| format!("manifest.json has no `{name}`"))?
            + key.len();
        let len = manifest[start..]
            .find('"')
            .context("manifest.json is cut short")?;
        Ok(manifest[start..start + len].to_owned())
    };
    let mut total = 0;
    for file in [field("js")?, field("wasm")?] {
        let gz = out.join(format!("{file}.gz"));
        total += std::fs::metadata(&gz)
            .with_context(|| format!("cannot read {}", gz.display()))?
            .len();
    }
    if total > SIZE_BUDGET_BYTES {
        bail!(
            "the beacon is {total} B gzipped, over its budget of {SIZE_BUDGET_BYTES} B \
             (issue 3; see BENCHMARKS.md and docs/adr/005-beacon-host-and-size.md)"
        );
    }
    println!("beacon size: {total} B gzipped, budget {SIZE_BUDGET_BYTES} B");
    Ok(())
}

/// The directory the beacon is built into.
pub fn out_dir() -> PathBuf {
    target_dir().join("beacon")
}

/// Builds the beacon into [`out_dir`] and returns it.
pub fn build_beacon() -> Result<PathBuf> {
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
        .env("CARGO_ENCODED_RUSTFLAGS", RUSTFLAGS))?;
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
    optimize(&bg_path)?;
    step("shortening the import and export names (xtask/src/wasm_names.rs)");
    let (short_wasm, short_glue) = crate::wasm_names::shorten(
        &std::fs::read(&bg_path).with_context(|| format!("cannot read {}", bg_path.display()))?,
        &std::fs::read_to_string(&glue_path)
            .with_context(|| format!("cannot read {}", glue_path.display()))?,
    )?;
    std::fs::write(&bg_path, short_wasm)?;
    std::fs::write(&glue_path, without_init_sync(&short_glue)?)?;

    step(&format!("assembling the loader ({LOADER})"));
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    let glue =
        String::from_utf8(read(&glue_path)?).context("the wasm-bindgen glue is not UTF-8")?;
    let loader_path = root().join(LOADER);
    let loader = std::fs::read_to_string(&loader_path).with_context(|| {
        format!(
            "cannot read the loader template {} (it holds the `{GLUE_PLACEHOLDER}` and `{WASM_PLACEHOLDER}` placeholders)",
            loader_path.display()
        )
    })?;
    let host_path = root().join(HOST);
    let host = std::fs::read_to_string(&host_path).with_context(|| {
        format!(
            "cannot read the beacon's host functions {}",
            host_path.display()
        )
    })?;
    if loader.matches(HOST_PLACEHOLDER).count() != 1 {
        bail!("{LOADER} must hold `{HOST_PLACEHOLDER}` once: the host functions ({HOST}) go there");
    }
    let loader = loader.replacen(HOST_PLACEHOLDER, host.trim_end(), 1);
    let out = out_dir();
    let built = write_output(&out, &loader, &glue, &read(&bg_path)?)?;
    built.print_sizes(&out);
    Ok(out)
}

/// The glue without `initSync` (the loader instantiates asynchronously,
/// off the main thread), so the minifier drops it and its warnings.
fn without_init_sync(glue: &str) -> Result<String> {
    const WITH: &str = "Object.assign(__wbg_init, { initSync }, exports)";
    const WITHOUT: &str = "Object.assign(__wbg_init, exports)";
    if glue.matches(WITH).count() != 1 {
        bail!(
            "the wasm-bindgen glue no longer ends with `{WITH}`: update `without_init_sync` in {}",
            file!()
        );
    }
    Ok(glue.replacen(WITH, WITHOUT, 1))
}

/// The `wasm-bindgen` CLI at the version of the `wasm-bindgen` crate in
/// Cargo.lock (the two must match exactly), installed when needed.
fn ensure_wasm_bindgen() -> Result<PathBuf> {
    let version = locked_version("wasm-bindgen")?;
    let installed = cargo_home().join("bin").join("wasm-bindgen");
    for candidate in [PathBuf::from("wasm-bindgen"), installed.clone()] {
        if bindgen_version(&candidate).as_deref() == Some(version.as_str()) {
            return Ok(candidate);
        }
    }
    step(&format!(
        "installing wasm-bindgen-cli {version} (the version of wasm-bindgen in Cargo.lock)"
    ));
    run(Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())).args([
        "install",
        "wasm-bindgen-cli",
        "--version",
        &version,
    ]))
    .context("cannot install wasm-bindgen-cli: crates.io must be reachable (or install it by hand with the command above)")?;
    match bindgen_version(&installed) {
        Some(v) if v == version => Ok(installed),
        found => bail!(
            "after `cargo install wasm-bindgen-cli --version {version}`, {} reports {found:?}, not {version}",
            installed.display()
        ),
    }
}

pub(crate) fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
}

/// `wasm-bindgen --version` prints `wasm-bindgen 0.2.130` (maybe followed
/// by a commit); `None` when it cannot run.
fn bindgen_version(bin: &Path) -> Option<String> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(1).map(str::to_owned)
}

/// The one version of `package` in Cargo.lock.
fn locked_version(package: &str) -> Result<String> {
    let path = root().join("Cargo.lock");
    let lock = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let versions = lock_versions(&lock, package);
    match versions.as_slice() {
        [v] => Ok(v.clone()),
        [] => bail!("Cargo.lock has no `{package}` package: run `cargo generate-lockfile`"),
        many => bail!(
            "Cargo.lock has several versions of `{package}` ({}); the CLI must match exactly one: \
             `cargo update -p {package}` to unify them",
            many.join(", ")
        ),
    }
}

/// The versions of `package` in the text of a Cargo.lock.
fn lock_versions(lock: &str, package: &str) -> Vec<String> {
    let name_line = format!("name = \"{package}\"");
    let mut versions = Vec::new();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == name_line {
            let version = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \""))
                .and_then(|v| v.strip_suffix('"'));
            if let Some(v) = version {
                versions.push(v.to_owned());
            }
        }
    }
    versions
}

/// The first binaryen release that writes the export of a module's second
/// table correctly: 108 and older point wasm-bindgen's
/// `__wbindgen_externrefs` at the funcref table, and the beacon fails in
/// the browser at `__wbindgen_init_externref_table` (binaryen issue 4711).
const WASM_OPT_MIN_VERSION: u32 = 110;

/// `wasm-opt -Oz` in place, when a binaryen that handles wasm-bindgen's
/// output is installed; otherwise the wasm stays as wasm-bindgen wrote it
/// (about 15% larger, 3% over the wire).
fn optimize(wasm: &Path) -> Result<()> {
    let version = Command::new("wasm-opt")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let Some(version) = version else {
        eprintln!(
            "note: wasm-opt not found: the wasm is not size-optimized further \
             (install binaryen {WASM_OPT_MIN_VERSION} or later)"
        );
        return Ok(());
    };
    // Binaryen before 110 corrupts an externref table's export; the beacon has
    // none (see RUSTFLAGS), and the table check below keeps the unoptimized
    // wasm should that ever change.
    if wasm_opt_version(&version).is_some_and(|v| v < WASM_OPT_MIN_VERSION) {
        eprintln!(
            "note: wasm-opt before {WASM_OPT_MIN_VERSION}: fine for this module (no externref table)"
        );
    }
    step(&format!(
        "optimizing the wasm for size ({}, -Oz)",
        version.trim()
    ));
    let optimized = wasm.with_extension("opt.wasm");
    run(Command::new("wasm-opt")
        .arg("-Oz")
        .args(WASM_OPT_FEATURES)
        .arg(wasm)
        .arg("-o")
        .arg(&optimized))?;
    let before = exported_tables(&std::fs::read(wasm)?);
    let after = exported_tables(&std::fs::read(&optimized)?);
    if before.is_some() && before == after {
        std::fs::rename(&optimized, wasm)?;
    } else {
        let show = |t: &Option<Vec<(String, u8)>>| match t {
            None => "unreadable".to_owned(),
            Some(t) => t
                .iter()
                .map(|(name, ty)| match ty {
                    0x70 => format!("{name}: funcref"),
                    0x6f => format!("{name}: externref"),
                    _ => format!("{name}: type {ty:#x}"),
                })
                .collect::<Vec<_>>()
                .join(", "),
        };
        eprintln!(
            "warning: wasm-opt changed the module's exported tables ({} -> {}): \
             keeping the unoptimized wasm",
            show(&before),
            show(&after)
        );
        std::fs::remove_file(&optimized)?;
    }
    Ok(())
}

/// `wasm-opt version 108` or `wasm-opt version 116 (version_116)` -> the number.
fn wasm_opt_version(output: &str) -> Option<u32> {
    output
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)?
        .parse()
        .ok()
}

/// Each exported table's name and element type (0x70 funcref, 0x6f
/// externref), from the module's import, table and export sections; `None`
/// if the module cannot be read.
fn exported_tables(wasm: &[u8]) -> Option<Vec<(String, u8)>> {
    use crate::wasm_names::Reader;
    let mut r = Reader(wasm);
    if r.bytes(8).ok()? != b"\0asm\x01\0\0\0" {
        return None;
    }
    let mut scratch = Vec::new();
    let mut table_types = Vec::new();
    let mut exported = Vec::new();
    while !r.0.is_empty() {
        let id = r.byte().ok()?;
        let size = r.leb().ok()? as usize;
        let mut s = Reader(r.bytes(size).ok()?);
        match id {
            // Imports: imported tables come first in the table index space.
            2 => {
                for _ in 0..s.leb().ok()? {
                    s.name().ok()?;
                    s.name().ok()?;
                    match s.byte().ok()? {
                        0 => {
                            s.leb().ok()?;
                        }
                        1 => {
                            table_types.push(s.byte().ok()?);
                            s.limits(&mut scratch).ok()?;
                        }
                        2 => s.limits(&mut scratch).ok()?,
                        3 => {
                            s.bytes(2).ok()?;
                        }
                        4 => {
                            s.byte().ok()?;
                            s.leb().ok()?;
                        }
                        _ => return None,
                    }
                }
            }
            4 => {
                for _ in 0..s.leb().ok()? {
                    table_types.push(s.byte().ok()?);
                    s.limits(&mut scratch).ok()?;
                }
            }
            7 => {
                for _ in 0..s.leb().ok()? {
                    let name = s.name().ok()?.to_owned();
                    let kind = s.byte().ok()?;
                    let index = s.leb().ok()? as usize;
                    if kind == 1 {
                        exported.push((name, *table_types.get(index)?));
                    }
                }
            }
            _ => {}
        }
    }
    Some(exported)
}

/// The files of one build.
#[derive(Debug)]
struct Built {
    js_name: String,
    js: Vec<u8>,
    js_gz: Vec<u8>,
    wasm_name: String,
    wasm: Vec<u8>,
    wasm_gz: Vec<u8>,
}

/// The gzip the collector serves (`<file>.gz`): zopfli, about 7% smaller
/// than gzip -9 and inflated by any gzip decoder.
fn zopfli_gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    zopfli::compress(
        zopfli::Options::default(),
        zopfli::Format::Gzip,
        data,
        &mut out,
    )
    .context("zopfli into memory")?;
    Ok(out)
}

fn hash12(data: &[u8]) -> String {
    let hex = format!("{:x}", Sha256::digest(data));
    hex[..HASH_LEN].to_owned()
}

/// The loader with the glue and the wasm name in its placeholders.
fn assemble(loader: &str, glue: &str, wasm_name: &str) -> Result<String> {
    for placeholder in [GLUE_PLACEHOLDER, WASM_PLACEHOLDER] {
        if !loader.contains(placeholder) {
            bail!(
                "{LOADER} has no `{placeholder}` placeholder: the build puts the {} there",
                if placeholder == GLUE_PLACEHOLDER {
                    "wasm-bindgen glue"
                } else {
                    "hashed wasm file name"
                }
            );
        }
    }
    if loader.matches(GLUE_PLACEHOLDER).count() != 1 {
        bail!("{LOADER} has `{GLUE_PLACEHOLDER}` more than once: the glue goes in one place");
    }
    // The name first, so that the glue's own text is never touched.
    Ok(loader
        .replace(WASM_PLACEHOLDER, wasm_name)
        .replace(GLUE_PLACEHOLDER, glue))
}

/// The assembled script, minified with oxc (compress and mangle; a classic
/// script, so the page's globals are never renamed: everything sits in the
/// loader's function). The glue's own comments and long local names are
/// about 60% of its gzipped size.
fn minify_js(source: &str) -> Result<String> {
    use oxc_allocator::Allocator;
    use oxc_codegen::{Codegen, CodegenOptions};
    use oxc_minifier::{Minifier, MinifierOptions};
    use oxc_parser::Parser;
    use oxc_span::SourceType;

    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, source, SourceType::cjs()).parse();
    if parsed.panicked || parsed.diagnostics.has_errors() {
        bail!(
            "the assembled beacon.js does not parse (first error: {:?}): check {LOADER} and {HOST}",
            parsed.diagnostics.errors().next().map(ToString::to_string)
        );
    }
    let mut program = parsed.program;
    let minified = Minifier::new(MinifierOptions::default()).minify(&allocator, &mut program);
    Ok(Codegen::new()
        .with_options(CodegenOptions::minify())
        .with_scoping(minified.scoping)
        .build(&program)
        .code)
}

/// Writes the build into `out` (the manifest last) and removes the hashed
/// files of earlier builds.
fn write_output(out: &Path, loader: &str, glue: &str, wasm: &[u8]) -> Result<Built> {
    let wasm_name = format!("usagelens-{}.wasm", hash12(wasm));
    let js = minify_js(&assemble(loader, glue, &wasm_name)?)?.into_bytes();
    let js_name = format!("beacon-{}.js", hash12(&js));
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let manifest = format!("{{\"js\":\"{js_name}\",\"wasm\":\"{wasm_name}\"}}\n");
    let (js_gz, wasm_gz) = (zopfli_gzip(&js)?, zopfli_gzip(wasm)?);
    let names = |name: &str| [name.to_owned(), format!("{name}.gz")];
    let [wasm_file, wasm_gz_file] = names(&wasm_name);
    let [js_file, js_gz_file] = names(&js_name);
    let [tag_file, tag_gz_file] = names("beacon.js");
    // Each `.gz` before its file: the collector never sees a new file with a stale `.gz`.
    for (name, content) in [
        (&wasm_gz_file, &wasm_gz[..]),
        (&wasm_file, wasm),
        (&js_gz_file, &js_gz[..]),
        (&js_file, &js[..]),
        (&tag_gz_file, &js_gz[..]),
        (&tag_file, &js[..]),
        (&"manifest.json".to_owned(), manifest.as_bytes()),
    ] {
        write_atomically(&out.join(name), content)?;
    }
    for entry in std::fs::read_dir(out)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let file = name.strip_suffix(".gz").unwrap_or(&name);
        let hashed = (file.starts_with("usagelens-") && file.ends_with(".wasm"))
            || (file.starts_with("beacon-") && file.ends_with(".js"));
        if hashed && file != wasm_name && file != js_name {
            std::fs::remove_file(out.join(&name))
                .with_context(|| format!("cannot remove the stale {name}"))?;
        }
    }
    Ok(Built {
        js_name,
        js,
        js_gz,
        wasm_name,
        wasm: wasm.to_vec(),
        wasm_gz,
    })
}

fn write_atomically(path: &Path, content: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

impl Built {
    /// Raw and served gzip (`.gz`) sizes: the transfer size budget.
    fn print_sizes(&self, out: &Path) {
        let (js_gz, wasm_gz) = (self.js_gz.len(), self.wasm_gz.len());
        let rows = [
            (
                format!("beacon.js = {}", self.js_name),
                self.js.len(),
                js_gz,
            ),
            (self.wasm_name.clone(), self.wasm.len(), wasm_gz),
        ];
        println!("\nbeacon built in {}:", out.display());
        for (name, raw, gz) in rows {
            println!("  {name:<40} {raw:>9} B   gzip {gz:>8} B");
        }
        println!(
            "  {:<40} {:>9} B   gzip {:>8} B",
            "total",
            self.js.len() + self.wasm.len(),
            js_gz + wasm_gz
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_versions_finds_the_package_only() {
        let lock = "[[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n\n\
                    [[package]]\nname = \"wasm-bindgen-futures\"\nversion = \"0.4.53\"\n";
        assert_eq!(lock_versions(lock, "wasm-bindgen"), ["0.2.130"]);
        assert!(lock_versions(lock, "serde").is_empty());
    }

    #[test]
    fn wasm_opt_versions() {
        assert_eq!(wasm_opt_version("wasm-opt version 108\n"), Some(108));
        assert_eq!(
            wasm_opt_version("wasm-opt version 116 (version_116)"),
            Some(116)
        );
        assert_eq!(wasm_opt_version("something else"), None);
    }

    #[test]
    fn exported_tables_follow_the_table_index_space() {
        // One imported funcref table, then a defined externref table, and
        // two table exports.
        let module = |exports: &[u8]| {
            let mut m = b"\0asm\x01\0\0\0".to_vec();
            for (id, body) in [
                (2, &b"\x01\x01m\x01t\x01\x70\x00\x01"[..]),
                (4, b"\x01\x6f\x01\x00\x10"),
                (7, exports),
            ] {
                m.push(id);
                m.push(body.len() as u8);
                m.extend_from_slice(body);
            }
            m
        };
        let good = module(b"\x02\x03ext\x01\x01\x04func\x01\x00");
        assert_eq!(
            exported_tables(&good),
            Some(vec![("ext".to_owned(), 0x6f), ("func".to_owned(), 0x70)])
        );
        // What binaryen 108 writes: `ext` pointing at table 0.
        let broken = module(b"\x02\x03ext\x01\x00\x04func\x01\x00");
        assert_eq!(
            exported_tables(&broken),
            Some(vec![("ext".to_owned(), 0x70), ("func".to_owned(), 0x70)])
        );
        assert_eq!(exported_tables(b"not wasm"), None);
        assert_eq!(exported_tables(&good[..good.len() - 3]), None, "truncated");
    }

    #[test]
    fn assemble_fills_both_placeholders() {
        let loader = "var u = '/beacon/@@WASM_FILE@@';\n/*@@GLUE@@*/\nrun();";
        let glue = "let wasm_bindgen; /* mentions @@WASM_FILE@@ */";
        let js = assemble(loader, glue, "usagelens-0123456789ab.wasm").unwrap();
        assert_eq!(
            js,
            "var u = '/beacon/usagelens-0123456789ab.wasm';\nlet wasm_bindgen; /* mentions @@WASM_FILE@@ */\nrun();"
        );
        assert!(assemble("no placeholders", glue, "x").is_err());
        assert!(assemble("/*@@GLUE@@*/ /*@@GLUE@@*/ @@WASM_FILE@@", glue, "x").is_err());
    }

    #[test]
    fn output_is_hashed_and_stale_files_go() {
        let out = std::env::temp_dir().join(format!("xtask-beacon-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("usagelens-000000000000.wasm"), "old").unwrap();
        std::fs::write(out.join("beacon-000000000000.js"), "old").unwrap();
        std::fs::write(out.join("beacon-000000000000.js.gz"), "old").unwrap();
        std::fs::write(out.join("keep.txt"), "other").unwrap();
        let loader = "/*@@GLUE@@*/ load('@@WASM_FILE@@')";
        let built = write_output(&out, loader, "glue();", b"\0asm wasm").unwrap();
        assert_eq!(
            built.wasm_name,
            format!("usagelens-{}.wasm", hash12(b"\0asm wasm"))
        );
        assert_eq!(built.js_name, format!("beacon-{}.js", hash12(&built.js)));
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut expected = vec![
            "beacon.js".to_owned(),
            "beacon.js.gz".to_owned(),
            built.js_name.clone(),
            format!("{}.gz", built.js_name),
            "keep.txt".to_owned(),
            "manifest.json".to_owned(),
            built.wasm_name.clone(),
            format!("{}.gz", built.wasm_name),
        ];
        expected.sort();
        assert_eq!(names, expected);
        // Each `.gz` inflates to its file.
        for (gz, content) in [
            ("beacon.js.gz".to_owned(), &built.js[..]),
            (format!("{}.gz", built.js_name), &built.js[..]),
            (format!("{}.gz", built.wasm_name), &b"\0asm wasm"[..]),
        ] {
            let mut inflated = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(&std::fs::read(out.join(&gz)).unwrap()[..]),
                &mut inflated,
            )
            .unwrap();
            assert_eq!(inflated, content, "{gz}");
        }
        assert_eq!(std::fs::read(out.join("beacon.js")).unwrap(), built.js);
        assert_eq!(std::fs::read(out.join(&built.js_name)).unwrap(), built.js);
        assert_eq!(
            std::fs::read_to_string(out.join("manifest.json")).unwrap(),
            format!(
                "{{\"js\":\"{}\",\"wasm\":\"{}\"}}\n",
                built.js_name, built.wasm_name
            )
        );
        let _ = std::fs::remove_dir_all(&out);
    }

    #[test]
    fn the_size_budget_counts_the_served_gz_files() {
        let out =
            std::env::temp_dir().join(format!("usagelens-xtask-budget-{}", std::process::id()));
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(
            out.join("manifest.json"),
            "{\"js\":\"beacon-a.js\",\"wasm\":\"usagelens-b.wasm\"}\n",
        )
        .unwrap();
        let half = SIZE_BUDGET_BYTES as usize / 2;
        std::fs::write(out.join("beacon-a.js.gz"), vec![0u8; half]).unwrap();
        std::fs::write(out.join("usagelens-b.wasm.gz"), vec![0u8; half]).unwrap();
        check_size_budget(&out).unwrap();
        std::fs::write(out.join("usagelens-b.wasm.gz"), vec![0u8; half + 1]).unwrap();
        let err = check_size_budget(&out).unwrap_err().to_string();
        assert!(err.contains("over its budget"), "{err}");
        std::fs::remove_file(out.join("beacon-a.js.gz")).unwrap();
        assert!(
            check_size_budget(&out).is_err(),
            "a missing .gz is an error"
        );
        std::fs::remove_dir_all(&out).unwrap();
    }
}
