//! The size budget: `beacon.js` plus the wasm, as served gzipped.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::workspace::json_field;

/// Issue 3's budget: `beacon.js` plus the wasm, as served gzipped.
const SIZE_BUDGET_BYTES: u64 = 20_000;

/// Fails when the built beacon (`<file>.gz` of the script and the wasm of
/// the manifest in `out`) is over [`SIZE_BUDGET_BYTES`]: a size is not noisy,
/// so the budget is checked on every test run, not only benchmarked.
pub(crate) fn check_size_budget(out: &Path) -> Result<()> {
    let manifest = std::fs::read_to_string(out.join("manifest.json"))
        .context("the beacon build has no manifest.json")?;
    let field = |name: &str| {
        json_field(&manifest, name).with_context(|| format!("manifest.json has no `{name}`"))
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

#[cfg(test)]
mod tests {
    use super::*;

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
