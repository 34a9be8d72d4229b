//! The profilers' life in the process: `--cpu-prof`, `--loop-prof`, `--heap-prof` and
//! `--native-prof` start devtools' profilers on the runtime's Lua state before the program
//! runs (or `require('profiler')` starts them later), and their files are written when the
//! process exits (normally, after an uncaught error, or on SIGINT/SIGTERM).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use luvit_devtools::profile::event_loop::report;
use luvit_devtools::profile::heap::{self, sampler, sampler::HeapProfOptions};
use luvit_devtools::profile::native::{self, NativeOptions, NativeProfiler};
use luvit_devtools::profile::{cpu, write, CpuOptions, CpuProfiler, LoopOptions, LoopProfiler};
use luvit_devtools::LoopObserver;

use crate::r#loop::EventLoop;

mod control;
mod signals;

pub use control::install_control;
pub use signals::watch_signals;

thread_local! {
    static CPU: RefCell<Option<CpuProfiler>> = const { RefCell::new(None) };
    static LOOP: RefCell<Option<Rc<LoopProfiler>>> = const { RefCell::new(None) };
    static CPU_ORIGINS: RefCell<Option<Rc<dyn LoopObserver>>> = const { RefCell::new(None) };
    static NATIVE: RefCell<Option<NativeProfiler>> = const { RefCell::new(None) };
}

/// Both sample on SIGPROF, which one process can give to one handler.
pub const SIGPROF_SHARED: &str = "the CPU and native profilers both use SIGPROF: run one at a time";

/// Starts the native profiler. An error when it or the CPU profiler runs.
pub fn start_native(options: NativeOptions) -> Result<(), String> {
    if NATIVE.with(|n| n.borrow().is_some()) {
        return Err("the native profiler is already running".into());
    }
    if CPU.with(|c| c.borrow().is_some()) {
        return Err(SIGPROF_SHARED.into());
    }
    let p = NativeProfiler::start(options)?;
    NATIVE.with(|n| *n.borrow_mut() = Some(p));
    Ok(())
}

/// Stops the native profiler and writes its `.pb.gz` and `.svg`; their paths.
pub fn stop_native() -> Result<Vec<PathBuf>, String> {
    let Some(p) = NATIVE.with(|n| n.borrow_mut().take()) else {
        return Err("the native profiler is not running".into());
    };
    let options = p.options.clone();
    let (stacks, duration) = p.stop()?;
    let name = options
        .name
        .clone()
        .unwrap_or_else(|| luvit_devtools::profile::name::dated("NATIVE"));
    let name = name.strip_suffix(".pb.gz").unwrap_or(&name).to_string();
    native::write_files(&stacks, options.interval_us, duration, &options.dir, &name).map_err(|e| {
        format!(
            "luvit: cannot write the native profile to {}: {e}",
            options.dir.display()
        )
    })
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
    report::write_files(p, dir, &luvit_devtools::profile::name::dated("LOOP")).map_err(|e| {
        format!(
            "luvit: cannot write the loop profile to {}: {e}",
            dir.display()
        )
    })
}

/// Starts the CPU profiler, with the origin frames of the loop callbacks. An error when it runs.
pub fn start_cpu(el: &EventLoop, options: CpuOptions) -> Result<(), String> {
    if CPU.with(|c| c.borrow().is_some()) {
        return Err("the CPU profiler is already running".into());
    }
    if NATIVE.with(|n| n.borrow().is_some()) {
        return Err(SIGPROF_SHARED.into());
    }
    // SAFETY: the runtime's main state, on its thread; it lives until the process exits.
    let p = unsafe { CpuProfiler::start(el.main_state.0, options) };
    CPU.with(|c| *c.borrow_mut() = Some(p));
    let origins: Rc<dyn LoopObserver> = Rc::new(cpu::CpuOrigins);
    el.attach_observer(origins.clone());
    CPU_ORIGINS.with(|o| *o.borrow_mut() = Some(origins));
    Ok(())
}

/// Stops the CPU profiler and writes its files; their paths.
pub fn stop_cpu(el: Option<&EventLoop>) -> Result<Vec<PathBuf>, String> {
    let Some(p) = CPU.with(|c| c.borrow_mut().take()) else {
        return Err("the CPU profiler is not running".into());
    };
    if let (Some(el), Some(o)) = (el, CPU_ORIGINS.with(|o| o.borrow_mut().take())) {
        el.detach_observer(&o);
    }
    let options = p.options.clone();
    let samples = p.stop();
    let name = options.name.clone().unwrap_or_else(cpu::default_name);
    let name = name
        .strip_suffix(".cpuprofile")
        .unwrap_or(&name)
        .to_string();
    write::write_as(
        &samples,
        options.format,
        options.interval_us,
        &options.dir,
        &name,
    )
    .map_err(|e| {
        format!(
            "luvit: cannot write the CPU profile to {}: {e}",
            options.dir.display()
        )
    })
}

/// The main state, for the exit path (which has no event loop at hand).
static MAIN: std::sync::atomic::AtomicPtr<mlua::ffi::lua_State> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

thread_local! {
    /// The sampling heap profiler's options while it runs.
    static HEAP: RefCell<Option<HeapProfOptions>> = const { RefCell::new(None) };
}

/// Starts the sampling heap profiler (wraps the Lua allocator). An error when it runs.
pub fn start_heap(el: &EventLoop, options: HeapProfOptions) -> Result<(), String> {
    if HEAP.with(|h| h.borrow().is_some()) || sampler::running() {
        return Err("the heap profiler is already running".into());
    }
    // SAFETY: the runtime's main state, on its thread; it lives until the process exits.
    if !unsafe { sampler::start(el.main_state.0, options.interval) } {
        return Err("the heap profiler cannot start (no safe point slot left)".into());
    }
    MAIN.store(el.main_state.0, std::sync::atomic::Ordering::SeqCst);
    HEAP.with(|h| *h.borrow_mut() = Some(options));
    Ok(())
}

/// Stops the heap profiler and writes its `.heapprofile` and `.svg` (at `path`, else node's
/// default name in its directory); their paths.
pub fn stop_heap(path: Option<&Path>) -> Result<Vec<PathBuf>, String> {
    let Some(options) = HEAP.with(|h| h.borrow_mut().take()) else {
        return Err("the heap profiler is not running".into());
    };
    let main = MAIN.load(std::sync::atomic::Ordering::SeqCst);
    // SAFETY: the main state start_heap was given (set while HEAP is), on its thread.
    let Some(profile) = (unsafe { sampler::stop(main) }) else {
        return Err("the heap profiler is not running".into());
    };
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => options.dir.join(heap::default_name("Heap", "heapprofile")),
    };
    match heap::heapprofile::write_files(&profile, &path) {
        Ok(p) => {
            let svg = p.with_extension("svg");
            Ok(vec![p, svg])
        }
        Err(e) => Err(format!(
            "luvit: cannot write the heap profile {}: {e}",
            path.display()
        )),
    }
}

/// The process is ending: stop the profilers and write their files (errors on stderr); the
/// loop profiler prints its summary.
pub fn finish() {
    if HEAP.with(|h| h.borrow().is_some()) {
        if let Err(e) = stop_heap(None) {
            eprintln!("{e}");
        }
    }
    if CPU.with(|c| c.borrow().is_some()) {
        if let Err(e) = stop_cpu(None) {
            eprintln!("{e}");
        }
    }
    if NATIVE.with(|n| n.borrow().is_some()) {
        if let Err(e) = stop_native() {
            eprintln!("{e}");
        }
    }
    if let Some(p) = LOOP.with(|l| l.borrow_mut().take()) {
        match write_loop(&p, None) {
            Ok(files) => eprint!("{}", report::summary(&p, &files)),
            Err(e) => eprintln!("{e}"),
        }
    }
}
