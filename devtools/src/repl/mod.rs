//! The REPL: `luvit` with no script on a terminal, or `luvit -i`.
//!
//! Two threads. The prompt thread (`editor.rs`) runs rustyline's `readline`; the Lua thread
//! keeps running the event loop, and gets each line through the loop's inbox (the runtime's
//! [`Host::post`]). The session (`session.rs`) lives on the Lua thread: it compiles input,
//! runs each entry in a coroutine, prints results and asks for the next line only once the
//! entry is done (an entry may sleep in a coroutine while timers fire). Program output goes
//! through a pseudo-terminal to rustyline's external printer (`output.rs`), so it appears
//! above the prompt; Ctrl-C interrupts running code through a count hook (`interrupt.rs`).
//!
//! This crate knows nothing of luvit's modules: the runtime hands over what is needed.

mod commands;
mod complete;
mod editor;
mod helper;
mod interrupt;
mod lex;
mod output;
mod rewrite;
mod session;
mod terminal;

use std::path::PathBuf;
use std::sync::Arc;

use mlua::{Function, Lua, Table};

/// Runs a closure on the Lua thread soon (through the event loop's inbox); callable from any
/// thread.
pub type Post = Arc<dyn Fn(Box<dyn FnOnce(&Lua) + Send>) + Send + Sync>;

/// What the runtime gives the REPL.
pub struct Host {
    pub post: Post,
    /// The main Lua state (for the interrupt hook).
    pub main_state: *mut mlua::ffi::lua_State,
    /// `dump(value) -> string`: how results are shown (luvit's `p` formatting).
    pub dump: Function,
    /// `module(name)`: the module `require(name)` would return if it is loaded (or a
    /// built-in one, which runs no user code), else nil. For completion.
    pub module: Function,
    /// Where the prompt's globals live (`None`: `_G`; `-i app.lua`: the script's environment).
    pub scope: Option<Table>,
    /// `keepAlive(on)`: holds the event loop open while the REPL is.
    pub keep_alive: Function,
    /// `exit(code)`: ends the process the runtime's way (exit event, flushing).
    pub exit: Function,
    /// The first line printed.
    pub greeting: String,
    /// Built-in module names, for completion inside `require('`.
    pub modules: Vec<String>,
    /// Ctrl-C may interrupt running code with a hook (false when the debugger owns the hook).
    pub interrupt_hook: bool,
    /// Whether the loop is inside a callback right now (a busy callback is interrupted by
    /// Ctrl-C at the prompt). Called from a signal handler: it must only read an atomic.
    pub in_callback: fn() -> bool,
    /// The history file (`None`: keep no history).
    pub history: Option<PathBuf>,
}

/// Opens the REPL on the Lua thread: prints the greeting and asks for the first line. Returns
/// at once; the session runs as the event loop delivers lines, until `.exit` or Ctrl-D.
pub fn start(lua: &Lua, host: Host) -> mlua::Result<()> {
    session::start(lua, host)
}

/// `$HOME/.luvit_history`, if there is a home.
pub fn default_history() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".luvit_history"))
}
