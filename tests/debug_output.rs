//! Debugger clients that stop reading: a DAP client (websocket), an editor driving `luvit dap`
//! (the stdio adapter) or a MobDebug IDE (`OUTPUT stdout r`) attached while the program prints 200 MB neither stalls the program nor
//! makes it hold the output (each client has an 8 MB budget; past it output is dropped and
//! counted), and once it reads again it hears how many bytes it missed. A MobDebug controller
//! that floods 100,000 commands without reading the replies leaves memory bounded, and the
//! program runs on while it floods.

mod dap;
mod harden;
mod support;

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use dap::Dap;
use harden::{fixture, peak_kib};
use serde_json::{json, Value};
use support::{accept_within, assert_kept_pace_in_bounded_memory, kill, ticks, MobIde};

/// What the fixture prints, in MiB (it prints 1 MiB a loop turn).
const FLOOD_MB: u64 = 200;

/// A fresh directory for the `FLOOD_DONE` marker.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("luvit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Waits for the fixture's marker: it has printed everything (panics after 60 s, as a
/// program stalled by its debugger would).
fn wait_done(done: &Path, child: &mut Child) -> Duration {
    let start = Instant::now();
    while !done.exists() {
        assert!(
            matches!(child.try_wait(), Ok(None)),
            "the program died while printing"
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the program did not finish printing within 60 s: its debugger client stalls it"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// The count in a `[luvit: N bytes of program output dropped ...]` notice.
fn dropped_count(text: &str) -> Option<u64> {
    let rest = text.strip_prefix("[luvit: ")?;
    let (n, tail) = rest.split_once(' ')?;
    tail.starts_with("bytes of program output dropped")
        .then(|| n.parse().ok())
        .flatten()
}

/// Checks and reports what a client that stopped reading saw.
fn check(who: &str, took: Duration, peak: u64, received: u64, dropped: u64) {
    let total = FLOOD_MB << 20;
    eprintln!(
        "{who}: {FLOOD_MB} MiB printed in {took:?} while the client did not read; peak RSS \
         {peak} KiB; the client then received {received} bytes of output and a notice of \
         {dropped} dropped"
    );
    assert!(
        peak < 96 * 1024,
        "{who}: peak RSS {peak} KiB: the output was held for the client"
    );
    assert!(
        received + dropped >= total,
        "{who}: {received} received + {dropped} dropped < {total} printed"
    );
    assert!(
        dropped >= total / 2 && received < total / 2,
        "{who}: the client was not reading, yet {received} bytes reached it"
    );
}

#[test]
fn a_dap_client_that_stops_reading_while_the_program_prints_200_mb_hears_what_it_missed() {
    let dir = scratch("dap-output");
    let done = dir.join("done");
    let mut child = harden::luvit()
        .arg("--inspect-wait=127.0.0.1:0")
        .arg(fixture("output-flood.lua"))
        .env("FLOOD_DONE", &done)
        .env("FLOOD_MB", FLOOD_MB.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("luvit starts");
    let url = dap::listening_url(&mut child);
    let mut d = Dap::connect(&url);
    d.attach();
    d.ok("configurationDone", json!({}));

    // The client reads nothing more while the program prints.
    let took = wait_done(&done, &mut child);
    let peak = peak_kib(child.id());

    // It reads again, up to the first tick printed after the flood: the output that was
    // queued, and a notice of what was dropped wherever output fitted again after some was
    // dropped (the socket's buffers take some, making room in the queue for a while).
    d.ws.get_ref()
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let (mut received, mut dropped) = (0u64, 0u64);
    loop {
        let msg = d.ws.read().expect("the session goes on");
        let tungstenite::Message::Text(text) = msg else {
            continue;
        };
        let v: Value = serde_json::from_str(&text).expect("JSON");
        if v["event"] == "output" {
            let out = v["body"]["output"].as_str().unwrap_or("");
            if out.starts_with("tick ") {
                break;
            }
            match dropped_count(out) {
                Some(n) => dropped += n,
                None => received += out.len() as u64,
            }
        }
    }
    check("DAP", took, peak, received, dropped);
    drop(d);
    kill(child);
    let _ = std::fs::remove_dir_all(dir);
}

/// The pid of a child of `parent` (the program `luvit dap` started), waiting up to 10 s.
fn child_of(parent: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid ...: comm may hold spaces, so read after its ')'
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(parent) {
                if let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse().ok()) {
                    return pid;
                }
            }
        }
        assert!(Instant::now() < deadline, "luvit dap started no program");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An editor's end of `luvit dap`'s stdio: requests written, messages read only when asked.
struct Editor {
    to: std::process::ChildStdin,
    from: BufReader<std::process::ChildStdout>,
    seq: i64,
}

impl Editor {
    /// The editor's end of `adapter`'s stdio.
    fn of(adapter: &mut Child) -> Editor {
        Editor {
            to: adapter.stdin.take().expect("stdin"),
            from: BufReader::new(adapter.stdout.take().expect("stdout")),
            seq: 0,
        }
    }

    fn request(&mut self, command: &str, args: Value) -> i64 {
        self.seq += 1;
        let text = json!({ "seq": self.seq, "type": "request", "command": command,
                           "arguments": args })
        .to_string();
        write!(self.to, "Content-Length: {}\r\n\r\n{text}", text.len()).expect("send");
        self.to.flush().expect("flush");
        self.seq
    }

    fn message(&mut self) -> Value {
        let text = dap::read_framed(&mut self.from)
            .expect("a framed message (luvit dap closed its stdout?)");
        serde_json::from_str(&text).expect("JSON")
    }

    /// Reads up to the response to `seq` (which must succeed) and returns the messages before.
    fn answer(&mut self, seq: i64) -> Vec<Value> {
        let mut before = Vec::new();
        loop {
            let m = self.message();
            if m["type"] == "response" && m["request_seq"] == seq {
                assert_eq!(m["success"], true, "{m}");
                return before;
            }
            before.push(m);
        }
    }
}

#[test]
fn an_editor_that_stops_reading_luvit_dap_stdout_neither_stalls_the_program_nor_holds_its_output() {
    let dir = scratch("dap-stdio-output");
    let done = dir.join("done");
    let mut adapter = dap::spawn_adapter();
    let mut ed = Editor::of(&mut adapter);
    let seq = ed.request("initialize", json!({ "adapterID": "luvit" }));
    ed.answer(seq);
    let seq = ed.request(
        "launch",
        json!({ "program": fixture("output-flood.lua"),
                "env": { "FLOOD_DONE": done, "FLOOD_MB": FLOOD_MB.to_string() } }),
    );
    ed.answer(seq);
    let seq = ed.request("configurationDone", json!({}));
    let mut seen = ed.answer(seq);
    let program = child_of(adapter.id());

    // The editor reads nothing more while the program prints.
    let took = wait_done(&done, &mut adapter);
    let peak = peak_kib(adapter.id()).max(peak_kib(program));
    eprintln!(
        "luvit dap: adapter peak RSS {} KiB, program peak RSS {} KiB",
        peak_kib(adapter.id()),
        peak_kib(program)
    );

    // It reads again, up to the first tick printed after the flood. Every message is whole
    // and in order: the output events' seq numbers (the adapter's) only grow.
    let (mut received, mut dropped, mut last_seq) = (0u64, 0u64, 0i64);
    loop {
        let m = if seen.is_empty() {
            ed.message()
        } else {
            seen.remove(0)
        };
        if m["event"] != "output" {
            continue;
        }
        let seq = m["seq"].as_i64().expect("a seq");
        assert!(seq > last_seq, "output event {seq} after {last_seq}");
        last_seq = seq;
        let out = m["body"]["output"].as_str().unwrap_or("");
        if let Some(at) = out.find("tick ") {
            received += at as u64;
            break;
        }
        match dropped_count(out) {
            Some(n) => dropped += n,
            None => received += out.len() as u64,
        }
    }
    check("luvit dap (stdio)", took, peak, received, dropped);
    // The session goes on, in order: a request now is answered.
    let seq = ed.request("threads", json!({}));
    ed.answer(seq);
    drop(ed);
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(adapter.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(adapter);
    let _ = std::fs::remove_dir_all(dir);
}

/// Everything `luvit dap` queued reaches the editor before it exits, in order: its writer
/// thread is waited for (a disconnect's answer is the last thing it says).
#[test]
fn luvit_dap_writes_its_last_answers_before_it_exits() {
    let mut adapter = dap::spawn_adapter();
    let mut ed = Editor::of(&mut adapter);
    let mut seqs = Vec::new();
    // (a few: all the answers fit the pipe, which nobody reads until the adapter exits)
    for _ in 0..10 {
        seqs.push(ed.request("initialize", json!({ "adapterID": "luvit" })));
    }
    seqs.push(ed.request("threads", json!({})));
    seqs.push(ed.request("disconnect", json!({})));
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(adapter.try_wait(), Ok(None)) {
        assert!(Instant::now() < deadline, "luvit dap did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
    // read only now: the adapter has exited
    for seq in seqs {
        let m = ed.message();
        assert_eq!(m["request_seq"], seq, "{m}");
    }
}

/// The MobDebug call to `listener` (panics after 10 s), its replies awaited 20 s at most.
fn accept(listener: &TcpListener) -> MobIde {
    let s = accept_within(listener, Duration::from_secs(10));
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    MobIde::new(s)
}

#[test]
fn a_mobdebug_ide_that_stops_reading_while_the_program_prints_200_mb_hears_what_it_missed() {
    let dir = scratch("mobdebug-output");
    let done = dir.join("done");
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let mut child = harden::luvit()
        .arg(format!("--mobdebug=127.0.0.1:{port}"))
        .arg(fixture("output-flood.lua"))
        .env("FLOOD_DONE", &done)
        .env("FLOOD_MB", FLOOD_MB.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("luvit starts");
    let mut ide = accept(&listener);
    assert_eq!(ide.ask("OUTPUT stdout r"), "200 OK");
    assert_eq!(ide.ask("RUN"), "200 OK");

    // The IDE reads nothing more while the program prints.
    let took = wait_done(&done, &mut child);
    let peak = peak_kib(child.id());

    let (mut received, mut dropped) = (0u64, 0u64);
    loop {
        let head = ide.line();
        assert!(head.starts_with("204 Output stdout "), "{head:?}");
        let body = String::from_utf8_lossy(&ide.body(&head)).into_owned();
        if body.starts_with("tick ") {
            break;
        }
        match dropped_count(&body) {
            Some(n) => dropped += n,
            None => received += body.len() as u64,
        }
    }
    check("MobDebug", took, peak, received, dropped);
    kill(child);
    let _ = std::fs::remove_dir_all(dir);
}

const COMMANDS: usize = 100_000;

/// EXEC commands sent while the program is stopped (each runs Lua: fewer, bigger replies).
const EXECS: usize = 20_000;

/// Writes `count` lines made by `line(i)` from a thread, in 64 KiB batches.
fn flood(
    mut w: TcpStream,
    count: usize,
    line: impl Fn(usize) -> String + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut batch = String::new();
        for i in 0..count {
            batch.push_str(&line(i));
            batch.push('\n');
            if batch.len() >= 64 << 10 {
                w.write_all(batch.as_bytes()).expect("send a batch");
                batch.clear();
            }
        }
        w.write_all(batch.as_bytes()).expect("send the rest");
    })
}

#[test]
fn a_mobdebug_controller_flooding_commands_without_reading_replies_leaves_memory_bounded() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let ticker = std::fs::canonicalize(fixture("ticker.lua")).expect("the ticker");
    let dir = ticker
        .parent()
        .expect("a folder")
        .to_string_lossy()
        .into_owned();
    let mut child = harden::luvit()
        .arg(format!("--mobdebug=127.0.0.1:{port}"))
        .arg(&ticker)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("luvit starts");
    let rx = ticks(&mut child);
    let pid = child.id();
    let mut ide = accept(&listener);
    assert_eq!(ide.ask(&format!("BASEDIR {dir}/")), "200 OK");
    assert_eq!(ide.ask("RUN"), "200 OK");
    rx.recv_timeout(Duration::from_secs(5)).expect("it runs");
    let rss_before = harden::rss_kib(pid);

    // While it runs: SETB/DELB (answered with nothing) as fast as the socket takes them.
    let start = Instant::now();
    let sender = flood(ide.writer(), COMMANDS, |i| {
        let verb = if i % 2 == 0 { "SETB" } else { "DELB" };
        format!("{verb} ticker.lua 999")
    });
    // The socket takes the flood in a blink; the program works through it meanwhile.
    let (mut worst_gap, mut n, mut last, mut peak) = (Duration::ZERO, 0, start, rss_before);
    while !sender.is_finished() || start.elapsed() < Duration::from_millis(1500) {
        assert!(start.elapsed() < Duration::from_secs(60), "flood took 60 s");
        if let Ok(t) = rx.recv_timeout(Duration::from_millis(100)) {
            worst_gap = worst_gap.max(t.saturating_duration_since(last));
            last = t;
            n += 1;
        }
        peak = peak.max(harden::rss_kib(pid));
    }
    let running = start.elapsed();
    sender.join().expect("sent");
    // Every command was taken in order: a breakpoint set after them all stops the program.
    ide.send("SETB ticker.lua 10");
    let stop = ide.line();
    if stop.is_empty() {
        // The connection closed: say whether luvit died (a signal leaves no message).
        std::thread::sleep(Duration::from_millis(300));
        panic!(
            "the debuggee closed the connection; luvit: {:?}",
            child.try_wait()
        );
    }
    assert_eq!(stop, "202 Paused ticker.lua 10");

    // Stopped: EXEC after EXEC, each answered with 5 kB, the replies left unread for 2 s (100 MB
    // if they were all queued), then read.
    let sender = flood(ide.writer(), EXECS, |i| {
        format!("EXEC return {i}, string.rep('x', 5000)")
    });
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        peak = peak.max(harden::rss_kib(pid));
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut replies = 0;
    while replies < EXECS {
        let head = ide.line();
        assert!(head.starts_with("200 OK "), "reply {replies}: {head:?}");
        let body = ide.body(&head);
        if replies == EXECS - 1 {
            let last = String::from_utf8_lossy(&body).into_owned();
            assert!(
                last.contains(&(EXECS - 1).to_string()) && last.contains("xxxx"),
                "{last}"
            );
        }
        replies += 1;
        if replies % 2_000 == 0 {
            peak = peak.max(harden::rss_kib(pid));
        }
    }
    sender.join().expect("sent");
    eprintln!(
        "MobDebug flood: {COMMANDS} SETB/DELB while running ({n} ticks in {running:?}, the \
         longest gap {worst_gap:?}), then {EXECS} EXEC answered (5 kB each) while stopped; \
         RSS {rss_before} KiB before, peak {peak} KiB"
    );
    assert_kept_pace_in_bounded_memory(worst_gap, rss_before, peak, 32 * 1024);
    // The program runs on.
    assert_eq!(ide.ask("DELB ticker.lua 10"), "200 OK");
    assert_eq!(ide.ask("RUN"), "200 OK");
    while rx.try_recv().is_ok() {}
    rx.recv_timeout(Duration::from_secs(2))
        .expect("it runs again");
    kill(child);
}
