//! The build's files in `target/beacon/`: the wasm and the script under
//! names hashed from their content, `beacon.js` under the fixed name of the
//! script tag, each with the zopfli `.gz` the collector serves, and
//! `manifest.json` last; the hashed files of earlier builds removed.

use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::bundle::{assemble, minify_js};

const HASH_LEN: usize = 12;

/// The files of one build.
#[derive(Debug)]
pub(super) struct Built {
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

/// Writes the build into `out` (the manifest last) and removes the hashed
/// files of earlier builds.
pub(super) fn write_output(out: &Path, loader: &str, glue: &str, wasm: &[u8]) -> Result<Built> {
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
    pub(super) fn print_sizes(&self, out: &Path) {
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
}
