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

/// The loader template with the host functions in their placeholder.
pub(super) fn loader_with_host() -> Result<String> {
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
    Ok(loader.replacen(HOST_PLACEHOLDER, host.trim_end(), 1))
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
