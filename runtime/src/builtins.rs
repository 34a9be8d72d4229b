//! The built-in Lua modules (`runtime/lib/*.lua`), embedded at build time by `build.rs`.
//!
//! For working on the Lua side without rebuilding, `LUVIT_LIB_DIR=runtime/lib` makes the
//! runtime read a module from that folder first (falling back to the embedded copy).

use std::sync::OnceLock;

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

fn lib_dir() -> Option<&'static str> {
    static DIR: OnceLock<Option<String>> = OnceLock::new();
    DIR.get_or_init(|| {
        std::env::var("LUVIT_LIB_DIR")
            .ok()
            .filter(|d| !d.is_empty())
    })
    .as_deref()
}

/// The source of a built-in module. A name with a slash (`path/base`, as luvit's packages
/// have) is the file with a dash (`lib/path-base.lua`).
pub fn source(name: &str) -> Option<std::borrow::Cow<'static, str>> {
    if name.contains('/') {
        if name.contains("..") || name.starts_with('/') {
            return None;
        }
        return source(&name.replace('/', "-"));
    }
    if let Some(dir) = lib_dir() {
        if !name.contains('/') && !name.contains("..") {
            if let Ok(s) =
                std::fs::read_to_string(std::path::Path::new(dir).join(format!("{name}.lua")))
            {
                return Some(s.into());
            }
        }
    }
    let i = BUILTINS.binary_search_by(|(n, _, _)| (*n).cmp(name)).ok()?;
    let (_, start, end) = BUILTINS[i];
    BLOB.get(start..end).map(Into::into)
}

/// The names of the built-in modules, sorted.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|(n, _, _)| *n)
}

/// The chunk name a built-in module's code runs under (never mistaken for a file on disk).
pub fn chunk_name(name: &str) -> String {
    format!("@builtin:{name}.lua")
}
