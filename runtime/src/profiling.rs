//! `--cpu-prof`: starts devtools' CPU profiler on the runtime's Lua state before the program
//! runs and writes its files when the process exits (normally or after an uncaught error).

use std::cell::RefCell;

use luvit_devtools::profile::{cpu, write, CpuOptions, CpuProfiler};

use crate::runtime::Runtime;

thread_local! {
    static CPU: RefCell<Option<CpuProfiler>> = const { RefCell::new(None) };
}

/// Starts sampling now.
pub fn start_cpu(rt: &Runtime, options: CpuOptions) {
    // SAFETY: the runtime's main state, on its thread; it lives until the process exits.
    let p = unsafe { CpuProfiler::start(rt.el.main_state.0, options) };
    CPU.with(|c| *c.borrow_mut() = Some(p));
}

/// The process is ending: stop the profiler and write its files (errors on stderr).
pub fn finish() {
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
