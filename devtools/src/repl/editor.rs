//! The prompt thread: rustyline's `readline`, so the Lua thread stays free to run the event
//! loop while the user types. It reads one line per [`Request`] from the session and posts a
//! [`Reply`] back to the Lua thread; it owns the history (one entry per complete input, even
//! a multi-line one; appended to the file as it goes).

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};

use rustyline::config::{Behavior, ColorMode, Config};
use rustyline::error::ReadlineError;
use rustyline::hint::HistoryHinter;
use rustyline::history::FileHistory;
use rustyline::{
    Cmd, ConditionalEventHandler, Editor, Event, EventContext, EventHandler, ExternalPrinter as _,
    KeyEvent, RepeatCount,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::helper::ReplHelper;
use super::Post;

/// What the session asks of the prompt thread.
pub enum Request {
    /// Read a line: `> `, `>> ` (continuation) or nothing (`.editor` mode); first add
    /// `history` (the input just completed) to the history.
    Read {
        prompt: &'static str,
        history: Option<String>,
    },
    /// Add this to the history and stop.
    Stop { history: Option<String> },
}

/// What the prompt thread hands the session.
pub enum Reply {
    Line(String),
    /// Ctrl-C at the prompt; `typed`: the line had text (Ctrl-C only cancels it then).
    Interrupted {
        typed: bool,
    },
    /// Ctrl-D on an empty line, or the end of input.
    Eof,
    /// The terminal failed.
    Failed(String),
}

/// How the prompt thread is set up.
pub struct Setup {
    pub post: Post,
    pub history: Option<PathBuf>,
    pub deliver: fn(&mlua::Lua, Reply),
}

/// The most entries kept in the history file.
const HISTORY_SIZE: usize = 1000;

/// Starts the prompt thread. Returns, once the terminal is open, a sink for program output
/// (rustyline's external printer, when stdin and stdout are terminals).
pub fn spawn(
    setup: Setup,
    requests: Receiver<Request>,
) -> std::io::Result<(
    std::thread::JoinHandle<()>,
    Option<super::output::Sink>,
    bool,
)> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("repl-prompt".into())
        .spawn(move || run(setup, requests, ready_tx))?;
    match ready_rx.recv() {
        Ok(Ok((sink, tty))) => Ok((handle, sink, tty)),
        Ok(Err(e)) => Err(std::io::Error::other(e)),
        Err(_) => Err(std::io::Error::other("the prompt thread ended")),
    }
}

type Ready = Result<(Option<super::output::Sink>, bool), String>;

fn run(setup: Setup, requests: Receiver<Request>, ready: Sender<Ready>) {
    // SAFETY: isatty has no preconditions.
    let tty = unsafe { libc::isatty(0) == 1 };
    let config = Config::builder()
        .behavior(if tty {
            Behavior::PreferTerm
        } else {
            Behavior::Stdio
        })
        .auto_add_history(false)
        .history_ignore_space(true)
        .color_mode(ColorMode::Enabled)
        .bracketed_paste(true);
    let config = match config.max_history_size(HISTORY_SIZE) {
        Ok(c) => c.build(),
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let mut editor: Editor<ReplHelper, FileHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            let _ = ready.send(Err(format!("cannot open the terminal: {e}")));
            return;
        }
    };
    // SAFETY: isatty has no preconditions.
    let color = tty && unsafe { libc::isatty(1) == 1 } && std::env::var_os("NO_COLOR").is_none();
    editor.set_helper(Some(ReplHelper {
        post: setup.post.clone(),
        color,
        hinter: HistoryHinter::new(),
    }));
    let typed = Arc::new(AtomicBool::new(false));
    editor.bind_sequence(
        KeyEvent::ctrl('C'),
        EventHandler::Conditional(Box::new(CtrlC(typed.clone()))),
    );
    if let Some(path) = &setup.history {
        // A missing file is the first run.
        let _ = editor.load_history(path);
    }
    let sink: Option<super::output::Sink> = if tty {
        editor.create_external_printer().ok().map(|mut p| {
            Box::new(move |s: String| {
                let _ = p.print(s);
            }) as super::output::Sink
        })
    } else {
        None
    };
    if ready.send(Ok((sink, tty))).is_err() {
        return;
    }
    let deliver = setup.deliver;
    let post = setup.post;
    let send = |reply: Reply| post(Box::new(move |lua| deliver(lua, reply)));
    for req in requests {
        let (prompt, history, stop) = match req {
            Request::Read { prompt, history } => (prompt, history, false),
            Request::Stop { history } => ("", history, true),
        };
        if let Some(entry) = history.filter(|h| !h.trim().is_empty()) {
            if editor.add_history_entry(entry).unwrap_or(false) {
                if let Some(path) = &setup.history {
                    let _ = editor.append_history(path);
                }
            }
        }
        if stop {
            return;
        }
        let reply = match editor.readline(prompt) {
            Ok(line) => Reply::Line(line),
            Err(ReadlineError::Interrupted) => {
                // A callback that never returns would never see this reply: interrupt it.
                super::interrupt::poke();
                Reply::Interrupted {
                    typed: typed.swap(false, Ordering::SeqCst),
                }
            }
            Err(ReadlineError::Eof) => Reply::Eof,
            Err(e) => Reply::Failed(e.to_string()),
        };
        send(reply);
    }
}

/// Ctrl-C still interrupts `readline`, and notes whether the line had text.
struct CtrlC(Arc<AtomicBool>);

impl ConditionalEventHandler for CtrlC {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext) -> Option<Cmd> {
        self.0.store(!ctx.line().is_empty(), Ordering::SeqCst);
        None
    }
}
