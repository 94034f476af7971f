//! The script the page loads: the loader template `sdk-wasm/js/loader.js`
//! with the host functions, the wasm-bindgen glue and the hashed wasm name
//! in its placeholders, minified with oxc.

use anyhow::{bail, Context, Result};

use crate::workspace::root;

/// Where the loader template sits, relative to the workspace root.
pub(super) const LOADER: &str = "sdk-wasm/js/loader.js";
/// Replaced by the whole wasm-bindgen glue.
const GLUE_PLACEHOLDER: &str = "/*@@GLUE@@*/";
/// The host functions the wasm calls (`__ulh`), put in the loader's scope.
const HOST: &str = "sdk-wasm/js/host.js";
/// Replaced by the text of [`HOST`].
const HOST_PLACEHOLDER: &str = "/*@@HOST@@*/";
/// Replaced by the hashed wasm file name.
const WASM_PLACEHOLDER: &str = "@@WASM_FILE@@";

/// The loader template with the host functions in their placeholder, and
/// the glue, with the host functions renamed short ([`short_host_names`]).
pub(super) fn loader_with_host(glue: &str) -> Result<(String, String)> {
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
    let (host, loader, glue) = short_host_names(&host, &loader, glue)?;
    Ok((loader.replacen(HOST_PLACEHOLDER, host.trim_end(), 1), glue))
}

/// How the wasm-bindgen glue and the loader name the host object.
const HOST_VAR: &str = "__ulh.";

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// `text` with every whole `__ulh.<from>` (not `__ulh.<from>x`) as `__ulh.<to>`.
fn rename_uses(text: &str, from: &str, to: &str) -> String {
    let long = format!("{HOST_VAR}{from}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&long) {
        let end = at + long.len();
        let whole = !rest.as_bytes().get(end).is_some_and(|b| is_ident(*b))
            && !at
                .checked_sub(1)
                .is_some_and(|i| is_ident(rest.as_bytes()[i]));
        out.push_str(&rest[..at]);
        out.push_str(if whole { HOST_VAR } else { &long });
        if whole {
            out.push_str(to);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The host functions under one- or two-letter names, in `host` (the keys of
/// the object it returns: the lines `    <name>: …` or `    <name>(…`,
/// indented four spaces)
/// and in the loader's and the glue's `__ulh.<name>`. No minifier renames
/// properties, and each name is written twice (about 80 B gzipped). Refuses
/// rather than guesses: a `__ulh.<name>` left that the host does not define
/// would be `undefined` at run time.
fn short_host_names(host: &str, loader: &str, glue: &str) -> Result<(String, String, String)> {
    let keys: Vec<&str> = host
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("    ")?;
            let name_len = rest.bytes().take_while(|b| is_ident(*b)).count();
            let after = &rest[name_len..];
            (name_len > 0 && (after.starts_with(": ") || after.starts_with('(')))
                .then(|| &rest[..name_len])
        })
        .collect();
    if keys.is_empty() {
        bail!("{HOST} returns no `    <name>: …` or `    <name>(…` functions: the host object's keys are indented four spaces, one per line");
    }
    let mut host_out = String::with_capacity(host.len());
    let mut renamed = Vec::new();
    let mut next = 0;
    for line in host.lines() {
        let key = line
            .strip_prefix("    ")
            .map(|rest| &rest[..rest.bytes().take_while(|b| is_ident(*b)).count()])
            .filter(|k| {
                let after = &line[4 + k.len()..];
                !k.is_empty() && (after.starts_with(": ") || after.starts_with('('))
            });
        match key {
            Some(k) => {
                let short = super::wasm_names::short_name(next);
                next += 1;
                host_out.push_str("    ");
                host_out.push_str(&short);
                host_out.push_str(&line[4 + k.len()..]);
                renamed.push((k.to_owned(), short));
            }
            None => host_out.push_str(line),
        }
        host_out.push('\n');
    }
    let (mut loader, mut glue) = (loader.to_owned(), glue.to_owned());
    for (long, short) in &renamed {
        loader = rename_uses(&loader, long, short);
        glue = rename_uses(&glue, long, short);
    }
    // Every use left must be one of the short names.
    for text in [&loader, &glue] {
        for (at, _) in text.match_indices(HOST_VAR) {
            if at
                .checked_sub(1)
                .is_some_and(|i| is_ident(text.as_bytes()[i]))
            {
                continue;
            }
            let rest = &text[at + HOST_VAR.len()..];
            let name = &rest[..rest.bytes().take_while(|b| is_ident(*b)).count()];
            if !renamed.iter().any(|(_, s)| s == name) {
                bail!("the beacon calls `{HOST_VAR}{name}`, which {HOST} does not define");
            }
        }
    }
    Ok((host_out, loader, glue))
}

/// The glue without `initSync` (the loader instantiates asynchronously,
/// off the main thread), so the minifier drops it and its warnings.
pub(super) fn without_init_sync(glue: &str) -> Result<String> {
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

/// The loader with the glue and the wasm name in its placeholders.
pub(super) fn assemble(loader: &str, glue: &str, wasm_name: &str) -> Result<String> {
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
pub(super) fn minify_js(source: &str) -> Result<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_shortened_in_the_host_the_loader_and_the_glue() {
        let host = "(function () {\n  var x = { nested: 1 };\n  return {\n    init(f) {},\n    get: get,\n    getter: 1\n  };\n})()\n";
        let loader = "__ulh.init(d); __ulh.getter;";
        let glue = "a = __ulh.get(o, k); b = __ulh.getter; c = my__ulh.get;";
        let (h, l, g) = short_host_names(host, loader, glue).unwrap();
        assert!(
            h.contains("    a(f) {}") && h.contains("    b: get,") && h.contains("    c: 1"),
            "{h}"
        );
        assert!(h.contains("{ nested: 1 }"), "only the returned keys: {h}");
        assert_eq!(l, "__ulh.a(d); __ulh.c;");
        assert_eq!(g, "a = __ulh.b(o, k); b = __ulh.c; c = my__ulh.get;");
        let err = short_host_names(host, "__ulh.missing()", "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`__ulh.missing`"), "{err}");
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
}
