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
    // (idle) depends on how busy the machine is; of the program's own stacks, busy() weighs most
    let heaviest = folded.lines().find(|l| !l.starts_with("(idle)")).unwrap();
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
    // LuaJIT's profiler timer (ITIMER_PROF) ticks with the kernel's clock: every 4 ms at
    // HZ=250 whatever the interval, about 15 samples for this program on a quiet machine and
    // 9 once under load (seen failing `> 10`)
    assert!(samples >= 5, "{samples} samples");
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

/// Starts `luvit --cpu-prof -e code` in `dir`, sends `signal` after `after`, returns the exit
/// status and the files written.
fn signalled(
    tag: &str,
    code: &str,
    signal: i32,
    after: std::time::Duration,
) -> (Option<i32>, Vec<String>) {
    let dir = temp_dir(tag);
    let mut child = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .current_dir(&dir)
        .args(["--cpu-prof", "--cpu-prof-name=sig", "-e", code])
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
    let status = child.wait().unwrap();
    let names = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    (status.code(), names)
}

#[test]
fn sigint_in_a_busy_compiled_loop_still_writes_the_profile() {
    let (code, names) = signalled(
        "busy",
        "local t = 0 while true do t = t + 1 end",
        libc::SIGINT,
        std::time::Duration::from_millis(400),
    );
    assert_eq!(code, Some(130));
    for ext in ["cpuprofile", "folded", "svg"] {
        assert!(names.contains(&format!("sig.{ext}")), "{ext} in {names:?}");
    }
}

#[test]
fn sigterm_while_idle_writes_the_profile_and_a_handled_signal_does_not_end_the_program() {
    let (code, names) = signalled(
        "idle",
        "require('timer').setTimeout(60000, function() end)",
        libc::SIGTERM,
        std::time::Duration::from_millis(300),
    );
    assert_eq!(code, Some(143));
    assert!(names.contains(&"sig.cpuprofile".to_string()), "{names:?}");
    // the program handles SIGINT itself: the profile is written, the program decides
    let (code, names) = signalled(
        "handled",
        "local uv = require('uv') local s = uv.new_signal() \
         s:start('sigint', function() print('bye') s:close() end)",
        libc::SIGINT,
        std::time::Duration::from_millis(300),
    );
    assert_eq!(
        code,
        Some(0),
        "the program's own handler let it end normally"
    );
    assert!(names.contains(&"sig.cpuprofile".to_string()), "{names:?}");
}

/// The newest file in `dir` whose name ends with `suffix`, parsed as JSON.
fn json_file(dir: &std::path::Path, suffix: &str) -> serde_json::Value {
    let path = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("LOOP.")
                && n.ends_with(suffix)
                && (suffix != ".json" || !n.ends_with(".trace.json"))
        })
        .unwrap_or_else(|| panic!("a LOOP.*{suffix} in {}", dir.display()));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{} is JSON: {e}", path.display()))
}

#[test]
fn loop_prof_names_the_callback_that_blocked_where_its_time_went_and_the_lag() {
    let dir = temp_dir("loop");
    let script = example("profile-loop.lua");
    let out = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .arg("--loop-prof")
        .arg(format!("--loop-prof-dir={}", dir.display()))
        .arg(&script)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line = std::fs::read_to_string(&script)
        .unwrap()
        .lines()
        .position(|l| l.contains("-- the blocking callback"))
        .unwrap()
        + 1;
    let site = format!("profile-loop.lua:{line}");
    let r = json_file(&dir, ".json");
    let slow = &r["slow"][0];
    assert_eq!(slow["kind"], "setTimeout", "{slow}");
    assert!(slow["site"].as_str().unwrap().ends_with(&site), "{slow}");
    assert!(slow["duration_ms"].as_f64().unwrap() >= 200.0, "{slow}");
    let frames: Vec<&str> = slow["stack"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        frames.contains(&"render"),
        "where the time went: {frames:?}"
    );
    assert!(
        r["lag"]["max_ms"].as_f64().unwrap() >= 150.0,
        "{}",
        r["lag"]
    );
    assert!(r["lag"]["count"].as_u64().unwrap() >= 20, "{}", r["lag"]);
    let u = r["utilization"].as_f64().unwrap();
    assert!(u > 0.2 && u <= 1.0, "utilization {u}");
    let callbacks = r["callbacks"].as_array().unwrap();
    assert!(callbacks[0]["site"].as_str().unwrap().ends_with(&site));
    let heartbeat = callbacks
        .iter()
        .find(|c| c["count"].as_u64() == Some(30))
        .expect("the interval's 30 runs");
    assert!(heartbeat["p99_ms"].as_f64().unwrap() <= heartbeat["max_ms"].as_f64().unwrap());
    // the Chrome trace: one complete event per callback, the blocking one among them
    let trace = json_file(&dir, ".trace.json");
    let events = trace["traceEvents"].as_array().unwrap();
    let complete: Vec<_> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert!(complete.len() >= 31, "{} events", complete.len());
    assert!(complete
        .iter()
        .all(|e| e["ts"].is_u64() && e["dur"].is_u64()));
    assert!(complete
        .iter()
        .any(|e| e["dur"].as_u64().unwrap() >= 200_000
            && e["args"]["site"].as_str().unwrap().ends_with(&site)));
    // and the summary on stderr
    assert!(stderr.contains("luvit loop profile:"), "{stderr}");
    assert!(
        stderr.contains("ran past")
            && stderr.contains(&format!("registered at {}", script.display())),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn loop_prof_charges_no_idle_wait_to_the_callbacks_around_it() {
    // Callbacks back to back share clock reads (one starts where the last ended); a park
    // must break that chain, or the 300 ms waits below would show up as callback time.
    let dir = temp_dir("loop-idle");
    let code = "local timer = require('timer') local n = 0 local function tick() n = n + 1 \
                if n < 4 then timer.setTimeout(300, tick) end end timer.setTimeout(300, tick)";
    let out = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .arg("--loop-prof")
        .arg(format!("--loop-prof-dir={}", dir.display()))
        .args(["-e", code])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json_file(&dir, ".json");
    let timers: Vec<&serde_json::Value> = r["callbacks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["function"].as_str().unwrap().contains("command line"))
        .collect();
    let count: u64 = timers.iter().map(|c| c["count"].as_u64().unwrap()).sum();
    assert_eq!(count, 4, "{timers:?}");
    for c in &timers {
        assert!(c["max_ms"].as_f64().unwrap() < 50.0, "idle charged: {c}");
    }
    assert!(r["slow"].as_array().unwrap().is_empty(), "{}", r["slow"]);
    let u = r["utilization"].as_f64().unwrap();
    assert!(u < 0.5, "an idle program's utilization: {u}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_loop_profiler_flags_and_directories_are_clear_errors_before_the_program_runs() {
    for (args, says) in [
        (
            vec!["--loop-prof", "--loop-prof-threshold=soon"],
            "loop-prof-threshold",
        ),
        (vec!["--loop-prof-dir=/tmp"], "need --loop-prof"),
        (
            vec!["--loop-prof", "--loop-prof-dir=/nonexistent/x"],
            "/nonexistent/x",
        ),
        (
            vec!["--cpu-prof", "--cpu-prof-dir=/etc/hostname"],
            "not a directory",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_luvit"))
            .args(&args)
            .args(["-e", "print('ran')"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "the program did not run: {args:?}");
    }
}

#[test]
fn cpu_samples_keep_the_work_ratio_across_a_coroutine_and_a_timer_with_its_origin_frame() {
    let dir = temp_dir("ratio");
    let script = example("profile-ratio.lua");
    let out = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .arg("--cpu-prof")
        .arg(format!("--cpu-prof-dir={}", dir.display()))
        .args(["--cpu-prof-name=ratio", &script.to_string_lossy()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = std::fs::read_to_string(&script)
        .unwrap()
        .lines()
        .position(|l| l.contains("-- the timer's origin"))
        .unwrap()
        + 1;
    let origin = format!("[setTimeout] {}:{line}", script.display());
    let folded = std::fs::read_to_string(dir.join("ratio.folded")).unwrap();
    let (mut heavy, mut light, mut light_with_origin, mut heavy_in_coroutine) = (0u64, 0u64, 0, 0);
    for l in folded.lines() {
        let (stack, n) = l.rsplit_once(' ').unwrap();
        let n: u64 = n.parse().unwrap();
        let leaf = stack.rsplit(';').next().unwrap();
        if leaf.starts_with("heavy_in_coroutine ") {
            heavy += n;
            if stack.contains(";[coroutine];") {
                heavy_in_coroutine += n;
            }
        } else if leaf.starts_with("light_in_timer ") {
            light += n;
            if stack.starts_with(&origin) {
                light_with_origin += n;
            }
        }
    }
    assert!(light > 0 && heavy > 0, "{folded}");
    let ratio = heavy as f64 / light as f64;
    assert!(
        (2.25..=3.75).contains(&ratio),
        "3:1 within 25%: {ratio}\n{folded}"
    );
    assert_eq!(
        light_with_origin, light,
        "every timer sample under {origin}\n{folded}"
    );
    assert_eq!(
        heavy_in_coroutine, heavy,
        "every coroutine sample under [coroutine]"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cpu_prof_format_pprof_writes_a_gzipped_protobuf_and_unknown_formats_are_refused() {
    let dir = temp_dir("pprof");
    let script = example("profile-hot.lua");
    let out = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .args(["--cpu-prof", "--cpu-prof-format=pprof", "--cpu-prof-name=p"])
        .arg(format!("--cpu-prof-dir={}", dir.display()))
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the string table holds the hot function and the script's path
    let p = read_pprof(&dir.join("p.pb.gz"));
    let has = |s: &str| p.string_table.iter().any(|t| t == s);
    assert!(has("busy") && has(&script.to_string_lossy()) && has("cpu"));
    assert!(dir.join("p.folded").exists() && dir.join("p.svg").exists());
    assert!(!dir.join("p.cpuprofile").exists());
    let bad = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .args(["--cpu-prof", "--cpu-prof-format=svg", "-e", "print(1)"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("cpuprofile, pprof"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `.pb.gz` at `path`, decoded.
/// The `.pb.gz` files a run wrote into `dir`.
fn pprof_files(dir: &std::path::Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".pb.gz"))
        .collect()
}

fn read_pprof(path: &std::path::Path) -> pprof::protos::Profile {
    use pprof::protos::Message;
    use std::io::Read;
    let gz = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut pb = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut pb)
        .expect("gzip");
    pprof::protos::Profile::decode(pb.as_slice()).expect("a pprof profile")
}

#[test]
fn native_prof_samples_the_rust_side_under_lua_and_writes_pprof_and_a_flamegraph() {
    let dir = temp_dir("native");
    let script = example("profile-native.lua");
    let out = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .args(["--native-prof", "--native-prof-interval=1000"])
        .arg(format!("--native-prof-dir={}", dir.display()))
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pb = pprof_files(&dir);
    assert_eq!(pb.len(), 1, "{pb:?}");
    let name = pb[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(
        name.starts_with("NATIVE.") && name.ends_with(".0.001.pb.gz"),
        "{name}"
    );
    let p = read_pprof(&pb[0]);
    let s = |i: i64| p.string_table[i as usize].as_str();
    let samples: i64 = p.sample.iter().map(|x| x.value[0]).sum();
    assert!(samples >= 20, "{samples} samples");
    // stacks reach from Lua into our Rust modules: a frame in runtime/src/modules/json or zlib
    let file_of = |loc: u64| {
        let l = &p.location[(loc - 1) as usize];
        s(p.function[(l.line[0].function_id - 1) as usize].filename)
    };
    let in_modules = p
        .sample
        .iter()
        .filter(|x| {
            x.location_id.iter().any(|&l| {
                let f = file_of(l);
                f.contains("modules/json") || f.contains("modules/zlib") || f.contains("flate2")
            })
        })
        .map(|x| x.value[0])
        .sum::<i64>();
    assert!(
        in_modules * 4 >= samples,
        "{in_modules} of {samples} samples in json/zlib"
    );
    // a stack that leaves Rust for Lua ends at a labelled frame, never in garbage
    let names: Vec<&str> = p.function.iter().map(|f| s(f.name)).collect();
    assert!(
        names.contains(&"[Lua interpreter]") || names.contains(&"[JIT code]"),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.contains("NativeProfiler")),
        "{names:?}"
    );
    assert!(p.sample.iter().all(|x| s(x.label[0].key) == "thread"));
    let svg = std::fs::read_to_string(pb[0].with_extension("").with_extension("svg")).unwrap();
    assert!(svg.starts_with("<?xml") && svg.contains("luvit"), "an svg");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn native_prof_survives_samples_that_land_in_compiled_lua_calling_into_the_vm() {
    // The old unwinder aborted when a sample landed in a VM helper called from a trace.
    let code = "local x = 0 for r = 1, 12 do for i = 1, 200000 do \
                x = x + (i % 7) + math.floor(i / 3) + math.fmod(i, 5) end end print(x)";
    let dir = temp_dir("native-jit");
    for _ in 0..3 {
        let out = Command::new(env!("CARGO_BIN_EXE_luvit"))
            .args(["--native-prof", "--native-prof-interval=200"])
            .arg(format!("--native-prof-dir={}", dir.display()))
            .args(["-e", code])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn native_prof_never_hangs_on_a_sample_taken_while_an_error_unwinds() {
    // A sample landing inside libgcc's unwinder (a Lua error being thrown) used to wait on
    // the unwinder's own lock forever; now it is skipped and counted as such.
    let code = "local t = os.clock() while os.clock() - t < 1.5 do \
                for i = 1, 200 do pcall(error, 'x') end end print('done')";
    let dir = temp_dir("native-errors");
    let mut child = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .args(["--native-prof", "--native-prof-interval=100"])
        .arg(format!("--native-prof-dir={}", dir.display()))
        .args(["-e", code])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("luvit --native-prof hung while errors were thrown");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let pb = pprof_files(&dir);
    assert_eq!(pb.len(), 1, "{pb:?}");
    let p = read_pprof(&pb[0]);
    let s = |i: i64| p.string_table[i as usize].as_str();
    let skipped: i64 = p
        .sample
        .iter()
        .filter(|x| s(x.label[0].str) == "(unwinding)")
        .map(|x| x.value[0])
        .sum();
    let total: i64 = p.sample.iter().map(|x| x.value[0]).sum();
    // most of such a program's time is libgcc unwinding: the gate must have turned samples away
    assert!(
        skipped > 0 && skipped < total,
        "{skipped} of {total} samples skipped"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn native_and_cpu_profilers_cannot_share_sigprof_and_bad_native_flags_are_refused() {
    for (args, says) in [
        (
            vec!["--cpu-prof", "--native-prof", "-e", "print(1)"],
            "SIGPROF",
        ),
        (
            vec![
                "--native-prof",
                "--native-prof-interval=5",
                "-e",
                "print(1)",
            ],
            "interval",
        ),
        (
            vec!["--native-prof-dir=/tmp", "-e", "print(1)"],
            "need --native-prof",
        ),
        (
            vec![
                "--native-prof",
                "--native-prof-dir=/no/such/dir",
                "-e",
                "print(1)",
            ],
            "/no/such/dir",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_luvit"))
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // from Lua, the second profiler is refused while the first runs
    let dir = temp_dir("native-lua");
    let out = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .args(["--native-prof", "--native-prof-dir", &dir.to_string_lossy()])
        .args([
            "-e",
            "local p = require('profiler') print(p.start('cpu')) print(#p.stop('native'))",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("false\t") && stdout.contains("SIGPROF") && stdout.ends_with("\n2\n"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_http_request_handler_is_its_own_callback_in_the_loop_and_cpu_profiles() {
    let dir = temp_dir("http");
    let script = example("profile-http.lua");
    let out = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .args(["--loop-prof", "--cpu-prof", "--cpu-prof-name=c"])
        .arg(format!("--loop-prof-dir={}", dir.display()))
        .arg(format!("--cpu-prof-dir={}", dir.display()))
        .arg(&script)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line = std::fs::read_to_string(&script)
        .unwrap()
        .lines()
        .position(|l| l.contains("-- the request handler"))
        .unwrap()
        + 1;
    let site = format!("{}:{line}", script.display());
    let r = json_file(&dir, ".json");
    // the slow entry names the handler, not the socket read it ran inside
    let all = r["slow"].as_array().unwrap();
    assert!(!all.is_empty(), "{r}");
    for slow in all {
        assert_eq!(slow["kind"], "http request", "{slow}");
        assert_eq!(slow["site"], site.as_str(), "{slow}");
        assert_eq!(slow["function"], site.as_str(), "{slow}");
    }
    // (on a loaded machine the watchdog may miss a run: look at the most sampled one)
    let slow = all
        .iter()
        .max_by_key(|s| s["samples"].as_u64().unwrap_or(0))
        .unwrap();
    assert_eq!(slow["hot"][0]["name"], "render", "{slow}");
    let requests = r["callbacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "http request")
        .expect("an http request site");
    assert_eq!(requests["count"], 3, "{requests}");
    // CPU samples in the handler sit under its origin frame
    let folded = std::fs::read_to_string(dir.join("c.folded")).unwrap();
    let frame = format!("[http request] {site}");
    let under: u64 = folded
        .lines()
        .filter(|l| l.contains(&frame) && l.contains(";render"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(under > 0, "no render samples under {frame}:\n{folded}");
    let _ = std::fs::remove_dir_all(&dir);
}
