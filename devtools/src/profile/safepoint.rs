//! Safe points: run a profiler's action on the Lua thread at its next VM instruction.
//!
//! The loop profiler (stacks of a callback that runs too long) and the heap profiler (the stack
//! that allocated a sample) both need "the Lua stack, as soon as it is safe to read it", also
//! inside code LuaJIT has compiled. LuaJIT has one hook for all coroutines; a count hook of 1
//! fires at the next instruction, even in a trace (we build LuaJIT with `LUAJIT_ENABLE_CHECKHOOK`).
//! [`request`] arms that hook on top of whatever hook is installed (the debugger's) and the hook
//! puts the previous one back before running the actions, forwarding any other event to it
//! meanwhile. [`poke`] does the same from another thread, through a signal to the Lua thread,
//! since LuaJIT's hook may only be changed from the thread that runs Lua (or a signal on it).
//!
//! Someone else replacing the hook while ours is armed (the debugger changing its mask) drops
//! the pending request; both users take samples, so a lost one costs one sample.

use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use mlua::ffi::{self, lua_Debug, lua_State};

/// What a safe point runs, on the Lua thread, with the running coroutine.
pub type Action = unsafe fn(*mut lua_State);

/// A registered action: its bit in the request mask.
#[derive(Clone, Copy, Debug)]
pub struct Slot(u32);

const MAX: usize = 8;
static ACTIONS: [AtomicUsize; MAX] = [const { AtomicUsize::new(0) }; MAX];
/// The slot whose action may raise a Lua error (run after all the others); `MAX` for none.
static RAISING: AtomicUsize = AtomicUsize::new(MAX);
static NEXT: AtomicU32 = AtomicU32::new(0);
static REQUESTED: AtomicU32 = AtomicU32::new(0);
static MAIN: AtomicPtr<lua_State> = AtomicPtr::new(std::ptr::null_mut());
static LUA_THREAD: AtomicUsize = AtomicUsize::new(0);
/// The hook that was installed when ours was armed, to put back.
static PREV_HOOK: AtomicUsize = AtomicUsize::new(0);
static PREV_MASK: AtomicI32 = AtomicI32::new(0);
static PREV_COUNT: AtomicI32 = AtomicI32::new(0);

/// The signal [`poke`] sends: a real-time one nobody else here uses (glibc keeps the first two).
fn signal_number() -> libc::c_int {
    libc::SIGRTMIN() + 3
}

/// Registers `action`; call on the Lua thread, with the main state. Returns `None` when all
/// slots are taken.
///
/// # Safety
/// `main` must be the live main state of the Lua thread calling this, living until exit.
pub unsafe fn register(main: *mut lua_State, action: Action) -> Option<Slot> {
    let i = NEXT.fetch_add(1, Ordering::SeqCst) as usize;
    if i >= MAX {
        return None;
    }
    ACTIONS[i].store(action as usize, Ordering::SeqCst);
    if MAIN.swap(main, Ordering::SeqCst).is_null() {
        LUA_THREAD.store(libc::pthread_self() as usize, Ordering::SeqCst);
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(signal_number(), &sa, std::ptr::null_mut());
    }
    Some(Slot(1 << i))
}

/// [`register`] for an action that may raise a Lua error (at most one such: the runtime's
/// out-of-memory report). The hook runs it after the other actions, so none is skipped when it
/// raises; the error is raised at the instruction the safe point stopped, as if it raised it.
///
/// # Safety
/// As for [`register`].
pub unsafe fn register_raising(main: *mut lua_State, action: Action) -> Option<Slot> {
    let slot = register(main, action)?;
    let i = slot.0.trailing_zeros() as usize;
    if RAISING
        .compare_exchange(MAX, i, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        ACTIONS[i].store(0, Ordering::SeqCst);
        return None;
    }
    Some(slot)
}

/// On the Lua thread (Lua code, an allocator, a signal handler on it): run `slot`'s action at
/// the next instruction. Async-signal-safe.
pub fn request(slot: Slot) {
    REQUESTED.fetch_or(slot.0, Ordering::SeqCst);
    arm();
}

/// From any thread: run `slot`'s action at the Lua thread's next instruction.
pub fn poke(slot: Slot) {
    REQUESTED.fetch_or(slot.0, Ordering::SeqCst);
    let t = LUA_THREAD.load(Ordering::SeqCst);
    if t != 0 {
        // SAFETY: the id was taken from the live Lua thread, which lives as long as the process.
        unsafe {
            libc::pthread_kill(t as libc::pthread_t, signal_number());
        }
    }
}

extern "C" fn on_signal(_sig: libc::c_int) {
    if REQUESTED.load(Ordering::SeqCst) != 0 {
        arm();
    }
}

fn arm() {
    let main = MAIN.load(Ordering::SeqCst);
    if main.is_null() {
        return;
    }
    // SAFETY: we are on the Lua thread (see `request`/`poke`); lua_sethook is what LuaJIT's own
    // SIGINT handler calls from a signal.
    unsafe {
        let current = ffi::lua_gethook(main);
        let ours = current.map(|h| h as usize) == Some(hook as *const () as usize);
        // Ours but without its count: a signal armed it while the hook was putting the previous
        // one back (inside that lua_sethook, between its stores of the function and the mask),
        // and that call then wrote its mask over ours. Left so, no safe point ever fired again
        // (a SIGINT'd busy loop ran on: seen once in tests/profile.rs on a loaded machine).
        if ours && ffi::lua_gethookmask(main) & ffi::LUA_MASKCOUNT != 0 {
            return;
        }
        let mask = if ours {
            // the previous owner is still the one recorded when ours was first armed
            PREV_MASK.load(Ordering::SeqCst)
        } else {
            PREV_HOOK.store(current.map_or(0, |h| h as usize), Ordering::SeqCst);
            PREV_MASK.store(ffi::lua_gethookmask(main), Ordering::SeqCst);
            PREV_COUNT.store(ffi::lua_gethookcount(main), Ordering::SeqCst);
            ffi::lua_gethookmask(main)
        };
        ffi::lua_sethook(main, Some(hook), mask | ffi::LUA_MASKCOUNT, 1);
    }
}

fn previous() -> Option<ffi::lua_Hook> {
    let p = PREV_HOOK.load(Ordering::SeqCst);
    // SAFETY: only ever stored from a live `lua_Hook` by `arm`.
    (p != 0).then(|| unsafe { std::mem::transmute::<usize, ffi::lua_Hook>(p) })
}

unsafe extern "C-unwind" fn hook(l: *mut lua_State, ar: *mut lua_Debug) {
    let prev = previous();
    if (*ar).event != ffi::LUA_HOOKCOUNT {
        // An event the previous hook asked for: it is still its to handle.
        if let Some(p) = prev {
            p(l, ar);
        }
        return;
    }
    let main = MAIN.load(Ordering::SeqCst);
    let (mask, count) = (
        PREV_MASK.load(Ordering::SeqCst),
        PREV_COUNT.load(Ordering::SeqCst),
    );
    ffi::lua_sethook(main, prev, if prev.is_some() { mask } else { 0 }, count);
    let bits = REQUESTED.swap(0, Ordering::SeqCst);
    let raising = RAISING.load(Ordering::SeqCst);
    let order = (0..MAX).filter(|&i| i != raising).chain(Some(raising));
    for i in order {
        if i >= MAX || bits & (1 << i) == 0 {
            continue;
        }
        let f = ACTIONS[i].load(Ordering::SeqCst);
        if f != 0 {
            let action = std::mem::transmute::<usize, Action>(f);
            action(l);
        }
    }
    // A count hook of the previous owner is back in place and fires on its own schedule.
}
