//! Targets `dap` and `mobdebug`: whole debugger sessions through the real session code
//! (devtools/src/debug/session.rs, mobdebug.rs, inspect.lua) on a real runtime's Lua state
//! with a small program loaded, the transport played by this harness.
//!
//! The input is lines: messages (DAP JSON, or MobDebug command lines) for the running program,
//! then, after a line `--`, the messages for when it stops (without `--`, the same ones). The
//! harness attaches, sends the first batch and lets the debugger answer it, then runs the
//! program's `work()`; if the program stops (a breakpoint, a step, a pause, an exception), it
//! sends the second batch and detaches. Messages that would end the process (`terminate`,
//! `terminateDebuggee`, `EXIT`) are renamed, and code the client may run (evaluate, conditions,
//! log messages, EXEC, SETW) is kept to what cannot assign, call or loop, so the program's state
//! must come out unchanged. EXEC and STACK params pass untouched: they are read as data.
//!
//! Oracle: nothing panics or hangs; every DAP message gets exactly one response; the
//! program runs to its end and its data is the same before and after (unless a `setVariable`
//! succeeded: then the program may also stop at its own error).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use luvit::runtime::Runtime;
use luvit_devtools::debug::outbox::OutboxReader;
use luvit_devtools::debug::server::{Incoming, Link};
use luvit_devtools::debug::{self, Debugger};
use luvit_devtools::debug::{mdline, outbox};
use mlua::Function;
use serde_json::Value as Json;

/// The program under debug (chunk `@/fuzz/prog.lua`; breakpoints name that path).
pub const PROGRAM: &str = r#"STATE = { counter = 0, list = { 1, 2, 3 }, name = 'x', nested = { a = { b = { c = 1 } } } }
local up = 10
function work(n)
  local t = {}
  for i = 1, n do
    t[i] = i * 2 + up
  end
  local co = coroutine.create(function(x)
    local y = x + 1
    coroutine.yield(y)
    return y * 2
  end)
  coroutine.resume(co, n)
  coroutine.resume(co)
  pcall(error, 'caught')
  STATE.counter = STATE.counter + 1
  return t
end
local function dump(v, seen)
  if type(v) ~= 'table' then return type(v) .. ':' .. tostring(v) end
  if seen[v] then return 'cycle' end
  seen[v] = true
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local out = {}
  for _, k in ipairs(keys) do
    if k ~= 'counter' then out[#out + 1] = tostring(k) .. '=' .. dump(v[k], seen) end
  end
  seen[v] = nil
  return '{' .. table.concat(out, ',') .. '}'
end
function snapshot()
  local _, upv = debug.getupvalue(work, 1)
  return dump(STATE, {}) .. ' up=' .. tostring(upv) .. ' ' .. tostring(rawget(_G, 'x'))
end
"#;

struct Harness {
    _rt: Runtime,
    _debugger: std::rc::Rc<Debugger>,
    link: Arc<Link>,
    lua: mlua::Lua,
    work: Function,
    snapshot: Function,
    client: Client,
}

/// One session's client side, handed to the client thread.
struct Job {
    out_rx: OutboxReader,
    second: Vec<String>,
    link: Arc<Link>,
    id: u64,
    mobdebug: bool,
    /// Set while `work()` runs: silence then means a stop nobody was told of.
    working: Arc<AtomicBool>,
    /// The session is over (the harness or the client said goodbye). Whoever ends it holds the
    /// lock to say goodbye, and the client sends its second batch under it only while the
    /// session is open: so a stop the client hears after the goodbye (a stop that a message of
    /// the first batch ended, before the client saw it) gets no batch the debugger would drop
    /// as coming from a client that left (fuzz finding dap_a_stop_heard_after_goodbye).
    over: Arc<Mutex<bool>>,
}

/// The client thread, started once: it waits on the session's queue (no polling, so an
/// input costs what the debugger costs, not the client's sleeps) and plays one session a job.
struct Client {
    jobs: std::sync::mpsc::Sender<Job>,
    results: std::sync::mpsc::Receiver<(Vec<String>, bool)>,
}

impl Client {
    fn start() -> Client {
        let (jobs, job_rx) = std::sync::mpsc::channel::<Job>();
        let (result_tx, results) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("the client's runtime");
            for job in job_rx {
                if result_tx.send(rt.block_on(play(job))).is_err() {
                    break;
                }
            }
        });
        Client { jobs, results }
    }
}

/// How long the client waits in silence while `work()` runs before it says goodbye: 200 ms,
/// or `LUVIT_FUZZ_PATIENCE_MS` (0 gives up at once, as a loaded machine may: for replays).
fn patience() -> Duration {
    static MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    Duration::from_millis(*MS.get_or_init(|| {
        std::env::var("LUVIT_FUZZ_PATIENCE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200)
    }))
}

/// The client's half of a session: on the first stop, the second batch and goodbye. A stop it
/// is not told of (MobDebug says nothing when no RUN is pending) shows as silence while
/// `work()` runs: after [`patience`], goodbye too, so the program never waits for ever.
/// Returns what it heard and whether it sent the second batch.
async fn play(job: Job) -> (Vec<String>, bool) {
    let Job {
        mut out_rx,
        mut second,
        link,
        id,
        mobdebug,
        working,
        over,
    } = job;
    let mut got = Vec::new();
    let mut sent = false;
    let mut gave_up = false;
    loop {
        let msg = match tokio::time::timeout(patience(), out_rx.recv()).await {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(_) => {
                // (once the second batch went, its goodbye ends any stop)
                if !sent && !gave_up && working.load(Ordering::SeqCst) {
                    gave_up = true;
                    let mut over = over.lock().unwrap_or_else(|e| e.into_inner());
                    *over = true;
                    link.send(Incoming::Disconnected { id });
                }
                continue;
            }
        };
        gave_up = false;
        let stopped = if mobdebug {
            // (a LOAD before the start is answered from the first line's stop)
            msg.starts_with("202 Paused")
                || msg.starts_with("203 Paused")
                || msg.starts_with("201 Started")
        } else {
            msg.contains("\"event\":\"stopped\"")
        };
        got.push(msg);
        if stopped && !sent {
            let mut over = over.lock().unwrap_or_else(|e| e.into_inner());
            if !*over {
                sent = true;
                for text in second.drain(..) {
                    link.send(Incoming::Message { id, text });
                }
                link.send(Incoming::Disconnected { id });
                *over = true;
            }
        }
    }
    (got, sent)
}

thread_local! {
    // One debugger per process (it hooks the Lua state and records the Lua thread).
    static HARNESS: RefCell<Option<Harness>> = const { RefCell::new(None) };
}

fn harness<R>(f: impl FnOnce(&Harness) -> R) -> R {
    HARNESS.with(|h| {
        let mut h = h.borrow_mut();
        let h = h.get_or_insert_with(|| {
            let rt = Runtime::new().expect("runtime");
            let lua = rt.lua.clone();
            let (d, link) =
                debug::start_local(&lua, rt.el.main_state(), Box::new(|_| None)).expect("debugger");
            lua.load(PROGRAM)
                .set_name("@/fuzz/prog.lua")
                .exec()
                .expect("program");
            let work: Function = lua.globals().get("work").expect("work");
            let snapshot: Function = lua.globals().get("snapshot").expect("snapshot");
            Harness {
                _rt: rt,
                _debugger: d,
                link,
                lua,
                work,
                snapshot,
                client: Client::start(),
            }
        });
        f(h)
    })
}

/// Code the client may have run: no assignment, call, function or loop can be written with
/// what is allowed (so evaluating it cannot change or stall the program).
fn harmless_code(s: &str, braces: bool) -> bool {
    let without_ops = s
        .replace("==", "")
        .replace("~=", "")
        .replace("<=", "")
        .replace(">=", "");
    if without_ops.contains(['=', '(', '"', '\'', ':', ';']) || s.contains("[[") || s.contains("[=")
    {
        return false;
    }
    if braces {
        // log messages: `{expr}` holes, never nested (no table constructor, no f{...} call)
        let mut open = false;
        for c in s.chars() {
            match c {
                '{' if open => return false,
                '{' => open = true,
                '}' => open = false,
                _ => {}
            }
        }
    } else if s.contains(['{', '}']) {
        return false;
    }
    !s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| matches!(w, "while" | "repeat" | "for" | "goto" | "function"))
}

const CODE_KEYS: &[&str] = &[
    "expression",
    "value",
    "text",
    "condition",
    "hitCondition",
    "logMessage",
];

/// Renames what would end the process and replaces code that could change the program.
fn tame_json(v: &mut Json) {
    match v {
        Json::Object(map) => {
            if map.get("command").and_then(Json::as_str) == Some("terminate") {
                map.insert("command".into(), Json::from("terminate-renamed"));
            }
            if map.contains_key("terminateDebuggee") {
                map.insert("terminateDebuggee".into(), Json::Bool(false));
            }
            for (k, x) in map.iter_mut() {
                if let (true, Json::String(s)) = (CODE_KEYS.contains(&k.as_str()), &*x) {
                    if !harmless_code(s, k == "logMessage") {
                        *x = Json::from("STATE.name");
                    }
                } else {
                    tame_json(x);
                }
            }
        }
        Json::Array(a) => a.iter_mut().for_each(tame_json),
        _ => {}
    }
}

fn tame_dap(line: &str) -> String {
    match serde_json::from_str::<Json>(line) {
        Ok(mut v) => {
            tame_json(&mut v);
            v.to_string()
        }
        // Not JSON: the session must answer it with an error response.
        Err(_) => line.to_string(),
    }
}

fn tame_mobdebug(line: &str) -> String {
    let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
    match cmd {
        "EXIT" => "EXIT-renamed".to_string(),
        "EXEC" => {
            // split where the debugger splits (the params are a comment to the line's end,
            // as Lua's lexer reads the line: all the code is in the chunk)
            let (chunk, params) = match mdline::params_comment(rest) {
                Some((i, _)) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let chunk = chunk.trim_start_matches("return ");
            let chunk = if harmless_code(chunk, false) {
                chunk
            } else {
                "STATE.name"
            };
            // params pass as they are: the debugger reads them as data, never runs them
            format!("EXEC return {chunk}{params}")
        }
        "SETW" if !harmless_code(rest, false) => "SETW STATE.name".to_string(),
        _ => line.to_string(),
    }
}

/// Runs one session; `mobdebug` picks the protocol.
pub fn run(data: &[u8], mobdebug: bool) {
    let text = String::from_utf8_lossy(data);
    let mut lines: Vec<&str> = text.split('\n').filter(|l| !l.is_empty()).collect();
    lines.truncate(64);
    let (first, second): (Vec<&str>, Vec<&str>) = match lines.iter().position(|l| *l == "--") {
        Some(i) => (lines[..i].to_vec(), lines[i + 1..].to_vec()),
        None => (lines.clone(), lines.clone()),
    };
    let tame = |l: &&str| {
        if mobdebug {
            tame_mobdebug(l)
        } else {
            tame_dap(l)
        }
    };
    let first: Vec<String> = first.iter().map(tame).collect();
    let second: Vec<String> = second.iter().map(tame).collect();

    harness(|h| {
        let before: String = h.snapshot.call(()).expect("snapshot");
        let id = h.link.new_id();
        let (out_tx, out_rx) = outbox::channel();
        h.link.send(Incoming::Connected {
            id,
            out: out_tx,
            mobdebug,
        });
        let second_len = second.len();
        let working = Arc::new(AtomicBool::new(false));
        let over = Arc::new(Mutex::new(false));
        h.client
            .jobs
            .send(Job {
                out_rx,
                second,
                link: h.link.clone(),
                id,
                mobdebug,
                working: working.clone(),
                over: over.clone(),
            })
            .expect("the client thread");
        for text in &first {
            h.link.send(Incoming::Message {
                id,
                text: text.clone(),
            });
        }
        debug::service(&h.lua);
        // A MobDebug program waits for the IDE's first RUN/STEP/OVER/OUT (or LOAD, which
        // runs it to its first line) before it runs at all (`wait_for_client`); a DAP
        // program runs.
        let starts = !mobdebug
            || first.iter().any(|l| {
                let cmd = l.split(' ').next().unwrap_or("");
                matches!(cmd, "RUN" | "STEP" | "OVER" | "OUT" | "LOAD")
            });
        working.store(true, Ordering::SeqCst);
        let ran = if starts {
            h.work.call::<mlua::Value>(3)
        } else {
            Ok(mlua::Value::Nil)
        };
        working.store(false, Ordering::SeqCst);
        {
            let mut over = over.lock().unwrap_or_else(|e| e.into_inner());
            *over = true;
            h.link.send(Incoming::Disconnected { id });
        }
        debug::service(&h.lua);
        // The debugger answers a flood a batch at a time, with a cooldown between batches
        // (the runtime's loop calls it again): so does the harness until the client is gone.
        let (got, sent) = loop {
            match h.client.results.recv_timeout(Duration::from_millis(5)) {
                Ok(r) => break r,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => debug::service(&h.lua),
                Err(e) => panic!("the client's report: {e}"),
            }
        };
        if std::env::var_os("LUVIT_FUZZ_DEBUG").is_some() {
            eprintln!("stopped: {sent}; the client got: {got:#?}");
        }
        let set_variable = got
            .iter()
            .any(|m| m.contains("\"command\":\"setVariable\"") && m.contains("\"success\":true"));
        // A setVariable may give the program a value it cannot use (`t = 5` in the loop that
        // fills `t`): its own error, raised at one of its lines, is then a fair outcome (fuzz
        // finding dap_set_variable_can_break_the_program).
        let own_error =
            matches!(&ran, Err(mlua::Error::RuntimeError(m)) if m.starts_with("/fuzz/prog.lua:"));
        assert!(
            ran.is_ok() || (set_variable && own_error),
            "work() failed under the debugger: {ran:?}"
        );
        if !mobdebug {
            let responses = got
                .iter()
                .filter(|m| m.contains("\"type\":\"response\""))
                .count();
            let want = first.len() + if sent { second_len } else { 0 };
            assert_eq!(
                responses, want,
                "{want} messages got {responses} responses: {got:#?}"
            );
        }
        let after: String = h.snapshot.call(()).expect("snapshot");
        if !set_variable {
            assert_eq!(before, after, "the program's state changed: {got:#?}");
        }
    })
}
