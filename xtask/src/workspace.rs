//! Where the workspace is, and how the tasks run cargo and other commands.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// `target/usagelens-tools`: the venv, logs and stores the tasks install and start.
pub(crate) fn tools_dir() -> PathBuf {
    target_dir().join("usagelens-tools")
}

pub(crate) fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
}

/// `cargo`, as the one running xtask, in the workspace root.
pub(crate) fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Runs `cmd` to the end; an error unless it succeeded.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Announces the next step of a task.
pub(crate) fn step(what: &str) {
    eprintln!("\n==> {what}");
}

/// The collector and demo site binaries (`target/debug`).
pub(crate) fn build_binaries() -> Result<()> {
    run(cargo().args([
        "build",
        "--quiet",
        "-p",
        "usagelens-collector",
        "-p",
        "usagelens-demo-site",
    ]))
}

/// A binary of the workspace in `target/debug`.
pub(crate) fn debug_bin(name: &str) -> PathBuf {
    target_dir().join("debug").join(name)
}

/// The one version of `package` in Cargo.lock.
pub(crate) fn locked_version(package: &str) -> Result<String> {
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

/// A string field of a flat JSON object (xtask stays dependency-light).
pub(crate) fn json_field(json: &str, field: &str) -> Option<String> {
    let pat = format!("\"{field}\":\"");
    let start = json.find(&pat)? + pat.len();
    let len = json[start..].find('"')?;
    Some(json[start..start + len].to_owned())
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
}
