//! The debugger end to end: the real binary under `--inspect-*`, driven over a real websocket
//! by the DAP client in `tests/dap/`, on the programs in `examples/debug/`.

mod dap;

use std::time::Duration;

use dap::{example, Dap};
use serde_json::json;

#[test]
fn breakpoint_in_the_main_chunk_shows_locals_and_continues_to_exit() {
    let script = example("basics.lua");
    let mut d = Dap::start("--inspect-wait=127.0.0.1:0", &script);
    // line 9 has no code: the breakpoint moves to line 10
    let bps = d.set_breakpoints(&script, &[7, 9]);
    assert_eq!(bps["breakpoints"][0]["verified"], true, "{bps}");
    assert_eq!(bps["breakpoints"][0]["line"], 7);
    assert_eq!(bps["breakpoints"][1]["line"], 10);
    d.ok("configurationDone", json!({}));
    let (reason, top) = d.stopped();
    assert_eq!(
        (reason.as_str(), top["line"].as_i64()),
        ("breakpoint", Some(10))
    );
    assert_eq!(top["name"], "main chunk");
    d.cont();
    let (reason, top) = d.stopped();
    assert_eq!(reason, "breakpoint");
    assert_eq!(top["line"], 7, "{top}");
    assert_eq!(top["source"]["path"], script.as_str());
    let id = top["id"].as_i64().unwrap();
    assert_eq!(d.local(id, "sum").as_deref(), Some("3"));
    assert_eq!(d.local(id, "a").as_deref(), Some("1"));
    // the caller's frame is the main chunk at line 10
    let stack = d.stack();
    assert_eq!(stack[1]["line"], 10, "{stack:?}");
    d.cont();
    // add() again, called from the timer callback
    let (reason, top) = d.stopped();
    assert_eq!(reason, "breakpoint");
    assert_eq!(top["line"], 7);
    let stack = d.stack();
    let names: Vec<String> = stack
        .iter()
        .map(|f| f["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("setTimeout scheduled at") && n.contains("basics.lua:13")),
        "async origin of the timer callback in {names:?}"
    );
    d.set_breakpoints(&script, &[]);
    d.cont();
    assert_eq!(d.exit_code(), 0);
    // what the program printed reached the debug console too
    let mut out = String::new();
    while let Some(e) = d.try_event("output", Duration::from_millis(100)) {
        if e["body"]["category"] == "stdout" {
            out.push_str(e["body"]["output"].as_str().unwrap_or(""));
        }
    }
    assert!(
        out.contains("total\t3") && out.contains("late\t13"),
        "{out:?}"
    );
}

#[test]
fn breakpoint_inside_a_coroutine_and_evaluate_in_its_frame() {
    let script = example("basics.lua");
    let mut d = Dap::start("--inspect-wait=127.0.0.1:0", &script);
    d.set_breakpoints(&script, &[21]);
    d.ok("configurationDone", json!({}));
    let (reason, top) = d.stopped();
    assert_eq!(
        (reason.as_str(), top["line"].as_i64()),
        ("breakpoint", Some(21))
    );
    let id = top["id"].as_i64().unwrap();
    let r = d.eval("y * 10 + x", Some(id));
    assert_eq!(r["body"]["result"], "105", "{r}");
    // assignment in the frame changes the program
    let r = d.eval("y = 100", Some(id));
    assert_eq!(r["success"], true, "{r}");
    let stack = d.stack();
    let names: Vec<String> = stack
        .iter()
        .map(|f| f["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("coroutine resumed at") && n.contains("basics.lua:25")),
        "coroutine boundary in {names:?}"
    );
    d.set_breakpoints(&script, &[]);
    d.cont();
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn inspect_brk_stops_on_the_first_line_and_steps() {
    let script = example("basics.lua");
    let mut d = Dap::start("--inspect-brk=127.0.0.1:0", &script);
    d.ok("configurationDone", json!({}));
    let (reason, top) = d.stopped();
    assert_eq!(reason, "entry");
    assert_eq!(top["line"], 3);
    d.ok("next", json!({ "threadId": 1 }));
    // `local function add` is one instruction that LuaJIT puts on the function's last line
    let (reason, top) = d.stopped();
    assert_eq!((reason.as_str(), top["line"].as_i64()), ("step", Some(8)));
    d.ok("next", json!({ "threadId": 1 }));
    let (_, top) = d.stopped();
    assert_eq!(top["line"], 10);
    d.ok("stepIn", json!({ "threadId": 1 }));
    let (_, top) = d.stopped();
    assert_eq!(top["line"], 6, "step into add");
    d.ok("stepOut", json!({ "threadId": 1 }));
    let (_, top) = d.stopped();
    assert_eq!(
        top["line"], 11,
        "back in the main chunk after add returned: {top}"
    );
    d.cont();
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn step_over_a_yielding_line_stays_in_the_coroutine() {
    let script = example("stepping.lua");
    let mut d = Dap::run_to(&script, 12);
    d.ok("next", json!({ "threadId": 1 }));
    // timer.sleep yields; the interval ticks meanwhile; the step ends on line 13 of work()
    let (reason, top) = d.stopped();
    assert_eq!(
        (reason.as_str(), top["line"].as_i64()),
        ("step", Some(13)),
        "{top}"
    );
    let id = top["id"].as_i64().unwrap();
    assert_eq!(d.local(id, "before").as_deref(), Some("41"));
    let ticks = d.eval("state.ticks", Some(id));
    let n: i64 = ticks["body"]["result"]
        .as_str()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    assert!(n > 0, "the interval ran while the coroutine slept: {ticks}");
    d.cont();
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn pause_stops_a_hot_compiled_loop_and_breakpoints_reach_it() {
    let script = example("busy.lua");
    let mut d = Dap::start("--inspect-wait=127.0.0.1:0", &script);
    d.ok("configurationDone", json!({}));
    std::thread::sleep(Duration::from_millis(300));
    d.ok("pause", json!({ "threadId": 1 }));
    let (reason, top) = d.stopped();
    assert_eq!(reason, "pause");
    let line = top["line"].as_i64().unwrap();
    assert!((4..=7).contains(&line), "stopped inside the loop: {top}");
    let id = top["id"].as_i64().unwrap();
    let i: f64 = d.local(id, "i").unwrap().parse().unwrap();
    assert!(i > 100_000.0, "the loop had run hot: i = {i}");
    d.cont();
    std::thread::sleep(Duration::from_millis(100));
    // a breakpoint set while the compiled loop runs takes effect
    let t0 = std::time::Instant::now();
    d.set_breakpoints(&script, &[6]);
    let (reason, top) = d.stopped();
    assert_eq!(
        (reason.as_str(), top["line"].as_i64()),
        ("breakpoint", Some(6))
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
    d.ok("disconnect", json!({ "terminateDebuggee": true }));
}

#[test]
fn uncaught_error_in_a_callback_stops_at_the_raise_site() {
    let script = example("errors.lua");
    let mut d = Dap::start("--inspect-wait=127.0.0.1:0", &script);
    let top = d.stop_at_uncaught();
    assert_eq!(top["line"], 7, "the frame that raised: {top}");
    let id = top["id"].as_i64().unwrap();
    assert_eq!(d.local(id, "reason").as_deref(), Some("\"bad thing\""));
    let info = d.ok("exceptionInfo", json!({ "threadId": 1 }));
    assert!(
        info["description"].as_str().unwrap().contains("bad thing"),
        "{info}"
    );
    d.cont();
    assert_eq!(d.exit_code(), 1);
}

#[test]
fn bad_messages_get_error_responses_and_the_session_goes_on() {
    let script = example("basics.lua");
    let mut d = Dap::start("--inspect-wait=127.0.0.1:0", &script);
    d.send_raw("{not json");
    d.send_raw(r#"{"seq": 50, "type": "request", "command": "frobnicate"}"#);
    let r = d.response(50);
    assert_eq!(r["success"], false);
    assert!(r["message"].as_str().unwrap().contains("frobnicate"));
    let r = d.request("scopes", json!({}));
    assert_eq!(r["success"], false, "{r}");
    let r = d.request("setBreakpoints", json!({ "source": {} }));
    assert_eq!(r["success"], false);
    d.ok("configurationDone", json!({}));
    assert_eq!(d.exit_code(), 0);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Sends one GET to the server and returns the response, or None if none came in `within`.
fn http_get(port: u16, within: Duration) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(within)).ok()?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    (!out.is_empty()).then(|| String::from_utf8_lossy(&out).into_owned())
}

/// `server.lua` under `--inspect-wait` on a free port, with `bps` set: returns the client and
/// the port once the server listens (after configurationDone).
fn server_with_breakpoints(bps: &[i64]) -> (Dap, String, u16) {
    let script = example("server.lua");
    let port = free_port();
    let mut d = Dap::start_env(
        "--inspect-wait=127.0.0.1:0",
        &script,
        &[("PORT", &port.to_string())],
    );
    d.set_breakpoints(&script, bps);
    d.ok("configurationDone", json!({}));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "server never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (d, script, port)
}

#[test]
fn breakpoint_in_an_http_handler_stops_the_whole_loop() {
    let (mut d, script, port) = server_with_breakpoints(&[6]);
    let first = std::thread::spawn(move || http_get(port, Duration::from_secs(20)));
    let (reason, top) = d.stopped();
    assert_eq!(
        (reason.as_str(), top["line"].as_i64()),
        ("breakpoint", Some(6))
    );
    // stopped: nobody is served, but the debugger still answers
    let second = http_get(port, Duration::from_millis(300));
    assert!(
        second.is_none(),
        "a request was served while stopped: {second:?}"
    );
    let id = top["id"].as_i64().unwrap();
    let r = d.eval("count", Some(id));
    assert_eq!(r["body"]["result"], "0", "{r}");
    let names: Vec<String> = d
        .stack()
        .iter()
        .map(|f| f["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        names.iter().any(|n| n.contains("server.lua:11")),
        "the origin chain reaches server:listen at line 11: {names:?}"
    );
    d.set_breakpoints(&script, &[]);
    d.cont();
    let body = first
        .join()
        .unwrap()
        .expect("the first request is answered");
    assert!(body.contains("hello 1"), "{body}");
    let again = http_get(port, Duration::from_secs(5)).expect("served after continue");
    assert!(again.contains("hello "), "{again}");
    d.ok("disconnect", json!({ "terminateDebuggee": true }));
}

#[test]
fn late_attach_hits_in_an_old_coroutine_and_in_a_module_loaded_later() {
    let script = example("late-attach.lua");
    let later = example("lib/later.lua");
    let (child, url) = dap::spawn(&["--inspect=127.0.0.1:0"], &script, &[]);
    std::thread::sleep(Duration::from_millis(150));
    let mut d = Dap::connect(&url);
    d.child = Some(child);
    d.ok("initialize", json!({ "adapterID": "luvit" }));
    d.ok("attach", json!({}));
    d.set_breakpoints(&script, &[9]);
    d.set_breakpoints(&later, &[5]);
    d.ok("configurationDone", json!({}));
    let (reason, top) = d.stopped();
    assert_eq!(
        (reason.as_str(), top["line"].as_i64()),
        ("breakpoint", Some(9))
    );
    let id = top["id"].as_i64().unwrap();
    let i: i64 = d.local(id, "i").unwrap().parse().unwrap();
    assert!(
        i > 1 && i < 40,
        "the coroutine was already running: i = {i}"
    );
    d.set_breakpoints(&script, &[]);
    d.cont();
    let (reason, top) = d.stopped();
    assert_eq!(reason, "breakpoint");
    assert_eq!(top["line"], 5);
    assert_eq!(top["source"]["path"], later.as_str());
    d.set_breakpoints(&later, &[]);
    d.cont();
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn a_stop_before_configuration_done_is_announced_once() {
    // The breakpoint is hit (within 50 ms) before configurationDone arrives; the client must
    // get one `stopped`, or it takes the second for a later stop of a running program.
    let script = example("late-attach.lua");
    let (child, url) = dap::spawn(&["--inspect=127.0.0.1:0"], &script, &[]);
    let mut d = Dap::connect(&url);
    d.child = Some(child);
    d.ok("initialize", json!({ "adapterID": "luvit" }));
    d.ok("attach", json!({}));
    d.set_breakpoints(&script, &[9]);
    assert!(
        d.try_event("stopped", Duration::from_secs(10)).is_some(),
        "the breakpoint was hit"
    );
    d.ok("configurationDone", json!({}));
    assert!(
        d.try_event("stopped", Duration::from_millis(500)).is_none(),
        "the stop was announced twice"
    );
    let top = d.stack()[0].clone();
    assert_eq!(top["line"], 9);
    d.set_breakpoints(&script, &[]);
    d.cont();
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn a_client_that_vanishes_while_stopped_leaves_the_program_running_and_another_attaches() {
    let script = example("late-attach.lua");
    let (child, url) = dap::spawn(&["--inspect-wait=127.0.0.1:0"], &script, &[]);
    {
        let mut d = Dap::connect(&url);
        d.ok("initialize", json!({ "adapterID": "luvit" }));
        d.ok("attach", json!({}));
        d.set_breakpoints(&script, &[9]);
        d.ok("configurationDone", json!({}));
        let (reason, _) = d.stopped();
        assert_eq!(reason, "breakpoint");
        // dropped without a disconnect request: the socket just closes
    }
    std::thread::sleep(Duration::from_millis(100));
    let mut d = Dap::connect(&url);
    d.child = Some(child);
    d.ok("initialize", json!({ "adapterID": "luvit" }));
    d.ok("attach", json!({}));
    d.ok("configurationDone", json!({}));
    // the old breakpoint went with the old client: the program runs to its end
    assert_eq!(d.exit_code(), 0);
    d.event("terminated");
}

#[test]
fn step_into_a_function_in_another_file_opens_that_file() {
    let script = example("steps-across-files.lua");
    let later = example("lib/later.lua");
    let mut d = Dap::run_to(&script, 4);
    d.ok("stepIn", json!({ "threadId": 1 }));
    let (reason, top) = d.stopped();
    assert_eq!(reason, "step");
    assert_eq!(top["source"]["path"], later.as_str(), "{top}");
    assert_eq!(top["line"], 5);
    d.ok("stepOut", json!({ "threadId": 1 }));
    let (_, top) = d.stopped();
    assert_eq!(top["source"]["path"], script.as_str(), "{top}");
    d.cont();
    assert_eq!(d.exit_code(), 0);
}

/// One raw HTTP exchange with the inspector port.
fn raw(addr: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("inspector port");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn the_front_door_answers_discovery_and_refuses_what_it_must() {
    let script = example("basics.lua");
    let (mut child, url) = dap::spawn(&["--inspect-wait=127.0.0.1:0"], &script, &[]);
    let rest = url.strip_prefix("ws://").unwrap();
    let (addr, uuid) = rest.split_once('/').unwrap();
    let list = raw(addr, "GET /json/list HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert!(list.starts_with("HTTP/1.1 200"), "{list}");
    let body: serde_json::Value =
        serde_json::from_str(list.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body[0]["webSocketDebuggerUrl"], url.as_str());
    assert_eq!(body[0]["id"], uuid);
    assert_eq!(body[0]["dap"], true);
    let version = raw(
        addr,
        "GET /json/version HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert!(
        version.starts_with("HTTP/1.1 200") && version.contains("Protocol-Version"),
        "{version}"
    );
    let post = raw(
        addr,
        "POST /json/list HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    let rebinding = raw(
        addr,
        "GET /json/list HTTP/1.1\r\nHost: attacker.example:9229\r\n\r\n",
    );
    assert!(rebinding.starts_with("HTTP/1.1 403"), "{rebinding}");
    let two = raw(
        addr,
        "GET /json/list HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n",
    );
    assert!(two.starts_with("HTTP/1.1 403"), "{two}");
    let upgrade = |path: &str, extra: &str| {
        raw(
            addr,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
            ),
        )
    };
    let wrong = upgrade("/not-the-uuid", "");
    assert!(wrong.starts_with("HTTP/1.1 404"), "{wrong}");
    let browser = upgrade(&format!("/{uuid}"), "Origin: https://evil.example\r\n");
    assert!(browser.starts_with("HTTP/1.1 403"), "{browser}");
    let garbage = raw(addr, "\x16\x03\x01 not http at all\r\n\r\n");
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    // after all that, a real client still gets in
    let mut d = Dap::connect(&url);
    d.ok("initialize", json!({ "adapterID": "luvit" }));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn dap_over_tcp_speaks_the_same_session() {
    let script = example("basics.lua");
    let (child, url) = dap::spawn(
        &["--inspect-dap-tcp=127.0.0.1:0", "--inspect-wait"],
        &script,
        &[],
    );
    let addr = url
        .strip_prefix("tcp://")
        .expect("a tcp:// address")
        .to_string();
    let stream = std::net::TcpStream::connect(&addr).expect("connect");
    let reader = std::io::BufReader::new(stream.try_clone().unwrap());
    let mut d = dap::Framed::new(reader, Box::new(stream));
    d.child = Some(child);
    d.ok("initialize", json!({ "adapterID": "luvit" }));
    d.event("initialized");
    d.ok(
        "setBreakpoints",
        json!({ "source": { "path": script }, "breakpoints": [{ "line": 7 }] }),
    );
    // a malformed body inside a good frame is answered, not fatal
    d.send_raw("{\"seq\": 77, \"type\": \"request\"}");
    let r = d.response(77);
    assert_eq!(r["success"], false);
    d.ok("configurationDone", json!({}));
    let ev = d.event("stopped");
    assert_eq!(ev["body"]["reason"], "breakpoint");
    d.ok(
        "setBreakpoints",
        json!({ "source": { "path": script }, "breakpoints": [] }),
    );
    d.ok("continue", json!({ "threadId": 1 }));
    let ev = d.event("exited");
    assert_eq!(ev["body"]["exitCode"], 0);
}

#[test]
fn luvit_dap_launches_a_program_and_relays_its_output() {
    let script = example("basics.lua");
    let mut child = dap::spawn_adapter();
    let stdin = child.stdin.take().unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut d = dap::Framed::new(stdout, Box::new(stdin));
    d.child = Some(child);
    let caps = d.ok("initialize", json!({ "adapterID": "luvit" }));
    assert_eq!(caps["supportsConditionalBreakpoints"], true);
    // before launch, program requests are refused with a reason
    let seq = d.send("threads", json!({}));
    assert_eq!(d.response(seq)["success"], false);
    d.ok("launch", json!({ "program": script, "stopOnEntry": true }));
    d.event("initialized");
    d.ok(
        "setBreakpoints",
        json!({ "source": { "path": script }, "breakpoints": [{ "line": 11 }] }),
    );
    d.ok("configurationDone", json!({}));
    let ev = d.event("stopped");
    assert_eq!(ev["body"]["reason"], "entry");
    d.ok("continue", json!({ "threadId": 1 }));
    let ev = d.event("stopped");
    assert_eq!(ev["body"]["reason"], "breakpoint");
    d.ok(
        "setBreakpoints",
        json!({ "source": { "path": script }, "breakpoints": [] }),
    );
    d.ok("continue", json!({ "threadId": 1 }));
    let ev = d.event("exited");
    assert_eq!(ev["body"]["exitCode"], 0);
    d.event("terminated");
    let events = d.drain_events(Duration::from_millis(300));
    let out: String = events
        .iter()
        .filter(|e| e["event"] == "output" && e["body"]["category"] == "stdout")
        .map(|e| e["body"]["output"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        out.contains("total\t3") && out.contains("late\t13"),
        "program output: {out:?}"
    );
    d.ok("disconnect", json!({}));
}

#[test]
fn microsofts_debug_client_drives_luvit_dap() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join("tests/vscode-dap");
    if !dir
        .join("node_modules/@vscode/debugadapter-testsupport")
        .exists()
    {
        // A fresh checkout: install the client from the npm registry (package-lock.json).
        let st = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .status()
            .expect("npm runs");
        assert!(st.success(), "npm ci --prefix tests/vscode-dap failed");
    }
    let out = std::process::Command::new("node")
        .arg(dir.join("test.js"))
        .arg(env!("CARGO_BIN_EXE_luvit"))
        .arg(root.join("examples/debug"))
        .output()
        .expect("node runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && !text.contains("not ok")
            && text.matches("\nok - ").count() + 1 >= 5,
        "DebugClient run:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn all_errors_stops_on_errors_caught_by_pcall_too() {
    let script = example("errors.lua");
    let mut d = Dap::start("--inspect-wait=127.0.0.1:0", &script);
    d.ok(
        "setExceptionBreakpoints",
        json!({ "filters": ["uncaught", "all"] }),
    );
    d.ok("configurationDone", json!({}));
    let (reason, top) = d.stopped();
    assert_eq!(
        (reason.as_str(), top["line"].as_i64()),
        ("exception", Some(7)),
        "{top}"
    );
    let id = top["id"].as_i64().unwrap();
    assert_eq!(d.local(id, "reason").as_deref(), Some("\"bad caught\""));
    let info = d.ok("exceptionInfo", json!({ "threadId": 1 }));
    assert_eq!(info["breakMode"], "always");
    d.cont();
    let (reason, top) = d.stopped();
    assert_eq!(
        (reason.as_str(), top["line"].as_i64()),
        ("exception", Some(7))
    );
    let info = d.ok("exceptionInfo", json!({ "threadId": 1 }));
    assert_eq!(info["breakMode"], "unhandled");
    assert!(info["description"].as_str().unwrap().contains("bad thing"));
    d.cont();
    assert_eq!(d.exit_code(), 1);
}

#[test]
fn function_breakpoints_stop_at_the_named_functions_first_line() {
    let script = example("steps-across-files.lua");
    let later = example("lib/later.lua");
    let mut d = Dap::start("--inspect-wait=127.0.0.1:0", &script);
    let r = d.ok(
        "setFunctionBreakpoints",
        json!({ "breakpoints": [{ "name": "M.run" }, { "name": " " }] }),
    );
    assert_eq!(r["breakpoints"][0]["verified"], true);
    assert_eq!(r["breakpoints"][1]["verified"], false);
    d.ok("configurationDone", json!({}));
    let ev = d.event("stopped");
    assert_eq!(ev["body"]["reason"], "function breakpoint");
    assert_eq!(ev["body"]["hitBreakpointIds"][0], r["breakpoints"][0]["id"]);
    let top = d.stack()[0].clone();
    assert_eq!(top["source"]["path"], later.as_str());
    assert_eq!(top["line"], 5);
    d.ok("setFunctionBreakpoints", json!({ "breakpoints": [] }));
    d.cont();
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn step_out_of_a_coroutine_body_lands_in_its_resumer() {
    let script = example("basics.lua");
    let mut d = Dap::run_to(&script, 19);
    d.ok("stepOut", json!({ "threadId": 1 }));
    let (reason, top) = d.stopped();
    assert_eq!(reason, "step");
    assert_eq!(top["name"], "main chunk", "{top}");
    let line = top["line"].as_i64().unwrap();
    assert!(
        line == 24 || line == 25,
        "after the resume on line 24: {top}"
    );
    d.cont();
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn pause_on_an_idle_program_stops_at_the_next_line_that_runs() {
    let (mut d, script, port) = server_with_breakpoints(&[]);
    d.ok("pause", json!({ "threadId": 1 }));
    // idle: nothing runs, so no stop yet
    assert!(d.try_event("stopped", Duration::from_millis(300)).is_none());
    let req = std::thread::spawn(move || http_get(port, Duration::from_secs(20)));
    let (reason, top) = d.stopped();
    assert_eq!(reason, "pause");
    assert_eq!(top["source"]["path"], script.as_str(), "{top}");
    d.cont();
    assert!(req.join().unwrap().is_some_and(|r| r.contains("hello 1")));
    d.ok("disconnect", json!({ "terminateDebuggee": true }));
}

#[test]
fn variables_page_tables_show_metatables_and_escape_strings() {
    let script = example("values.lua");
    let mut d = Dap::start("--inspect-wait=127.0.0.1:0", &script);
    d.set_breakpoints(&script, &[13]);
    d.ok("configurationDone", json!({}));
    let (_, top) = d.stopped();
    assert_eq!(top["line"], 13);
    let id = top["id"].as_i64().unwrap();
    let scopes = d.ok("scopes", json!({ "frameId": id }));
    let names: Vec<&str> = scopes["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Locals", "Upvalues", "Globals"]);
    let locals_ref = scopes["scopes"][0]["variablesReference"].clone();
    let vars = d.ok("variables", json!({ "variablesReference": locals_ref }));
    let var = |name: &str| {
        vars["variables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no local {name}: {vars}"))
    };
    assert_eq!(var("text")["value"], r#""tab\there \"quoted\"\nnext""#);
    let list = var("list");
    assert_eq!(list["indexedVariables"], 250);
    let page = d.ok(
        "variables",
        json!({ "variablesReference": list["variablesReference"], "filter": "indexed", "start": 100, "count": 3 }),
    );
    let shown: Vec<(String, String)> = page["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().into(),
                v["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("[101]".into(), "10201".into()),
            ("[102]".into(), "10404".into()),
            ("[103]".into(), "10609".into())
        ]
    );
    let point = var("point");
    let kids = d.ok(
        "variables",
        json!({ "variablesReference": point["variablesReference"] }),
    );
    let kid_names: Vec<&str> = kids["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(kid_names, ["x", "y", "[metatable]"], "{kids}");
    // showing a value never runs its __tostring
    assert!(!point["value"].as_str().unwrap().contains('P'), "{point}");
    assert!(
        var("helper")["value"]
            .as_str()
            .unwrap()
            .contains("values.lua:10"),
        "{}",
        var("helper")
    );
    // setVariable on a local and on a table field
    let r = d.ok(
        "setVariable",
        json!({ "variablesReference": locals_ref, "name": "total", "value": "1000" }),
    );
    assert_eq!(r["value"], "1000");
    let r = d.ok("setVariable", json!({ "variablesReference": point["variablesReference"], "name": "x", "value": "point.x + 41" }));
    assert_eq!(r["value"], "42", "{r}");
    let r = d.eval("point.x", Some(id));
    assert_eq!(r["body"]["result"], "42");
    // completions walk tables and __index chains without calling anything
    let c = d.ok(
        "completions",
        json!({ "text": "emitter:emi", "column": 12, "frameId": id }),
    );
    let labels: Vec<&str> = c["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["label"].as_str().unwrap())
        .collect();
    assert!(labels.contains(&"emit"), "{labels:?}");
    let c = d.ok("completions", json!({ "text": "tex", "frameId": id }));
    assert_eq!(c["targets"][0]["label"], "text");
    // a built-in module's source comes by reference
    let stack = d.stack();
    let builtin = stack
        .iter()
        .find(|f| f["source"]["sourceReference"].as_i64().is_some())
        .expect("a built-in frame (require) below the main chunk");
    let src = d.ok(
        "source",
        json!({ "sourceReference": builtin["source"]["sourceReference"] }),
    );
    assert!(
        src["content"].as_str().unwrap().contains("function"),
        "built-in source text"
    );
    // a logpoint and a hit count in the loop
    d.ok(
        "setBreakpoints",
        json!({ "source": { "path": script }, "breakpoints": [
            { "line": 15, "logMessage": "i={i} total={total}" },
            { "line": 14, "hitCondition": "== 3" },
        ] }),
    );
    d.cont();
    let (reason, top) = d.stopped();
    assert_eq!(
        (reason.as_str(), top["line"].as_i64()),
        ("breakpoint", Some(14))
    );
    let i = d.eval("i", Some(top["id"].as_i64().unwrap()));
    assert_eq!(i["body"]["result"], "3", "the third hit: {i}");
    let logs: Vec<String> =
        std::iter::from_fn(|| d.try_event("output", Duration::from_millis(200)))
            .filter(|e| e["body"]["category"] == "console")
            .map(|e| e["body"]["output"].as_str().unwrap_or("").to_string())
            .collect();
    assert_eq!(
        logs,
        ["i=1 total=1001\n", "i=2 total=1003\n"],
        "logpoint output"
    );
    d.set_breakpoints(&script, &[]);
    d.cont();
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn a_line_with_calls_on_it_is_one_stop_not_one_per_call() {
    // values.lua line 17 calls text:len() and helper(1): LuaJIT reports the line again after
    // each Lua call returns; continuing must not stop there again, stepping must move on.
    let script = example("values.lua");
    let mut d = Dap::start("--inspect-wait=127.0.0.1:0", &script);
    d.set_breakpoints(&script, &[17]);
    d.ok("configurationDone", json!({}));
    let (_, top) = d.stopped();
    assert_eq!(top["line"], 17);
    d.cont();
    assert_eq!(d.exit_code(), 0, "no second stop on line 17");
}

#[test]
fn loaded_sources_list_the_program_and_modules_and_new_ones_are_announced() {
    let script = example("late-attach.lua");
    let later = example("lib/later.lua");
    let mut d = Dap::start("--inspect-wait=127.0.0.1:0", &script);
    d.set_breakpoints(&script, &[9]);
    d.ok("configurationDone", json!({}));
    d.stopped();
    let list = d.ok("loadedSources", json!({}));
    let sources = list["sources"].as_array().unwrap();
    assert!(
        sources.iter().any(|s| s["path"] == script.as_str()),
        "{list}"
    );
    assert!(
        sources
            .iter()
            .any(|s| s["name"] == "timer.lua" && s["sourceReference"].is_number()),
        "built-in modules by reference: {list}"
    );
    assert!(
        !sources.iter().any(|s| s["path"] == later.as_str()),
        "not loaded yet"
    );
    d.set_breakpoints(&script, &[]);
    d.cont();
    let ev = std::iter::from_fn(|| d.try_event("loadedSource", Duration::from_secs(10)))
        .find(|e| e["body"]["source"]["path"] == later.as_str())
        .expect("lib/later.lua announced when required");
    assert_eq!(ev["body"]["reason"], "new");
    assert_eq!(d.exit_code(), 0);
}

/// A small deterministic generator (xorshift), so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
}

#[test]
fn every_request_of_any_shape_gets_an_answer_and_the_program_survives() {
    let (mut d, script, port) = server_with_breakpoints(&[6]);
    let first = std::thread::spawn(move || http_get(port, Duration::from_secs(30)));
    d.stopped();
    let commands = [
        "stackTrace",
        "scopes",
        "variables",
        "evaluate",
        "setVariable",
        "completions",
        "source",
        "setBreakpoints",
        "setFunctionBreakpoints",
        "setExceptionBreakpoints",
        "exceptionInfo",
        "threads",
        "loadedSources",
        "next",
        "stepIn",
        "stepOut",
        "continue",
        "pause",
        "launch",
        "attach",
        "initialize",
        "configurationDone",
        "nonsense",
        "",
    ];
    let keys = [
        "frameId",
        "variablesReference",
        "expression",
        "name",
        "value",
        "text",
        "column",
        "sourceReference",
        "source",
        "breakpoints",
        "filters",
        "threadId",
        "start",
        "count",
        "filter",
        "levels",
        "startFrame",
        "context",
    ];
    let values = [
        json!(null),
        json!(0),
        json!(1),
        json!(-1),
        json!(1e308),
        json!(i64::MAX),
        json!(""),
        json!("1+"),
        json!("{"),
        json!("nil"),
        json!("x"),
        json!([]),
        json!({}),
        json!([1, "a"]),
        json!({ "path": "/nonexistent/file.lua" }),
        json!([{ "line": "seven" }]),
        json!([{ "line": 7, "condition": "(" }]),
        json!({ "sourceReference": 99 }),
        json!("\u{0}\u{ffff}"),
        json!(true),
    ];
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    for i in 0..400 {
        let command = *rng.pick(&commands);
        let mut args = serde_json::Map::new();
        for _ in 0..(rng.next() % 4) {
            args.insert(rng.pick(&keys).to_string(), rng.pick(&values).clone());
        }
        let seq = 1000 + i;
        let msg = match rng.next() % 10 {
            // sometimes the envelope itself is wrong
            0 => json!({ "seq": seq, "type": "request", "command": command, "arguments": 5 }),
            1 => json!({ "seq": seq, "type": "request", "arguments": args }),
            _ => json!({ "seq": seq, "type": "request", "command": command, "arguments": args }),
        };
        d.send_raw(&msg.to_string());
        let r = d.response(seq);
        assert!(r["success"].is_boolean(), "request {msg} answered with {r}");
    }
    // the program still serves, with its state intact
    d.set_breakpoints(&script, &[]);
    d.ok("setFunctionBreakpoints", json!({ "breakpoints": [] }));
    d.ok("setExceptionBreakpoints", json!({ "filters": [] }));
    d.request("continue", json!({ "threadId": 1 }));
    assert!(first.join().unwrap().is_some_and(|r| r.contains("hello 1")));
    // a random pause may still be pending: it stops the next request once, then we go on
    let second = std::thread::spawn(move || http_get(port, Duration::from_secs(10)));
    while !second.is_finished() {
        if d.try_event("stopped", Duration::from_millis(200)).is_some() {
            d.request("continue", json!({ "threadId": 1 }));
        }
    }
    let again = second.join().unwrap().expect("still serving");
    assert!(again.contains("hello 2"), "{again}");
    d.ok("disconnect", json!({ "terminateDebuggee": true }));
}

#[test]
fn the_vscode_extensions_adapter_suite_passes_against_this_binary() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../vscode-extension");
    let npm = |args: &[&str]| {
        let out = std::process::Command::new("npm")
            .args(args)
            .arg("--prefix")
            .arg(&dir)
            .env("LUVIT_BIN", env!("CARGO_BIN_EXE_luvit"))
            .output()
            .expect("npm runs");
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "npm {args:?} failed:\n{text}");
        text
    };
    if !dir.join("node_modules/ws").exists() {
        npm(&["ci", "--no-audit", "--no-fund"]);
    }
    npm(&["run", "build"]);
    let text = npm(&["test"]);
    assert!(!text.contains("not ok"), "{text}");
    // the package: one .vsix under 2 MB whose manifest declares the debugger
    let packaged = npm(&["run", "package"]);
    assert!(!packaged.contains("WARNING"), "vsce warned:\n{packaged}");
    let vsix = dir.join("luvit-rs-0.2.0.vsix");
    let size = std::fs::metadata(&vsix)
        .expect("the .vsix was written")
        .len();
    assert!(size < 2 << 20, "{size} bytes");
    let check = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1])\n\
             m = json.loads(z.read('extension/package.json'))\n\
             assert m['contributes']['debuggers'][0]['type'] == 'luvit', m\n\
             assert 'extension/out/adapter.js' in z.namelist()\n\
             assert not any(n.startswith('extension/node_modules') for n in z.namelist())\n\
             print('ok')",
        )
        .arg(&vsix)
        .output()
        .expect("python3 runs");
    assert_eq!(
        String::from_utf8_lossy(&check.stdout).trim(),
        "ok",
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn garbage_at_the_front_door_never_hurts_the_program_or_the_next_client() {
    use std::io::{Read, Write};
    let script = example("server.lua");
    let port = free_port();
    let (mut child, url) = dap::spawn(
        &["--inspect=127.0.0.1:0"],
        &script,
        &[("PORT", &port.to_string())],
    );
    let rest = url.strip_prefix("ws://").unwrap();
    let (addr, uuid) = rest.split_once('/').unwrap();
    let mut rng = Rng(0xfeed_beef_1234_5678);
    let pieces: [&[u8]; 10] = [
        b"GET ",
        b"/json/list",
        b" HTTP/1.1\r\n",
        b"Host: 127.0.0.1\r\n",
        b"Upgrade: websocket\r\n",
        b"Sec-WebSocket-Key: x\r\n",
        b"\r\n",
        b"\x00\xff\x81\x7f",
        b"Content-Length: 99999999\r\n",
        uuid.as_bytes(),
    ];
    for _ in 0..200 {
        let Ok(mut s) = std::net::TcpStream::connect(addr) else {
            panic!("the inspector stopped accepting");
        };
        let mut data = Vec::new();
        for _ in 0..(rng.next() % 8) {
            let piece = *rng.pick(&pieces);
            data.extend_from_slice(piece);
        }
        let _ = s.write_all(&data);
        let _ = s.shutdown(std::net::Shutdown::Write);
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
    // the program still serves (once it listens: on a loaded machine the program may start
    // after the garbage is through), and a real client still gets in
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let served = loop {
        match http_get(port, Duration::from_secs(5)) {
            Some(r) => break Some(r),
            None if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            None => break None,
        }
    };
    assert!(served.is_some_and(|r| r.contains("hello")));
    let mut d = Dap::connect(&url);
    d.ok("initialize", json!({ "adapterID": "luvit" }));
    d.ok("attach", json!({}));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_dap_client_starts_and_stops_the_profilers_and_gets_their_files() {
    let (mut d, _script, port) = server_with_breakpoints(&[]);
    let dir = std::env::temp_dir().join(format!("luvit-dap-prof-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let opts = json!({ "dir": dir.to_string_lossy(), "threshold": 10 });
    for profiler in ["cpu", "loop", "heap"] {
        d.ok(
            "luvitProfileStart",
            json!({ "profiler": profiler, "options": opts }),
        );
    }
    let again = d.request("luvitProfileStart", json!({ "profiler": "cpu" }));
    assert_eq!(again["success"], false, "{again}");
    assert!(again["message"]
        .as_str()
        .unwrap()
        .contains("already running"));
    for _ in 0..20 {
        http_get(port, Duration::from_secs(5)).expect("served while profiling");
    }
    let cpu = d.ok("luvitProfileStop", json!({ "profiler": "cpu" }));
    let files: Vec<&str> = cpu["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 3, "{cpu}");
    assert!(files
        .iter()
        .all(|f| std::path::Path::new(f).starts_with(&dir)));
    let profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(files[0]).unwrap()).unwrap();
    assert!(profile["nodes"].as_array().is_some_and(|n| !n.is_empty()));
    let lp = d.ok("luvitProfileStop", json!({ "profiler": "loop" }));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lp["files"][0].as_str().unwrap()).unwrap())
            .unwrap();
    let served: u64 = report["callbacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .sum();
    assert!(served >= 20, "the requests' callbacks: {report}");
    let heap = d.ok("luvitProfileStop", json!({ "profiler": "heap" }));
    let heap_files = heap["files"].as_array().unwrap();
    assert!(
        heap_files[0].as_str().unwrap().ends_with(".heapprofile")
            && heap_files[1].as_str().unwrap().ends_with(".svg"),
        "{heap}"
    );
    let snapshot = dir.join("dap.heapsnapshot");
    let snap = d.ok(
        "luvitHeapSnapshot",
        json!({ "path": snapshot.to_string_lossy() }),
    );
    assert_eq!(snap["file"], snapshot.to_string_lossy().as_ref());
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&snapshot).unwrap()).unwrap();
    assert!(written["snapshot"]["node_count"].as_u64().unwrap() > 1000);
    for bad in [
        json!({ "profiler": "gpu" }),
        json!({}),
        json!({ "profiler": "cpu", "options": { "dir": "/nonexistent/x" } }),
        json!({ "profiler": "loop", "options": { "threshold": "soon" } }),
    ] {
        let r = d.request("luvitProfileStart", bad.clone());
        assert_eq!(r["success"], false, "{bad} -> {r}");
        assert!(!r["message"].as_str().unwrap_or("").is_empty(), "{r}");
    }
    let r = d.request("luvitProfileStop", json!({ "profiler": "loop" }));
    assert!(
        r["message"].as_str().unwrap().contains("not running"),
        "{r}"
    );
    http_get(port, Duration::from_secs(5)).expect("still serving");
    d.ok("disconnect", json!({ "terminateDebuggee": true }));
    let _ = std::fs::remove_dir_all(&dir);
}
