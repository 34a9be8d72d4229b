//! A DAP client for the tests: starts `luvit --inspect-*` on a program, reads the
//! `Debugger listening on ws://...` line, and speaks DAP over the websocket (one JSON message
//! per text frame), keeping events aside until a test asks for them.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

pub struct Dap {
    pub ws: WebSocket<TcpStream>,
    seq: i64,
    events: VecDeque<Value>,
    pub child: Option<Child>,
    pub url: String,
}

pub fn example(name: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::canonicalize(root.join("examples/debug").join(name))
        .expect("example exists")
        .to_string_lossy()
        .into_owned()
}

/// Starts `luvit <flags> <script>` with the inspector on a free port; returns the child and
/// the websocket URL it printed.
pub fn spawn(flags: &[&str], script: &str, env: &[(&str, &str)]) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_luvit"));
    cmd.args(flags)
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("luvit starts");
    let url = listening_url(&mut child);
    (child, url)
}

/// The websocket URL in the `Debugger listening on ...` line `child` prints on its (piped)
/// stderr; the rest of stderr is passed on to ours, so the program never blocks on it.
pub fn listening_url(child: &mut Child) -> String {
    let stderr = child.stderr.take().expect("stderr piped");
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("luvit printed the listening line")
            .expect("stderr readable");
        if let Some(u) = line.strip_prefix("Debugger listening on ") {
            break u.trim().to_string();
        }
    };
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            eprintln!("[luvit] {line}");
        }
    });
    url
}

impl Dap {
    pub fn connect(url: &str) -> Dap {
        let rest = url.strip_prefix("ws://").expect("ws url");
        let hostport = rest.split('/').next().expect("host:port");
        let stream = TcpStream::connect(hostport).expect("connect to the inspector");
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let (ws, _) = tungstenite::client(url, stream).expect("websocket handshake");
        Dap {
            ws,
            seq: 0,
            events: VecDeque::new(),
            child: None,
            url: url.to_string(),
        }
    }

    /// The handshake of a client attaching: initialize, the initialized event, attach.
    pub fn attach(&mut self) {
        self.ok("initialize", json!({ "adapterID": "luvit" }));
        self.event("initialized");
        self.ok("attach", json!({}));
    }

    /// Starts the program stopped-or-waiting and runs the DAP handshake up to (not including)
    /// configurationDone, so the test can set breakpoints first.
    pub fn start(flag: &str, script: &str) -> Dap {
        Dap::start_env(flag, script, &[])
    }

    pub fn start_env(flag: &str, script: &str, env: &[(&str, &str)]) -> Dap {
        let (child, url) = spawn(&[flag], script, env);
        let mut d = Dap::connect(&url);
        d.child = Some(child);
        let caps = d.ok(
            "initialize",
            json!({ "adapterID": "luvit", "linesStartAt1": true }),
        );
        assert_eq!(caps["supportsConfigurationDoneRequest"], true);
        d.event("initialized");
        d.ok("attach", json!({}));
        d
    }

    /// Starts `script` under `--inspect-wait`, runs it to a breakpoint on `line` (asserting
    /// it stops there), then clears the breakpoint: the program is stopped at `line`.
    pub fn run_to(script: &str, line: i64) -> Dap {
        let mut d = Dap::start("--inspect-wait=127.0.0.1:0", script);
        d.set_breakpoints(script, &[line]);
        d.ok("configurationDone", json!({}));
        let (_, top) = d.stopped();
        assert_eq!(top["line"], line, "stopped at the breakpoint: {top}");
        d.set_breakpoints(script, &[]);
        d
    }

    fn read(&mut self, deadline: Instant) -> Option<Value> {
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    return Some(serde_json::from_str(&t).expect("the server sends JSON"))
                }
                Ok(Message::Close(_)) => return None,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return None,
            }
        }
        None
    }

    pub fn send(&mut self, command: &str, args: Value) -> i64 {
        self.seq += 1;
        let msg =
            json!({ "seq": self.seq, "type": "request", "command": command, "arguments": args });
        self.ws
            .send(Message::Text(msg.to_string()))
            .expect("send a request");
        self.seq
    }

    pub fn send_raw(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.to_string()))
            .expect("send a frame");
    }

    /// The response to request `seq` (events that arrive meanwhile are kept).
    pub fn response(&mut self, seq: i64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let m = self
                .read(deadline)
                .unwrap_or_else(|| panic!("no response to request {seq}"));
            if m["type"] == "response" && m["request_seq"] == seq {
                return m;
            }
            if m["type"] == "event" {
                self.events.push_back(m);
            }
        }
    }

    pub fn request(&mut self, command: &str, args: Value) -> Value {
        let seq = self.send(command, args);
        self.response(seq)
    }

    /// A successful response's body.
    pub fn ok(&mut self, command: &str, args: Value) -> Value {
        let r = self.request(command, args);
        assert_eq!(r["success"], true, "{command} failed: {r}");
        r.get("body").cloned().unwrap_or(Value::Null)
    }

    pub fn try_event(&mut self, name: &str, within: Duration) -> Option<Value> {
        if let Some(i) = self.events.iter().position(|e| e["event"] == name) {
            return self.events.remove(i);
        }
        let deadline = Instant::now() + within;
        loop {
            let m = self.read(deadline)?;
            if m["type"] == "event" && m["event"] == name {
                return Some(m);
            }
            if m["type"] == "event" {
                self.events.push_back(m);
            }
        }
    }

    pub fn event(&mut self, name: &str) -> Value {
        self.try_event(name, Duration::from_secs(20))
            .unwrap_or_else(|| panic!("no '{name}' event"))
    }

    /// Asks to stop at uncaught errors, ends the configuration and waits for the program to
    /// stop at one: the top frame.
    pub fn stop_at_uncaught(&mut self) -> Value {
        self.ok(
            "setExceptionBreakpoints",
            json!({ "filters": ["uncaught"] }),
        );
        self.ok("configurationDone", json!({}));
        let (reason, top) = self.stopped();
        assert_eq!(reason, "exception", "stopped at: {top}");
        top
    }

    /// Waits for a stop and returns (reason, top frame).
    pub fn stopped(&mut self) -> (String, Value) {
        let ev = self.event("stopped");
        let reason = ev["body"]["reason"].as_str().unwrap_or("").to_string();
        let st = self.ok("stackTrace", json!({ "threadId": 1 }));
        (reason, st["stackFrames"][0].clone())
    }

    pub fn stack(&mut self) -> Vec<Value> {
        let st = self.ok("stackTrace", json!({ "threadId": 1 }));
        st["stackFrames"].as_array().cloned().unwrap_or_default()
    }

    pub fn set_breakpoints(&mut self, path: &str, lines: &[i64]) -> Value {
        let bps: Vec<Value> = lines.iter().map(|l| json!({ "line": l })).collect();
        self.ok(
            "setBreakpoints",
            json!({ "source": { "path": path }, "breakpoints": bps }),
        )
    }

    /// The value (as shown) of `name` in the top frame's locals.
    pub fn local(&mut self, frame_id: i64, name: &str) -> Option<String> {
        let scopes = self.ok("scopes", json!({ "frameId": frame_id }));
        let locals = scopes["scopes"][0]["variablesReference"].as_i64()?;
        let vars = self.ok("variables", json!({ "variablesReference": locals }));
        vars["variables"]
            .as_array()?
            .iter()
            .find(|v| v["name"] == name)
            .and_then(|v| v["value"].as_str().map(String::from))
    }

    pub fn eval(&mut self, expr: &str, frame_id: Option<i64>) -> Value {
        let mut args = json!({ "expression": expr, "context": "repl" });
        if let Some(f) = frame_id {
            args["frameId"] = json!(f);
        }
        self.request("evaluate", args)
    }

    pub fn cont(&mut self) {
        self.ok("continue", json!({ "threadId": 1 }));
    }

    /// Waits for the program to exit and returns its code (from the `exited` event).
    pub fn exit_code(&mut self) -> i64 {
        let ev = self.event("exited");
        ev["body"]["exitCode"].as_i64().unwrap_or(-1)
    }
}

impl Drop for Dap {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `luvit dap`, the adapter an editor starts: stdin and stdout piped (the editor's end),
/// stderr inherited.
pub fn spawn_adapter() -> Child {
    Command::new(env!("CARGO_BIN_EXE_luvit"))
        .arg("dap")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("luvit dap starts")
}

/// A DAP client over a byte stream with Content-Length framing (TCP or a child's stdio).
pub struct Framed {
    rx: std::sync::mpsc::Receiver<Value>,
    writer: Box<dyn std::io::Write + Send>,
    seq: i64,
    events: VecDeque<Value>,
    pub child: Option<Child>,
}

/// One `Content-Length`-framed message (DAP over stdio or TCP); None at the end or on a
/// broken frame.
pub fn read_framed<R: BufRead>(r: &mut R) -> Option<String> {
    let mut len = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.strip_prefix("Content-Length:") {
            len = v.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0u8; len?];
    std::io::Read::read_exact(r, &mut body).ok()?;
    String::from_utf8(body).ok()
}

impl Framed {
    pub fn new<R: BufRead + Send + 'static>(
        mut reader: R,
        writer: Box<dyn std::io::Write + Send>,
    ) -> Framed {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            while let Some(text) = read_framed(&mut reader) {
                let v: Value = serde_json::from_str(&text).expect("JSON from the adapter");
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Framed {
            rx,
            writer,
            seq: 0,
            events: VecDeque::new(),
            child: None,
        }
    }

    pub fn send_raw(&mut self, text: &str) {
        write!(
            self.writer,
            "Content-Length: {}\r\n\r\n{}",
            text.len(),
            text
        )
        .expect("write");
        self.writer.flush().expect("flush");
    }

    pub fn send(&mut self, command: &str, args: Value) -> i64 {
        self.seq += 1;
        let msg =
            json!({ "seq": self.seq, "type": "request", "command": command, "arguments": args });
        self.send_raw(&msg.to_string());
        self.seq
    }

    pub fn response(&mut self, seq: i64) -> Value {
        loop {
            let m = self
                .rx
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no response to request {seq}"));
            if m["type"] == "response" && m["request_seq"] == seq {
                return m;
            }
            if m["type"] == "event" {
                self.events.push_back(m);
            }
        }
    }

    pub fn ok(&mut self, command: &str, args: Value) -> Value {
        let seq = self.send(command, args);
        let r = self.response(seq);
        assert_eq!(r["success"], true, "{command} failed: {r}");
        r.get("body").cloned().unwrap_or(Value::Null)
    }

    pub fn event(&mut self, name: &str) -> Value {
        if let Some(i) = self.events.iter().position(|e| e["event"] == name) {
            return self.events.remove(i).expect("present");
        }
        loop {
            let m = self
                .rx
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no '{name}' event"));
            if m["type"] == "event" && m["event"] == name {
                return m;
            }
            if m["type"] == "event" {
                self.events.push_back(m);
            }
        }
    }

    /// Every event seen so far, and any that arrive within `wait`.
    pub fn drain_events(&mut self, wait: Duration) -> Vec<Value> {
        while let Ok(m) = self.rx.recv_timeout(wait) {
            if m["type"] == "event" {
                self.events.push_back(m);
            }
        }
        self.events.drain(..).collect()
    }
}

impl Drop for Framed {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
