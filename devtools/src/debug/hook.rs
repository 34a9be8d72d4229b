//! The raw LuaJIT hook and the ways to reach the Lua thread while it runs.
//!
//! LuaJIT has one hook for all coroutines, set here through the C API (not mlua's hook, which
//! is per thread). Which events it asks for is decided by the debugger after every event:
//! nothing at all with no breakpoint and no step; call/return events while breakpoints exist, to
//! switch line events on only inside functions whose source has one; line events while
//! stepping or pausing. A transport thread that needs the Lua thread's attention sends it
//! `SIGURG`, whose handler arms a count hook (as luajit.c does for Ctrl-C): the next Lua
//! instruction, even in a compiled loop (LuaJIT is built with `LUAJIT_ENABLE_CHECKHOOK`),
//! enters the debugger.

use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use mlua::ffi::{self, lua_Debug, lua_State};

/// The main Lua state (any state of the global state would do for `lua_sethook`).
static MAIN: AtomicPtr<lua_State> = AtomicPtr::new(std::ptr::null_mut());
/// The Lua thread's pthread id, for `pthread_kill`.
static LUA_THREAD: AtomicUsize = AtomicUsize::new(0);
/// Messages are waiting for the Lua thread.
pub static PENDING: AtomicBool = AtomicBool::new(false);
/// The Lua thread is inside debugger code (setting hooks, stopped): the signal must not touch
/// the hook then; the pending flag is looked at when that code is done.
pub static BUSY: AtomicBool = AtomicBool::new(false);

/// The function LuaJIT calls for every hook event.
pub type Handler = unsafe extern "C-unwind" fn(*mut lua_State, *mut lua_Debug);

static HANDLER: AtomicUsize = AtomicUsize::new(0);

/// Records the main state and the calling (Lua) thread, and installs the `SIGURG` handler.
pub fn install(main: *mut lua_State, handler: Handler) {
    MAIN.store(main, Ordering::SeqCst);
    HANDLER.store(handler as usize, Ordering::SeqCst);
    // SAFETY: pthread_self has no preconditions; the handler below only calls lua_sethook on the
    // thread it interrupts, as luajit.c's SIGINT handler does.
    unsafe {
        LUA_THREAD.store(libc::pthread_self() as usize, Ordering::SeqCst);
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGURG, &sa, std::ptr::null_mut());
    }
}

extern "C" fn on_signal(_sig: libc::c_int) {
    if BUSY.load(Ordering::SeqCst) || !PENDING.load(Ordering::SeqCst) {
        return;
    }
    let main = MAIN.load(Ordering::SeqCst);
    let h = HANDLER.load(Ordering::SeqCst);
    if main.is_null() || h == 0 {
        return;
    }
    // SAFETY: we run on the Lua thread (pthread_kill targets it) outside debugger code;
    // lua_sethook is what LuaJIT's own interrupt handler calls from a signal.
    unsafe {
        let handler: Handler = std::mem::transmute::<usize, Handler>(h);
        let mask = ffi::lua_gethookmask(main);
        ffi::lua_sethook(main, Some(handler), mask | ffi::LUA_MASKCOUNT, 1);
    }
}

/// The main Lua state, as recorded by [`install`].
pub fn main_state() -> *mut lua_State {
    MAIN.load(Ordering::SeqCst)
}

/// From any thread: asks the Lua thread to look at its messages at the next Lua instruction.
pub fn interrupt() {
    PENDING.store(true, Ordering::SeqCst);
    let t = LUA_THREAD.load(Ordering::SeqCst);
    if t != 0 {
        // SAFETY: the id was taken from the live Lua thread, which lives as long as the process.
        unsafe {
            libc::pthread_kill(t as libc::pthread_t, libc::SIGURG);
        }
    }
}

/// Sets the hook's events (0 removes it). Call on the Lua thread only.
pub fn set_mask(mask: i32) {
    let main = MAIN.load(Ordering::SeqCst);
    let h = HANDLER.load(Ordering::SeqCst);
    if main.is_null() || h == 0 {
        return;
    }
    let was_busy = BUSY.swap(true, Ordering::SeqCst);
    // SAFETY: on the Lua thread, with the signal handler held off by BUSY.
    unsafe {
        if mask == 0 {
            ffi::lua_sethook(main, None, 0, 0);
        } else {
            let handler: Handler = std::mem::transmute::<usize, Handler>(h);
            let count = if mask & ffi::LUA_MASKCOUNT != 0 { 1 } else { 0 };
            ffi::lua_sethook(main, Some(handler), mask, count);
        }
    }
    BUSY.store(was_busy, Ordering::SeqCst);
}

pub fn current_mask() -> i32 {
    let main = MAIN.load(Ordering::SeqCst);
    if main.is_null() {
        return 0;
    }
    // SAFETY: reads one field of the global state.
    unsafe { ffi::lua_gethookmask(main) }
}

/// Flushes every compiled trace, so code compiled before a breakpoint existed runs through
/// the interpreter (where hooks fire) again.
pub fn flush_traces() {
    let main = MAIN.load(Ordering::SeqCst);
    if main.is_null() {
        return;
    }
    extern "C" {
        fn luaJIT_setmode(l: *mut lua_State, idx: libc::c_int, mode: libc::c_int) -> libc::c_int;
    }
    const LUAJIT_MODE_ENGINE: libc::c_int = 0;
    const LUAJIT_MODE_FLUSH: libc::c_int = 0x0200;
    // SAFETY: LuaJIT's documented API; called on the Lua thread outside any trace.
    unsafe {
        luaJIT_setmode(main, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_FLUSH);
    }
}

/// What the debugger needs to know about one frame.
pub struct FrameInfo<'a> {
    pub source: &'a [u8],
    pub what: &'a [u8],
    pub line: i32,
    /// The lines the function spans (a main chunk spans its whole file: 0..=i32::MAX).
    pub first: i32,
    pub last: i32,
}

/// Reads source, kind and current line of the frame `ar` describes (from a hook, or filled by
/// `lua_getstack`).
///
/// # Safety
/// `l` and `ar` must be valid: `ar` handed to a hook for `l`, or filled by `lua_getstack(l)`.
pub unsafe fn frame_info<'a>(l: *mut lua_State, ar: *mut lua_Debug) -> Option<FrameInfo<'a>> {
    if ffi::lua_getinfo(l, c"Sl".as_ptr(), ar) == 0 {
        return None;
    }
    read_info(ar)
}

/// Like [`frame_info`] without the current line (call and return events need only the
/// function's source and span, and LuaJIT computes the line from bytecode).
///
/// # Safety
/// As for [`frame_info`].
pub unsafe fn function_info<'a>(l: *mut lua_State, ar: *mut lua_Debug) -> Option<FrameInfo<'a>> {
    if ffi::lua_getinfo(l, c"S".as_ptr(), ar) == 0 {
        return None;
    }
    read_info(ar)
}

unsafe fn read_info<'a>(ar: *mut lua_Debug) -> Option<FrameInfo<'a>> {
    let source = if (*ar).source.is_null() {
        &b""[..]
    } else {
        CStr::from_ptr((*ar).source).to_bytes()
    };
    let what = if (*ar).what.is_null() {
        &b""[..]
    } else {
        CStr::from_ptr((*ar).what).to_bytes()
    };
    let (first, last) = if what == b"main" {
        (0, i32::MAX)
    } else {
        ((*ar).linedefined, (*ar).lastlinedefined)
    };
    Some(FrameInfo {
        source,
        what,
        line: (*ar).currentline,
        first,
        last,
    })
}

/// The frame at `level` of `l`, if there is one.
///
/// # Safety
/// `l` must be a live state of the debugged Lua state.
pub unsafe fn level_info<'a>(
    l: *mut lua_State,
    level: i32,
    ar: &mut lua_Debug,
) -> Option<FrameInfo<'a>> {
    if ffi::lua_getstack(l, level, ar) == 0 {
        return None;
    }
    function_info(l, ar)
}

/// How many frames `l` has (its stack depth), counted from level 0.
///
/// # Safety
/// `l` must be a live state of the debugged Lua state.
pub unsafe fn depth(l: *mut lua_State) -> i32 {
    let mut ar: lua_Debug = std::mem::zeroed();
    let mut n = 0;
    while ffi::lua_getstack(l, n, &mut ar) != 0 {
        n += 1;
    }
    n
}
