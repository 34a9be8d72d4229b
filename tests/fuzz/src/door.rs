//! Target `door`: the inspector's front door (devtools/src/debug/server.rs) on raw bytes.
//!
//! The request goes through `server::answer`, the function `serve` runs on every read; when
//! it upgrades, the bytes after the head are read as websocket frames by tungstenite with the
//! session's own settings (`ws_config`) and turned into messages by the session's `frame`.
//!
//! Oracle: nothing panics; an upgrade or a discovery answer only ever goes to a request whose
//! Host headers (read here independently, line by line) are at most one and allowed, and an
//! upgrade only to `GET /UUID` with an allowed Origin; every answer is a well-formed response.

use std::io::{Cursor, Read, Write};
use std::net::SocketAddr;

use luvit_devtools::debug::server::{self, Answer, DoorInfo, Frame};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};

/// The UUID the seeds use in their websocket path.
pub const UUID: &str = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";

/// A stream that reads the fuzz bytes and swallows what is written.
struct Peer {
    input: Cursor<Vec<u8>>,
    written: usize,
}

impl Read for Peer {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Peer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct Target {
    info: DoorInfo,
}

impl Target {
    pub fn new() -> Target {
        Target {
            info: DoorInfo {
                addr: SocketAddr::from(([127, 0, 0, 1], 9229)),
                uuid: UUID.to_string(),
                title: "/srv/app.lua".to_string(),
            },
        }
    }

    pub fn run(&self, data: &[u8]) {
        let answer = server::answer(data, &self.info);
        let head = head_end(data).map(|p| &data[..p]);
        match answer {
            Answer::NeedMore => assert!(data.len() <= 16 * 1024),
            Answer::Reply {
                code,
                reason,
                ctype,
                body,
            } => {
                assert!(!reason.is_empty() && !ctype.is_empty());
                if code == 200 {
                    let head = head.expect("a 200 needs a head");
                    assert_hosts_allowed(head);
                    assert!(serde_json::from_str::<serde_json::Value>(&body).is_ok());
                }
            }
            Answer::Upgrade { response, rest } => {
                let head = head.expect("an upgrade needs a head");
                assert_hosts_allowed(head);
                let text = String::from_utf8_lossy(head);
                let first = text
                    .trim_start_matches(['\r', '\n'])
                    .split('\n')
                    .next()
                    .unwrap_or("");
                assert!(
                    first.starts_with(&format!("GET /{UUID} ")),
                    "upgraded {first:?}"
                );
                let origins = values(head, "origin");
                assert!(
                    origins.len() <= 1 && origins.iter().all(|o| o.starts_with("vscode-")),
                    "upgraded with Origin {origins:?}"
                );
                assert!(response.starts_with("HTTP/1.1 101 ") && response.ends_with("\r\n\r\n"));
                self.frames(rest);
            }
        }
    }

    /// Reads websocket frames as the session does until it would end.
    fn frames(&self, rest: Vec<u8>) {
        // As `serve` does: what followed the head is the partially read start of the stream.
        let peer = Peer {
            input: Cursor::new(Vec::new()),
            written: 0,
        };
        let mut ws =
            WebSocket::from_partially_read(peer, rest, Role::Server, Some(server::ws_config()));
        for _ in 0..10_000 {
            let msg = ws.read();
            match server::frame(Some(msg)) {
                Frame::Text(t) => assert!(t.len() <= 64 << 20),
                Frame::Skip => {}
                Frame::End => break,
            }
        }
    }
}

impl Default for Target {
    fn default() -> Self {
        Target::new()
    }
}

/// Where the head ends, as HTTP/1.1 allows a recipient to read it (RFC 9112 §2.2: a bare LF
/// ends a line too; empty lines before the request line are skipped).
fn head_end(data: &[u8]) -> Option<usize> {
    let start = data.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let mut i = start;
    while i < data.len() {
        if data[i] == b'\n' {
            match data.get(i + 1..) {
                Some([b'\n', ..]) => return Some(i + 1),
                Some([b'\r', b'\n', ..]) => return Some(i + 2),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// The values of every header line named `name` (case-insensitive), trimmed.
fn values(head: &[u8], name: &str) -> Vec<String> {
    head.split(|&b| b == b'\n')
        .skip(1)
        .filter_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':')?;
            let (n, v) = line.split_at(colon);
            n.eq_ignore_ascii_case(name.as_bytes())
                .then(|| String::from_utf8_lossy(&v[1..]).trim().to_string())
        })
        .collect()
}

fn assert_hosts_allowed(head: &[u8]) {
    let hosts = values(head, "host");
    assert!(hosts.len() <= 1, "served with {} Host headers", hosts.len());
    for h in &hosts {
        assert!(server::host_allowed(h), "served with Host {h:?}");
    }
}
