//! Debugger clients that stop reading: a DAP client (websocket), an editor driving `luvit dap`
//! (the stdio adapter) or a MobDebug IDE (`OUTPUT stdout r`) attached while the program prints 200 MB neither stalls the program nor
//! makes it hold the output (each client has an 8 MB budget; past it output is dropped and
//! counted), and once it reads again it hears how many bytes it missed. A MobDebug controller
//! that floods 100,000 commands without reading the replies leaves memory bounded, and the
//! program runs on while it floods.

mod dap;
mod harden;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use dap::Dap;
use harden::fixture;
use serde_json::{json, Value};

/// What the fixture prints, in MiB (it prints 1 MiB a loop turn).
const FLOOD_MB: u64 = 200;

/// Peak resident memory (VmHWM) of process `pid`, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

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

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
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
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let url = loop {
        let line = lines.next().expect("the listening line").expect("stderr");
        if let Some(u) = line.strip_prefix("Debugger listening on ") {
            break u.trim().to_string();
        }
    };
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    let mut d = Dap::connect(&url);
    d.ok("initialize", json!({ "adapterID": "luvit" }));
    d.event("initialized");
    d.ok("attach", json!({}));
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
        let mut len = None;
        loop {
            let mut line = String::new();
            let n = self.from.read_line(&mut line).expect("a header line");
            assert!(n > 0, "luvit dap closed its stdout");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("Content-Length:") {
                len = v.trim().parse::<usize>().ok();
            }
        }
        let mut body = vec![0u8; len.expect("a Content-Length")];
        self.from.read_exact(&mut body).expect("the body");
        serde_json::from_slice(&body).expect("JSON")
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
    let mut adapter = harden::luvit()
        .arg("dap")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("luvit dap starts");
    let mut ed = Editor {
        to: adapter.stdin.take().expect("stdin"),
        from: BufReader::new(adapter.stdout.take().expect("stdout")),
        seq: 0,
    };
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
    let mut adapter = harden::luvit()
        .arg("dap")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("luvit dap starts");
    let mut ed = Editor {
        to: adapter.stdin.take().expect("stdin"),
        from: BufReader::new(adapter.stdout.take().expect("stdout")),
        seq: 0,
    };
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

/// The next connection to `listener` (panics after 10 s).
fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).expect("blocking");
                s.set_read_timeout(Some(Duration::from_secs(20)))
                    .expect("timeout");
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "the program did not call");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// A MobDebug IDE's end of the socket.
struct Ide {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Ide {
    fn new(s: TcpStream) -> Ide {
        Ide {
            reader: BufReader::new(s.try_clone().expect("clone")),
            writer: s,
        }
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.reader.read_line(&mut l).expect("a line");
        l.trim_end_matches(['\n', '\r']).to_string()
    }

    fn ask(&mut self, cmd: &str) -> String {
        writeln!(self.writer, "{cmd}").expect("send");
        self.line()
    }

    /// The body of a reply or message whose head ends with its size.
    fn body(&mut self, head: &str) -> Vec<u8> {
        let n: usize = head
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a sized reply: {head:?}"));
        let mut b = vec![0u8; n];
        self.reader.read_exact(&mut b).expect("the body");
        b
    }
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
    let mut ide = Ide::new(accept(&listener));
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

/// The arrival time of each "tick N" line the program prints.
fn ticks(child: &mut Child) -> Receiver<Instant> {
    let out = child.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.starts_with("tick ") && tx.send(Instant::now()).is_err() {
                break;
            }
        }
    });
    rx
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
    let mut ide = Ide::new(accept(&listener));
    assert_eq!(ide.ask(&format!("BASEDIR {dir}/")), "200 OK");
    assert_eq!(ide.ask("RUN"), "200 OK");
    rx.recv_timeout(Duration::from_secs(5)).expect("it runs");
    let rss_before = harden::rss_kib(pid);

    // While it runs: SETB/DELB (answered with nothing) as fast as the socket takes them.
    let start = Instant::now();
    let sender = flood(ide.writer.try_clone().expect("clone"), COMMANDS, |i| {
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
    writeln!(ide.writer, "SETB ticker.lua 10").expect("send");
    assert_eq!(ide.line(), "202 Paused ticker.lua 10");

    // Stopped: EXEC after EXEC, each answered with 5 kB, the replies left unread for 2 s (100 MB
    // if they were all queued), then read.
    let sender = flood(ide.writer.try_clone().expect("clone"), EXECS, |i| {
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
    assert!(
        worst_gap < Duration::from_millis(500),
        "the flood stalled the program for {worst_gap:?}"
    );
    assert!(
        peak < rss_before + 32 * 1024,
        "RSS grew from {rss_before} to {peak} KiB"
    );
    // The program runs on.
    assert_eq!(ide.ask("DELB ticker.lua 10"), "200 OK");
    assert_eq!(ide.ask("RUN"), "200 OK");
    while rx.try_recv().is_ok() {}
    rx.recv_timeout(Duration::from_secs(2))
        .expect("it runs again");
    kill(child);
}
