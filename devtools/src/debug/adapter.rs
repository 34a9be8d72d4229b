//! `luvit dap`: a stdio debug adapter (Content-Length framing on stdin/stdout) for editors
//! that start one per session (nvim-dap, Helix, Emacs, VS Code's executable adapters).
//!
//! It answers `initialize` itself; `launch` starts `luvit --inspect-dap-tcp=127.0.0.1:0
//! --inspect-wait|--inspect-brk <program>` and from then on relays every message between the
//! editor and that program's own debugger session (one session implementation for every
//! transport). `attach` relays to a program already serving `--inspect-dap-tcp`. The
//! program's stdout and stderr come back as `output` events, since stdout is the protocol here.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value as Json};

use super::framing::{read_message, write_message};
use super::protocol::{self, Request};
use super::to_editor::{take_text, trace, ToEditor};

/// What the relay from the program has seen: its session answered `disconnect`, or ended.
#[derive(Default)]
struct RelayState {
    disconnect_answered: AtomicBool,
    ended: AtomicBool,
}

/// Runs the adapter until the editor disconnects or closes stdin; returns the exit code.
pub fn run(exe: &str) -> i32 {
    let out = ToEditor::spawn(std::io::stdout());
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut program: Option<(TcpStream, Option<Child>)> = None;
    let relay = Arc::new(RelayState::default());
    loop {
        let text = match read_message(&mut input) {
            Ok(Some(t)) => t,
            Ok(None) => break,
            Err(e) => {
                eprintln!("luvit dap: {e}");
                return 1;
            }
        };
        trace("in", &text);
        if let Some((conn, _)) = program.as_mut() {
            let disconnect = protocol::parse(&text).is_ok_and(|r| r.command == "disconnect");
            if write_message(conn, &text).is_err() {
                // The program is gone: answer what we can ourselves.
                if let Ok(req) = protocol::parse(&text) {
                    if req.command == "disconnect" {
                        out.respond(&req, Ok(Json::Null));
                        break;
                    }
                    out.respond(&req, Err("the program has ended".into()));
                }
                continue;
            }
            if disconnect {
                // The program answers (and, told to, ends); if it has already gone, we answer.
                for _ in 0..100 {
                    if relay.disconnect_answered.load(Ordering::SeqCst)
                        || relay.ended.load(Ordering::SeqCst)
                    {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                if !relay.disconnect_answered.load(Ordering::SeqCst) {
                    if let Ok(req) = protocol::parse(&text) {
                        out.respond(&req, Ok(Json::Null));
                    }
                }
                if let Some((_, Some(child))) = program.as_mut() {
                    for _ in 0..50 {
                        if matches!(child.try_wait(), Ok(Some(_))) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                break;
            }
            continue;
        }
        let req = match protocol::parse(&text) {
            Ok(r) => r,
            Err(protocol::BadMessage::NotJson(why)) => {
                out.refuse(0, "", &format!("malformed DAP message: {why}"));
                continue;
            }
            Err(protocol::BadMessage::NotRequest { seq, command, why }) => {
                out.refuse(seq, &command, &why);
                continue;
            }
        };
        match req.command.as_str() {
            "initialize" => out.respond(&req, Ok(super::session::capabilities())),
            "launch" => match launch(exe, &req, &out, &relay) {
                Ok(p) => {
                    program = Some(p);
                    out.respond(&req, Ok(Json::Null));
                    out.event("initialized", Json::Null);
                }
                Err(e) => out.respond(&req, Err(e)),
            },
            "attach" => match attach(&req, &out, &relay) {
                Ok(conn) => {
                    program = Some((conn, None));
                    out.respond(&req, Ok(Json::Null));
                    out.event("initialized", Json::Null);
                }
                Err(e) => out.respond(&req, Err(e)),
            },
            "disconnect" | "terminate" => {
                out.respond(&req, Ok(Json::Null));
                break;
            }
            other => out.respond(
                &req,
                Err(format!(
                    "'{other}' needs a program: send launch or attach first"
                )),
            ),
        }
    }
    if let Some((_, Some(mut child))) = program {
        if !matches!(child.try_wait(), Ok(Some(_))) {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
    // the last answers, for an editor that reads (one that does not is not waited for long)
    out.flush(Duration::from_secs(2));
    0
}

/// Starts the program under the debugger and connects to it.
fn launch(
    exe: &str,
    req: &Request,
    out: &ToEditor,
    relay: &Arc<RelayState>,
) -> Result<(TcpStream, Option<Child>), String> {
    let program = req.need_str("program")?;
    let stop = req.bool("stopOnEntry") == Some(true);
    let mut cmd = Command::new(req.str("runtimeExecutable").unwrap_or(exe));
    if let Some(extra) = req.args.get("runtimeArgs").and_then(Json::as_array) {
        cmd.args(extra.iter().filter_map(Json::as_str));
    }
    cmd.arg("--inspect-dap-tcp=127.0.0.1:0")
        .arg(if stop {
            "--inspect-brk"
        } else {
            "--inspect-wait"
        })
        .arg(program);
    if let Some(args) = req.args.get("args").and_then(Json::as_array) {
        cmd.args(args.iter().map(|a| match a {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        }));
    }
    if let Some(cwd) = req.str("cwd") {
        cmd.current_dir(cwd);
    }
    if let Some(env) = req.args.get("env").and_then(Json::as_object) {
        for (k, v) in env {
            match v {
                Json::Null => {
                    cmd.env_remove(k);
                }
                Json::String(s) => {
                    cmd.env(k, s);
                }
                other => {
                    cmd.env(k, other.to_string());
                }
            }
        }
    }
    cmd.env("LUVIT_DAP_ADAPTER", "1");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start '{program}': {e}"))?;
    let stderr = child.stderr.take().ok_or("no stderr pipe")?;
    let mut lines = BufReader::new(stderr);
    let mut addr = None;
    let mut line = String::new();
    while addr.is_none() {
        line.clear();
        match lines.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => match line.trim().strip_prefix("Debugger listening on tcp://") {
                Some(a) => addr = Some(a.to_string()),
                None => out.event("output", json!({ "category": "stderr", "output": line })),
            },
        }
    }
    let Some(addr) = addr else {
        let _ = child.wait();
        return Err(format!("'{program}' did not start its debugger"));
    };
    forward_output(lines, "stderr", out.clone());
    if let Some(stdout) = child.stdout.take() {
        forward_output(BufReader::new(stdout), "stdout", out.clone());
    }
    let conn = connect(&addr, out, relay)?;
    Ok((conn, Some(child)))
}

fn attach(req: &Request, out: &ToEditor, relay: &Arc<RelayState>) -> Result<TcpStream, String> {
    let port = req.need_i64("port")?;
    let host = req.str("host").unwrap_or("127.0.0.1");
    connect(&format!("{host}:{port}"), out, relay)
}

/// Connects to a program's DAP-over-TCP session, runs its initialize handshake, and relays
/// what it sends from then on to the editor.
fn connect(addr: &str, out: &ToEditor, relay: &Arc<RelayState>) -> Result<TcpStream, String> {
    let mut conn = TcpStream::connect(addr).map_err(|e| format!("cannot reach {addr}: {e}"))?;
    let _ = conn.set_nodelay(true);
    let init = json!({ "seq": 1, "type": "request", "command": "initialize",
                       "arguments": { "adapterID": "luvit" } });
    write_message(&mut conn, &init.to_string()).map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(conn.try_clone().map_err(|e| e.to_string())?);
    // The program answers initialize and announces initialized; the editor heard both from us.
    let mut seen = 0;
    while seen < 2 {
        match read_message(&mut reader) {
            Ok(Some(t)) => {
                let v: Json = serde_json::from_str(&t).unwrap_or(Json::Null);
                if v["command"] == "initialize" || v["event"] == "initialized" {
                    seen += 1;
                }
            }
            _ => return Err(format!("{addr} closed during the handshake")),
        }
    }
    let out = out.clone();
    let relay = Arc::clone(relay);
    std::thread::spawn(move || {
        let mut terminated = false;
        while let Ok(Some(t)) = read_message(&mut reader) {
            let v = serde_json::from_str::<Json>(&t).unwrap_or(Json::Null);
            terminated |= v["event"] == "terminated";
            if v["type"] == "response" && v["command"] == "disconnect" {
                relay.disconnect_answered.store(true, Ordering::SeqCst);
            }
            // an editor that does not read holds this relay back (and so the program's DAP
            // socket), never the program's output pipes
            out.wait_room();
            out.relay(t);
        }
        if !terminated {
            out.event("terminated", Json::Null);
        }
        relay.ended.store(true, Ordering::SeqCst);
    });
    Ok(conn)
}

/// Relays a pipe of the program's as `output` events. It never waits for the editor (output
/// past the editor's budget is dropped and counted), so the program is never stalled by it.
fn forward_output<R: Read + Send + 'static>(mut r: R, category: &'static str, out: ToEditor) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        let mut pending = Vec::new();
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    let text = take_text(&mut pending);
                    if !text.is_empty() {
                        out.output(category, &text);
                    }
                }
            }
        }
        if !pending.is_empty() {
            out.output(category, &String::from_utf8_lossy(&pending));
        }
    });
}
