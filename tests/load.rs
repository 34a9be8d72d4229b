//! Load and slow peers against the real HTTP server on 127.0.0.1: ten thousand keep-alive
//! connections, slowloris, oversized heads, a body declared but never sent. Each test is
//! bounded and prints what it measured (run with `--nocapture` to see the figures).

mod harden;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use harden::{connect, median, read_response, timed_get, Proc, GET};

const CONNECTIONS: u64 = 10_000;

#[test]
fn ten_thousand_keep_alive_connections_are_all_served_in_bounded_memory() {
    // Each side holds one descriptor per connection; leave room for the rest.
    let limit = harden::raise_nofile(CONNECTIONS + 256);
    let n = CONNECTIONS.min(limit.saturating_sub(256)) as usize;
    if n < CONNECTIONS as usize {
        eprintln!("open-file hard limit {limit}: testing {n} connections");
    }
    let mut server = Proc::serve(
        &[harden::fixture("hello-server.lua").to_str().unwrap()],
        &[("KEEP_ALIVE_TIMEOUT", "60000")],
    );
    timed_get(server.port);
    let rss_before = server.rss_kib();
    let start = Instant::now();
    let mut conns: Vec<TcpStream> = Vec::with_capacity(n);
    // In batches, so the accept queue never overflows (a dropped SYN costs a second).
    for batch in 0..n.div_ceil(500) {
        let from = batch * 500;
        let to = (from + 500).min(n);
        for _ in from..to {
            let mut s = connect(server.port);
            s.write_all(GET).expect("send a request");
            conns.push(s);
        }
        for (i, s) in conns[from..to].iter_mut().enumerate() {
            let (head, body) = read_response(s).unwrap_or_else(|e| {
                panic!(
                    "no response on connection {}: {e}; server alive: {}, stderr: {}",
                    from + i,
                    server.alive(),
                    server.stderr()
                )
            });
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            assert_eq!(body, b"Hello world\n");
        }
    }
    let opened = start.elapsed();
    let rss_open = server.rss_kib();
    // Keep-alive: every connection serves a second request.
    let start = Instant::now();
    for s in &mut conns {
        s.write_all(GET).expect("send a second request");
    }
    for s in &mut conns {
        let (head, _) = read_response(s).expect("a second response on every connection");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    let again = start.elapsed();
    let rss_after = server.rss_kib();
    let per_conn = (rss_after.max(rss_open) - rss_before) * 1024 / n as u64;
    eprintln!(
        "{n} keep-alive connections: opened and served in {opened:?}, served again in {again:?}; \
         RSS {rss_before} KiB idle, {rss_open} KiB open, {rss_after} KiB after round two: \
         {per_conn} bytes per connection"
    );
    assert!(server.alive(), "the server survived: {}", server.stderr());
    assert!(
        per_conn < 16 * 1024,
        "RSS grew by {per_conn} bytes per idle connection"
    );
    drop(conns);
    // The server is still fine once they are gone.
    timed_get(server.port);
}

/// Sends the first line of a request, then one header byte every `every` until the server
/// closes the connection; returns when it did (and what it sent back).
struct Loris {
    sock: TcpStream,
    got: Vec<u8>,
    closed_at: Option<Instant>,
}

impl Loris {
    fn open(port: u16) -> Loris {
        let mut sock = connect(port);
        sock.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .expect("send a partial head");
        sock.set_nonblocking(true).expect("nonblocking");
        Loris {
            sock,
            got: Vec::new(),
            closed_at: None,
        }
    }

    /// One more byte, and whatever the server said meanwhile.
    fn tick(&mut self) {
        if self.closed_at.is_some() {
            return;
        }
        let mut buf = [0u8; 1024];
        loop {
            match self.sock.read(&mut buf) {
                Ok(0) => {
                    self.closed_at = Some(Instant::now());
                    return;
                }
                Ok(k) => self.got.extend_from_slice(&buf[..k]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.closed_at = Some(Instant::now());
                    return;
                }
            }
        }
        let _ = self.sock.write(b"a");
    }
}

#[test]
fn slowloris_connections_are_dropped_at_the_header_timeout_and_others_still_served() {
    const LORISES: usize = 1000;
    const HEADERS_TIMEOUT_MS: u64 = 1000;
    harden::raise_nofile(LORISES as u64 + 256);
    let mut server = Proc::serve(
        &[harden::fixture("hello-server.lua").to_str().unwrap()],
        &[("HEADERS_TIMEOUT", &HEADERS_TIMEOUT_MS.to_string())],
    );
    let mut quiet: Vec<Duration> = (0..30).map(|_| timed_get(server.port)).collect();
    let quiet = median(&mut quiet);

    let start = Instant::now();
    let mut lorises: Vec<Loris> = (0..LORISES).map(|_| Loris::open(server.port)).collect();
    let opened = start.elapsed();
    let mut busy = Vec::new();
    let deadline = start + Duration::from_millis(HEADERS_TIMEOUT_MS * 4);
    while Instant::now() < deadline && lorises.iter().any(|l| l.closed_at.is_none()) {
        for l in &mut lorises {
            l.tick();
        }
        busy.push(timed_get(server.port));
        std::thread::sleep(Duration::from_millis(50));
    }
    let still_open = lorises.iter().filter(|l| l.closed_at.is_none()).count();
    let last_close = lorises
        .iter()
        .filter_map(|l| l.closed_at)
        .max()
        .map(|t| t - start);
    let answered_408 = lorises
        .iter()
        .filter(|l| l.got.starts_with(b"HTTP/1.1 408"))
        .count();
    let busy_median = median(&mut busy);
    eprintln!(
        "{LORISES} slowloris connections (opened in {opened:?}), headersTimeout {HEADERS_TIMEOUT_MS} ms: \
         all closed by {last_close:?}, {answered_408} answered 408; a normal GET took {quiet:?} \
         (median) before, {busy_median:?} (median of {}) meanwhile",
        busy.len()
    );
    assert_eq!(still_open, 0, "slowloris connections outlived the timeout");
    assert_eq!(answered_408, LORISES, "each one is told 408");
    assert!(
        busy_median < quiet * 10 + Duration::from_millis(20),
        "a normal client waited {busy_median:?} (quiet: {quiet:?})"
    );
    assert!(server.alive());
}

#[test]
fn an_80_kb_header_gets_431() {
    let server = Proc::serve(
        &[harden::fixture("hello-server.lua").to_str().unwrap()],
        &[],
    );
    let mut s = connect(server.port);
    let big = "a".repeat(80 * 1024);
    let req = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {big}\r\n\r\n");
    // The server may refuse before it has read it all; what it answered is what counts.
    let _ = s.write_all(req.as_bytes());
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{text}"
    );
    assert!(timed_get(server.port) < Duration::from_secs(1));
}

#[test]
fn a_body_declared_as_1_gb_that_never_arrives_allocates_nothing_like_it() {
    let mut server = Proc::serve(
        &[harden::fixture("hello-server.lua").to_str().unwrap()],
        &[],
    );
    timed_get(server.port);
    let before = server.rss_kib();
    let mut socks = Vec::new();
    for _ in 0..20 {
        let mut s = connect(server.port);
        s.write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000\r\n\r\n")
            .expect("send the head");
        s.write_all(&[b'x'; 64 * 1024]).expect("send some body");
        socks.push(s);
    }
    // The hello handler answers without reading the body; the rest is read and dropped.
    for s in &mut socks {
        let (head, _) = read_response(s).expect("answered");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = server.rss_kib();
    eprintln!("20 requests declaring 1 GB bodies: RSS {before} KiB before, {after} KiB after");
    assert!(
        after < before + 32 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
    assert!(server.alive());
    timed_get(server.port);
}
