//! The profilers' life in the process: `--cpu-prof` and `--loop-prof` start devtools'
//! profilers on the runtime's Lua state before the program runs (or `require('profiler')`
//! starts them later), and their files are written when the process exits (normally, after an
//! uncaught error, or on SIGINT/SIGTERM).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use luvit_devtools::profile::event_loop::report;
use luvit_devtools::profile::{cpu, write, CpuOptions, CpuProfiler, LoopOptions, LoopProfiler};
use luvit_devtools::LoopObserver;

use crate::r#loop::EventLoop;
use crate::runtime::Runtime;

thread_local! {
    static CPU: RefCell<Option<CpuProfiler>> = const { RefCell::new(None) };
    static LOOP: RefCell<Option<Rc<LoopProfiler>>> = const { RefCell::new(None) };
}

/// A profile directory must exist and be writable, checked before the program runs.
pub fn check_dir(flag: &str, dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Err(e) => Err(format!(
            "luvit: {flag}: cannot use '{}': {e}",
            dir.display()
        )),
        Ok(m) if !m.is_dir() => Err(format!(
            "luvit: {flag}: '{}' is not a directory",
            dir.display()
        )),
        Ok(_) => {
            let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap_or_default();
            // SAFETY: access reads the NUL-terminated path we own.
            if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
                Err(format!(
                    "luvit: {flag}: cannot write to '{}': {}",
                    dir.display(),
                    std::io::Error::last_os_error()
                ))
            } else {
                Ok(())
            }
        }
    }
}

/// Starts the loop profiler and attaches it to the dispatch point. An error when one runs.
pub fn start_loop(el: &EventLoop, options: LoopOptions) -> Result<(), String> {
    if LOOP.with(|l| l.borrow().is_some()) {
        return Err("the loop profiler is already running".into());
    }
    // SAFETY: the runtime's main state, on its thread; it lives until the process exits.
    let p = Rc::new(unsafe { LoopProfiler::start(el.main_state.0, options) });
    el.attach_observer(p.clone());
    LOOP.with(|l| *l.borrow_mut() = Some(p));
    Ok(())
}

/// The running loop profiler, if any.
pub fn loop_profiler() -> Option<Rc<LoopProfiler>> {
    LOOP.with(|l| l.borrow().clone())
}

/// Stops the loop profiler and writes its files (in `dir`, or its own); returns their paths.
pub fn stop_loop(el: &EventLoop, dir: Option<&Path>) -> Result<Vec<PathBuf>, String> {
    let Some(p) = LOOP.with(|l| l.borrow_mut().take()) else {
        return Err("the loop profiler is not running".into());
    };
    let observer: Rc<dyn LoopObserver> = p.clone();
    el.detach_observer(&observer);
    write_loop(&p, dir)
}

fn write_loop(p: &LoopProfiler, dir: Option<&Path>) -> Result<Vec<PathBuf>, String> {
    let dir = dir.unwrap_or(&p.options.dir);
    report::write_files(p, dir, &cpu::dated_name("LOOP")).map_err(|e| {
        format!(
            "luvit: cannot write the loop profile to {}: {e}",
            dir.display()
        )
    })
}

/// Starts sampling now.
pub fn start_cpu(rt: &Runtime, options: CpuOptions) {
    // SAFETY: the runtime's main state, on its thread; it lives until the process exits.
    let p = unsafe { CpuProfiler::start(rt.el.main_state.0, options) };
    CPU.with(|c| *c.borrow_mut() = Some(p));
    // the origin frames: which loop callback each sample ran under
    rt.el.attach_observer(Rc::new(cpu::CpuOrigins));
}

/// The process is ending: stop the profilers and write their files (errors on stderr); the
/// loop profiler prints its summary.
pub fn finish() {
    finish_cpu();
    if let Some(p) = LOOP.with(|l| l.borrow_mut().take()) {
        match write_loop(&p, None) {
            Ok(files) => eprint!("{}", report::summary(&p, &files)),
            Err(e) => eprintln!("{e}"),
        }
    }
}

fn finish_cpu() {
    let Some(p) = CPU.with(|c| c.borrow_mut().take()) else {
        return;
    };
    let options = p.options.clone();
    let samples = p.stop();
    let name = options.name.clone().unwrap_or_else(cpu::default_name);
    let name = name
        .strip_suffix(".cpuprofile")
        .unwrap_or(&name)
        .to_string();
    if let Err(e) = write::write_all(&samples, &options.dir, &name) {
        eprintln!(
            "luvit: cannot write the CPU profile to {}: {e}",
            options.dir.display()
        );
    }
}

/// The profilers keep their files when SIGINT or SIGTERM ends the program (node loses them):
/// the files are written, then the process ends as the signal would have ended it, unless the
/// program handles that signal itself. Two paths, since the Lua thread is either parked in the
/// loop (a task on the loop hears the signal) or running Lua (a safe point, armed through a
/// signal to the Lua thread, stops it at the next instruction, even in a compiled loop).
pub fn watch_signals(rt: &Runtime) {
    use tokio::signal::unix::{signal, SignalKind};
    // SAFETY: the runtime's main state, on its thread, living until the process exits.
    let Some(slot) = (unsafe { safepoint::register(rt.el.main_state.0, on_safepoint) }) else {
        return;
    };
    for signum in [libc::SIGINT, libc::SIGTERM] {
        let Ok(mut stream) = signal(SignalKind::from_raw(signum)) else {
            continue;
        };
        rt.el.spawn_local(async move {
            while stream.recv().await.is_some() {
                on_signal(signum);
            }
        });
        // SAFETY: the action stores an atomic and sends a signal (pthread_kill is
        // async-signal-safe), from whichever thread the kernel picked.
        let _ = unsafe {
            signal_hook_registry::register(signum, move || {
                SIGNALLED.store(signum, Ordering::SeqCst);
                safepoint::poke(slot);
            })
        };
    }
}

use std::sync::atomic::{AtomicI32, Ordering};

use luvit_devtools::profile::safepoint;

static SIGNALLED: AtomicI32 = AtomicI32::new(0);

unsafe fn on_safepoint(_l: *mut mlua::ffi::lua_State) {
    let signum = SIGNALLED.swap(0, Ordering::SeqCst);
    if signum != 0 {
        on_signal(signum);
    }
}

fn on_signal(signum: i32) {
    // A program that handles the signal decides when to end; its exit writes the files.
    if !crate::modules::uv::signal::program_watches(signum) {
        finish();
        std::process::exit(128 + signum);
    }
}
