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
    // One blob, the modules every program loads first: a program's pages of it stay resident,
    // and the kernel keeps the 64 KB around each touched page, so the modules a program never
    // loads should not sit between the ones start-up reads.
    let mut order: Vec<&(String, std::path::PathBuf)> = STARTUP
        .iter()
        .filter_map(|s| names.iter().find(|(n, _)| n == s))
        .collect();
    order.extend(names.iter().filter(|(n, _)| !STARTUP.contains(&n.as_str())));
    let mut blob = String::new();
    let mut spans = std::collections::BTreeMap::new();
    for (name, path) in order {
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        spans.insert(name.clone(), (blob.len(), blob.len() + text.len()));
        blob.push_str(&text);
    }
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let blob_path = std::path::Path::new(&out_dir).join("builtins.lua.txt");
    std::fs::write(&blob_path, blob).expect("write builtins blob");
    let mut out = format!(
        "/// Every built-in module's source in one string, the start-up modules first.\n\
         static BLOB: &str = include_str!({:?});\n\
         /// Built-in Lua modules: (name, start, end) in `BLOB`, sorted by name.\n\
         pub static BUILTINS: &[(&str, usize, usize)] = &[\n",
        blob_path.display().to_string()
    );
    for (name, (start, end)) in &spans {
        let _ = writeln!(out, "    ({name:?}, {start}, {end}),");
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&out_dir).join("builtins.rs");
    std::fs::write(dest, out).expect("write builtins table");
}

/// The modules an idle program (`tests/bench/idle.lua`) reads at start-up, in that order.
const STARTUP: &[&str] = &[
    "init",
    "require",
    "process",
    "core",
    "hooks",
    "pretty-print",
    "timer",
];

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
    // Relative relocations packed (DT_RELR, glibc 2.36+): the dynamic loader reads every
    // relocation at start-up, and .rela.dyn's 174 KB of them stayed resident; packed, 3 KB.
    if glibc_at_least(2, 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// The build machine's glibc (the binary runs where it is built): `getconf` says
/// `glibc 2.36`. Unknown counts as too old.
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(out) = std::process::Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
    else {
        return false;
    };
    version_of(&String::from_utf8_lossy(&out.stdout)) >= (major, minor)
}

/// (major, minor) of the second word of a tool's version line (`glibc 2.36`,
/// `rustc 1.95.0 (...)`); unknown parts are 0.
fn version_of(line: &str) -> (u32, u32) {
    let mut parts = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Rust 1.90 and later link x86_64-unknown-linux-gnu with their bundled lld.
fn rustc_links_with_lld() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc).arg("-V").output() else {
        return false;
    };
    version_of(&String::from_utf8_lossy(&out.stdout)) >= (1, 90)
}
