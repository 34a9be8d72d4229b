//! Tidy checks run as tests: every source file says what it owns in a header, no test is
//! ignored, and the built-in modules export what luvit's do (read off a real luvit in
//! tests/luvit-api-dump.txt), except modules other issues are still building.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|e| e == ext) {
            out.push(p);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_doc_comment() {
    let mut rs = Vec::new();
    for dir in ["runtime/src", "devtools/src", "tests"] {
        files(&root().join(dir), "rs", &mut rs);
    }
    let missing: Vec<_> = rs
        .iter()
        .filter(|p| {
            !std::fs::read_to_string(p)
                .unwrap_or_default()
                .starts_with("//!")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! header: {missing:?}"
    );
}

#[test]
fn every_builtin_lua_module_opens_with_a_header_comment() {
    let mut lua = Vec::new();
    files(&root().join("runtime/lib"), "lua", &mut lua);
    let missing: Vec<_> = lua
        .iter()
        .filter(|p| {
            !std::fs::read_to_string(p)
                .unwrap_or_default()
                .starts_with("--[[")
        })
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a header comment: {missing:?}"
    );
}

#[test]
fn no_test_is_ignored() {
    let mut rs = Vec::new();
    for dir in ["runtime/src", "devtools/src", "tests"] {
        files(&root().join(dir), "rs", &mut rs);
    }
    let marker = ["#[", "ignore]"].concat();
    let ignored: Vec<_> = rs
        .iter()
        .filter(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .contains(&marker)
        })
        .collect();
    assert!(ignored.is_empty(), "ignored tests in {ignored:?}");
}

/// Modules of luvit's API that later issues build (none today). luvit's `repl` module is a
/// function, which this check does not look into; the REPL itself is `luvit` on a terminal.
const NOT_YET: &[&str] = &[];

/// `module -> names` from the dump: functions, values, tables and class names.
fn dump_exports(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("== ") {
            let name = rest.split_whitespace().next().unwrap_or("");
            if rest.contains("(table)") {
                out.push((name.to_string(), Vec::new()));
            }
            continue;
        }
        let Some((_, names)) = out.last_mut() else {
            continue;
        };
        let line = line.trim_start();
        let name = if let Some(r) = line.strip_prefix("fn ") {
            r.split('(').next()
        } else if let Some(r) = line
            .strip_prefix("val ")
            .or_else(|| line.strip_prefix("tbl "))
        {
            r.split_whitespace().next()
        } else if let Some(r) = line.strip_prefix("class ") {
            r.split(':').next().and_then(|c| c.rsplit('.').next())
        } else {
            None
        };
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            names.push(n.to_string());
        }
    }
    out
}

#[test]
fn builtin_modules_export_what_luvit_exports() {
    // A copy of ../shared/luvit-api-dump.txt kept in the tree, so a lone clone can run it.
    let dump_path = root().join("tests/luvit-api-dump.txt");
    let Ok(text) = std::fs::read_to_string(&dump_path) else {
        panic!("cannot read {}", dump_path.display());
    };
    let mut script = String::from("local missing = {}\n");
    for (module, names) in dump_exports(&text) {
        if NOT_YET.contains(&module.as_str()) {
            continue;
        }
        script.push_str(&format!(
            "do local ok, m = pcall(require, {module:?})\n  if not ok then missing[#missing + 1] = {module:?} .. ' (module: ' .. tostring(m):match('[^\\n]*') .. ')'\n  else\n"
        ));
        for n in names {
            script.push_str(&format!(
                "    if type(m) ~= 'table' or m[{n:?}] == nil then missing[#missing + 1] = {module:?} .. '.' .. {n:?} end\n"
            ));
        }
        script.push_str("  end\nend\n");
    }
    script.push_str("print(#missing == 0 and 'ALL PRESENT' or table.concat(missing, '\\n'))\n");
    let out = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .args(["-e", &script])
        .output()
        .expect("run luvit");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.trim() == "ALL PRESENT",
        "exports missing against luvit's API dump:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
