//! Embeds every `lib/*.lua` in the binary: generates the table of built-in Lua modules so the
//! list lives in one place (the folder) and never drifts from it.

use std::fmt::Write as _;

fn main() {
    // Read at run time, not baked in with env!: a build script compiled for one checkout and
    // reused by another (a copied target folder) must still embed its own checkout's files.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = std::path::Path::new(&manifest).join("lib");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<(String, std::path::PathBuf)> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "lua"))
                .filter_map(|p| Some((p.file_stem()?.to_str()?.to_string(), p)))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut out = String::from("/// Built-in Lua modules: (name, source), sorted by name.\npub static BUILTINS: &[(&str, &str)] = &[\n");
    for (name, path) in &names {
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("builtins.rs");
    std::fs::write(dest, out).expect("write builtins table");
}
