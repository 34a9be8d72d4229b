//! The gate in front of the `pprof` crate's SIGPROF handler: a sample that lands while the
//! interrupted thread holds libgcc's unwinder lock is skipped (and counted), not taken.
//!
//! pprof's handler hashes each stack by its frames' function starts, which it asks of
//! `_Unwind_FindEnclosingFunction`; that takes libgcc's `object_mutex` (once any code has
//! registered unwind tables, and LuaJIT registers its machine code). A thread interrupted
//! while it held that lock (a LuaJIT error unwinding, `pcall(error)` in a loop) waited on
//! itself forever inside the handler. The lock is only held by code running in libgcc_s,
//! or in libc called from there (its mutex, malloc, free); so the gate skips a sample whose
//! interrupted instruction is in libgcc_s or the dynamic loader, or is in libc with its
//! first caller outside libc in one of those. Finding that caller is a short unwind of libc's
//! own frames with framehop, lock-free and without allocating, its reads checked.

use std::cell::UnsafeCell;
use std::ffi::CStr;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{ExplicitModuleSectionInfo, Module, MustNotAllocateDuringUnwind, Unwinder};

/// Samples skipped since the last `install` because the thread may have held the lock.
static SKIPPED: AtomicU64 = AtomicU64::new(0);
/// pprof's handler, called for every sample the gate lets through (0: none yet).
static INNER: AtomicUsize = AtomicUsize::new(0);
static LIBRARIES: OnceLock<Libraries> = OnceLock::new();
static CACHE: CacheSlot = CacheSlot {
    busy: AtomicBool::new(false),
    cache: UnsafeCell::new(None),
};

/// A libc frame calls into these at most this deep before leaving libc.
const LIBC_DEPTH: usize = 24;

/// Where the libraries the gate reasons about sit in memory, and an unwinder for libc.
struct Libraries {
    /// libgcc_s and the dynamic loader: code that may hold the lock (or the loader's list
    /// the unwinder walks).
    holders: Vec<Range<u64>>,
    libc: Vec<Range<u64>>,
    unwinder: UnwinderX86_64<Vec<u8>, MustNotAllocateDuringUnwind>,
}

/// The one unwinder cache; a handler that finds it busy (another thread is sampling)
/// skips its sample rather than wait.
struct CacheSlot {
    busy: AtomicBool,
    cache: UnsafeCell<Option<CacheX86_64<MustNotAllocateDuringUnwind>>>,
}

// SAFETY: `cache` is only touched by the holder of `busy`.
unsafe impl Sync for CacheSlot {}

/// Puts the gate in front of the SIGPROF handler pprof just installed. Call after the
/// profiler's guard is built, on a thread where allocating is safe.
pub fn install() -> Result<(), String> {
    LIBRARIES.get_or_init(Libraries::find);
    if CACHE
        .busy
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
    {
        // SAFETY: the flag is ours; the cache is built here, outside any signal handler.
        unsafe { (*CACHE.cache.get()).get_or_insert_with(CacheX86_64::new_in) };
        CACHE.busy.store(false, Ordering::Release);
    }
    // SAFETY: reading and replacing the SIGPROF disposition with plain sigaction calls.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGPROF, std::ptr::null(), &mut current) != 0 {
            return Err("the native profiler cannot read its signal handler".into());
        }
        let inner = current.sa_sigaction;
        if inner == libc::SIG_DFL || inner == libc::SIG_IGN || inner == gate as *const () as usize {
            return Err("the native profiler has no signal handler to guard".into());
        }
        INNER.store(inner, Ordering::Release);
        SKIPPED.store(0, Ordering::Relaxed);
        let mut ours: libc::sigaction = std::mem::zeroed();
        ours.sa_sigaction = gate as *const () as usize;
        ours.sa_flags = current.sa_flags | libc::SA_SIGINFO;
        ours.sa_mask = current.sa_mask;
        if libc::sigaction(libc::SIGPROF, &ours, std::ptr::null_mut()) != 0 {
            return Err("the native profiler cannot install its signal gate".into());
        }
    }
    Ok(())
}

/// Samples skipped since `install`.
pub fn skipped() -> u64 {
    SKIPPED.load(Ordering::Relaxed)
}

extern "C" fn gate(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let inner = INNER.load(Ordering::Acquire);
    if inner == 0 || context.is_null() {
        return;
    }
    if !safe_to_sample(context) {
        SKIPPED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    // SAFETY: `inner` is the SA_SIGINFO handler pprof installed; it gets what we got.
    let inner: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
        unsafe { std::mem::transmute(inner) };
    inner(sig, info, context);
}

/// Whether the interrupted thread certainly holds no unwinder lock.
fn safe_to_sample(context: *mut libc::c_void) -> bool {
    let Some(libraries) = LIBRARIES.get() else {
        return true;
    };
    // SAFETY: the kernel hands an SA_SIGINFO handler a valid ucontext_t.
    let regs = unsafe { &(*(context as *const libc::ucontext_t)).uc_mcontext.gregs };
    let pc = regs[libc::REG_RIP as usize] as u64;
    let within = |ranges: &[Range<u64>], at: u64| ranges.iter().any(|r| r.contains(&at));
    if within(&libraries.holders, pc) {
        return false;
    }
    if !within(&libraries.libc, pc) {
        return true;
    }
    if CACHE
        .busy
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return false;
    }
    // SAFETY: the flag is ours until the store below.
    let verdict = match unsafe { (*CACHE.cache.get()).as_mut() } {
        None => false,
        Some(cache) => {
            let regs = UnwindRegsX86_64::new(
                pc,
                regs[libc::REG_RSP as usize] as u64,
                regs[libc::REG_RBP as usize] as u64,
            );
            let mut read = read_word;
            let mut frames = libraries.unwinder.iter_frames(pc, regs, cache, &mut read);
            let mut verdict = false;
            for _ in 0..LIBC_DEPTH {
                match frames.next() {
                    Ok(Some(frame)) => {
                        let at = frame.address();
                        if within(&libraries.libc, at) {
                            continue;
                        }
                        verdict = !within(&libraries.holders, at);
                        break;
                    }
                    // the stack ended in libc, or could not be read: not known safe
                    _ => break,
                }
            }
            verdict
        }
    };
    CACHE.busy.store(false, Ordering::Release);
    verdict
}

/// One word of this process's memory, or an error where nothing is mapped (a stack walk may
/// follow a bad pointer; process_vm_readv checks it instead of faulting).
fn read_word(address: u64) -> Result<u64, ()> {
    let mut word = 0u64;
    let local = libc::iovec {
        iov_base: &mut word as *mut u64 as *mut libc::c_void,
        iov_len: 8,
    };
    let remote = libc::iovec {
        iov_base: (address & !7) as *mut libc::c_void,
        iov_len: 8,
    };
    // SAFETY: reads 8 bytes of our own address space into `word`; a bad address is an error.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    if n == 8 {
        Ok(word)
    } else {
        Err(())
    }
}

impl Libraries {
    /// Reads the loaded objects' program headers; libc's unwind tables are copied from
    /// memory (its `.eh_frame_hdr` is a segment of its own, `.eh_frame` follows it).
    fn find() -> Libraries {
        let mut found = Libraries {
            holders: Vec::new(),
            libc: Vec::new(),
            unwinder: UnwinderX86_64::new(),
        };
        // SAFETY: dl_iterate_phdr calls `visit` with valid entries and our pointer.
        unsafe {
            libc::dl_iterate_phdr(
                Some(visit),
                &mut found as *mut Libraries as *mut libc::c_void,
            )
        };
        found
    }
}

unsafe extern "C" fn visit(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: the loader's entry is valid during the callback; `data` is the Libraries
    // `find` passed.
    let (info, found) = unsafe { (&*info, &mut *(data as *mut Libraries)) };
    if info.dlpi_name.is_null() {
        return 0;
    }
    // SAFETY: a loaded object's name is a C string.
    let name = unsafe { CStr::from_ptr(info.dlpi_name) }.to_string_lossy();
    let file = name.rsplit('/').next().unwrap_or("");
    let holder = file.starts_with("libgcc_s.") || file.starts_with("ld-linux");
    let is_libc = file.starts_with("libc.so");
    if !holder && !is_libc {
        return 0;
    }
    // SAFETY: dlpi_phdr points at dlpi_phnum headers.
    let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let base = info.dlpi_addr;
    let code: Vec<Range<u64>> = headers
        .iter()
        .filter(|h| h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_X != 0)
        .map(|h| base + h.p_vaddr..base + h.p_vaddr + h.p_memsz)
        .collect();
    if holder {
        found.holders.extend(code);
        return 0;
    }
    found.libc.extend(code.iter().cloned());
    if let Some(module) = libc_module(&name, base, headers, &code) {
        found.unwinder.add_module(module);
    }
    0
}

/// libc as framehop wants it: its address range and unwind tables, read from memory.
fn libc_module(
    name: &str,
    base: u64,
    headers: &[libc::Elf64_Phdr],
    code: &[Range<u64>],
) -> Option<Module<Vec<u8>>> {
    let hdr = headers.iter().find(|h| h.p_type == libc::PT_GNU_EH_FRAME)?;
    let hdr_svma = hdr.p_vaddr..hdr.p_vaddr + hdr.p_memsz;
    // SAFETY: the segment is mapped for as long as libc is (always).
    let hdr_data = unsafe {
        std::slice::from_raw_parts((base + hdr.p_vaddr) as *const u8, hdr.p_memsz as usize)
    };
    // version 1, then eh_frame_ptr encoded as a 4-byte offset from itself (pcrel|sdata4)
    if hdr_data.len() < 8 || hdr_data[0] != 1 || hdr_data[1] != 0x1b {
        return None;
    }
    let offset = i32::from_le_bytes([hdr_data[4], hdr_data[5], hdr_data[6], hdr_data[7]]);
    let frame_start = (hdr.p_vaddr + 4).checked_add_signed(offset as i64)?;
    // .eh_frame runs to the end of the segment that holds it, at most
    let segment = headers.iter().find(|h| {
        h.p_type == libc::PT_LOAD && (h.p_vaddr..h.p_vaddr + h.p_memsz).contains(&frame_start)
    })?;
    let frame_end = segment.p_vaddr + segment.p_filesz;
    // SAFETY: within a loaded segment's file-backed part.
    let frame_data = unsafe {
        std::slice::from_raw_parts(
            (base + frame_start) as *const u8,
            (frame_end - frame_start) as usize,
        )
    };
    let avma = code.iter().map(|r| r.start).min()?..code.iter().map(|r| r.end).max()?;
    let info = ExplicitModuleSectionInfo {
        base_svma: 0,
        eh_frame_hdr_svma: Some(hdr_svma),
        eh_frame_hdr: Some(hdr_data.to_vec()),
        eh_frame_svma: Some(frame_start..frame_end),
        eh_frame: Some(frame_data.to_vec()),
        ..ExplicitModuleSectionInfo::default()
    };
    Some(Module::new(name.to_string(), avma, base, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libc_and_the_lock_holders_are_found_in_memory() {
        let libraries = Libraries::find();
        assert!(!libraries.libc.is_empty(), "libc's code is found");
        assert!(
            !libraries.holders.is_empty(),
            "libgcc_s or the loader is found"
        );
        // an address inside libc (getpid's code) is in libc's range
        // SAFETY: looking a symbol up by a C string.
        let getpid = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"getpid".as_ptr()) } as u64;
        assert!(libraries.libc.iter().any(|r| r.contains(&getpid)));
    }

    #[test]
    fn a_bad_address_reads_as_an_error_not_a_fault() {
        assert!(read_word(8).is_err());
        let x = 42u64;
        assert_eq!(read_word(&x as *const u64 as u64), Ok(42));
    }
}
