//! Embeds every `lib/*.lua` in the binary: generates the table of built-in Lua modules so the
//! list lives in one place (the folder) and never drifts from it. Also asks a release link to
//! place the start-up functions side by side (`startup-order.txt`, see `startup_order`).

use std::fmt::Write as _;

fn main() {
    startup_order();
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

/// Release links on x86_64 Linux use rustc's own lld (the default since Rust 1.90): give it
/// `startup-order.txt` (written by tests/bench/order/gen.py), the functions start-up runs, so
/// they sit in a few contiguous pages of .text. The kernel keeps a 64 KB window resident
/// around each page a process touches; scattered, 700 KB of start-up code kept 3.6 MB of .text
/// resident. Names the binary no longer has are skipped silently. Any other linker set up
/// through RUSTFLAGS, or `LUVIT_NO_STARTUP_ORDER=1`, links in the default order.
fn startup_order() {
    println!("cargo:rerun-if-env-changed=LUVIT_NO_STARTUP_ORDER");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let file = std::path::Path::new(&manifest).join("startup-order.txt");
    println!("cargo:rerun-if-changed={}", file.display());
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    let other_linker = ["linker", "fuse-ld", "link-self-contained"]
        .iter()
        .any(|k| flags.contains(k));
    if var("PROFILE") != "release"
        || var("TARGET") != "x86_64-unknown-linux-gnu"
        || other_linker
        || !var("LUVIT_NO_STARTUP_ORDER").is_empty()
        || !file.exists()
        || !rustc_links_with_lld()
    {
        return;
    }
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        file.display()
    );
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}

/// Rust 1.90 and later link x86_64-unknown-linux-gnu with their bundled lld.
fn rustc_links_with_lld() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc).arg("-V").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (1, 90)
}
