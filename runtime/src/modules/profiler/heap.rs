//! The heap side of `require('profiler')`: `heapSnapshot([path])` writes a Chrome
//! `.heapsnapshot` (node's default name in the working directory when no path is given) and
//! returns its path; `heap()` returns live figures (`used`: bytes of Lua heap in use, `gcCycles`:
//! collections finished since start, `allocated`: bytes allocated while the sampling profiler
//! ran); `heapProfileStart([{interval = BYTES}])`/`heapProfileStop([path])` run the sampling
//! heap profiler (the `--heap-prof` one) and write its `.heapprofile` and `.svg`.

use std::path::PathBuf;

use luvit_devtools::profile::heap::{self, sampler};
use mlua::{Lua, MultiValue, Table, Value};

/// Counts finished collections: a finalizer that re-arms itself each cycle.
const GC_COUNTER: &str = r#"
local cycles = 0
if newproxy then
  local function arm()
    local p = newproxy(true)
    getmetatable(p).__gc = function() cycles = cycles + 1 arm() end
  end
  arm()
end
return function() return cycles end
"#;

fn fail(lua: &Lua, msg: String) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![
        Value::Nil,
        Value::String(lua.create_string(msg)?),
    ]))
}

thread_local! {
    /// `--heap-prof`'s directory while it runs.
    static CLI: std::cell::RefCell<Option<sampler::HeapProfOptions>> =
        const { std::cell::RefCell::new(None) };
}

/// `--heap-prof`: starts the sampling heap profiler before the program runs.
///
/// # Safety
/// `main` is the runtime's main state, on its thread, alive until exit.
pub unsafe fn start_cli(main: *mut mlua::ffi::lua_State, options: sampler::HeapProfOptions) {
    if sampler::start(main, options.interval) {
        CLI.with(|c| *c.borrow_mut() = Some(options));
    } else {
        eprintln!("luvit: --heap-prof: the heap profiler cannot start");
    }
}

/// The process is ending: `--heap-prof` writes its `.heapprofile` and `.svg` (errors on stderr).
///
/// # Safety
/// As for [`start_cli`], with the same state.
pub unsafe fn finish_cli(main: *mut mlua::ffi::lua_State) {
    let Some(options) = CLI.with(|c| c.borrow_mut().take()) else {
        return;
    };
    let Some(profile) = sampler::stop(main) else {
        return;
    };
    let path = options.dir.join(heap::default_name("Heap", "heapprofile"));
    if let Err(e) = heap::heapprofile::write_files(&profile, &path) {
        eprintln!(
            "luvit: cannot write the heap profile {}: {e}",
            path.display()
        );
    }
}

/// Adds the heap functions to the `profiler` table.
pub fn register(lua: &Lua, t: &Table) -> mlua::Result<()> {
    let cycles: mlua::Function = lua.load(GC_COUNTER).set_name("=profiler").call(())?;
    t.set(
        "heapSnapshot",
        lua.create_function(|lua, path: Option<String>| {
            let path =
                PathBuf::from(path.unwrap_or_else(|| heap::default_name("Heap", "heapsnapshot")));
            match heap::write_snapshot(lua, &path) {
                Ok(_) => Ok(MultiValue::from_vec(vec![Value::String(
                    lua.create_string(path.to_string_lossy().as_bytes())?,
                )])),
                Err(e) => fail(
                    lua,
                    format!("cannot write the heap snapshot {}: {e}", path.display()),
                ),
            }
        })?,
    )?;
    t.set(
        "heap",
        lua.create_function(move |lua, ()| {
            let figures = lua.create_table()?;
            figures.set("used", lua.used_memory())?;
            figures.set("gcCycles", cycles.call::<u64>(())?)?;
            figures.set("allocated", sampler::allocated())?;
            Ok(figures)
        })?,
    )?;
    t.set(
        "heapProfileStart",
        lua.create_function(|lua, opts: Option<Table>| {
            let interval = match &opts {
                Some(o) => o.get::<Option<u64>>("interval")?,
                None => None,
            }
            .unwrap_or(sampler::DEFAULT_INTERVAL);
            if interval == 0 {
                return Err(mlua::Error::runtime(
                    "heapProfileStart: interval must be > 0",
                ));
            }
            let main = crate::r#loop::EventLoop::of(lua).main_state.0;
            // SAFETY: the runtime's main state, on its thread, alive until exit.
            if !unsafe { sampler::start(main, interval) } {
                return Err(mlua::Error::runtime(
                    "heapProfileStart: the heap profiler is already running or cannot start",
                ));
            }
            Ok(())
        })?,
    )?;
    t.set(
        "heapProfileStop",
        lua.create_function(|lua, path: Option<String>| {
            let main = crate::r#loop::EventLoop::of(lua).main_state.0;
            // SAFETY: as above.
            let Some(profile) = (unsafe { sampler::stop(main) }) else {
                return fail(lua, "the heap profiler is not running".into());
            };
            let path =
                PathBuf::from(path.unwrap_or_else(|| heap::default_name("Heap", "heapprofile")));
            match heap::heapprofile::write_files(&profile, &path) {
                Ok(p) => Ok(MultiValue::from_vec(vec![Value::String(
                    lua.create_string(p.to_string_lossy().as_bytes())?,
                )])),
                Err(e) => fail(
                    lua,
                    format!("cannot write the heap profile {}: {e}", path.display()),
                ),
            }
        })?,
    )?;
    Ok(())
}
