//! Post-mortems for afl runs (`LUVIT_FUZZ_DUMP=DIR`): in persistent mode one process runs
//! thousands of inputs, so a failure can depend on the inputs before it and its own input may
//! replay clean. The binary keeps the last [`KEEP`] inputs; on a panic or a fatal signal
//! (SIGSEGV, SIGBUS, SIGILL, SIGFPE, and SIGABRT: an allocation failure or a C library's
//! `abort()` ends the process without a panic) it writes them to `DIR/<pid>-<n>/input-<k>` (oldest
//! first, the failing one last), with a `report` (the panic message, or the signal, the
//! faulting address and instruction and a raw backtrace plus `/proc/self/maps` to symbolize
//! it with addr2line). Replaying the inputs in order with a normal build reproduces a failure
//! that needs its predecessors. Diagnostics only: the signal is re-raised as before, so afl
//! still records the crash.

use std::cell::UnsafeCell;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// How many of the latest inputs are kept.
pub const KEEP: usize = 32;

struct Ring {
    slots: UnsafeCell<[Vec<u8>; KEEP]>,
}

// SAFETY: written by the thread that runs the inputs only; read once, when the process is
// going down (a signal on that thread, or a panic, after which nothing is written again).
unsafe impl Sync for Ring {}

static RING: Ring = Ring {
    slots: UnsafeCell::new([const { Vec::new() }; KEEP]),
};
static NEXT: AtomicUsize = AtomicUsize::new(0);
static DUMPED: AtomicBool = AtomicBool::new(false);
/// The dump directory.
static DIR: OnceLock<CString> = OnceLock::new();

extern "C" {
    fn backtrace(buf: *mut *mut libc::c_void, size: libc::c_int) -> libc::c_int;
    fn backtrace_symbols_fd(buf: *const *mut libc::c_void, size: libc::c_int, fd: libc::c_int);
}

/// Installs the panic hook and the signal handlers when `LUVIT_FUZZ_DUMP` names a directory.
pub fn install() {
    let Some(dir) = std::env::var_os("LUVIT_FUZZ_DUMP") else {
        return;
    };
    let _ = std::fs::create_dir_all(&dir);
    let Ok(c) = CString::new(dir.as_encoded_bytes()) else {
        return;
    };
    let _ = DIR.set(c);
    // glibc's backtrace loads libgcc on first use: do it now, not inside a signal handler.
    let mut frames = [std::ptr::null_mut(); 4];
    // SAFETY: the buffer holds as many entries as it is told.
    unsafe { backtrace(frames.as_mut_ptr(), 4) };
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        write_dump(format!("panic: {info}\n").as_bytes());
        prev(info);
    }));
    // SAFETY: a plain sigaction install; the handler only writes files and re-raises.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_fatal as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESETHAND;
        libc::sigemptyset(&mut sa.sa_mask);
        for sig in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGILL,
            libc::SIGFPE,
            libc::SIGABRT,
        ] {
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Keeps `data` as the latest input (call before running it).
pub fn keep(data: &[u8]) {
    let i = NEXT.fetch_add(1, Ordering::Relaxed);
    // SAFETY: only the input thread writes (see Ring).
    let slot = unsafe { &mut (*RING.slots.get())[i % KEEP] };
    slot.clear();
    slot.extend_from_slice(data);
}

extern "C" fn on_fatal(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel hands a valid siginfo and ucontext to an SA_SIGINFO handler.
    let (addr, ip) = unsafe {
        let uc = ctx as *const libc::ucontext_t;
        (
            (*info).si_addr() as usize,
            (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] as usize,
        )
    };
    let mut head = [0u8; 128];
    let n = fmt_signal(&mut head, sig, addr, ip);
    // Best effort: the dump formats paths and allocates, which a fault inside malloc could
    // deadlock on (afl's timeout then ends it); worth it for the inputs it saves.
    write_dump(&head[..n]);
    // SA_RESETHAND restored the default action: returning re-runs the faulting instruction
    // (abort() raises SIGABRT again itself).
}

fn fmt_signal(out: &mut [u8], sig: i32, addr: usize, ip: usize) -> usize {
    let mut n = 0;
    let mut put = |b: &[u8]| {
        let m = b.len().min(out.len() - n);
        out[n..n + m].copy_from_slice(&b[..m]);
        n += m;
    };
    put(b"signal ");
    put(&dec(sig as u64));
    put(b" at address 0x");
    put(&hex(addr as u64));
    put(b", instruction 0x");
    put(&hex(ip as u64));
    put(b"\nbacktrace:\n");
    n
}

fn dec(mut v: u64) -> Vec<u8> {
    let mut d = vec![];
    loop {
        d.push(b'0' + (v % 10) as u8);
        v /= 10;
        if v == 0 {
            break;
        }
    }
    d.reverse();
    d
}

fn hex(v: u64) -> Vec<u8> {
    (0..16)
        .rev()
        .map(|i| b"0123456789abcdef"[((v >> (i * 4)) & 15) as usize])
        .collect()
}

/// Writes the report (plus a backtrace and the maps) and the kept inputs, once.
fn write_dump(report: &[u8]) {
    if DUMPED.swap(true, Ordering::SeqCst) {
        return;
    }
    let Some(dir) = DIR.get() else {
        return;
    };
    let sub = format!(
        "{}/{}-{}",
        dir.to_string_lossy(),
        std::process::id(),
        NEXT.load(Ordering::Relaxed)
    );
    let _ = std::fs::create_dir_all(&sub);
    if let Ok(mut f) = std::fs::File::create(format!("{sub}/report")) {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let _ = f.write_all(report);
        let mut frames = [std::ptr::null_mut(); 64];
        // SAFETY: the buffer holds as many entries as it is told; the fd is open.
        unsafe {
            let n = backtrace(frames.as_mut_ptr(), 64);
            backtrace_symbols_fd(frames.as_ptr(), n, f.as_raw_fd());
        }
        let _ = f.write_all(b"\nmaps:\n");
        if let Ok(maps) = std::fs::read("/proc/self/maps") {
            let _ = f.write_all(&maps);
        }
    }
    let total = NEXT.load(Ordering::Relaxed);
    let first = total.saturating_sub(KEEP);
    for (k, i) in (first..total).enumerate() {
        // SAFETY: the process is going down; the input thread writes no more (see Ring).
        let data = unsafe { &(*RING.slots.get())[i % KEEP] };
        let _ = std::fs::write(format!("{sub}/input-{k:02}"), data);
    }
}
