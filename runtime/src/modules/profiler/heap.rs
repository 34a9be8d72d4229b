//! The heap side of `require('profiler')`: `heapSnapshot([path])` writes a Chrome
//! `.heapsnapshot` (node's default name in the working directory when no path is given) and
//! returns its path; `heap()` returns live figures (`used`: bytes of Lua heap in use, `gcCycles`:
//! collections finished since start, `allocated`: bytes allocated while the sampling profiler
//! ran); `heapProfileStart([{interval = BYTES}])`/`heapProfileStop([path])` run the sampling
//! heap profiler (the one of `--heap-prof` and `start('heap')`, through `profiling`) and the
//! stop writes its `.heapprofile` and `.svg`, returning the profile's path.

use std::path::{Path, PathBuf};

use luvit_devtools::profile::heap::{self, sampler};
use mlua::{Lua, MultiValue, Table, Value};

use crate::r#loop::EventLoop;

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

fn path_value(lua: &Lua, p: &Path) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![Value::String(
        lua.create_string(p.to_string_lossy().as_bytes())?,
    )]))
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
                Ok(_) => path_value(lua, &path),
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
            let options = sampler::HeapProfOptions {
                dir: std::env::current_dir().unwrap_or_else(|_| ".".into()),
                interval,
            };
            crate::profiling::start_heap(&EventLoop::of(lua), options)
                .map_err(|e| mlua::Error::runtime(format!("heapProfileStart: {e}")))
        })?,
    )?;
    t.set(
        "heapProfileStop",
        lua.create_function(|lua, path: Option<String>| {
            match crate::profiling::stop_heap(path.as_deref().map(Path::new)) {
                Ok(paths) => match paths.first() {
                    Some(p) => path_value(lua, p),
                    None => fail(lua, "no heap profile was written".into()),
                },
                Err(e) => fail(lua, e),
            }
        })?,
    )?;
    Ok(())
}
