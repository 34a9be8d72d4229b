//! The inspector's front door: one TCP port on its own thread that answers node-style discovery
//! (`GET /json/list`, `/json/version`) and upgrades the exact `/UUID` path to a websocket that
//! carries DAP, one JSON message per text frame.
//!
//! It never touches Lua: messages go to the Lua thread through [`Link`], which also wakes that
//! thread. Requests are refused unless their Host is `localhost` or an IP literal (DNS
//! rebinding) and their Origin, if any, is a VS Code one.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// What a transport tells the Lua side.
pub enum Incoming {
    /// A client attached; messages for it go into `out`.
    Connected {
        id: u64,
        out: super::outbox::Outbox,
        /// It speaks MobDebug's line protocol, not DAP.
        mobdebug: bool,
    },
    Message {
        id: u64,
        text: String,
    },
    Disconnected {
        id: u64,
    },
}

/// The way from a transport thread to the Lua thread: a queue and a wake-up call.
pub struct Link {
    tx: std::sync::Mutex<std::sync::mpsc::Sender<Incoming>>,
    wake: Box<dyn Fn() + Send + Sync>,
    next_id: AtomicU64,
    /// Messages sent and not yet taken by the Lua side: transports stop reading their client
    /// above [`BACKLOG`], so a flooding client meets TCP backpressure, not our memory.
    pending: AtomicUsize,
}

/// How many client messages may wait for the Lua thread before transports stop reading.
pub const BACKLOG: usize = 256;

impl Link {
    pub fn new(tx: std::sync::mpsc::Sender<Incoming>, wake: Box<dyn Fn() + Send + Sync>) -> Link {
        Link {
            tx: std::sync::Mutex::new(tx),
            wake,
            next_id: AtomicU64::new(1),
            pending: AtomicUsize::new(0),
        }
    }

    /// Whether the Lua side is behind: the transport should wait before reading more.
    pub fn backed_up(&self) -> bool {
        self.pending.load(Ordering::Relaxed) >= BACKLOG
    }

    /// The Lua side took one message.
    pub fn consumed(&self) {
        let _ = self
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    pub fn send(&self, msg: Incoming) {
        if matches!(msg, Incoming::Message { .. }) {
            self.pending.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(msg);
        }
        (self.wake)();
    }

    pub fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// Where the inspector listens and what it tells discovery clients.
pub struct FrontDoor {
    pub listener: std::net::TcpListener,
    pub addr: SocketAddr,
    pub uuid: String,
    /// The program, for `/json/list`'s title and url.
    pub title: String,
}

impl FrontDoor {
    pub fn ws_url(&self) -> String {
        format!("ws://{}/{}", self.addr, self.uuid)
    }
}

/// Binds the inspector's port (port 0 picks a free one).
pub fn bind(host: &str, port: u16, title: String) -> std::io::Result<FrontDoor> {
    let listener = std::net::TcpListener::bind((host, port))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    Ok(FrontDoor {
        listener,
        addr,
        uuid: new_uuid(),
        title,
    })
}

/// A random version-4 UUID.
fn new_uuid() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No entropy source: fall back to the clock and pid (the UUID only has to be unguessable
        // enough for a loopback port, and unique).
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = (t ^ ((std::process::id() as u128) << 64)).to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Serves the front door on a thread of its own until the process ends.
pub fn spawn(door: FrontDoor, link: Arc<Link>) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    std::thread::Builder::new()
        .name("luvit-inspector".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = match TcpListener::from_std(door.listener) {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("luvit: inspector: {e}");
                        return;
                    }
                };
                let info = Arc::new(DoorInfo {
                    addr: door.addr,
                    uuid: door.uuid,
                    title: door.title,
                });
                loop {
                    let Ok((sock, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = sock.set_nodelay(true);
                    let link = link.clone();
                    let info = info.clone();
                    tokio::spawn(async move {
                        let _ = serve(sock, &info, &link).await;
                    });
                }
            })
        })?;
    Ok(())
}

/// What discovery answers with: the address, the websocket path's UUID, the program.
pub struct DoorInfo {
    pub addr: SocketAddr,
    pub uuid: String,
    pub title: String,
}

const MAX_HEAD: usize = 16 * 1024;

/// What the front door answers the bytes a client has sent so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// No complete head yet (and not too large): read more.
    NeedMore,
    /// An HTTP response, then the connection closes.
    Reply {
        code: u16,
        reason: &'static str,
        ctype: &'static str,
        body: String,
    },
    /// The websocket handshake's response; `rest` (what followed the head) is the first
    /// websocket bytes.
    Upgrade { response: String, rest: Vec<u8> },
}

fn text_reply(code: u16, reason: &'static str, body: &str) -> Answer {
    Answer::Reply {
        code,
        reason,
        ctype: "text/plain",
        body: body.to_string(),
    }
}

/// Decides on a request from its bytes alone (no I/O): the request line, the Host and Origin
/// rules, discovery, the exact `/UUID` websocket path and its handshake.
pub fn answer(buf: &[u8], info: &DoorInfo) -> Answer {
    // httparse alone says where the head ends (it takes a bare LF as a line end too): the
    // Host and Origin checked are those of the head answered, and the websocket gets exactly
    // what follows it.
    let (head, head_len) = match Head::parse(buf) {
        Ok(Some((_, n))) if n > MAX_HEAD => {
            return text_reply(431, "Request Header Fields Too Large", "")
        }
        Ok(Some(h)) => h,
        Ok(None) if buf.len() > MAX_HEAD => {
            return text_reply(431, "Request Header Fields Too Large", "")
        }
        Ok(None) => return Answer::NeedMore,
        Err(why) => return text_reply(400, "Bad Request", &why),
    };
    if let Err(why) = head.check_host() {
        return text_reply(403, "Forbidden", &why);
    }
    let ws_path = format!("/{}", info.uuid);
    if head.path == ws_path && head.upgrade_websocket {
        if let Err(why) = head.check_origin() {
            return text_reply(403, "Forbidden", &why);
        }
        if head.method != "GET" {
            return text_reply(405, "Method Not Allowed", "");
        }
        let Some(key) = head.ws_key.as_deref() else {
            return text_reply(400, "Bad Request", "missing Sec-WebSocket-Key");
        };
        let accept = derive_accept_key(key.as_bytes());
        return Answer::Upgrade {
            response: format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            ),
            rest: buf[head_len..].to_vec(),
        };
    }
    let path = head.path.split('?').next().unwrap_or("");
    let json = |body: serde_json::Value| Answer::Reply {
        code: 200,
        reason: "OK",
        ctype: "application/json; charset=UTF-8",
        body: body.to_string(),
    };
    match path {
        "/json" | "/json/list" | "/json/version" if head.method != "GET" => {
            text_reply(405, "Method Not Allowed", "")
        }
        "/json" | "/json/list" => {
            let ws = format!("{}/{}", info.addr, info.uuid);
            json(serde_json::json!([{
                "description": "luvit instance",
                "id": info.uuid,
                "title": info.title,
                "type": "node",
                "url": format!("file://{}", info.title),
                "webSocketDebuggerUrl": format!("ws://{ws}"),
                "devtoolsFrontendUrl": "",
                "dap": true,
            }]))
        }
        "/json/version" => json(serde_json::json!({
            "Browser": format!("luvit/{}", crate::version()),
            "Protocol-Version": "1.1",
            "dap": true,
        })),
        _ => text_reply(404, "Not Found", ""),
    }
}

/// The websocket settings of a debugger session (the largest message DAP may send us).
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig {
        max_message_size: Some(64 << 20),
        ..Default::default()
    }
}

/// What a websocket read means for the session.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A DAP message (binary frames are read as lossy UTF-8).
    Text(String),
    /// Ping, pong, raw frames: nothing for the Lua side.
    Skip,
    /// Closed, ended or broken: the session ends.
    End,
}

pub fn frame<E>(msg: Option<Result<Message, E>>) -> Frame {
    match msg {
        Some(Ok(Message::Text(text))) => Frame::Text(text.to_string()),
        Some(Ok(Message::Binary(b))) => Frame::Text(String::from_utf8_lossy(&b).into_owned()),
        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Frame::End,
        Some(Ok(_)) => Frame::Skip,
    }
}

/// One HTTP request on a fresh connection: discovery, a refusal, or the websocket session.
async fn serve(mut sock: TcpStream, info: &DoorInfo, link: &Link) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    // The whole head within 10 s (not 10 s per read: a byte every 9 s would hold a task).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut chunk = [0u8; 2048];
        let n = match tokio::time::timeout_at(deadline, sock.read(&mut chunk)).await {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        match answer(&buf, info) {
            Answer::NeedMore => {}
            Answer::Reply {
                code,
                reason,
                ctype,
                body,
            } => return reply(&mut sock, code, reason, ctype, &body).await,
            Answer::Upgrade { response, rest } => {
                sock.write_all(response.as_bytes()).await?;
                let ws = WebSocketStream::from_partially_read(
                    sock,
                    rest,
                    Role::Server,
                    Some(ws_config()),
                )
                .await;
                return session(ws, link).await;
            }
        }
    }
}

/// Relays frames between one websocket client and the Lua side until either end goes.
async fn session(mut ws: WebSocketStream<TcpStream>, link: &Link) -> std::io::Result<()> {
    let id = link.new_id();
    let (out_tx, mut out_rx) = super::outbox::channel();
    link.send(Incoming::Connected {
        id,
        out: out_tx,
        mobdebug: false,
    });
    loop {
        let backed_up = link.backed_up();
        tokio::select! {
            // The Lua side is behind: read nothing more until it catches up.
            _ = tokio::time::sleep(Duration::from_millis(2)), if backed_up => {}
            msg = ws.next(), if !backed_up => match frame(msg) {
                Frame::Text(text) => link.send(Incoming::Message { id, text }),
                Frame::End => break,
                Frame::Skip => {}
            },
            out = out_rx.recv() => match out {
                Some(text) => {
                    if ws.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                // The Lua side dropped us (another client took over, or the program ended).
                None => {
                    let _ = ws.close(None).await;
                    break;
                }
            },
        }
    }
    link.send(Incoming::Disconnected { id });
    Ok(())
}

async fn reply(
    sock: &mut TcpStream,
    code: u16,
    reason: &str,
    ctype: &str,
    body: &str,
) -> std::io::Result<()> {
    let resp = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(resp.as_bytes()).await?;
    sock.shutdown().await
}

/// The parts of a request head the front door decides on.
#[derive(Debug, Default)]
struct Head {
    method: String,
    path: String,
    hosts: Vec<String>,
    origins: Vec<String>,
    upgrade_websocket: bool,
    ws_key: Option<String>,
}

impl Head {
    /// The head at the start of `bytes` and its length; `None` while it is incomplete.
    fn parse(bytes: &[u8]) -> Result<Option<(Head, usize)>, String> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        let len = match req.parse(bytes) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(format!("malformed request: {e}")),
        };
        let mut head = Head {
            method: req.method.unwrap_or("").to_string(),
            path: req.path.unwrap_or("").to_string(),
            ..Head::default()
        };
        for h in req.headers.iter() {
            let value = String::from_utf8_lossy(h.value).trim().to_string();
            match h.name.to_ascii_lowercase().as_str() {
                "host" => head.hosts.push(value),
                "origin" => head.origins.push(value),
                "upgrade" => head.upgrade_websocket |= value.eq_ignore_ascii_case("websocket"),
                "sec-websocket-key" => head.ws_key = Some(value),
                _ => {}
            }
        }
        Ok(Some((head, len)))
    }

    /// DNS rebinding: only `localhost` and IP literals may name this server (one Host only).
    fn check_host(&self) -> Result<(), String> {
        match self.hosts.as_slice() {
            [] => Ok(()),
            [h] if host_allowed(h) => Ok(()),
            [h] => Err(format!(
                "Host header '{h}' is not allowed: use localhost or an IP address"
            )),
            _ => Err("more than one Host header".into()),
        }
    }

    /// Browsers send an Origin: only VS Code's own (or none) may open the debugger.
    fn check_origin(&self) -> Result<(), String> {
        match self.origins.as_slice() {
            [] => Ok(()),
            [o] if o.starts_with("vscode-") => Ok(()),
            [o] => Err(format!("Origin '{o}' may not open the debugger")),
            _ => Err("more than one Origin header".into()),
        }
    }
}

/// `localhost`, a dotted IPv4 literal outside 0.0.0.0/8, or a bracketed IPv6 literal other than
/// `[::]`, each with an optional port.
pub fn host_allowed(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return false;
        };
        let (ip, after) = (&rest[..end], &rest[end + 1..]);
        if !valid_port_suffix(after) {
            return false;
        }
        return ip.parse::<Ipv6Addr>().is_ok_and(|a| !a.is_unspecified());
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => {
                if !valid_port_suffix(&format!(":{port}")) {
                    return false;
                }
                name
            }
            None => host,
        }
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let dotted = name.split('.').count() == 4
        && name
            .split('.')
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
    dotted && name.parse::<Ipv4Addr>().is_ok_and(|a| a.octets()[0] != 0)
}

fn valid_port_suffix(s: &str) -> bool {
    match s.strip_prefix(':') {
        None => s.is_empty(),
        Some(p) => !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_that_could_be_rebound_are_refused() {
        for ok in [
            "localhost",
            "LOCALHOST:9229",
            "127.0.0.1",
            "127.0.0.1:9229",
            "10.1.2.3:80",
            "[::1]:9229",
            "[::1]",
        ] {
            assert!(host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.com",
            "localhost.evil.com",
            "0.0.0.0:9229",
            "0.1.2.3",
            "[::]:9229",
            "127.1",
            "127.0.0.1.nip.io",
            "[::1",
            "localhost:",
            "localhost:port",
            "1.2.3.4:99999999",
            "",
        ] {
            assert!(!host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn two_hosts_are_refused_never_read_as_none() {
        let parse = |b: &[u8]| Head::parse(b).unwrap().unwrap().0;
        let h = parse(b"GET / HTTP/1.1\r\nHost: localhost\r\nHost: evil.com\r\n\r\n");
        assert!(h.check_host().is_err());
        let h = parse(b"GET / HTTP/1.1\r\nOrigin: https://evil.com\r\n\r\n");
        assert!(h.check_host().is_ok());
        assert!(h.check_origin().is_err());
        let h = parse(b"GET / HTTP/1.1\r\nOrigin: vscode-file://vscode-app\r\n\r\n");
        assert!(h.check_origin().is_ok());
    }

    /// Fuzz finding door_head_ends_where_httparse_says (tests/fuzz/regressions/door/): the
    /// door waited for `\r\n\r\n` while httparse (which decides) ends a head at a bare LF
    /// too: an LF-only request hung until the timeout, and the websocket lost the bytes between
    /// the two ends.
    #[test]
    fn door_head_ends_where_httparse_says() {
        let info = DoorInfo {
            addr: SocketAddr::from(([127, 0, 0, 1], 9229)),
            uuid: "u".into(),
            title: "t".into(),
        };
        let a = answer(b"GET /json/version HTTP/1.1\nHost: localhost\n\n", &info);
        assert!(matches!(a, Answer::Reply { code: 200, .. }), "{a:?}");
        let a = answer(b"GET /json HTTP/1.1\nHost: evil.com\n\n", &info);
        assert!(matches!(a, Answer::Reply { code: 403, .. }), "{a:?}");
        let a = answer(
            b"GET /u HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\n\x81\x80\r\n\r\n",
            &info,
        );
        match a {
            Answer::Upgrade { rest, .. } => assert_eq!(rest, b"\x81\x80\r\n\r\n"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn uuids_are_version_4() {
        let u = new_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, new_uuid());
    }
}
