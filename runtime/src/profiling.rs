//! `--cpu-prof`: starts devtools' CPU profiler on the runtime's Lua state before the program
//! runs and writes its files when the process exits (normally or after an uncaught error).

use std::cell::RefCell;

use luvit_devtools::profile::{cpu, write, CpuOptions, CpuProfiler};

use crate::runtime::Runtime;

thread_local! {
    static CPU: RefCell<Option<CpuProfiler>> = const { RefCell::new(None) };
}

/// `--heap-prof`: starts the sampling heap profiler (written by [`finish`]).
pub fn start_heap(rt: &Runtime, options: luvit_devtools::profile::heap::sampler::HeapProfOptions) {
    MAIN_FOR_HEAP.store(rt.el.main_state.0, Ordering::SeqCst);
    // SAFETY: the runtime's main state, on its thread; it lives until the process exits.
    unsafe { crate::modules::profiler::heap::start_cli(rt.el.main_state.0, options) };
}

static MAIN_FOR_HEAP: AtomicPtr<mlua::ffi::lua_State> = AtomicPtr::new(std::ptr::null_mut());

/// Starts sampling now.
pub fn start_cpu(rt: &Runtime, options: CpuOptions) {
    // SAFETY: the runtime's main state, on its thread; it lives until the process exits.
    let p = unsafe { CpuProfiler::start(rt.el.main_state.0, options) };
    CPU.with(|c| *c.borrow_mut() = Some(p));
}

/// The process is ending: stop the profiler and write its files (errors on stderr).
pub fn finish() {
    // SAFETY: the main state start_heap stored (or null: nothing to do), on the Lua thread.
    unsafe { crate::modules::profiler::heap::finish_cli(MAIN_FOR_HEAP.load(Ordering::SeqCst)) };
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

/// `--cpu-prof` keeps the profile when SIGINT or SIGTERM ends the program (node loses it): the
/// files are written, then the process ends as the signal would have ended it, unless the
/// program handles that signal itself. Two paths, since the Lua thread is either parked in the
/// loop (a task on the loop hears the signal) or running Lua (a count hook armed from the
/// signal handler, as luajit.c does for Ctrl-C, stops it at the next instruction, even in a
/// compiled loop).
pub fn watch_signals(rt: &Runtime) {
    use tokio::signal::unix::{signal, SignalKind};
    MAIN.store(rt.el.main_state.0, Ordering::SeqCst);
    for signum in [libc::SIGINT, libc::SIGTERM] {
        let Ok(mut stream) = signal(SignalKind::from_raw(signum)) else {
            continue;
        };
        rt.el.spawn_local(async move {
            while stream.recv().await.is_some() {
                on_signal(signum);
            }
        });
        // SAFETY: the action only stores atomics and calls lua_sethook (async-signal-safe
        // enough for LuaJIT's own interrupt handler).
        let _ = unsafe {
            signal_hook_registry::register(signum, move || {
                SIGNALLED.store(signum, Ordering::SeqCst);
                let main = MAIN.load(Ordering::SeqCst);
                if !main.is_null() {
                    mlua::ffi::lua_sethook(main, Some(on_hook), mlua::ffi::LUA_MASKCOUNT, 1);
                }
            })
        };
    }
}

use std::sync::atomic::{AtomicI32, AtomicPtr, Ordering};

static MAIN: AtomicPtr<mlua::ffi::lua_State> = AtomicPtr::new(std::ptr::null_mut());
static SIGNALLED: AtomicI32 = AtomicI32::new(0);

unsafe extern "C-unwind" fn on_hook(l: *mut mlua::ffi::lua_State, _ar: *mut mlua::ffi::lua_Debug) {
    mlua::ffi::lua_sethook(l, None, 0, 0);
    let signum = SIGNALLED.swap(0, Ordering::SeqCst);
    if signum != 0 {
        on_signal(signum);
    }
}

fn on_signal(signum: i32) {
    finish();
    if !crate::modules::uv::signal::program_watches(signum) {
        std::process::exit(128 + signum);
    }
}
