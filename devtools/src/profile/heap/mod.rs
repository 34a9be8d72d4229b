//! The memory profilers. Snapshots: `walk.rs` walks the object graph through the Lua C API
//! (`labels.rs` names the classes) and `stream.rs` streams it as Chrome's `.heapsnapshot` (with `addrset.rs` to number the
//! objects compactly); `read.rs` reads a snapshot back and `diff.rs` tells what grew between
//! two (`luvit heapdiff`). Sampling: `sampler.rs` wraps the Lua allocator and attributes
//! sampled bytes to Lua stacks; `heapprofile.rs` writes them as `.heapprofile` and an SVG.

pub mod addrset;
pub mod diff;
pub mod heapprofile;
pub mod labels;
pub mod read;
pub mod sampler;
pub mod stream;
pub mod walk;

use std::io;
use std::path::Path;

use mlua::ffi::{self, lua_State};

pub use stream::Written;

/// Writes a heap snapshot of `lua`'s state to `path` (Chrome's `.heapsnapshot`).
pub fn write_snapshot(lua: &mlua::Lua, path: &Path) -> io::Result<Written> {
    let mut result = Err(io::Error::other("the heap walk did not run"));
    // SAFETY: exec_raw hands us the state on its own thread; the walk leaves its stack as found.
    let ran = unsafe { lua.exec_raw::<()>((), |l| result = write_snapshot_raw(l, path)) };
    ran.map_err(|e| io::Error::other(e.to_string()))?;
    result
}

/// [`write_snapshot`] on a raw state (from a hook or a debugger stop).
///
/// # Safety
/// `l` is a live state, on the thread running Lua, with no Lua code running meanwhile.
pub unsafe fn write_snapshot_raw(l: *mut lua_State, path: &Path) -> io::Result<Written> {
    const GC_IS_RUNNING: std::ffi::c_int = 9;
    let running = ffi::lua_gc(l, GC_IS_RUNNING, 0) != 0;
    ffi::lua_gc(l, ffi::LUA_GCCOLLECT, 0);
    ffi::lua_gc(l, ffi::LUA_GCSTOP, 0);
    let top = ffi::lua_gettop(l);
    let r = (|| {
        let mut sink = stream::Sink::create(path)?;
        let mut w = walk::Walker::new(l, &mut sink)?;
        w.run()?;
        let (seen, classes) = (w.seen, w.labels.resolve());
        sink.finish(seen, &classes)
    })();
    ffi::lua_settop(l, top);
    if running {
        ffi::lua_gc(l, ffi::LUA_GCRESTART, 0);
    }
    r
}

/// node's default name for a heap file: `<prefix>.YYYYMMDD.HHMMSS.PID.0.<seq>.<ext>`.
pub fn default_name(prefix: &str, ext: &str) -> String {
    format!("{}.{ext}", super::name::dated(prefix))
}
