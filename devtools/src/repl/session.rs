//! The session on the Lua thread: input lines from the prompt thread become entries (dot
//! commands, or Lua: an expression's values are printed, statements run, an unfinished chunk
//! waits for more lines), each entry runs in a coroutine of its own, and the next line is
//! asked for when it is done. Also answers completion requests.

use std::cell::{Cell, RefCell};
use std::io::Write as _;
use std::rc::Rc;
use std::sync::mpsc::Sender;

use mlua::{Function, Lua, MultiValue, Table, Thread, Value};

use super::commands::{self, Command};
use super::complete::{Context, Step};
use super::editor::{self, Reply, Request};
use super::rewrite::{rewrite_locals, DECLARE};

/// The name an expression entry passes its values through (see `repl.lua`).
const VALUES: &str = "__repl_values__";
use super::{interrupt, output::Capture, terminal, Host};

/// What an entry compiled to.
enum Compiled {
    Ready(Function, bool),
    Incomplete,
    Error(String),
}

/// The entry running now.
struct Running {
    /// Kept alive while the interrupt hook may look at it.
    _thread: Thread,
    history: String,
    saved: String,
    expr: bool,
    generation: u64,
}

pub struct Session {
    host: Host,
    lib: Table,
    requests: Sender<Request>,
    prompt_thread: RefCell<Option<std::thread::JoinHandle<()>>>,
    color: bool,
    buffer: RefCell<String>,
    editor_mode: Cell<bool>,
    running: RefCell<Option<Running>>,
    generation: Cell<u64>,
    ctrl_c_once: Cell<bool>,
    /// Every input run, for `.save`.
    inputs: RefCell<Vec<String>>,
}

fn of(lua: &Lua) -> Option<Rc<Session>> {
    lua.app_data_ref::<Rc<Session>>().map(|s| s.clone())
}

pub fn start(lua: &Lua, host: Host) -> mlua::Result<()> {
    let config = lua.create_table()?;
    config.set("declare", DECLARE)?;
    config.set("values", VALUES)?;
    config.set("chunk", "=repl")?;
    config.set("scope", host.scope.clone())?;
    config.set("module", host.module.clone())?;
    let lib: Table = lua
        .load(include_str!("repl.lua"))
        .set_name("=repl-internal")
        .call(config)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let setup = editor::Setup {
        post: host.post.clone(),
        history: host.history.clone(),
        deliver: on_reply,
    };
    let (handle, sink, _tty) = editor::spawn(setup, rx).map_err(mlua::Error::external)?;
    let capture = match sink {
        Some(sink) => Capture::start(sink).unwrap_or(None),
        None => None,
    };
    let color = capture.is_some();
    terminal::guard(capture);
    let post = host.post.clone();
    interrupt::set_busy_probe(host.in_callback);
    interrupt::install(
        host.main_state,
        host.interrupt_hook,
        Box::new(move || post(Box::new(on_interrupt))),
    )
    .map_err(mlua::Error::external)?;
    host.keep_alive.call::<()>(true)?;
    let session = Rc::new(Session {
        host,
        lib,
        requests: tx,
        prompt_thread: RefCell::new(Some(handle)),
        color,
        buffer: RefCell::new(String::new()),
        editor_mode: Cell::new(false),
        running: RefCell::new(None),
        generation: Cell::new(0),
        ctrl_c_once: Cell::new(false),
        inputs: RefCell::new(Vec::new()),
    });
    lua.set_app_data(session.clone());
    session.out(&session.host.greeting);
    session.prompt(None);
    Ok(())
}

/// A reply from the prompt thread, on the Lua thread.
fn on_reply(lua: &Lua, reply: Reply) {
    if let Some(s) = of(lua) {
        s.reply(lua, reply);
    }
}

/// Ctrl-C while an entry runs: one suspended in a coroutine is abandoned.
fn on_interrupt(lua: &Lua) {
    let Some(s) = of(lua) else { return };
    let r = s.running.borrow_mut().take();
    if let Some(r) = r {
        interrupt::set_entry(std::ptr::null_mut());
        s.err("Interrupted (the entry was waiting; its coroutine is left suspended)");
        s.done(r.history, r.saved);
    }
}

/// The names that complete `ctx` (unsorted), read without calling any Lua function of the user.
pub fn complete(lua: &Lua, ctx: &Context) -> Vec<String> {
    let Some(s) = of(lua) else { return vec![] };
    s.complete_names(lua, ctx).unwrap_or_default()
}

impl Session {
    fn out(&self, text: &str) {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{text}");
        let _ = o.flush();
    }

    fn err(&self, text: &str) {
        let mut e = std::io::stderr().lock();
        let _ = if self.color {
            writeln!(e, "\x1b[31m{text}\x1b[0m")
        } else {
            writeln!(e, "{text}")
        };
        let _ = e.flush();
    }

    /// Asks for the next line once all output so far is on the screen.
    fn prompt(&self, history: Option<String>) {
        terminal::sync();
        if let Some(c) = terminal::capture() {
            c.update_size();
        }
        let prompt = if self.editor_mode.get() {
            ""
        } else if self.buffer.borrow().is_empty() {
            "> "
        } else {
            ">> "
        };
        let _ = self.requests.send(Request::Read { prompt, history });
    }

    /// An entry is finished: it goes to the history (and `.save`'s list) and the prompt returns.
    fn done(&self, history: String, saved: String) {
        if !saved.trim().is_empty() {
            self.inputs.borrow_mut().push(saved);
        }
        self.prompt(Some(history));
    }

    fn reply(self: &Rc<Self>, lua: &Lua, reply: Reply) {
        match reply {
            Reply::Line(line) => {
                self.ctrl_c_once.set(false);
                if self.editor_mode.get() {
                    let mut b = self.buffer.borrow_mut();
                    b.push_str(&line);
                    b.push('\n');
                    drop(b);
                    self.prompt(None);
                } else if self.buffer.borrow().is_empty() && commands::parse(&line).is_some() {
                    if let Some(cmd) = commands::parse(&line) {
                        self.command(lua, cmd, line);
                    }
                } else {
                    self.line(lua, line);
                }
            }
            Reply::Interrupted { typed } => {
                let pending = typed || !self.buffer.borrow().is_empty() || self.editor_mode.get();
                self.buffer.borrow_mut().clear();
                self.editor_mode.set(false);
                if pending {
                    self.ctrl_c_once.set(false);
                    self.prompt(None);
                } else if self.ctrl_c_once.replace(true) {
                    self.exit(lua, 0);
                } else {
                    self.out("(To exit, press Ctrl+C again or Ctrl+D or type .exit)");
                    self.prompt(None);
                }
            }
            Reply::Eof => {
                if self.editor_mode.replace(false) {
                    let entry = std::mem::take(&mut *self.buffer.borrow_mut());
                    self.whole(lua, entry.clone(), entry);
                } else {
                    self.exit(lua, 0);
                }
            }
            Reply::Failed(e) => {
                self.err(&format!("luvit: the prompt failed: {e}"));
                self.exit(lua, 1);
            }
        }
    }

    /// A line of Lua: run the input so far if it is complete, else ask for more.
    fn line(self: &Rc<Self>, lua: &Lua, line: String) {
        let entry = {
            let mut b = self.buffer.borrow_mut();
            if !b.is_empty() {
                b.push('\n');
            }
            b.push_str(&line);
            b.clone()
        };
        if entry.trim().is_empty() {
            self.buffer.borrow_mut().clear();
            self.prompt(None);
            return;
        }
        match self.compile(lua, &entry) {
            Compiled::Incomplete => self.prompt(None),
            Compiled::Ready(f, expr) => {
                self.buffer.borrow_mut().clear();
                self.run(lua, f, expr, entry.clone(), entry);
            }
            Compiled::Error(msg) => {
                self.buffer.borrow_mut().clear();
                self.err(&msg);
                self.done(entry.clone(), String::new());
            }
        }
    }

    /// A whole input (`.load`, `.editor`): an unfinished chunk is an error.
    fn whole(self: &Rc<Self>, lua: &Lua, code: String, history: String) {
        match self.compile(lua, &code) {
            Compiled::Ready(f, expr) => self.run(lua, f, expr, history, code),
            Compiled::Incomplete => {
                self.err("the input ends in the middle of a statement");
                self.done(history, String::new());
            }
            Compiled::Error(msg) => {
                self.err(&msg);
                self.done(history, String::new());
            }
        }
    }

    fn compile(&self, lua: &Lua, entry: &str) -> Compiled {
        let compile = match self.lib.get::<Function>("compile") {
            Ok(f) => f,
            Err(e) => return Compiled::Error(e.to_string()),
        };
        let attempt = |src: String| -> Result<Function, String> {
            match compile.call::<(Option<Function>, Option<String>)>(src) {
                Ok((Some(f), _)) => Ok(f),
                Ok((None, msg)) => Err(msg.unwrap_or_default()),
                Err(e) => Err(e.to_string()),
            }
        };
        let _ = lua;
        let expr_err = match attempt(format!("return {entry}")) {
            // The same through VALUES keeps the expression's calls out of tail position.
            Ok(plain) => {
                let f = attempt(format!("return {VALUES}({entry}\n)")).unwrap_or(plain);
                return Compiled::Ready(f, true);
            }
            Err(e) => e,
        };
        match attempt(rewrite_locals(entry)) {
            Ok(f) => Compiled::Ready(f, false),
            Err(e) if at_eof(&e) || at_eof(&expr_err) => Compiled::Incomplete,
            Err(e) => Compiled::Error(e),
        }
    }

    fn run(self: &Rc<Self>, lua: &Lua, f: Function, expr: bool, history: String, saved: String) {
        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        let started = (|| -> mlua::Result<()> {
            let runner: Function = self.lib.get("runner")?;
            let thread = lua.create_thread(runner)?;
            let done = lua.create_function(move |lua, packed: Table| {
                if let Some(s) = of(lua) {
                    s.finish(generation, packed);
                }
                Ok(())
            })?;
            interrupt::set_entry(thread.state());
            *self.running.borrow_mut() = Some(Running {
                _thread: thread.clone(),
                history: history.clone(),
                saved: saved.clone(),
                expr,
                generation,
            });
            thread.resume::<MultiValue>((f, done))?;
            Ok(())
        })();
        if let Err(e) = started {
            let current = self
                .running
                .borrow()
                .as_ref()
                .is_some_and(|r| r.generation == generation);
            if current {
                self.running.borrow_mut().take();
                interrupt::set_entry(std::ptr::null_mut());
                self.err(&e.to_string());
                self.done(history, saved);
            }
        }
    }

    /// The entry's coroutine ended: print its values or its error, then prompt again.
    fn finish(&self, generation: u64, packed: Table) {
        let current = self
            .running
            .borrow()
            .as_ref()
            .is_some_and(|r| r.generation == generation);
        if !current {
            return; // abandoned by Ctrl-C
        }
        let Some(r) = self.running.borrow_mut().take() else {
            return;
        };
        interrupt::set_entry(std::ptr::null_mut());
        let n: usize = packed.raw_get("n").unwrap_or(0);
        let ok: bool = packed.raw_get(1).unwrap_or(false);
        if !ok {
            let msg: String = packed
                .raw_get::<Option<String>>(2)
                .ok()
                .flatten()
                .unwrap_or_else(|| "(error object is not a string)".into());
            self.err(&msg);
        } else if r.expr && n >= 2 {
            let shown: Vec<String> = (2..=n)
                .map(|i| {
                    let v: Value = packed.raw_get(i).unwrap_or(Value::Nil);
                    if i == 2 {
                        if let Ok(set) = self.lib.get::<Function>("setLast") {
                            let _ = set.call::<()>(v.clone());
                        }
                    }
                    self.host
                        .dump
                        .call::<String>(v)
                        .unwrap_or_else(|e| format!("<cannot show: {e}>"))
                })
                .collect();
            self.out(&shown.join("\t"));
        }
        self.done(r.history, r.saved);
    }

    fn command(self: &Rc<Self>, lua: &Lua, cmd: Command, line: String) {
        match cmd {
            Command::Help => {
                self.out(commands::HELP.trim_end());
                self.done(line, String::new());
            }
            Command::Exit => {
                let _ = self.requests.send(Request::Stop {
                    history: Some(line),
                });
                self.exit(lua, 0);
            }
            Command::Clear => {
                if let Ok(f) = self.lib.get::<Function>("clear") {
                    let _ = f.call::<()>(());
                }
                self.out("Clearing context... (the locals defined at the prompt and `_` are gone)");
                self.done(line, String::new());
            }
            Command::Editor => {
                self.out("// Entering editor mode (Ctrl+D to run, Ctrl+C to cancel)");
                self.editor_mode.set(true);
                self.prompt(Some(line));
            }
            Command::Load(path) => match std::fs::read_to_string(&path) {
                Ok(code) => self.whole(lua, code, line),
                Err(e) => {
                    self.err(&format!("cannot read {path}: {e}"));
                    self.done(line, String::new());
                }
            },
            Command::Save(path) => {
                let mut text = self.inputs.borrow().join("\n");
                text.push('\n');
                match std::fs::write(&path, text) {
                    Ok(()) => self.out(&format!("Session saved to: {path}")),
                    Err(e) => self.err(&format!("cannot write {path}: {e}")),
                }
                self.done(line, String::new());
            }
            Command::Prof(args) => {
                match crate::profile::control::repl_command(lua, &args) {
                    Ok(text) => self.out(text.trim_end()),
                    Err(e) => self.err(&e),
                }
                self.done(line, String::new());
            }
            Command::Invalid(msg) => {
                self.err(&msg);
                self.done(line, String::new());
            }
        }
    }

    /// Ends the session and the process.
    fn exit(&self, lua: &Lua, code: i32) {
        let _ = self.requests.send(Request::Stop { history: None });
        if let Some(h) = self.prompt_thread.borrow_mut().take() {
            let _ = h.join();
        }
        let _ = self.host.keep_alive.call::<()>(false);
        terminal::sync();
        let _ = lua;
        if let Err(e) = self.host.exit.call::<()>(code) {
            self.err(&e.to_string());
            std::process::exit(code);
        }
    }

    fn complete_names(&self, lua: &Lua, ctx: &Context) -> mlua::Result<Vec<String>> {
        match ctx {
            Context::Nothing => Ok(vec![]),
            Context::Module { partial } => {
                let mut names: Vec<String> = self
                    .host
                    .modules
                    .iter()
                    .filter(|m| m.starts_with(partial.as_str()))
                    .cloned()
                    .collect();
                let f: Function = self.lib.get("loadedModules")?;
                names.extend(f.call::<Vec<String>>(partial.as_str())?);
                Ok(names)
            }
            Context::Path {
                chain,
                method,
                partial,
            } => {
                let steps = lua.create_table()?;
                for (i, step) in chain.iter().enumerate() {
                    let t = match step {
                        Step::Root(n) => lua.create_sequence_from(["root", n.as_str()])?,
                        Step::Require(n) => lua.create_sequence_from(["require", n.as_str()])?,
                        Step::Field(n) => lua.create_sequence_from(["field", n.as_str()])?,
                        Step::Instance => lua.create_sequence_from(["instance"])?,
                    };
                    steps.raw_set(i + 1, t)?;
                }
                let f: Function = self.lib.get("complete")?;
                f.call::<Vec<String>>((steps, *method, partial.as_str()))
            }
        }
    }
}

/// LuaJIT's syntax error for a chunk that stops too early ends with "near '<eof>'".
fn at_eof(msg: &str) -> bool {
    msg.trim_end().ends_with("'<eof>'")
}
