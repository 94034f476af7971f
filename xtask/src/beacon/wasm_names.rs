//! Short import and export names for the beacon's wasm and its glue.
//!
//! wasm-bindgen names each import `__wbg_<name>_<16 hex digits>` under the
//! module `./usagelens_beacon_bg.js`, and writes every name twice: in the
//! wasm's import section and as a key in the glue. Random hex does not
//! compress: the names were about 1.5 KB of the gzipped beacon. This pass
//! renames every import and export to one or two letters, in both files,
//! and refuses (rather than guess) when the glue does not use a name exactly
//! as expected.

use anyhow::{bail, Result};

use super::wasm::{leb, name, Reader};

/// The import module wasm-bindgen uses, as the glue spells it (a key).
const GLUE_MODULE_KEY: &str = "\"./usagelens_beacon_bg.js\"";
/// What the module is renamed to.
const SHORT_MODULE: &str = "w";
/// The glue's name for the instance's exports.
const EXPORTS_VAR: &str = "wasm.";

/// `a`..`z`, `A`..`Z`, then two letters.
pub(super) fn short_name(mut i: usize) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut name = String::new();
    loop {
        name.push(char::from(LETTERS[i % LETTERS.len()]));
        i /= LETTERS.len();
        if i == 0 {
            return name;
        }
        i -= 1;
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// Replaces `old` by `new` where `old` stands as a whole identifier (not
/// part of a longer one), `expected` times exactly.
fn replace_ident(text: &str, old: &str, new: &str, expected: usize, what: &str) -> Result<String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut found = 0;
    for (at, _) in text.match_indices(old) {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(at + old.len()).copied();
        if before.is_some_and(is_ident) || after.is_some_and(is_ident) {
            continue;
        }
        out.push_str(&text[last..at]);
        out.push_str(new);
        last = at + old.len();
        found += 1;
    }
    out.push_str(&text[last..]);
    if found != expected {
        bail!(
            "the glue has {what} `{old}` {found} times, not {expected}: \
             wasm-bindgen's output changed; update xtask/src/beacon/wasm_names.rs"
        );
    }
    Ok(out)
}

/// Renames the imports (in the module wasm-bindgen generates) and all
/// exports of `wasm` to short names, and the glue to match.
pub(super) fn shorten(wasm: &[u8], glue: &str) -> Result<(Vec<u8>, String)> {
    let mut r = Reader(wasm);
    if r.bytes(8)? != b"\0asm\x01\0\0\0" {
        bail!("not a wasm module (version 1)");
    }
    let mut out = wasm[..8].to_vec();
    let mut glue = replace_ident(
        glue,
        GLUE_MODULE_KEY,
        &format!("\"{SHORT_MODULE}\""),
        1,
        "the module key",
    )?;
    let module = &GLUE_MODULE_KEY[1..GLUE_MODULE_KEY.len() - 1];
    while !r.0.is_empty() {
        let id = r.byte()?;
        let size = r.leb()? as usize;
        let body = r.bytes(size)?;
        let mut s = Reader(body);
        let mut new = Vec::with_capacity(body.len());
        match id {
            2 => {
                let count = s.leb()?;
                leb(&mut new, count);
                for i in 0..count as usize {
                    let (m, field) = (s.name()?, s.name()?);
                    if m == module {
                        let short = short_name(i);
                        glue = replace_ident(&glue, field, &short, 1, "the import")?;
                        name(&mut new, SHORT_MODULE);
                        name(&mut new, &short);
                    } else {
                        name(&mut new, m);
                        name(&mut new, field);
                    }
                    let kind = s.byte()?;
                    new.push(kind);
                    match kind {
                        0 => leb(&mut new, s.leb()?),
                        1 => {
                            new.push(s.byte()?);
                            s.limits(&mut new)?;
                        }
                        2 => s.limits(&mut new)?,
                        3 => new.extend_from_slice(s.bytes(2)?),
                        4 => {
                            new.push(s.byte()?);
                            leb(&mut new, s.leb()?);
                        }
                        k => bail!("an import of unknown kind {k}"),
                    }
                }
            }
            7 => {
                let count = s.leb()?;
                leb(&mut new, count);
                for i in 0..count as usize {
                    let field = s.name()?;
                    let short = short_name(i);
                    let long = format!("{EXPORTS_VAR}{field}");
                    // Whole-identifier uses only (`wasm.export` is not `wasm.export2`).
                    let uses = count_ident(&glue, &long);
                    let new_name = format!("{EXPORTS_VAR}{short}");
                    glue = replace_ident(&glue, &long, &new_name, uses, "the export")?;
                    name(&mut new, &short);
                    new.push(s.byte()?);
                    leb(&mut new, s.leb()?);
                }
            }
            _ => new.extend_from_slice(body),
        }
        if (id == 2 || id == 7) && !s.0.is_empty() {
            bail!("section {id} has {} bytes past its entries", s.0.len());
        }
        out.push(id);
        leb(&mut out, new.len() as u32);
        out.extend_from_slice(&new);
    }
    // Anything the glue still reads from the exports under a long name would
    // be undefined at run time: refuse instead.
    let bytes = glue.as_bytes();
    for (at, _) in glue.match_indices(EXPORTS_VAR) {
        if at.checked_sub(1).is_some_and(|i| is_ident(bytes[i])) {
            continue;
        }
        let rest = &glue[at + EXPORTS_VAR.len()..];
        let len = rest.bytes().take_while(|b| is_ident(*b)).count();
        if len > 2 {
            bail!(
                "the glue reads `{EXPORTS_VAR}{}`, which is not an export of the wasm",
                &rest[..len]
            );
        }
    }
    Ok((out, glue))
}

/// Whole-identifier occurrences of `ident` in `text`.
fn count_ident(text: &str, ident: &str) -> usize {
    let bytes = text.as_bytes();
    text.match_indices(ident)
        .filter(|(at, _)| {
            let before = at.checked_sub(1).map(|i| bytes[i]);
            let after = bytes.get(at + ident.len()).copied();
            !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_unique() {
        let names: std::collections::HashSet<String> = (0..3000).map(short_name).collect();
        assert_eq!(names.len(), 3000);
        assert_eq!(short_name(0), "a");
        assert_eq!(short_name(52), "aa");
    }

    #[test]
    fn identifiers_are_replaced_whole() {
        let text = "wasm.__x(); wasm.__x2(); cachedwasm.__x; wasm.__x";
        let out = replace_ident(text, "wasm.__x", "wasm.a", 2, "the export").unwrap();
        assert_eq!(out, "wasm.a(); wasm.__x2(); cachedwasm.__x; wasm.a");
        assert!(replace_ident(text, "wasm.__x", "wasm.a", 3, "the export").is_err());
    }

    /// A module with one import and two exports, renamed with its glue.
    #[test]
    fn renames_imports_and_exports_in_both_files() {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        // type section: one type () -> ()
        wasm.extend([1, 4, 1, 0x60, 0, 0]);
        let mut imports = Vec::new();
        leb(&mut imports, 1);
        name(&mut imports, "./usagelens_beacon_bg.js");
        name(&mut imports, "__wbg_now_0123456789abcdef");
        imports.extend([0, 0]);
        wasm.push(2);
        leb(&mut wasm, imports.len() as u32);
        wasm.extend(&imports);
        let mut exports = Vec::new();
        leb(&mut exports, 2);
        name(&mut exports, "memory");
        exports.extend([2, 0]);
        name(&mut exports, "start_beacon");
        exports.extend([0, 0]);
        wasm.push(7);
        leb(&mut wasm, exports.len() as u32);
        wasm.extend(&exports);
        let glue = r#"const i = { __wbg_now_0123456789abcdef: function() { return wasm.memory; } };
return { "./usagelens_beacon_bg.js": i }; wasm.start_beacon();"#;
        let (wasm2, glue2) = shorten(&wasm, glue).unwrap();
        assert_eq!(
            glue2,
            r#"const i = { a: function() { return wasm.a; } };
return { "w": i }; wasm.b();"#
        );
        let mut r = Reader(&wasm2[8..]);
        let mut names = Vec::new();
        while !r.0.is_empty() {
            let id = r.byte().unwrap();
            let size = r.leb().unwrap() as usize;
            let mut s = Reader(r.bytes(size).unwrap());
            match id {
                2 => {
                    s.leb().unwrap();
                    names.push(s.name().unwrap().to_owned());
                    names.push(s.name().unwrap().to_owned());
                }
                7 => {
                    for _ in 0..s.leb().unwrap() {
                        names.push(s.name().unwrap().to_owned());
                        s.bytes(2).unwrap();
                    }
                }
                _ => {}
            }
        }
        assert_eq!(names, ["w", "a", "a", "b"]);
    }

    #[test]
    fn a_glue_that_does_not_match_is_refused() {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        let mut exports = Vec::new();
        leb(&mut exports, 1);
        name(&mut exports, "memory");
        exports.extend([2, 0]);
        wasm.push(7);
        leb(&mut wasm, exports.len() as u32);
        wasm.extend(&exports);
        let glue =
            r#"return { "./usagelens_beacon_bg.js": i }; wasm.memory; wasm.__wbindgen_start();"#;
        let err = shorten(&wasm, glue).unwrap_err().to_string();
        assert!(err.contains("__wbindgen_start"), "{err}");
    }
}
