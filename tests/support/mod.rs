//! Helpers shared by the debugger's test files (debugger.rs, mobdebug.rs, debug_output.rs,
//! debug_faults.rs): the arrival times of a program's `tick N` lines and what a flood must
//! leave of their pace and of memory, ending a child, taking the call a program makes to a
//! listening IDE, and the MobDebug IDE's end of that socket.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// The arrival time of each "tick N" line the program prints.
pub fn ticks(child: &mut Child) -> Receiver<Instant> {
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

/// What a flood of commands must leave a program: no wait between two ticks of 500 ms or
/// more, and resident memory (`rss_kib`, KiB) within `slack_kib` of what it was before.
pub fn assert_kept_pace_in_bounded_memory(
    worst_gap: Duration,
    rss_before: u64,
    rss_kib: u64,
    slack_kib: u64,
) {
    assert!(
        worst_gap < Duration::from_millis(500),
        "the flood stalled the program for {worst_gap:?}"
    );
    assert!(
        rss_kib < rss_before + slack_kib,
        "RSS grew from {rss_before} to {rss_kib} KiB"
    );
}

/// Kills `child` and reaps it.
pub fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The next connection to `listener` (panics after `within`).
pub fn accept_within(listener: &TcpListener, within: Duration) -> TcpStream {
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + within;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).expect("blocking");
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no call within {within:?}");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// A MobDebug IDE's end of the socket: command lines out, reply lines and sized bodies in.
pub struct MobIde {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl MobIde {
    pub fn new(s: TcpStream) -> MobIde {
        MobIde {
            reader: BufReader::new(s.try_clone().expect("clone")),
            writer: s,
        }
    }

    /// A second handle on the socket, for a thread that writes while this one reads.
    pub fn writer(&self) -> TcpStream {
        self.writer.try_clone().expect("clone")
    }

    pub fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .expect("send");
    }

    /// The next line, without its end ("" once the socket is closed).
    pub fn line(&mut self) -> String {
        let mut l = String::new();
        self.reader.read_line(&mut l).expect("a reply line");
        l.trim_end_matches(['\n', '\r']).to_string()
    }

    pub fn ask(&mut self, line: &str) -> String {
        self.send(line);
        self.line()
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        self.reader.read_exact(&mut b).expect("the body");
        b
    }

    /// The body of a reply or message whose head ends with its size.
    pub fn body(&mut self, head: &str) -> Vec<u8> {
        let n: usize = head
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a sized reply: {head:?}"));
        self.bytes(n)
    }

    /// A reply `200 OK <n>` / `401 ... <n>` followed by n bytes.
    pub fn ask_sized(&mut self, line: &str) -> (String, String) {
        let head = self.ask(line);
        let body = self.body(&head);
        (head, String::from_utf8(body).expect("a UTF-8 body"))
    }
}
