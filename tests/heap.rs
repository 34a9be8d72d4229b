//! The memory profilers through the real binary: heap snapshots from `require('profiler')`,
//! `luvit heapdiff` on two of them, `--heap-prof`'s sampled allocations, and their errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("luvit-heap-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn luvit(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_luvit"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A program that leaks 10,000 `Session`s (a luvit class made by `Object:extend()`, assigned
/// as a global of the script) and 3,000 `core.Emitter`s between two snapshots.
const LEAK: &str = r#"
local core = require('core')
local profiler = require('profiler')
Session = core.Object:extend()
function Session:initialize(id) self.id = id self.started = id * 2 end
sessions = {}
local emitters = {}
local function leak(n, m)
  for i = #sessions + 1, #sessions + n do sessions[i] = Session:new(i) end
  for i = #emitters + 1, #emitters + m do emitters[i] = core.Emitter:new() end
end
leak(50, 10)
print(profiler.heapSnapshot('a.heapsnapshot'))
leak(10000, 3000)
print(profiler.heapSnapshot())
_G.keep = emitters
"#;

/// Runs LEAK in `dir`; returns the two snapshots' paths.
fn two_snapshots(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::write(dir.join("leak.lua"), LEAK).unwrap();
    let stdout = ok(&luvit(dir, &["leak.lua"]));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0], "a.heapsnapshot");
    let b = lines[1];
    assert!(
        b.starts_with("Heap.") && b.ends_with(".0.001.heapsnapshot"),
        "node's default name: {b}"
    );
    (dir.join(lines[0]), dir.join(b))
}

#[test]
fn a_leaked_luvit_class_is_heapdiffs_top_line_with_a_path_from_a_root() {
    let dir = temp_dir("diff");
    let (a, b) = two_snapshots(&dir);
    let (a, b) = (a.to_string_lossy(), b.to_string_lossy());
    let report: Value =
        serde_json::from_str(&ok(&luvit(&dir, &["heapdiff", &a, &b, "--json"]))).unwrap();
    let groups = report["groups"].as_array().unwrap();
    let top = &groups[0];
    assert_eq!(top["class"], "Session", "{top}");
    assert_eq!(top["type"], "object");
    let count = top["count"].as_u64().unwrap();
    assert!((9_900..=10_100).contains(&count), "{count} new sessions");
    let path = top["path"].as_str().unwrap();
    assert!(
        path.contains(".sessions[") && !path.starts_with('.'),
        "a path from a root: {path}"
    );
    let emitters = groups
        .iter()
        .find(|g| g["class"] == "core.Emitter")
        .unwrap_or_else(|| panic!("a core.Emitter group in {groups:?}"));
    assert!(emitters["count"].as_u64().unwrap() >= 2_900, "{emitters}");
    assert!(emitters["path"]
        .as_str()
        .unwrap()
        .contains("(local emitters)["));
    // the sessions table grew in place
    let grown = report["grown"].as_array().unwrap();
    assert!(
        grown
            .iter()
            .any(|g| g["path"].as_str().unwrap_or("").ends_with("sessions")),
        "{grown:?}"
    );
    // the human report says the same on its first line under the header
    let text = ok(&luvit(&dir, &["heapdiff", &a, &b]));
    let first = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("count"))
        .nth(1)
        .unwrap_or_default();
    assert!(first.contains("Session") && first.contains("+"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_snapshot_parses_and_agrees_with_its_meta() {
    let dir = temp_dir("meta");
    let (_, b) = two_snapshots(&dir);
    let s: Value = serde_json::from_slice(&std::fs::read(&b).unwrap()).unwrap();
    let meta = &s["snapshot"]["meta"];
    let node_fields: Vec<&str> = meta["node_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        &node_fields[..5],
        ["type", "name", "id", "self_size", "edge_count"]
    );
    let edge_fields = meta["edge_fields"].as_array().unwrap();
    assert_eq!(edge_fields.len(), 3);
    let node_types = meta["node_types"][0].as_array().unwrap();
    let edge_types: Vec<&str> = meta["edge_types"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let nodes = s["nodes"].as_array().unwrap();
    let edges = s["edges"].as_array().unwrap();
    let strings = s["strings"].as_array().unwrap();
    let nf = node_fields.len();
    assert_eq!(nodes.len() % nf, 0);
    assert_eq!(edges.len() % 3, 0);
    let count = nodes.len() / nf;
    assert_eq!(s["snapshot"]["node_count"].as_u64(), Some(count as u64));
    assert_eq!(
        s["snapshot"]["edge_count"].as_u64(),
        Some(edges.len() as u64 / 3)
    );
    assert!(count > 13_000, "{count} nodes");
    let mut edge_sum = 0;
    let mut ids = std::collections::HashSet::new();
    for n in nodes.chunks(nf) {
        assert!((n[0].as_u64().unwrap() as usize) < node_types.len());
        assert!((n[1].as_u64().unwrap() as usize) < strings.len());
        ids.insert(n[2].as_u64().unwrap());
        edge_sum += n[4].as_u64().unwrap();
    }
    assert_eq!(edge_sum as usize, edges.len() / 3, "edge counts add up");
    assert!(
        ids.len() > count * 99 / 100,
        "ids are (nearly all) distinct"
    );
    assert_eq!(
        node_types[nodes[0].as_u64().unwrap() as usize],
        "synthetic",
        "the root first"
    );
    for e in edges.chunks(3) {
        let ty = edge_types[e[0].as_u64().unwrap() as usize];
        if ty != "element" && ty != "hidden" {
            assert!((e[1].as_u64().unwrap() as usize) < strings.len());
        }
        let to = e[2].as_u64().unwrap() as usize;
        assert!(to.is_multiple_of(nf) && to < nodes.len(), "to_node {to}");
    }
    // our own reader agrees
    let report = ok(&luvit(
        &dir,
        &["heapdiff", &b.to_string_lossy(), &b.to_string_lossy()],
    ));
    assert!(report.contains("no new objects"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn truncated_or_corrupt_snapshots_are_clear_errors_naming_the_file() {
    let dir = temp_dir("corrupt");
    let (a, b) = two_snapshots(&dir);
    let bytes = std::fs::read(&b).unwrap();
    let cut = dir.join("cut.heapsnapshot");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let junk = dir.join("junk.heapsnapshot");
    std::fs::write(&junk, b"\x00\x01 not json at all").unwrap();
    let bad_edge = dir.join("bad-edge.heapsnapshot");
    let text = String::from_utf8(bytes).unwrap();
    let edges_at = text.find("\"edges\":[").unwrap() + "\"edges\":[".len();
    let mut broken = text.clone();
    broken.replace_range(edges_at..edges_at + 1, "9");
    std::fs::write(&bad_edge, broken).unwrap();
    for (file, why) in [
        (&cut, "truncated"),
        (&junk, "not a heap snapshot"),
        (&bad_edge, "unknown type"),
        (&dir.join("missing.heapsnapshot"), "cannot read"),
    ] {
        let out = luvit(
            &dir,
            &["heapdiff", &a.to_string_lossy(), &file.to_string_lossy()],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file:?}: {err}");
        assert!(
            err.contains(&*file.to_string_lossy()) && err.contains(why),
            "{file:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = luvit(&dir, &["heapdiff", "only-one"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

const ALLOCATING: &str = r#"
local function hot(n)
  local t
  for i = 1, n do t = { i, i + 1, i + 2, i + 3 } end
  return t
end
local function cold(n)
  local t
  for i = 1, n do t = { i, i + 1, i + 2, i + 3 } end
  return t
end
for _ = 1, 20 do hot(30000) cold(10000) end
"#;

fn node_bytes(node: &Value, name: &str) -> u64 {
    let own = if node["callFrame"]["functionName"] == name {
        node["selfSize"].as_u64().unwrap()
    } else {
        0
    };
    own + node["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| node_bytes(c, name))
        .sum::<u64>()
}

#[test]
fn heap_prof_attributes_sampled_bytes_to_the_hot_allocating_function() {
    let dir = temp_dir("prof");
    std::fs::write(dir.join("alloc.lua"), ALLOCATING).unwrap();
    ok(&luvit(
        &dir,
        &[
            "--heap-prof",
            &format!("--heap-prof-dir={}", dir.display()),
            "--heap-prof-interval=8192",
            "alloc.lua",
        ],
    ));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let profile = names
        .iter()
        .find(|n| n.starts_with("Heap.") && n.ends_with(".0.001.heapprofile"))
        .unwrap_or_else(|| panic!("node's default name in {names:?}"));
    let p: Value = serde_json::from_slice(&std::fs::read(dir.join(profile)).unwrap()).unwrap();
    let (hot, cold) = (
        node_bytes(&p["head"], "hot"),
        node_bytes(&p["head"], "cold"),
    );
    // 3:1 of the same allocations; sampling is random, so a wide margin
    assert!(hot > 2 * cold && cold > 0, "hot {hot} bytes, cold {cold}");
    let samples = p["samples"].as_array().unwrap();
    assert!(samples.len() > 100, "{} samples", samples.len());
    assert!(samples
        .iter()
        .all(|s| s["size"].as_u64().unwrap() > 0 && s["nodeId"].as_u64().unwrap() >= 1));
    let svg = std::fs::read_to_string(dir.join(profile.replace(".heapprofile", ".svg"))).unwrap();
    assert!(
        svg.starts_with("<?xml") && svg.contains("hot"),
        "a flamegraph"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_heap_profiler_runs_from_lua_and_heap_gives_live_figures() {
    let dir = temp_dir("lua");
    let code = format!(
        "{ALLOCATING}
        local p = require('profiler')
        assert(p.heapProfileStart({{ interval = 4096 }}) == nil)
        assert(not pcall(p.heapProfileStart))
        hot(50000)
        local h = p.heap()
        assert(h.used > 100000 and h.allocated > 1000000, h.used .. ' ' .. h.allocated)
        collectgarbage() collectgarbage()
        assert(p.heap().gcCycles >= 2, p.heap().gcCycles)
        print(p.heapProfileStop('{}/mine'))
        print(p.heapProfileStop())",
        dir.display()
    );
    let out = ok(&luvit(&dir, &["-e", &code]));
    let mut lines = out.lines();
    let path = lines.next().unwrap();
    assert_eq!(path, format!("{}/mine.heapprofile", dir.display()));
    assert!(lines.next().unwrap().contains("not running"), "{out}");
    let p: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert!(node_bytes(&p["head"], "hot") > 1_000_000);
    assert!(dir.join("mine.svg").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_heap_prof_dir_is_an_error_before_the_program_runs() {
    let dir = temp_dir("baddir");
    let file = dir.join("a-file");
    std::fs::write(&file, "").unwrap();
    for (bad, why) in [
        (
            dir.join("missing").to_string_lossy().into_owned(),
            "No such file or directory",
        ),
        (file.to_string_lossy().into_owned(), "is not a directory"),
    ] {
        let out = luvit(
            &dir,
            &[
                "--heap-prof",
                &format!("--heap-prof-dir={bad}"),
                "-e",
                "print('ran')",
            ],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&bad) && err.contains(why), "{err}");
        assert!(out.stdout.is_empty(), "the program did not run");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn chrome_devtools_own_loader_reads_the_snapshots_and_its_comparison_finds_the_leak() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/heap-devtools");
    if !here.join("node_modules/heap-snapshot-toolkit").exists() {
        // A fresh checkout: install the loader from the npm registry (package-lock.json).
        let st = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&here)
            .status()
            .expect("npm runs");
        assert!(st.success(), "npm ci --prefix tests/heap-devtools failed");
    }
    let dir = temp_dir("devtools");
    let (a, b) = two_snapshots(&dir);
    let out = Command::new("node")
        .arg(here.join("check.mjs"))
        .args([&a, &b])
        .output()
        .expect("node runs");
    let report: Value = serde_json::from_str(&ok(&out)).unwrap();
    let comparison = report["comparison"].as_array().unwrap();
    assert_eq!(comparison[0]["name"], "Session", "{comparison:?}");
    let added = comparison[0]["added"].as_u64().unwrap();
    assert!((9_900..=10_100).contains(&added), "{added}");
    let summary = report["summary"].as_array().unwrap();
    let sessions = summary.iter().find(|g| g["name"] == "Session").unwrap();
    assert!(
        sessions["distance"].as_i64().unwrap() > 0,
        "reachable: {sessions}"
    );
    assert!(report["statistics"]["total"].as_u64().unwrap() > 1_000_000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_still_writes_the_heap_profile() {
    use std::io::BufRead;
    let dir = temp_dir("sigterm");
    let mut child = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .current_dir(&dir)
        .args([
            "--heap-prof",
            "-e",
            "local t = {} for i = 1, 1e5 do t[i] = { i } end \
             require('timer').setTimeout(60000, function() end) print('ready')",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with(".heapprofile"))
            && names.iter().any(|n| n.ends_with(".svg")),
        "{names:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_common_control_starts_and_stops_the_heap_profiler() {
    let dir = temp_dir("control");
    let code = format!(
        "{ALLOCATING}
        local p = require('profiler')
        assert(p.start('heap', {{ interval = 4096, dir = '{d}' }}))
        local ok, err = p.start('heap')
        assert(not ok and err:find('already running'), err)
        hot(50000)
        local files = assert(p.stop('heap'))
        print(files[1]) print(files[2])
        print(select(2, p.stop('heap')))",
        d = dir.display()
    );
    let out = ok(&luvit(&dir, &["-e", &code]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].ends_with(".heapprofile") && lines[1].ends_with(".svg"),
        "{out}"
    );
    assert!(lines[2].contains("not running"), "{out}");
    let p: Value = serde_json::from_slice(&std::fs::read(lines[0]).unwrap()).unwrap();
    assert!(node_bytes(&p["head"], "hot") > 1_000_000);
    let _ = std::fs::remove_dir_all(&dir);
}
