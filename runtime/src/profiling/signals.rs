//! SIGINT and SIGTERM while profiling: the files are written before the process ends.

use std::sync::atomic::{AtomicI32, Ordering};

use luvit_devtools::profile::safepoint;

use crate::runtime::Runtime;

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
        super::finish();
        std::process::exit(128 + signum);
    }
}
