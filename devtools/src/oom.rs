//! Out-of-memory errors that say where. LuaJIT raises a failed allocation as the bare message
//! "not enough memory", with no file:line (it reads no stack for it), so a script, the REPL
//! and the debugger could not tell where the memory ran out.
//!
//! The main state's allocator is wrapped: it keeps a reserve of address space (a
//! `PROT_NONE` mapping, no memory behind it, which an address-space limit counts). When an
//! allocation fails, the reserve is given back and the allocation tried again; if it now
//! succeeds, the VM carries on and a safe point is requested ([`safepoint::request`]). At
//! the next VM instruction (in compiled code too, at the trace exit the hook forces) the
//! stack is sound to read, and the action raises `file:line: not enough memory` there, a
//! plain Lua error: `pcall` catches it, an uncaught one is reported like any other, with its
//! traceback. The reserve is taken again once as much memory has been freed.
//!
//! Installed only where an allocation can fail (an address-space or data limit, strict
//! overcommit): elsewhere Linux grants every allocation and the wrapper would cost every
//! allocation an extra call for nothing.
//!
//! What stays plain "not enough memory": an allocation bigger than the reserve, a second
//! failure before the safe point came (the reserve was spent), and code run inside a hook
//! (the debugger's evaluate while the program is stopped: no safe point fires there; the
//! debugger drops such a report, [`discard_pending`], so it never lands in the program).

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::profile::safepoint::{self, Slot};
use mlua::ffi::{self, lua_State};

/// Whether an allocation can fail at all: under an address-space or data limit, or with
/// strict overcommit. Otherwise Linux grants every allocation and a process out of memory
/// meets the OOM killer, not a failed allocation, so the wrapper (an extra call on every
/// allocation: ~3% of a keep-alive request's instructions) would buy nothing.
fn allocations_can_fail() -> bool {
    let limited = |resource| {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid out pointer.
        unsafe { libc::getrlimit(resource, &mut lim) == 0 && lim.rlim_cur != libc::RLIM_INFINITY }
    };
    limited(libc::RLIMIT_AS)
        || limited(libc::RLIMIT_DATA)
        || std::fs::read_to_string("/proc/sys/vm/overcommit_memory").is_ok_and(|s| s.trim() == "2")
}

/// `allocations_can_fail`, asked once (it reads the limits and a /proc file).
pub fn allocations_may_fail() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(allocations_can_fail)
}

/// Address space held back for the allocation that fails.
const RESERVE_BYTES: usize = 64 << 20;

static PREV_F: AtomicUsize = AtomicUsize::new(0);
/// The main state's allocator data (other states' allocations are only passed through).
static MAIN_UD: AtomicUsize = AtomicUsize::new(0);
/// The reserve's address; 0 while it is spent.
static RESERVE: AtomicUsize = AtomicUsize::new(0);
/// Bytes freed since the reserve was spent.
static FREED: AtomicUsize = AtomicUsize::new(0);
/// An allocation failed and was saved by the reserve: the safe point raises the error.
static PENDING: AtomicBool = AtomicBool::new(false);
static SLOT: OnceLock<Slot> = OnceLock::new();

fn take_reserve() -> bool {
    // SAFETY: a fresh anonymous mapping; no memory is touched.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            RESERVE_BYTES,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return false;
    }
    RESERVE.store(p as usize, Ordering::SeqCst);
    true
}

fn release_reserve() -> bool {
    let p = RESERVE.swap(0, Ordering::SeqCst);
    if p == 0 {
        return false;
    }
    // SAFETY: the mapping `take_reserve` made, unmapped once (the swap took it).
    unsafe { libc::munmap(p as *mut c_void, RESERVE_BYTES) };
    FREED.store(0, Ordering::SeqCst);
    true
}

unsafe extern "C" fn alloc(
    ud: *mut c_void,
    ptr: *mut c_void,
    osize: usize,
    nsize: usize,
) -> *mut c_void {
    // SAFETY: stored from the state's own allocator by `install`, before this was set.
    let prev = std::mem::transmute::<usize, ffi::lua_Alloc>(PREV_F.load(Ordering::Relaxed));
    let p = prev(ud, ptr, osize, nsize);
    if ud as usize != MAIN_UD.load(Ordering::Relaxed) {
        return p;
    }
    if !p.is_null() || nsize == 0 {
        if nsize < osize && !ptr.is_null() && RESERVE.load(Ordering::Relaxed) == 0 {
            let freed = FREED.fetch_add(osize - nsize, Ordering::Relaxed) + osize - nsize;
            if freed >= RESERVE_BYTES && !PENDING.load(Ordering::Relaxed) && !take_reserve() {
                FREED.store(0, Ordering::Relaxed);
            }
        }
        return p;
    }
    // Failed. A second failure before the safe point: the bare error now, and no report later.
    if PENDING.swap(false, Ordering::SeqCst) || !release_reserve() {
        return p;
    }
    let p = prev(ud, ptr, osize, nsize);
    match SLOT.get() {
        Some(slot) if !p.is_null() => {
            PENDING.store(true, Ordering::SeqCst);
            safepoint::request(*slot);
        }
        // bigger than the reserve: the bare error, and the reserve kept for the next one
        _ => {
            take_reserve();
        }
    }
    p
}

/// Forgets an allocation the reserve saved without a report yet: the debugger calls it after
/// running a client's request (an evaluate inside its hook, where no safe point fires), so
/// that memory its request ran short of is not reported later at some line of the program.
pub fn discard_pending() {
    PENDING.store(false, Ordering::SeqCst);
}

/// The safe point after a saved allocation: the error, at the first Lua frame from the top.
unsafe fn on_safepoint(l: *mut lua_State) {
    if !PENDING.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut ar: ffi::lua_Debug = std::mem::zeroed();
    let mut level = 0;
    while level < 100 && ffi::lua_getstack(l, level, &mut ar) != 0 {
        if ffi::lua_getinfo(l, c"Sl".as_ptr(), &mut ar) != 0 && ar.currentline > 0 {
            ffi::lua_pushfstring(
                l,
                c"%s:%d: not enough memory".as_ptr(),
                ar.short_src.as_ptr(),
                ar.currentline,
            );
            ffi::lua_error(l);
        }
        level += 1;
    }
    ffi::lua_pushstring(l, c"not enough memory".as_ptr());
    ffi::lua_error(l);
}

/// Wraps the main state's allocator and takes the reserve. Call once, on the Lua thread,
/// before the program runs; false when it could not (the errors stay bare).
///
/// # Safety
/// `main` is the live main state of the calling thread, living until the process exits.
pub unsafe fn install(main: *mut lua_State) -> bool {
    if SLOT.get().is_some() || !allocations_may_fail() {
        return false;
    }
    let Some(slot) = safepoint::register_raising(main, on_safepoint) else {
        return false;
    };
    let _ = SLOT.set(slot);
    if !take_reserve() {
        return false;
    }
    let mut ud = std::ptr::null_mut();
    let current = ffi::lua_getallocf(main, &mut ud);
    PREV_F.store(current as usize, Ordering::SeqCst);
    MAIN_UD.store(ud as usize, Ordering::SeqCst);
    ffi::lua_setallocf(main, alloc, ud);
    true
}
