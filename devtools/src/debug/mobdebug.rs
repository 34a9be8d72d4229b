//! `--mobdebug`: MobDebug's wire protocol in front of the same debugger core, for ZeroBrane
//! Studio and any MobDebug controller.
//!
//! The program dials the IDE (which listens, default localhost:8172) and answers its
//! `\n`-terminated commands with MobDebug's replies, byte for byte (`200 OK`, `202 Paused <file>
//! <line>`, `401 Error in Expression <n>` ...). Values cross as Lua literals (`mdvalues.lua`,
//! written as serpent writes them). While the program runs, `SETB`/`DELB` take effect with no
//! reply and any other command pauses at the next line; the pending `RUN` then gets its `202`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use mlua::Value;

use super::server::{Incoming, Link};
use super::session::Flow;
use super::{Debugger, Step, StepFrom};

/// Bytes of replies and output waiting for the IDE above which its commands wait unread.
const REPLY_BACKLOG: usize = 1 << 20;

/// Dials the IDE (2 s to connect).
pub fn dial(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Relays the IDE's command lines (with `LOAD`'s payload) to the Lua side and its replies back.
pub fn spawn(stream: TcpStream, link: Arc<Link>) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let id = link.new_id();
    let (out_tx, mut out_rx) = super::outbox::channel();
    let queued = out_rx.counter();
    link.send(Incoming::Connected {
        id,
        out: out_tx,
        mobdebug: true,
    });
    let w = std::thread::Builder::new()
        .name("luvit-mobdebug-out".into())
        .spawn(move || {
            while let Some(text) = out_rx.blocking_recv() {
                if writer.write_all(text.as_bytes()).is_err() {
                    break;
                }
            }
            let _ = writer.shutdown(Shutdown::Both);
        })?;
    std::thread::Builder::new()
        .name("luvit-mobdebug-in".into())
        .spawn(move || {
            let mut reader = BufReader::new(&stream);
            loop {
                let mut line = Vec::new();
                match reader.by_ref().take(1 << 20).read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let mut text = String::from_utf8_lossy(&line).into_owned();
                while text.ends_with('\n') || text.ends_with('\r') {
                    text.pop();
                }
                // LOAD <size> <name> is followed by <size> bytes of source.
                if let Some(size) = load_size(&text) {
                    let mut payload = vec![0u8; size];
                    if reader.read_exact(&mut payload).is_err() {
                        break;
                    }
                }
                link.send(Incoming::Message { id, text });
                // Backpressure: read no more commands while the Lua side is behind, or while
                // replies (and output) pile up for an IDE that does not read them.
                while link.backed_up() || queued.load(Ordering::Relaxed) >= REPLY_BACKLOG {
                    if w.is_finished() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            let _ = stream.shutdown(Shutdown::Both);
            link.send(Incoming::Disconnected { id });
        })?;
    Ok(())
}

/// A Lua string literal for `s` on one line (what MobDebug sends for chunks that are not files).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 32 => out.push_str(&format!("\\{}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The line an error message puts itself at, when it names `chunk` (`path:12: ...` for files,
/// `[string "..."]:12: ...` for the rest).
fn error_line(chunk: &str, message: &str) -> Option<i32> {
    let rest = match chunk.strip_prefix('@') {
        Some(path) => message.strip_prefix(path)?,
        None => {
            let rest = message.strip_prefix("[string \"")?;
            &rest[rest.find("\"]")? + 2..]
        }
    };
    let digits = rest.strip_prefix(':')?.split(':').next()?;
    digits.parse().ok().filter(|&n| n > 0)
}

fn load_size(line: &str) -> Option<usize> {
    let rest = line.strip_prefix("LOAD ")?;
    let size: usize = rest.split_whitespace().next()?.parse().ok()?;
    (size <= 64 << 20).then_some(size)
}

/// `SETB <file> <line>` / `DELB <file> <line>`: (file, line).
fn file_line(rest: &str) -> Option<(&str, i32)> {
    let rest = rest.trim_end();
    let (file, line) = rest.rsplit_once(char::is_whitespace)?;
    let file = file.trim();
    if file.is_empty() {
        return None;
    }
    Some((file, line.parse().ok()?))
}

/// The state of a MobDebug session.
#[derive(Default)]
pub struct MobState {
    pub basedir: String,
    /// RUN/STEP/OVER/OUT was answered `200 OK` and waits for its `202 Paused`.
    pub pending_run: bool,
    /// A command that arrived while the program ran (it paused the program): handled at the
    /// stop, after the `202`.
    pub deferred: Option<String>,
    /// `OUTPUT stdout c|r`: the program's stdout goes to the IDE too (`c`), or only (`r`).
    pub output: Option<char>,
    /// The script, for `LOAD`'s `201 Started` when the program has no stop to name.
    pub script: Option<(String, i32)>,
    /// `LOAD` before the start: the program runs to its first line, and that stop answers
    /// `201 Started <file> <line>`.
    pub pending_load: bool,
    /// Where the program last stopped (file as sent, line), for `LOAD`.
    pub at: Option<(String, i32)>,
    /// SETW expressions (a deleted one leaves its slot, so indexes stay): checked on every
    /// line while any is set; the program stops when one is true.
    pub watches: Vec<Option<String>>,
    /// The watch that stopped the program, for `203 Paused <file> <line> <watch>`.
    pub fired: Option<usize>,
}

impl MobState {
    pub fn watching(&self) -> bool {
        self.watches.iter().any(Option::is_some)
    }
}

impl Debugger {
    /// On a line event while watches are set: the first true watch stops the program.
    ///
    /// # Safety
    /// `l` is the state the hook runs for.
    pub(super) unsafe fn md_check_watches(&self, l: *mut mlua::ffi::lua_State) -> bool {
        let watches: Vec<(usize, String)> = self
            .st
            .borrow()
            .md
            .watches
            .iter()
            .enumerate()
            .filter_map(|(i, w)| w.clone().map(|w| (i + 1, w)))
            .collect();
        if watches.is_empty() {
            return false;
        }
        let Ok(thread) = super::inspect::thread_of(&self.lua, l) else {
            return false;
        };
        for (idx, exp) in watches {
            let r: mlua::Result<(bool, Value)> = self.helper.call(
                &self.lua,
                "evaluate",
                (thread.clone(), 0, format!("return({exp})"), Value::Nil),
            );
            if let Ok((true, Value::Table(vals))) = r {
                let v: Value = vals.raw_get(1).unwrap_or(Value::Nil);
                if !matches!(v, Value::Nil | Value::Boolean(false)) {
                    self.st.borrow_mut().md.fired = Some(idx);
                    self.stop(l, 0, "watch", None, vec![]);
                    return true;
                }
            }
        }
        false
    }

    fn md_send(&self, text: &str) {
        let st = self.st.borrow();
        if let Some(c) = &st.client {
            let _ = c.out.send(text.to_string());
        }
    }

    /// A chunk name as MobDebug names files: `@` dropped, relative to BASEDIR when under it.
    pub(super) fn md_file(&self, chunk: &str) -> String {
        let Some(path) = chunk.strip_prefix('@') else {
            // Not a file (code given to loadstring, `=stdin`): MobDebug names it by its text,
            // as a quoted Lua string.
            return quote(chunk);
        };
        let basedir = self.st.borrow().md.basedir.clone();
        match path.strip_prefix(basedir.as_str()) {
            Some(rel) if !basedir.is_empty() => rel.to_string(),
            _ => path.to_string(),
        }
    }

    /// A file as the IDE names it, to the chunk name the runtime gives it.
    fn md_chunk(&self, file: &str) -> String {
        let basedir = self.st.borrow().md.basedir.clone();
        let path = if file.starts_with('/') {
            file.to_string()
        } else {
            format!("{basedir}{file}")
        };
        format!("@{}", super::session::normalize_path(&path))
    }

    /// The program stopped: the pending run command hears where, then the command that paused
    /// it runs. Its flow is the stop's: a deferred `RUN`/`STEP`/`DONE` resumes at once.
    pub(super) fn md_paused(&self, chunk: &str, line: i32) -> Flow {
        let pending = std::mem::take(&mut self.st.borrow_mut().md.pending_run);
        let fired = self.st.borrow_mut().md.fired.take();
        // An uncaught error in the main chunk stops in its dead coroutine, whose frames no
        // longer know their line (-1): the error message says where it was raised.
        let mut line = line;
        if line < 1 {
            let st = self.st.borrow();
            let message = st.paused.as_ref().and_then(|p| p.error.as_deref());
            if let Some(at) = message.and_then(|m| error_line(chunk, m)) {
                line = at;
            }
        }
        let file = self.md_file(chunk);
        let load = std::mem::take(&mut self.st.borrow_mut().md.pending_load);
        self.st.borrow_mut().md.at = Some((file.clone(), line));
        if load {
            self.md_send(&format!("201 Started {file} {line}\n"));
        } else if pending {
            match fired {
                Some(w) => self.md_send(&format!("203 Paused {file} {line} {w}\n")),
                None => self.md_send(&format!("202 Paused {file} {line}\n")),
            }
        }
        let deferred = self.st.borrow_mut().md.deferred.take();
        match deferred {
            Some(cmd) if !cmd.starts_with("SUSPEND") => self.mobdebug_command(&cmd),
            _ => Flow::Stay,
        }
    }

    /// What the program writes to stdout, for `OUTPUT stdout c|r`; true when redirected.
    pub(super) fn md_output(&self, bytes: &[u8]) -> bool {
        let mode = self.st.borrow().md.output;
        if mode.is_some() {
            let text = String::from_utf8_lossy(bytes);
            // Held to the client's budget as DAP output is: past it, dropped and counted.
            if self.output_fits(text.len()) {
                let dropped = self.take_dropped();
                if dropped > 0 {
                    let notice = super::dropped_notice(dropped, "IDE");
                    self.md_send(&format!("204 Output stdout {}\n{notice}", notice.len()));
                }
                self.md_send(&format!("204 Output stdout {}\n{text}", text.len()));
            }
        }
        mode == Some('r')
    }

    /// Handles one command line from the IDE.
    pub(super) fn mobdebug_command(&self, line: &str) -> Flow {
        let (cmd, rest) = match line.split_once(' ') {
            Some((c, r)) => (c, r),
            None => (line, ""),
        };
        let stopped = self.stopped.get() || !self.st.borrow().configured;
        if !stopped {
            // Running: breakpoints change silently; anything else pauses first.
            match cmd {
                "SETB" | "DELB" => {
                    self.md_breakpoint(cmd, rest, false);
                }
                _ => {
                    let mut st = self.st.borrow_mut();
                    st.pause = Some("pause");
                    st.md.deferred = Some(line.to_string());
                }
            }
            return Flow::Stay;
        }
        match cmd {
            "SETB" | "DELB" => {
                self.md_breakpoint(cmd, rest, true);
                Flow::Stay
            }
            "RUN" | "STEP" | "OVER" | "OUT" => self.md_run(cmd),
            "EXEC" => {
                self.md_exec(rest);
                Flow::Stay
            }
            "STACK" => {
                self.md_stack(rest);
                Flow::Stay
            }
            "LOAD" => {
                if !self.st.borrow().configured {
                    // MobDebug answers LOAD from where the program stands, stopped with its
                    // frames: the program starts now and its first line's stop answers.
                    let mut st = self.st.borrow_mut();
                    st.configured = true;
                    st.pause = Some("entry");
                    st.md.pending_load = true;
                    return Flow::Resume;
                }
                let at = self.st.borrow().md.at.clone();
                let at = at.or_else(|| {
                    let script = self.st.borrow().md.script.clone();
                    script.map(|(chunk, first)| (self.md_file(&chunk), first))
                });
                match at {
                    Some((file, line)) => self.md_send(&format!("201 Started {file} {line}\n")),
                    None => self.md_send("200 OK 0\n"),
                }
                Flow::Stay
            }
            "BASEDIR" => {
                // `local\tremote` form: the remote half is where our files are.
                let dir = rest.split('\t').next_back().unwrap_or("").trim();
                if dir.is_empty() {
                    self.md_send("400 Bad Request\n");
                } else {
                    let mut d = dir.to_string();
                    if !d.ends_with('/') {
                        d.push('/');
                    }
                    self.st.borrow_mut().md.basedir = d;
                    self.md_send("200 OK\n");
                }
                Flow::Stay
            }
            "SETW" => {
                let exp = rest.trim();
                let check: mlua::Result<Option<String>> =
                    self.helper.call(&self.lua, "md_check", exp);
                match check {
                    _ if exp.is_empty() => self.md_send("400 Bad Request\n"),
                    Ok(None) => {
                        let mut st = self.st.borrow_mut();
                        st.md.watches.push(Some(exp.to_string()));
                        let idx = st.md.watches.len();
                        drop(st);
                        self.md_send(&format!("200 OK {idx}\n"));
                    }
                    Ok(Some(err)) => {
                        self.md_send(&format!("401 Error in Expression {}\n{err}", err.len()))
                    }
                    Err(e) => {
                        let err = e.to_string();
                        self.md_send(&format!("401 Error in Expression {}\n{err}", err.len()))
                    }
                }
                Flow::Stay
            }
            "DELW" => {
                let idx: usize = rest.trim().parse().unwrap_or(0);
                let mut st = self.st.borrow_mut();
                if idx >= 1 && idx <= st.md.watches.len() {
                    st.md.watches[idx - 1] = None;
                    drop(st);
                    self.md_send("200 OK\n");
                } else {
                    drop(st);
                    self.md_send("400 Bad Request\n");
                }
                Flow::Stay
            }
            "OUTPUT" => {
                let mut parts = rest.split_whitespace();
                match (parts.next(), parts.next()) {
                    (Some("stdout"), Some(mode @ ("d" | "c" | "r"))) => {
                        self.st.borrow_mut().md.output = mode.chars().next().filter(|&m| m != 'd');
                        self.md_send("200 OK\n");
                    }
                    _ => self.md_send("400 Bad Request\n"),
                }
                Flow::Stay
            }
            "SUSPEND" => Flow::Stay,
            "DONE" => {
                // The IDE is done: the program runs on undebugged.
                self.detach();
                Flow::Resume
            }
            "EXIT" => {
                self.md_send("200 OK\n");
                std::thread::sleep(Duration::from_millis(20));
                std::process::exit(0)
            }
            _ => {
                self.md_send("400 Bad Request\n");
                Flow::Stay
            }
        }
    }

    fn md_breakpoint(&self, cmd: &str, rest: &str, reply: bool) {
        let Some((file, line)) = file_line(rest) else {
            if reply {
                self.md_send("400 Bad Request\n");
            }
            return;
        };
        if cmd == "DELB" && file == "*" && line == 0 {
            self.st.borrow_mut().bps.clear();
        } else {
            let chunk = self.md_chunk(file);
            let mut st = self.st.borrow_mut();
            if cmd == "SETB" {
                let id = st.bps.new_id();
                st.bps.add(chunk.into_bytes(), id, line);
            } else {
                st.bps.remove(chunk.as_bytes(), line);
            }
            st.line_on = true;
            st.ret_watch = true;
        }
        super::hook::flush_traces();
        if reply {
            self.md_send("200 OK\n");
        }
    }

    fn md_run(&self, cmd: &str) -> Flow {
        self.md_send("200 OK\n");
        let first = !self.st.borrow().configured;
        {
            let mut st = self.st.borrow_mut();
            st.configured = true;
            st.md.pending_run = true;
        }
        if first {
            // Before the first line: STEP stops on it, the others just run.
            if cmd != "RUN" {
                self.st.borrow_mut().pause = Some("entry");
            }
            return Flow::Resume;
        }
        let from = {
            let st = self.st.borrow();
            st.paused.as_ref().map(|p| (p.thread.clone(), p.level))
        };
        let step = match (cmd, from) {
            ("STEP", _) => Step::In,
            ("OVER" | "OUT", Some((thread, level))) => {
                let state = thread.to_pointer() as usize;
                // SAFETY: the stopped coroutine is alive (the paused state holds it).
                let depth =
                    unsafe { super::hook::depth(state as *mut mlua::ffi::lua_State) } - level;
                let from = StepFrom {
                    thread,
                    state,
                    depth,
                };
                if cmd == "OVER" {
                    Step::Over(from)
                } else {
                    Step::Out(from)
                }
            }
            _ => Step::None,
        };
        self.st.borrow_mut().step = step;
        Flow::Resume
    }

    /// The frame EXEC and STACK read: the stopped coroutine and level (None before the start).
    fn md_frame(&self) -> (Option<mlua::Thread>, i32) {
        let st = self.st.borrow();
        match st.paused.as_ref() {
            Some(p) => (Some(p.thread.clone()), p.level),
            None => (None, 0),
        }
    }

    fn md_exec(&self, rest: &str) {
        if rest.trim().is_empty() {
            self.md_send("400 Bad Request\n");
            return;
        }
        // The optional trailing `-- {params}`. The chunk keeps it (a Lua comment), as
        // MobDebug compiles the whole line: error messages name the chunk by that text.
        let params = super::mdline::trailing_params(rest);
        let (thread, level) = self.md_frame();
        // Payloads are text (the serializer escapes bytes that are not UTF-8); an error
        // message may hold any bytes: it is sent as text too.
        let r: mlua::Result<(bool, mlua::LuaString)> =
            self.helper
                .call(&self.lua, "md_exec", (thread, level, rest, params));
        match r {
            Ok((true, payload)) => {
                let payload = payload.to_string_lossy();
                self.md_send(&format!("200 OK {}\n{payload}", payload.len()))
            }
            Ok((false, err)) => {
                let err = err.to_string_lossy();
                self.md_send(&format!("401 Error in Expression {}\n{err}", err.len()))
            }
            Err(e) => {
                let err = e.to_string();
                self.md_send(&format!("401 Error in Execution {}\n{err}", err.len()))
            }
        }
    }

    fn md_stack(&self, rest: &str) {
        // The optional `-- {params}`.
        let params = super::mdline::trailing_params(rest);
        let (thread, level) = self.md_frame();
        let Some(thread) = thread else {
            // Nothing has run yet: MobDebug answers an empty stack.
            self.md_send("200 OK do local _={};return _;end\n");
            return;
        };
        let basedir = self.st.borrow().md.basedir.clone();
        let r: mlua::Result<mlua::LuaString> =
            self.helper
                .call(&self.lua, "md_stack", (thread, level, basedir, params));
        match r {
            Ok(payload) => self.md_send(&format!("200 OK {}\n", payload.to_string_lossy())),
            Err(e) => {
                let err = e.to_string();
                self.md_send(&format!("401 Error in Execution {}\n{err}", err.len()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_arguments_parse_like_mobdebugs() {
        assert_eq!(file_line("app.lua 12"), Some(("app.lua", 12)));
        assert_eq!(file_line("my dir/app.lua 3 "), Some(("my dir/app.lua", 3)));
        assert_eq!(file_line("* 0"), Some(("*", 0)));
        assert_eq!(file_line("app.lua"), None);
        assert_eq!(file_line(" 12"), None);
        assert_eq!(load_size("LOAD 42 app.lua"), Some(42));
        assert_eq!(load_size("LOAD x app.lua"), None);
        assert_eq!(load_size("LOAD 999999999999 a"), None);
    }

    #[test]
    fn error_messages_give_the_line_the_frame_lost() {
        let file = "@/app/main.lua";
        assert_eq!(error_line(file, "/app/main.lua:7: bad"), Some(7));
        assert_eq!(error_line(file, "/app/other.lua:7: bad"), None);
        assert_eq!(error_line(file, "/app/main.lua: bad"), None);
        assert_eq!(
            error_line("local q = ...", "[string \"local q = ...\"]:2: x"),
            Some(2)
        );
        assert_eq!(error_line("x", "boom"), None);
    }

    #[test]
    fn chunks_that_are_not_files_are_named_by_their_quoted_text() {
        assert_eq!(quote("print(\"a\")\nx"), r#""print(\"a\")\nx""#);
        assert_eq!(quote("a\\b\u{1}"), r#""a\\b\1""#);
    }

    /// Fuzz finding mobdebug_watches_outlive_the_session (tests/fuzz/regressions/mobdebug/):
    /// SETW watches stayed after the IDE left, evaluated on every line and inherited by the
    /// next client (the fuzz target slowed down session after session).
    #[test]
    fn mobdebug_watches_outlive_the_session() {
        // SAFETY: a test state with the debug library, as the runtime's has.
        let lua = unsafe { mlua::Lua::unsafe_new() };
        let main = std::cell::Cell::new(std::ptr::null_mut());
        // SAFETY: only reads the state pointer mlua passes.
        unsafe { lua.exec_raw::<()>((), |l| main.set(l)) }.unwrap();
        let (d, link) = super::super::start_local(&lua, main.get(), Box::new(|_| None)).unwrap();
        let (out, mut replies) = super::super::outbox::channel();
        let id = link.new_id();
        link.send(Incoming::Connected {
            id,
            out,
            mobdebug: true,
        });
        link.send(Incoming::Message {
            id,
            text: "SETW x > 1".into(),
        });
        super::super::service(&lua);
        assert_eq!(replies.try_recv().ok().as_deref(), Some("200 OK 1\n"));
        assert!(d.st.borrow().md.watching());
        link.send(Incoming::Disconnected { id });
        super::super::service(&lua);
        assert!(!d.st.borrow().md.watching(), "the watch outlived its IDE");
    }
}
