//! The CPU profiler: LuaJIT's sampling profiler (`luaJIT_profile_start`, declared here since
//! mlua-sys does not) calls back at a safe point in the VM every interval; each sample records
//! the Lua stack (root first) and is weighted by the CPU time the Lua thread used since the
//! previous sample (`CLOCK_THREAD_CPUTIME_ID`: the profiler's timer counts every thread's CPU,
//! the weight counts ours). Time the thread spent parked shows as `(idle)`, samples taken while
//! the garbage collector ran as `(garbage collector)`.
//!
//! A sample's stack reads, root first: the loop callback it runs under and that callback's
//! origin chain as synthetic frames (`[setTimeout] /app.lua:12`, from [`CpuOrigins`], an
//! observer of the dispatch point), the main thread's frames, and when a coroutine runs, a
//! `[coroutine]` boundary and the coroutine's frames.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::ffi::lua_State;

use crate::observer::{CallbackRun, LoopObserver, Origin};

extern "C" {
    fn luaJIT_profile_start(
        l: *mut lua_State,
        mode: *const c_char,
        cb: extern "C" fn(*mut c_void, *mut lua_State, c_int, c_int),
        data: *mut c_void,
    );
    fn luaJIT_profile_stop(l: *mut lua_State);
    fn luaJIT_profile_dumpstack(
        l: *mut lua_State,
        fmt: *const c_char,
        depth: c_int,
        len: *mut usize,
    ) -> *const c_char;
}

/// Where and how often (`--cpu-prof-dir`, `--cpu-prof-name`, `--cpu-prof-interval`).
#[derive(Clone, Debug, PartialEq)]
pub struct CpuOptions {
    pub dir: PathBuf,
    /// The base name (node's `CPU.YYYYMMDD.HHMMSS.PID.0.001.cpuprofile` when not given).
    pub name: Option<String>,
    pub interval_us: u64,
    pub format: CpuFormat,
}

/// What the profile is written as (`--cpu-prof-format`), besides `.folded` and `.svg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuFormat {
    /// Chrome's `.cpuprofile` (VS Code, DevTools, speedscope).
    CpuProfile,
    /// pprof's gzipped protobuf `.pb.gz` (`go tool pprof`, Pyroscope).
    Pprof,
}

impl CpuFormat {
    pub fn parse(name: &str) -> Option<CpuFormat> {
        match name {
            "cpuprofile" => Some(CpuFormat::CpuProfile),
            "pprof" => Some(CpuFormat::Pprof),
            _ => None,
        }
    }
}

/// The samples so far.
#[derive(Default)]
pub struct Samples {
    /// Distinct stacks, each as frames root first: (function name, chunk, line).
    pub stacks: Vec<Vec<Frame>>,
    index: HashMap<String, u32>,
    /// (stack id, microseconds of Lua-thread CPU it stands for), in order.
    pub seq: Vec<(u32, u64)>,
    pub wall_us: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    pub name: String,
    pub chunk: String,
    pub line: i32,
}

struct State {
    samples: Samples,
    last_cpu_us: u64,
    main: *mut lua_State,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
    /// The loop callbacks running now, innermost last (set by [`CpuOrigins`]).
    static ORIGINS: RefCell<Vec<Rc<Origin>>> = const { RefCell::new(Vec::new()) };
}

/// Tells the CPU profiler which loop callback runs, for the origin frames of its samples.
pub struct CpuOrigins;

impl LoopObserver for CpuOrigins {
    fn callback_started(&self, run: &CallbackRun) {
        ORIGINS.with(|o| o.borrow_mut().push(run.origin.clone()));
    }
    fn callback_finished(&self, _run: &CallbackRun, _elapsed: Duration) {
        ORIGINS.with(|o| o.borrow_mut().pop());
    }
    fn callback_relabeled(&self, origin: &Rc<Origin>) {
        ORIGINS.with(|o| {
            if let Some(top) = o.borrow_mut().last_mut() {
                *top = origin.clone();
            }
        });
    }
}

/// The synthetic frames of the innermost running callback's origin chain, root first, in
/// dumpstack's encoding.
fn origin_frames(out: &mut String) {
    ORIGINS.with(|o| {
        let o = o.borrow();
        let Some(cur) = o.last() else { return };
        let mut chain: Vec<&Origin> = cur.chain().collect();
        // A callback that schedules itself again (a polling loop) would grow the stack without
        // end: one frame stands for a run of equal origins, and only the nearest eight show.
        chain.dedup_by(|a, b| a.label() == b.label() && a.site == b.site);
        chain.truncate(8);
        for or in chain.iter().rev() {
            match &or.site {
                Some(site) => {
                    let path = site.source.strip_prefix('@').unwrap_or(&site.source);
                    out.push_str(&format!(
                        "[{}] {}:{}\u{2}\u{1}",
                        or.label(),
                        path,
                        site.line
                    ));
                }
                None => out.push_str(&format!("[{}]\u{2}\u{1}", or.label())),
            }
        }
    })
}

/// The stack of `l` in dumpstack's encoding, root first.
///
/// # Safety
/// At a profiler safe point on the Lua thread; `l` is a live state.
unsafe fn dump(l: *mut lua_State, out: &mut String) {
    // name|chunk:line per frame, root first ('p': full paths; depth < 0: outermost first)
    let fmt = c"f\x02pl\x01";
    let mut len = 0usize;
    // the returned buffer is valid until the next dumpstack call: copied at once
    let p = luaJIT_profile_dumpstack(l, fmt.as_ptr(), -200, &mut len);
    if !p.is_null() {
        out.push_str(&String::from_utf8_lossy(std::slice::from_raw_parts(
            p as *const u8,
            len,
        )));
    }
}

fn thread_cpu_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the struct we own.
    unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// A running CPU profile.
pub struct CpuProfiler {
    main: *mut lua_State,
    started: Instant,
    pub options: CpuOptions,
}

const SEP: char = '\u{1}';

extern "C" fn on_sample(_data: *mut c_void, l: *mut lua_State, _samples: c_int, vmstate: c_int) {
    let now = thread_cpu_us();
    let stack = if vmstate == b'G' as c_int {
        None
    } else {
        let main = STATE.with(|s| s.borrow().as_ref().map(|st| st.main));
        let mut text = String::new();
        origin_frames(&mut text);
        // SAFETY: called by LuaJIT at a safe point on the Lua thread; `main` is the state the
        // profiler was started on, which resumed the running coroutine `l` (or is `l`).
        unsafe {
            match main {
                Some(m) if !m.is_null() && m != l => {
                    dump(m, &mut text);
                    text.push_str("[coroutine]\u{2}\u{1}");
                    dump(l, &mut text);
                }
                _ => dump(l, &mut text),
            }
        }
        Some(text)
    };
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let Some(st) = s.as_mut() else { return };
        let weight = now.saturating_sub(st.last_cpu_us).max(1);
        st.last_cpu_us = now;
        let key = stack.unwrap_or_else(|| "(garbage collector)".to_string());
        let id = match st.samples.index.get(&key) {
            Some(id) => *id,
            None => {
                let frames = parse_stack(&key);
                st.samples.stacks.push(frames);
                let id = (st.samples.stacks.len() - 1) as u32;
                st.samples.index.insert(key, id);
                id
            }
        };
        st.samples.seq.push((id, weight));
    });
}

/// `name\x02chunk:line\x01...` to frames; a special name alone (GC) is one frame.
fn parse_stack(text: &str) -> Vec<Frame> {
    if text.starts_with('(') {
        return vec![Frame {
            name: text.to_string(),
            chunk: String::new(),
            line: 0,
        }];
    }
    text.split(SEP)
        .filter(|f| !f.is_empty())
        .map(|f| {
            let (name, place) = f.split_once('\u{2}').unwrap_or((f, ""));
            let (chunk, line) = match place.rsplit_once(':') {
                // a C function shows as its address
                Some((c, _)) if c.starts_with("0x") => ("[C]".to_string(), 0),
                Some((c, l)) => (c.to_string(), l.parse().unwrap_or(0)),
                None => (place.to_string(), 0),
            };
            let name = if name.is_empty() {
                "(anonymous)".to_string()
            } else {
                name.to_string()
            };
            Frame { name, chunk, line }
        })
        .collect()
}

impl CpuProfiler {
    /// Starts sampling the Lua state `main` (any state of it; the profiler is global).
    ///
    /// # Safety
    /// `main` is a live Lua state of this (the Lua) thread, and outlives the profiler.
    pub unsafe fn start(main: *mut lua_State, options: CpuOptions) -> CpuProfiler {
        let ms = options.interval_us.div_ceil(1000).max(1);
        STATE.with(|s| {
            *s.borrow_mut() = Some(State {
                samples: Samples::default(),
                last_cpu_us: thread_cpu_us(),
                main,
            })
        });
        let mode = std::ffi::CString::new(format!("li{ms}")).unwrap_or_default();
        // SAFETY: LuaJIT's documented API, on the Lua thread (the caller's promise); the
        // callback only touches the thread-local state above.
        luaJIT_profile_start(main, mode.as_ptr(), on_sample, std::ptr::null_mut());
        CpuProfiler {
            main,
            started: Instant::now(),
            options,
        }
    }

    /// Stops sampling and hands over what was collected.
    pub fn stop(self) -> Samples {
        // SAFETY: the state passed to start, on the Lua thread.
        unsafe {
            luaJIT_profile_stop(self.main);
        }
        let mut samples = STATE
            .with(|s| s.borrow_mut().take())
            .map(|st| st.samples)
            .unwrap_or_default();
        samples.wall_us = self.started.elapsed().as_micros() as u64;
        samples
    }
}

/// node's default name: `CPU.YYYYMMDD.HHMMSS.PID.0.SEQ` (local time).
pub fn default_name() -> String {
    super::name::dated("CPU")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumped_stacks_parse_into_frames_root_first() {
        let frames = parse_stack("main\u{2}@/a/app.lua:3\u{1}add\u{2}@/a/app.lua:7\u{1}");
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].name, "add");
        assert_eq!(frames[1].chunk, "@/a/app.lua");
        assert_eq!(frames[1].line, 7);
        assert_eq!(
            parse_stack("(garbage collector)")[0].name,
            "(garbage collector)"
        );
        assert_eq!(parse_stack("\u{2}[builtin#21]\u{1}")[0].name, "(anonymous)");
    }
}
