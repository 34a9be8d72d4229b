//! The REPL end to end: the real `luvit` binary in a pseudo-terminal (expectrl), typing as a
//! user would. Every wait is bounded; HOME points at a fresh folder so the history file is the
//! test's own.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use expectrl::session::OsSession;
use expectrl::Session;

const WAIT: Duration = Duration::from_secs(10);

fn temp_home() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "luvit-repl-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("make a temp folder");
    dir
}

/// Terminal output with escape sequences removed (colours, cursor moves, OSC strings).
fn strip_ansi(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// The REPL in a pseudo-terminal, with what it printed so far (escapes stripped).
struct Repl {
    s: OsSession,
    raw: Vec<u8>,
    /// How much of the stripped text earlier waits have consumed.
    at: usize,
}

impl Repl {
    fn send(&mut self, keys: &str) {
        self.s.write_all(keys.as_bytes()).expect("type");
        self.s.flush().expect("flush");
    }

    /// Waits for `want` after what earlier waits matched.
    fn expect(&mut self, want: &str) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        let mut buf = [0u8; 4096];
        loop {
            let text = strip_ansi(&self.raw);
            if let Some(i) = text.get(self.at..).and_then(|t| t.find(want)) {
                self.at += i + want.len();
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no {want:?} in the output after {:?}",
                    &text[self.at.min(text.len())..]
                ));
            }
            match self.s.try_read(&mut buf) {
                Ok(0) => return Err(format!("luvit ended; output: {text:?}")),
                Ok(n) => self.raw.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => return Err(format!("{e}; output: {text:?}")),
            }
        }
    }

    fn must(&mut self, want: &str) {
        if let Err(e) = self.expect(want) {
            panic!("{e}");
        }
    }

    /// Types `line` and Enter, and waits for `want` in what follows the line's echo.
    fn run(&mut self, line: &str, want: &str) {
        self.send(&format!("{line}\r"));
        if let Err(e) = self.expect("\n").and_then(|()| self.expect(want)) {
            panic!("after {line:?}: {e}");
        }
    }

    fn exit(mut self) {
        self.send(".exit\r");
        self.ended();
    }

    /// Waits for the process to end.
    fn ended(&mut self) {
        let deadline = Instant::now() + WAIT;
        while self.s.get_process().is_alive().unwrap_or(false) {
            assert!(Instant::now() < deadline, "luvit did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn spawn_in(home: &Path, args: &[&str]) -> Repl {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_luvit"));
    cmd.args(args)
        .env("HOME", home)
        .env("TERM", "xterm")
        .current_dir(home);
    let s = Session::spawn(cmd).expect("spawn luvit in a pty");
    let mut r = Repl {
        s,
        raw: Vec::new(),
        at: 0,
    };
    r.must("Welcome to luvit-rs");
    r.must("> ");
    r
}

fn spawn(args: &[&str]) -> (Repl, PathBuf) {
    let home = temp_home();
    (spawn_in(&home, args), home)
}

#[test]
fn expressions_print_their_values_and_locals_persist() {
    let (mut s, _home) = spawn(&[]);
    s.run("1 + 41", "42");
    s.run("_ + 1", "43");
    s.run("'a' .. 'b', 7 * 6", "'ab'");
    s.run("local x = 5", "> ");
    s.run("x * 11", "55");
    s.run("error('boom')", "repl:1: boom");
    s.run("x + 1", "6");
    s.exit();
}

#[test]
fn a_function_over_several_lines_is_one_entry() {
    let (mut s, home) = spawn(&[]);
    s.run("function sq(n)", ">> ");
    s.run("  return n * n", ">> ");
    s.run("end", "> ");
    s.run("sq(12)", "144");
    s.exit();
    let history = std::fs::read_to_string(home.join(".luvit_history")).expect("history file");
    assert!(
        history.contains(r"function sq(n)\n  return n * n\nend"),
        "the multi-line entry is one history entry: {history:?}"
    );
}

#[test]
fn tab_completes_the_methods_of_a_luvit_class() {
    let (mut s, _home) = spawn(&[]);
    // The chain is read, not run: require('core') is the loaded module, :new() an instance.
    s.send("require('core').Emitter:new():listenerC");
    s.send("\t");
    std::thread::sleep(Duration::from_millis(300));
    s.run("('x')", "0");
    s.run("local e = require('core').Emitter:new()", "> ");
    s.run("e:on('a', print)", "> ");
    s.send("e:listenerCou");
    s.send("\t");
    std::thread::sleep(Duration::from_millis(300));
    s.run("('a') * 7", "7");
    s.exit();
}

#[test]
fn completion_runs_no_user_code() {
    let (mut s, _home) = spawn(&[]);
    s.run(
        "calls = 0 t = setmetatable({}, {__index = function() calls = calls + 1 end})",
        "> ",
    );
    s.send("t.abc.");
    s.send("\t");
    std::thread::sleep(Duration::from_millis(300));
    s.send("\x15");
    s.run("calls + 100", "100");
    s.exit();
}

#[test]
fn history_persists_across_runs() {
    let home = temp_home();
    let mut s = spawn_in(&home, &[]);
    s.run("1000 + 337", "1337");
    s.exit();
    let mut s = spawn_in(&home, &[]);
    s.send("\x1b[A\x1b[A");
    std::thread::sleep(Duration::from_millis(200));
    s.run("", "1337");
    s.exit();
}

#[test]
fn a_timer_fires_while_the_prompt_waits() {
    let (mut s, _home) = spawn(&[]);
    s.run(
        "require('timer').setTimeout(300, function() print('fired' .. '!') end)",
        "> ",
    );
    // Half a line typed when the timer fires: it is printed above and the line kept.
    s.send("12");
    s.must("fired!");
    s.must("> 12");
    s.run("3", "123");
    // A coroutine entry: timer.sleep works at the prompt.
    s.run("require('timer').sleep(50) return 'slept'", "'slept'");
    s.exit();
}

#[test]
fn ctrl_c_interrupts_a_busy_loop_and_the_repl_goes_on() {
    let (mut s, _home) = spawn(&[]);
    s.send("while true do end\r");
    std::thread::sleep(Duration::from_millis(500));
    s.send("\x03");
    s.must("interrupted");
    s.run("1 + 2", "3");
    // An entry asleep in a coroutine is abandoned.
    s.send("require('timer').sleep(60000)\r");
    std::thread::sleep(Duration::from_millis(300));
    s.send("\x03");
    s.must("Interrupted");
    s.run("2 + 2", "4");
    // A callback started from the prompt that never returns: Ctrl-C at the prompt stops it.
    s.run(
        "require('timer').setTimeout(10, function() while true do end end)",
        "> ",
    );
    std::thread::sleep(Duration::from_millis(300));
    s.send("\x03");
    s.must("interrupted");
    s.run("3 + 3", "6");
    s.exit();
}

#[test]
fn dot_load_runs_a_file_and_dot_save_writes_the_session() {
    let (mut s, home) = spawn(&[]);
    let file = home.join("lib.lua");
    std::fs::write(
        &file,
        "local base = 20\nfunction twice(n)\n  return n * 2\nend\n",
    )
    .expect("write the file");
    s.run(&format!(".load {}", file.display()), "> ");
    s.run("twice(base + 1)", "42");
    let saved = home.join("saved.lua");
    s.run(&format!(".save {}", saved.display()), "Session saved");
    s.exit();
    let text = std::fs::read_to_string(saved).expect("saved file");
    assert!(text.contains("twice(base + 1)"), "{text}");
}

#[test]
fn interactive_flag_runs_the_script_then_opens_the_repl() {
    let home = temp_home();
    std::fs::write(home.join("app.lua"), "greeting = 'hi from ' .. args[1]\n").expect("write");
    let mut s = spawn_in(&home, &["-i", "app.lua"]);
    s.run("greeting", "'hi from app.lua'");
    s.exit();
}

#[test]
fn ctrl_c_twice_on_an_empty_line_or_ctrl_d_exits() {
    let (mut s, _home) = spawn(&[]);
    s.send("12");
    s.must("> 12");
    s.send("\x03"); // only cancels the line
    std::thread::sleep(Duration::from_millis(200));
    s.run("7 * 3", "21");
    assert!(
        !strip_ansi(&s.raw).contains("To exit"),
        "Ctrl-C on a typed line only cancels it"
    );
    s.send("\x03");
    s.must("To exit, press Ctrl+C again");
    s.send("\x03");
    s.ended();
    let (mut s, _home) = spawn(&[]);
    s.send("\x04");
    s.ended();
}

#[test]
fn piped_stdin_runs_as_a_program() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"local t = {}\nfor i = 1, 3 do t[i] = i * i end\nprint(table.concat(t, ','))\n")
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1,4,9\n");
}

#[test]
fn dot_clear_resets_locals_and_the_globals_defined_at_the_prompt() {
    let (mut s, _home) = spawn(&[]);
    s.run("x_defined_here = 5", "> ");
    s.run("local y_local = 2", "> ");
    s.run("x_defined_here + y_local", "7");
    s.run(".clear", "> ");
    s.run("x_defined_here == nil and y_local == nil", "true");
    s.run("type(print)", "'function'");
    s.exit();
}

#[test]
fn dot_prof_starts_and_stops_the_profilers_and_names_the_files() {
    let (mut s, home) = spawn(&[]);
    s.run(".prof cpu start", "cpu profiler started");
    s.run("local x = 0 for i = 1, 3e7 do x = x + i % 7 end", "> ");
    s.run(".prof cpu stop", ".svg");
    s.run(".prof loop", "not running");
    s.run(".prof loop start", "loop profiler started");
    s.run(".prof loop", "luvit loop profile:");
    s.run(".prof loop stop", ".trace.json");
    s.run(".prof heap snapshot", ".heapsnapshot");
    s.run(".prof heap start", "heap profiler started");
    s.run("local t = {} for i = 1, 1e5 do t[i] = { i } end", "> ");
    s.run(".prof heap stop", ".heapprofile");
    s.run(".prof gpu start", "unknown profiler 'gpu'");
    s.run(".prof", "usage: .prof");
    s.run("1 + 1", "2");
    s.exit();
    let names: Vec<String> = std::fs::read_dir(&home)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for ext in [".cpuprofile", ".folded", ".svg"] {
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("CPU.") && n.ends_with(ext)),
            "{ext} in {names:?}"
        );
    }
    assert!(names
        .iter()
        .any(|n| n.starts_with("LOOP.") && n.ends_with(".trace.json")));
    for ext in [".heapsnapshot", ".heapprofile"] {
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("Heap.") && n.ends_with(ext)),
            "{ext} in {names:?}"
        );
    }
}

#[test]
fn runaway_recursion_and_memory_exhaustion_are_errors_and_the_session_goes_on() {
    let home = temp_home();
    // A shell caps the address space first: a runaway allocation meets a limit, not the
    // machine's memory.
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "ulimit -v 1048576 && exec \"$0\"",
        env!("CARGO_BIN_EXE_luvit"),
    ])
    .env("HOME", &home)
    .env("TERM", "xterm")
    .current_dir(&home);
    let s = Session::spawn(cmd).expect("spawn luvit in a pty");
    let mut s = Repl {
        s,
        raw: Vec::new(),
        at: 0,
    };
    s.must("Welcome to luvit-rs");
    s.must("> ");
    s.run(
        "local function f() return f() + 1 end f()",
        "stack overflow",
    );
    s.run("1 + 1", "2");
    // where it ran out: the entry's line
    s.run(
        "t = {} for i = 1, 1e9 do t[i] = string.rep('x', 2^20) .. i end",
        "repl:1: not enough memory",
    );
    s.run("t = nil collectgarbage()", "> ");
    s.run("40 + 2", "42");
    s.exit();
}
