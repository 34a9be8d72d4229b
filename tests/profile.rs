//! `--cpu-prof`: the real binary profiles a CPU-bound program and writes the three files.

use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    std::fs::canonicalize(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples")
            .join(name),
    )
    .expect("example exists")
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("luvit-prof-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn cpu_prof_writes_a_cpuprofile_folded_stacks_and_a_flamegraph() {
    let dir = temp_dir("files");
    let script = example("profile-hot.lua");
    let out = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .arg("--cpu-prof")
        .arg(format!("--cpu-prof-dir={}", dir.display()))
        .args(["--cpu-prof-name", "hot", "--cpu-prof-interval=1000"])
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let folded = std::fs::read_to_string(dir.join("hot.folded")).expect("folded stacks");
    let path = script.to_string_lossy();
    assert!(
        folded.contains(&format!("busy {path}:10")),
        "the hot loop's line in the folded stacks:\n{folded}"
    );
    assert!(
        folded.contains("(idle)"),
        "the 20 ms before the timer: {folded}"
    );
    let heaviest = folded.lines().next().unwrap();
    assert!(
        heaviest.contains("busy"),
        "busy() is the heaviest stack: {heaviest}"
    );
    let profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("hot.cpuprofile")).unwrap())
            .expect("a JSON profile");
    let nodes = profile["nodes"].as_array().unwrap();
    let busy = nodes
        .iter()
        .find(|n| n["callFrame"]["functionName"] == "busy")
        .expect("a node for busy");
    assert_eq!(busy["callFrame"]["url"], format!("file://{path}"));
    assert_eq!(busy["callFrame"]["lineNumber"], 9, "0-based line 10");
    let samples = profile["samples"].as_array().unwrap().len();
    assert_eq!(samples, profile["timeDeltas"].as_array().unwrap().len());
    assert!(samples > 10, "{samples} samples");
    let svg = std::fs::read_to_string(dir.join("hot.svg")).unwrap();
    assert!(
        svg.starts_with("<?xml") && svg.contains("busy"),
        "a flamegraph"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_profile_is_written_after_an_uncaught_error_too_with_nodes_default_name() {
    let dir = temp_dir("error");
    let out = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .current_dir(&dir)
        .args([
            "--cpu-prof",
            "-e",
            "local t = 0 for i = 1, 1e7 do t = t + i end error('late')",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let profile = names
        .iter()
        .find(|n| n.starts_with("CPU.") && n.ends_with(".0.001.cpuprofile"))
        .unwrap_or_else(|| panic!("node-style name in {names:?}"));
    let base = profile.strip_suffix(".cpuprofile").unwrap();
    assert!(names.contains(&format!("{base}.folded")) && names.contains(&format!("{base}.svg")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_profiler_flags_are_clear_errors() {
    for args in [
        vec!["--cpu-prof", "--cpu-prof-interval=fast", "-e", "print(1)"],
        vec!["--cpu-prof-dir=/tmp", "-e", "print(1)"],
        vec!["--cpu-prof", "--cpu-prof-name"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_luvit"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("cpu-prof"),
            "{args:?}"
        );
    }
}
