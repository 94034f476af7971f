//! `wasm-opt -Oz` on the wasm-bindgen output, when binaryen is installed,
//! kept only when the module's exported tables come out as they went in.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use super::wasm::Reader;
use crate::workspace::{run, step};

/// What binaryen 108 must be told the Rust wasm32 target emits.
const WASM_OPT_FEATURES: [&str; 5] = [
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-multivalue",
];

/// The first binaryen release that writes the export of a module's second
/// table correctly: 108 and older point wasm-bindgen's
/// `__wbindgen_externrefs` at the funcref table, and the beacon fails in
/// the browser at `__wbindgen_init_externref_table` (binaryen issue 4711).
const WASM_OPT_MIN_VERSION: u32 = 110;

/// `wasm-opt -Oz` in place, when a binaryen that handles wasm-bindgen's
/// output is installed; otherwise the wasm stays as wasm-bindgen wrote it
/// (about 15% larger, 3% over the wire).
pub(super) fn optimize(wasm: &Path) -> Result<()> {
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
    // none (see `RUSTFLAGS` in beacon.rs), and the table check below keeps the unoptimized
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
        // Repeat the passes while they still shrink the module, and let them
        // assume the low 1 KiB of memory is unused (Rust's wasm32 target puts
        // nothing there): both measured smaller for the beacon.
        .args(["--converge", "--low-memory-unused"])
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
