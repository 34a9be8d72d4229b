//! The built-in Lua modules (`runtime/lib/*.lua`), embedded at build time by `build.rs`.

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// The source of a built-in module.
pub fn source(name: &str) -> Option<&'static str> {
    BUILTINS
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| BUILTINS[i].1)
}

/// The chunk name a built-in module's code runs under (never mistaken for a file on disk).
pub fn chunk_name(name: &str) -> String {
    format!("@builtin:{name}.lua")
}
