//! Ctrl-C while an entry runs (REPL mode only). The terminal is out of raw mode then, so Ctrl-C
//! is a `SIGINT`. Its handler runs on the Lua thread (other threads pass the signal on) and, as
//! luajit.c does, arms a count hook: at the next Lua instruction, even inside a loop LuaJIT has
//! compiled (it is built with `LUAJIT_ENABLE_CHECKHOOK`), the hook raises "interrupted" if the
//! entry's coroutine is on the stack. It also writes a byte to a pipe, whose reader thread tells
//! the session: an entry suspended in a coroutine (`timer.sleep`) is abandoned that way.
//! Under `--inspect` the debugger owns LuaJIT's hook, so only the second path is taken.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicUsize, Ordering};

use mlua::ffi::{self, lua_Debug, lua_State};

static MAIN: AtomicPtr<lua_State> = AtomicPtr::new(std::ptr::null_mut());
/// The coroutine of the entry being run (null when none runs).
static ENTRY: AtomicPtr<lua_State> = AtomicPtr::new(std::ptr::null_mut());
static LUA_THREAD: AtomicUsize = AtomicUsize::new(0);
static USE_HOOK: AtomicBool = AtomicBool::new(false);
static PIPE: AtomicI32 = AtomicI32::new(-1);
/// `fn() -> bool`: the loop is inside a callback (set by the host).
static BUSY_PROBE: AtomicUsize = AtomicUsize::new(0);
/// The hook was armed for a busy loop callback, not for an entry.
static CALLBACK_MODE: AtomicBool = AtomicBool::new(false);

/// Tells the handler how to know that a loop callback is running.
pub fn set_busy_probe(probe: fn() -> bool) {
    BUSY_PROBE.store(probe as usize, Ordering::SeqCst);
}

fn callback_running() -> bool {
    let p = BUSY_PROBE.load(Ordering::SeqCst);
    if p == 0 {
        return false;
    }
    // SAFETY: the value was stored from a `fn() -> bool` by set_busy_probe.
    let probe: fn() -> bool = unsafe { std::mem::transmute::<usize, fn() -> bool>(p) };
    probe()
}

/// From the prompt thread (Ctrl-C at the prompt): a callback that is running now, perhaps
/// forever, is interrupted; an idle loop is left alone.
pub fn poke() {
    let t = LUA_THREAD.load(Ordering::SeqCst);
    if t != 0 && USE_HOOK.load(Ordering::SeqCst) {
        // SAFETY: the Lua thread lives as long as the process.
        unsafe {
            libc::pthread_kill(t as libc::pthread_t, libc::SIGINT);
        }
    }
}

/// Installs the `SIGINT` handler; `notify` runs on a helper thread after each Ctrl-C.
/// Call on the Lua thread.
pub fn install(
    main: *mut lua_State,
    use_hook: bool,
    notify: Box<dyn Fn() + Send>,
) -> std::io::Result<()> {
    MAIN.store(main, Ordering::SeqCst);
    USE_HOOK.store(use_hook, Ordering::SeqCst);
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills the two descriptors; sigaction gets a zeroed, filled-in struct.
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        PIPE.store(fds[1], Ordering::SeqCst);
        LUA_THREAD.store(libc::pthread_self() as usize, Ordering::SeqCst);
    }
    let read_fd = fds[0];
    std::thread::Builder::new()
        .name("repl-sigint".into())
        .spawn(move || {
            let mut b = [0u8; 16];
            loop {
                // SAFETY: reading into our buffer from our pipe.
                let n = unsafe { libc::read(read_fd, b.as_mut_ptr().cast(), b.len()) };
                if n > 0 {
                    notify();
                } else if n == 0
                    || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
                {
                    return;
                }
            }
        })?;
    // SAFETY: installing a handler that only does async-signal-safe work (atomics,
    // pthread_kill, write, and lua_sethook as luajit.c does).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigint as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
    }
    Ok(())
}

/// Records the coroutine the current entry runs in (null: none).
pub fn set_entry(co: *mut lua_State) {
    ENTRY.store(co, Ordering::SeqCst);
}

extern "C" fn on_sigint(_sig: libc::c_int) {
    let lua_thread = LUA_THREAD.load(Ordering::SeqCst);
    // SAFETY: pthread_self/pthread_kill/write are async-signal-safe; the Lua thread lives as
    // long as the process.
    unsafe {
        if libc::pthread_self() as usize != lua_thread {
            libc::pthread_kill(lua_thread as libc::pthread_t, libc::SIGINT);
            return;
        }
        let main = MAIN.load(Ordering::SeqCst);
        let entry = !ENTRY.load(Ordering::SeqCst).is_null();
        let callback = !entry && callback_running();
        if USE_HOOK.load(Ordering::SeqCst) && !main.is_null() && (entry || callback) {
            CALLBACK_MODE.store(callback, Ordering::SeqCst);
            ffi::lua_sethook(
                main,
                Some(on_hook),
                ffi::LUA_MASKCALL | ffi::LUA_MASKRET | ffi::LUA_MASKCOUNT,
                1,
            );
        }
        let fd = PIPE.load(Ordering::SeqCst);
        if fd >= 0 {
            let b = [1u8];
            libc::write(fd, b.as_ptr().cast(), 1);
        }
    }
}

/// The entry's coroutine is on the Lua stack now: running, or resuming another coroutine.
unsafe fn entry_active(l: *mut lua_State, co: *mut lua_State) -> bool {
    if l == co {
        return true;
    }
    if ffi::lua_status(co) != 0 {
        return false; // suspended in a yield, or dead by an error
    }
    let mut ar: lua_Debug = std::mem::zeroed();
    ffi::lua_getstack(co, 0, &mut ar) != 0
}

unsafe extern "C-unwind" fn on_hook(l: *mut lua_State, _ar: *mut lua_Debug) {
    ffi::lua_sethook(l, None, 0, 0);
    if CALLBACK_MODE.swap(false, Ordering::SeqCst) {
        // A loop callback that would not return: it fails as if it raised the error.
        ffi::luaL_error(l, c"interrupted".as_ptr());
    }
    let co = ENTRY.load(Ordering::SeqCst);
    if co.is_null() || !entry_active(l, co) {
        return;
    }
    ffi::luaL_error(l, c"interrupted".as_ptr());
}
