//! The debugger meets broken and hostile clients: a DAP client (websocket or TCP) or a
//! MobDebug IDE killed while the program is paused, or gone mid-message, lets the program run
//! on within a second and a new client attach; a client flooding `evaluate` or never reading
//! its socket leaves memory bounded and the program running.

mod dap;
mod harden;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use dap::Dap;
use harden::fixture;
use serde_json::json;
use support::{accept_within, assert_kept_pace_in_bounded_memory, kill, ticks};

/// The line of tests/harden/ticker.lua that prints a tick.
const TICK_LINE: i64 = 10;

fn ticker() -> String {
    let path = fixture("ticker.lua");
    let path = std::fs::canonicalize(path).expect("the ticker exists");
    path.to_string_lossy().into_owned()
}

/// Forgets the ticks so far; asserts none comes within `quiet` (the program is stopped).
fn assert_stopped(rx: &Receiver<Instant>, quiet: Duration) {
    std::thread::sleep(Duration::from_millis(50));
    while rx.try_recv().is_ok() {}
    assert!(
        rx.recv_timeout(quiet).is_err(),
        "the program ticks while stopped"
    );
}

/// How long until the program ticks again (panics after `within`).
fn resumes_within(rx: &Receiver<Instant>, since: Instant, within: Duration) -> Duration {
    let at = rx
        .recv_timeout(within)
        .unwrap_or_else(|_| panic!("the program did not run on within {within:?}"));
    at.saturating_duration_since(since)
}

/// Closes `s` with a reset, as a killed process's socket may be.
fn reset(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
    let _ = s.shutdown(std::net::Shutdown::Both);
}

/// A websocket client that attaches and stops the ticker at its tick line.
fn attach_and_stop(url: &str, script: &str) -> Dap {
    let mut d = Dap::connect(url);
    d.attach();
    d.set_breakpoints(script, &[TICK_LINE]);
    d.ok("configurationDone", json!({}));
    let (_, top) = d.stopped();
    assert_eq!(top["line"], TICK_LINE, "stopped at the tick: {top}");
    d
}

#[test]
fn websocket_clients_killed_or_gone_mid_message_while_paused_let_the_program_run_on() {
    let script = ticker();
    let (mut child, url) = dap::spawn(&["--inspect=127.0.0.1:0"], &script, &[]);
    let rx = ticks(&mut child);

    // Killed: the socket is reset under the paused program.
    let d = attach_and_stop(&url, &script);
    assert_stopped(&rx, Duration::from_millis(200));
    let t = Instant::now();
    reset(d.ws.get_ref());
    drop(d);
    let killed = resumes_within(&rx, t, Duration::from_secs(1));

    // Gone mid-message: half a masked text frame (300 bytes announced), then FIN.
    let mut d = attach_and_stop(&url, &script);
    assert_stopped(&rx, Duration::from_millis(200));
    let mut frame = vec![0x81, 0x80 | 126, 0x01, 0x2c, 0, 0, 0, 0];
    frame.extend_from_slice(br#"{"seq":99,"type":"request","command":"eval"#);
    let t = Instant::now();
    d.ws.get_mut().write_all(&frame).expect("half a frame");
    let _ = d.ws.get_ref().shutdown(std::net::Shutdown::Both);
    drop(d);
    let mid_message = resumes_within(&rx, t, Duration::from_secs(1));

    // And a new client still attaches and stops the program.
    let mut d = attach_and_stop(&url, &script);
    d.set_breakpoints(&script, &[]);
    d.cont();
    resumes_within(&rx, Instant::now(), Duration::from_secs(1));
    eprintln!("websocket: ran on {killed:?} after a reset, {mid_message:?} after half a frame");
    drop(d);
    kill(child);
}

#[test]
fn tcp_dap_clients_killed_or_gone_mid_message_while_paused_let_the_program_run_on() {
    let script = ticker();
    let (mut child, url) = dap::spawn(&["--inspect-dap-tcp=127.0.0.1:0"], &script, &[]);
    let rx = ticks(&mut child);
    let addr = url.strip_prefix("tcp://").expect("tcp://").to_string();
    let attach = || {
        let stream = TcpStream::connect(&addr).expect("connect");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        let control = stream.try_clone().expect("clone");
        let mut d = dap::Framed::new(reader, Box::new(stream));
        d.ok("initialize", json!({ "adapterID": "luvit" }));
        d.event("initialized");
        d.ok("attach", json!({}));
        d.ok(
            "setBreakpoints",
            json!({ "source": { "path": script }, "breakpoints": [{ "line": TICK_LINE }] }),
        );
        d.ok("configurationDone", json!({}));
        d.event("stopped");
        (d, control)
    };

    let (d, control) = attach();
    assert_stopped(&rx, Duration::from_millis(200));
    let t = Instant::now();
    reset(&control);
    drop(d);
    let killed = resumes_within(&rx, t, Duration::from_secs(1));

    let (d, mut control) = attach();
    assert_stopped(&rx, Duration::from_millis(200));
    let t = Instant::now();
    control
        .write_all(b"Content-Length: 300\r\n\r\n{\"seq\":99,\"type\":\"req")
        .expect("half a message");
    let _ = control.shutdown(std::net::Shutdown::Both);
    drop(d);
    let mid_message = resumes_within(&rx, t, Duration::from_secs(1));

    let (mut d, _control) = attach();
    d.ok(
        "setBreakpoints",
        json!({ "source": { "path": script }, "breakpoints": [] }),
    );
    d.ok("continue", json!({ "threadId": 1 }));
    resumes_within(&rx, Instant::now(), Duration::from_secs(1));
    eprintln!("tcp: ran on {killed:?} after a reset, {mid_message:?} after half a message");
    drop(d);
    kill(child);
}

#[test]
fn a_mobdebug_ide_killed_or_gone_mid_line_while_paused_lets_the_program_run_on_and_a_new_one_attach(
) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let mut child = harden::luvit()
        .arg(format!("--mobdebug=127.0.0.1:{port}"))
        .arg(ticker())
        .env("IDE_PORT", port.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("luvit starts");
    let rx = ticks(&mut child);

    // --mobdebug stops on the first line and waits for the IDE's commands: kill the IDE.
    let ide = accept_within(&listener, Duration::from_secs(10));
    assert_stopped(&rx, Duration::from_millis(200));
    let t = Instant::now();
    reset(&ide);
    drop(ide);
    let killed = resumes_within(&rx, t, Duration::from_secs(1));

    // The program dials again (mobdebug.start() every 25 ticks): a new IDE takes it, stops it
    // with a breakpoint, and then leaves mid-line.
    let ide = accept_within(&listener, Duration::from_secs(5));
    ide.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut reader = BufReader::new(ide.try_clone().expect("clone"));
    let mut w = ide.try_clone().expect("clone");
    let dir = std::path::Path::new(&ticker())
        .parent()
        .expect("a folder")
        .to_string_lossy()
        .into_owned();
    let mut ask = |line: &str| {
        writeln!(w, "{line}").expect("send");
        let mut reply = String::new();
        reader.read_line(&mut reply).expect("a reply");
        reply.trim_end().to_string()
    };
    assert_eq!(ask(&format!("BASEDIR {dir}/")), "200 OK");
    assert_eq!(ask(&format!("SETB ticker.lua {TICK_LINE}")), "200 OK");
    assert_eq!(ask("RUN"), "200 OK");
    let mut paused = String::new();
    reader.read_line(&mut paused).expect("a stop");
    assert!(paused.starts_with("202 Paused"), "{paused}");
    assert_stopped(&rx, Duration::from_millis(200));
    let t = Instant::now();
    (&ide).write_all(b"SETB ticker.lua 1").expect("half a line");
    let _ = ide.shutdown(std::net::Shutdown::Both);
    let mid_line = resumes_within(&rx, t, Duration::from_secs(1));
    eprintln!("mobdebug: ran on {killed:?} after a reset, {mid_line:?} after half a line");
    kill(child);
}

/// A client's websocket text frame (masked, with a zero key: the bytes go as they are).
fn client_frame(text: &str, out: &mut Vec<u8>) {
    out.push(0x81);
    let n = text.len();
    if n < 126 {
        out.push(0x80 | n as u8);
    } else {
        out.push(0x80 | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(text.as_bytes());
}

const FLOOD: usize = 100_000;

/// `FLOOD` evaluate requests as websocket frames, in batches of 1,000.
fn evaluate_frames() -> Vec<Vec<u8>> {
    (0..FLOOD / 1000)
        .map(|b| {
            let mut batch = Vec::new();
            for i in 0..1000 {
                let seq = 1000 + b * 1000 + i;
                let msg = format!(
                    r#"{{"seq":{seq},"type":"request","command":"evaluate","arguments":{{"expression":"1 + {i}","context":"repl"}}}}"#
                );
                client_frame(&msg, &mut batch);
            }
            batch
        })
        .collect()
}

/// The ticker under `--inspect` with a client attached and the program running.
fn running_under_a_client() -> (Child, Receiver<Instant>, Dap) {
    let script = ticker();
    let (mut child, url) = dap::spawn(&["--inspect=127.0.0.1:0"], &script, &[]);
    let rx = ticks(&mut child);
    let mut d = Dap::connect(&url);
    d.attach();
    d.ok("configurationDone", json!({}));
    rx.recv_timeout(Duration::from_secs(5)).expect("it runs");
    (child, rx, d)
}

/// The longest wait between ticks seen on `rx` until `until`, and how many ticks came.
fn tick_gaps(rx: &Receiver<Instant>, until: Instant) -> (Duration, usize) {
    let mut last = Instant::now();
    let (mut worst, mut n) = (Duration::ZERO, 0);
    while let Ok(t) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
        worst = worst.max(t.saturating_duration_since(last));
        last = t;
        n += 1;
    }
    (worst, n)
}

#[test]
fn a_client_flooding_evaluate_gets_every_answer_in_bounded_memory() {
    let (child, rx, mut d) = running_under_a_client();
    let pid = child.id();
    let rss_before = harden::rss_kib(pid);
    let mut writer = d.ws.get_ref().try_clone().expect("clone");
    let frames = evaluate_frames();
    let start = Instant::now();
    let sender = std::thread::spawn(move || {
        for batch in frames {
            writer.write_all(&batch).expect("send a batch");
        }
    });
    let deadline = start + Duration::from_secs(60);
    let (mut answered, mut peak) = (0, rss_before);
    while answered < FLOOD {
        assert!(Instant::now() < deadline, "{answered} answers in 60 s");
        match d.ws.read() {
            Ok(tungstenite::Message::Text(t)) => {
                if t.contains(r#""command":"evaluate""#) {
                    answered += 1;
                    if answered % 5000 == 0 {
                        peak = peak.max(harden::rss_kib(pid));
                    }
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("the session broke after {answered} answers: {e}"),
        }
    }
    let took = start.elapsed();
    sender.join().expect("sent");
    // The ticks printed meanwhile: the program kept running between batches of answers.
    let mut last = start;
    let (mut worst_gap, mut n) = (Duration::ZERO, 0);
    while let Ok(t) = rx.try_recv() {
        if t > start {
            worst_gap = worst_gap.max(t - last);
            last = t;
            n += 1;
        }
    }
    eprintln!(
        "{FLOOD} evaluate requests answered in {took:?}; RSS {rss_before} KiB before, \
         peak {peak} KiB; meanwhile {n} ticks, the longest gap {worst_gap:?}"
    );
    assert_kept_pace_in_bounded_memory(worst_gap, rss_before, peak, 64 * 1024);
    drop(d);
    kill(child);
}

#[test]
fn a_client_that_never_reads_neither_grows_memory_without_bound_nor_stalls_the_program() {
    let (child, rx, d) = running_under_a_client();
    let pid = child.id();
    let rss_before = harden::rss_kib(pid);
    let mut writer = d.ws.get_ref().try_clone().expect("clone");
    writer
        .set_write_timeout(Some(Duration::from_secs(2)))
        .expect("write timeout");
    let frames = evaluate_frames();
    let sender = std::thread::spawn(move || {
        let mut sent = 0;
        for batch in frames {
            if writer.write_all(&batch).is_err() {
                // The server stopped reading: backpressure reached the sender.
                break;
            }
            sent += 1000;
        }
        sent
    });
    // Meanwhile the program keeps its pace (a tick every 20 ms).
    let (worst_gap, n) = tick_gaps(&rx, Instant::now() + Duration::from_secs(3));
    let sent = sender.join().expect("the sender ends");
    std::thread::sleep(Duration::from_millis(300));
    let rss_after = harden::rss_kib(pid);
    eprintln!(
        "a client that never reads: {sent} of {FLOOD} requests accepted before the server \
         stopped reading; RSS {rss_before} KiB before, {rss_after} KiB after; {n} ticks in 3 s, \
         longest gap {worst_gap:?}"
    );
    assert!(n >= 50, "the program slowed down: {n} ticks in 3 s");
    assert_kept_pace_in_bounded_memory(worst_gap, rss_before, rss_after, 64 * 1024);
    // The client goes; the program runs on.
    reset(d.ws.get_ref());
    drop(d);
    resumes_within(&rx, Instant::now(), Duration::from_secs(1));
    kill(child);
}

/// A web page can make a browser POST to any local port, with a colon in the path and a
/// text/plain body of its choosing; `--inspect-dap-tcp` must not take that for a DAP message
/// (it once ran the body's `evaluate`: any site could run code in the program).
#[test]
fn an_http_request_from_a_browser_is_not_a_dap_message_on_the_tcp_port() {
    let script = ticker();
    let (mut child, url) = dap::spawn(&["--inspect-dap-tcp=127.0.0.1:0"], &script, &[]);
    let rx = ticks(&mut child);
    let addr = url.strip_prefix("tcp://").expect("tcp://").to_string();
    let body = r#"{"seq":1,"type":"request","command":"evaluate","arguments":{"expression":"os.exit(7)","context":"repl"}}"#;
    let mut s = TcpStream::connect(&addr).expect("connect");
    write!(
        s,
        "POST /a:b HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut reply = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut reply);
    assert!(reply.is_empty(), "{}", String::from_utf8_lossy(&reply));
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        matches!(child.try_wait(), Ok(None)),
        "the program was made to exit"
    );
    while rx.try_recv().is_ok() {}
    resumes_within(&rx, Instant::now(), Duration::from_secs(1));
    kill(child);
}

/// A program under the debugger that runs out of memory in a callback stops (uncaught
/// exception) at the line that ran out, and the exception says where.
#[test]
fn running_out_of_memory_under_the_debugger_stops_at_the_line_that_ran_out() {
    let script = std::fs::canonicalize(fixture("exhaustion.lua")).expect("the fixture");
    let script = script.to_string_lossy().into_owned();
    let source = std::fs::read_to_string(&script).expect("the fixture");
    let line = 1 + source
        .lines()
        .position(|l| l.contains("t[#t + 1] = string.rep"))
        .expect("the hoarding line") as i64;
    let mut cmd = harden::luvit();
    cmd.arg("--inspect-wait=127.0.0.1:0")
        .arg(&script)
        .arg("memory")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = harden::limit_memory(&mut cmd, 1 << 30)
        .spawn()
        .expect("luvit starts");
    let url = dap::listening_url(&mut child);
    let mut d = Dap::connect(&url);
    d.attach();
    let top = d.stop_at_uncaught();
    assert_eq!(top["line"], line, "the frame that ran out: {top}");
    let info = d.ok("exceptionInfo", json!({ "threadId": 1 }));
    let want = format!("exhaustion.lua:{line}: not enough memory");
    assert!(
        info["description"].as_str().unwrap_or("").contains(&want),
        "{info}"
    );
    d.cont();
    assert_eq!(d.exit_code(), 1);
    kill(child);
}

#[test]
fn the_debugger_survives_runaway_recursion_and_memory_exhaustion_in_evaluate() {
    let script = ticker();
    let mut cmd = harden::luvit();
    cmd.arg("--inspect-wait=127.0.0.1:0")
        .arg(&script)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = harden::limit_memory(&mut cmd, 1 << 30)
        .spawn()
        .expect("luvit starts");
    let rx = ticks(&mut child);
    let url = dap::listening_url(&mut child);
    let mut d = Dap::connect(&url);
    d.attach();
    d.set_breakpoints(&script, &[TICK_LINE]);
    d.ok("configurationDone", json!({}));
    let (_, top) = d.stopped();
    let frame = top["id"].as_i64();
    let r = d.eval(
        "(function() local function f() return f() + 1 end return f() end)()",
        frame,
    );
    assert_eq!(r["success"], false, "{r}");
    assert!(r.to_string().contains("stack overflow"), "{r}");
    let r = d.eval(
        "(function() local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 2^20) .. i end end)()",
        frame,
    );
    assert_eq!(r["success"], false, "{r}");
    assert!(r.to_string().contains("not enough memory"), "{r}");
    // Still a working session on a live program.
    let r = d.eval("count + 1", frame);
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(d.stack()[0]["line"], TICK_LINE);
    d.set_breakpoints(&script, &[]);
    d.cont();
    resumes_within(&rx, Instant::now(), Duration::from_secs(1));
    drop(d);
    kill(child);
}

/// The inspector's front door gives a request head 10 s in all: a client trickling a byte
/// every 2 s (each read well inside any per-read timeout) is dropped all the same.
#[test]
fn a_slowloris_on_the_inspector_port_is_dropped_after_10_s() {
    let script = ticker();
    let (child, url) = dap::spawn(&["--inspect=127.0.0.1:0"], &script, &[]);
    let hostport = url
        .strip_prefix("ws://")
        .and_then(|r| r.split('/').next())
        .expect("host:port")
        .to_string();
    let mut s = TcpStream::connect(&hostport).expect("connect");
    s.write_all(b"GET /json/list HTTP/1.1\r\nX-Slow: ")
        .expect("a partial head");
    let start = Instant::now();
    let dropped = loop {
        std::thread::sleep(Duration::from_secs(2));
        if s.write_all(b"a").is_err() || start.elapsed() > Duration::from_secs(16) {
            break start.elapsed();
        }
        // A closed connection shows on the next write after the FIN/RST arrived.
        s.set_nonblocking(true).expect("nonblocking");
        let mut b = [0u8; 64];
        let gone = matches!(std::io::Read::read(&mut s, &mut b), Ok(0));
        s.set_nonblocking(false).expect("blocking");
        if gone {
            break start.elapsed();
        }
    };
    assert!(
        dropped < Duration::from_secs(14),
        "still open after {dropped:?}"
    );
    kill(child);
}

#[test]
fn a_new_client_does_not_inherit_the_last_ones_exception_filters() {
    let script = std::fs::canonicalize(fixture("caught-later.lua")).expect("the fixture");
    let script = script.to_string_lossy().into_owned();
    let (child, url) = dap::spawn(&["--inspect-wait=127.0.0.1:0"], &script, &[]);
    {
        let mut d = Dap::connect(&url);
        d.attach();
        d.ok(
            "setExceptionBreakpoints",
            json!({ "filters": ["uncaught", "all"] }),
        );
        d.ok("configurationDone", json!({}));
        // gone before the caught error: the socket just closes
    }
    std::thread::sleep(Duration::from_millis(100));
    let mut d = Dap::connect(&url);
    d.child = Some(child);
    d.attach();
    d.ok("configurationDone", json!({}));
    // This client asked for no exception filter: the caught error does not stop the program.
    let exited = d.try_event("exited", Duration::from_secs(10));
    assert!(
        d.try_event("stopped", Duration::ZERO).is_none(),
        "the new client was stopped at a caught error"
    );
    assert_eq!(exited.expect("the program ends")["body"]["exitCode"], 0);
}

/// Found from a fuzz finding (mlua holds each Lua value Rust keeps in one of LuaJIT's 8,000
/// C-stack slots): listing a table's 10,000 fields at once, each a table the client may
/// expand, must show them all.
#[test]
fn variables_lists_tables_wider_than_the_c_stack_whole() {
    let script = fixture("wide-values.lua").to_string_lossy().into_owned();
    let mut d = Dap::run_to(&script, 8);
    let top = d.stack()[0].clone();
    let scopes = d.ok("scopes", json!({ "frameId": top["id"] }));
    let locals = d.ok(
        "variables",
        json!({ "variablesReference": scopes["scopes"][0]["variablesReference"] }),
    );
    let local = |name: &str| {
        locals["variables"]
            .as_array()
            .and_then(|l| l.iter().find(|v| v["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no local {name}: {locals}"))
    };
    let (many, named) = (local("many"), local("named"));
    let all = d.ok(
        "variables",
        json!({ "variablesReference": named["variablesReference"], "filter": "named" }),
    );
    let fields = all["variables"].as_array().map_or(0, |l| l.len());
    assert_eq!(fields, 10_000, "named fields listed");
    let items = d.ok(
        "variables",
        json!({ "variablesReference": many["variablesReference"], "filter": "indexed", "start": 0, "count": 10_000 }),
    );
    let list = items["variables"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 10_000, "items listed");
    // the last one shown expands
    let last = d.ok(
        "variables",
        json!({ "variablesReference": list[9_999]["variablesReference"] }),
    );
    assert_eq!(last["variables"][0]["value"], "10000", "{last}");
    d.cont();
    assert_eq!(d.exit_code(), 0);
}

/// A stop 9,000 frames deep across ten coroutines (more frames than mlua has slots for values;
/// the frames share their coroutine's): the whole stack is listed, and a frame in the
/// outermost coroutine shows its locals.
#[test]
fn a_stack_deeper_than_the_c_stack_across_coroutines_is_listed_whole() {
    let script = fixture("deep-coroutines.lua")
        .to_string_lossy()
        .into_owned();
    let mut d = Dap::run_to(&script, 10);
    let frames = d.stack();
    let real = frames.iter().filter(|f| f["line"] == 6).count();
    assert!(real >= 9_000, "{} frames, {real} in dive", frames.len());
    let outer = frames
        .iter()
        .rev()
        .find(|f| f["line"] == 6)
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        d.local(outer["id"].as_i64().unwrap_or(0), "k").as_deref(),
        Some("10")
    );
    d.cont();
    assert_eq!(d.exit_code(), 0);
}
