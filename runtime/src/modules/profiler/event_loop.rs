//! The loop profiler from Lua: `loopStart`/`loopStop`/`loop` (the live report, the same figures
//! as `LOOP.*.json`), node's `performance.eventLoopUtilization` and
//! `perf_hooks.monitorEventLoopDelay`, and `createHistogram` (devtools' histogram as userdata).

use std::path::PathBuf;
use std::time::Duration;

use luvit_devtools::profile::event_loop::report;
use luvit_devtools::profile::histogram::Histogram;
use luvit_devtools::profile::LoopOptions;
use mlua::{IntoLua, Lua, Table, UserData, UserDataFields, UserDataMethods, Value};

use crate::profiling;
use crate::r#loop::EventLoop;

/// Adds the loop functions to the module's table.
pub fn register(lua: &Lua, t: &Table) -> mlua::Result<()> {
    t.set("loopStart", lua.create_function(loop_start)?)?;
    t.set("loopStop", lua.create_function(loop_stop)?)?;
    t.set(
        "loop",
        lua.create_function(|lua, ()| match profiling::loop_profiler() {
            Some(p) => Ok((to_lua(lua, &report::report(&p))?, Value::Nil)),
            None => Ok((
                Value::Nil,
                "the loop profiler is not running".into_lua(lua)?,
            )),
        })?,
    )?;
    t.set("eventLoopUtilization", lua.create_function(utilization)?)?;
    let create = lua.create_function(|_, ()| Ok(LuaHistogram(Histogram::new())))?;
    t.set("createHistogram", create.clone())?;
    let monitor: mlua::Function = lua
        .load(MONITOR)
        .set_name("=profiler.monitorEventLoopDelay")
        .call(create)?;
    t.set("monitorEventLoopDelay", monitor)?;
    Ok(())
}

/// `loopStart([{threshold = ms, dir = path}])`: true, or nil and why.
fn loop_start(lua: &Lua, opts: Option<Table>) -> mlua::Result<(bool, Option<String>)> {
    let mut o = LoopOptions {
        dir: std::env::current_dir().unwrap_or_else(|_| ".".into()),
        ..LoopOptions::default()
    };
    if let Some(t) = opts {
        if let Some(ms) = t.get::<Option<f64>>("threshold")? {
            if !(ms >= 0.0 && ms.is_finite()) {
                return Err(mlua::Error::runtime(
                    "loopStart: threshold must be a number of milliseconds >= 0",
                ));
            }
            o.threshold = Duration::from_secs_f64(ms / 1000.0);
        }
        if let Some(d) = t.get::<Option<String>>("dir")? {
            o.dir = PathBuf::from(d);
        }
    }
    if let Err(e) = profiling::check_dir("loopStart", &o.dir) {
        return Ok((false, Some(e)));
    }
    match profiling::start_loop(&EventLoop::of(lua), o) {
        Ok(()) => Ok((true, None)),
        Err(e) => Ok((false, Some(e))),
    }
}

/// `loopStop([dir])`: the paths written (report, trace), or nil and why.
fn loop_stop(lua: &Lua, dir: Option<String>) -> mlua::Result<(Value, Option<String>)> {
    let dir = dir.map(PathBuf::from);
    match profiling::stop_loop(&EventLoop::of(lua), dir.as_deref()) {
        Ok(paths) => {
            let t = lua.create_table()?;
            for p in paths {
                t.raw_push(p.to_string_lossy().into_owned())?;
            }
            Ok((Value::Table(t), None))
        }
        Err(e) => Ok((Value::Nil, Some(e))),
    }
}

/// node's `eventLoopUtilization([u1[, u2]])`: `{idle, active, utilization}` in milliseconds
/// since the loop first ran, or the difference from `u1` (or between `u1` and `u2`).
fn utilization(lua: &Lua, (u1, u2): (Option<Table>, Option<Table>)) -> mlua::Result<Table> {
    let (idle, total) = EventLoop::of(lua).utilization_times();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (mut idle, mut active) = (ms(idle), ms(total.saturating_sub(idle)));
    let get = |t: &Table, k: &str| t.get::<Option<f64>>(k).map(|v| v.unwrap_or(0.0));
    match (u1, u2) {
        (Some(a), Some(b)) => {
            idle = get(&a, "idle")? - get(&b, "idle")?;
            active = get(&a, "active")? - get(&b, "active")?;
        }
        (Some(a), None) => {
            idle -= get(&a, "idle")?;
            active -= get(&a, "active")?;
        }
        _ => {}
    }
    let t = lua.create_table()?;
    t.set("idle", idle)?;
    t.set("active", active)?;
    let sum = idle + active;
    t.set("utilization", if sum > 0.0 { active / sum } else { 0.0 })?;
    Ok(t)
}

/// node's `perf_hooks.monitorEventLoopDelay`: an unref'd timer every `resolution` ms records
/// how late it fired, in nanoseconds, into a histogram.
const MONITOR: &str = r#"
local createHistogram = ...
local uv = require('uv')
return function(options)
  local resolution = 10
  if options ~= nil then
    if type(options) ~= 'table' then error('monitorEventLoopDelay: options must be a table', 2) end
    if options.resolution ~= nil then
      resolution = options.resolution
      if type(resolution) ~= 'number' or resolution < 1 or resolution ~= resolution then
        error('monitorEventLoopDelay: resolution must be a number >= 1', 2)
      end
    end
  end
  local h = createHistogram()
  local timer, last
  local m = {}
  function m:enable()
    if timer then return false end
    timer = uv.new_timer()
    timer:unref()
    last = uv.hrtime()
    timer:start(resolution, resolution, function()
      local now = uv.hrtime()
      local delay = now - last - resolution * 1e6
      last = now
      h:record(delay > 1 and delay or 1)
    end)
    return true
  end
  function m:disable()
    if not timer then return false end
    timer:close()
    timer = nil
    return true
  end
  function m:reset() h:reset() end
  function m:percentile(p) return h:percentile(p) end
  function m:percentiles() return h:percentiles() end
  return setmetatable(m, { __index = function(_, k) return h[k] end })
end
"#;

/// A histogram of non-negative numbers (nanoseconds, by node's convention).
struct LuaHistogram(Histogram);

impl UserData for LuaHistogram {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_field_method_get("count", |_, h| Ok(h.0.count()));
        f.add_field_method_get("min", |_, h| Ok(h.0.min()));
        f.add_field_method_get("max", |_, h| Ok(h.0.max()));
        f.add_field_method_get("mean", |_, h| Ok(h.0.mean()));
        f.add_field_method_get("stddev", |_, h| Ok(h.0.stddev()));
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method_mut("record", |_, h, v: f64| {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(mlua::Error::runtime(
                    "histogram:record: expected a number >= 0",
                ));
            }
            h.0.record(v as u64);
            Ok(())
        });
        m.add_method("percentile", |_, h, p: f64| {
            if !(0.0..=100.0).contains(&p) {
                return Err(mlua::Error::runtime(
                    "histogram:percentile: expected 0..100",
                ));
            }
            Ok(h.0.percentile(p))
        });
        m.add_method("percentiles", |lua, h, ()| {
            let t = lua.create_table()?;
            for p in [0.0, 50.0, 75.0, 87.5, 90.0, 95.0, 99.0, 99.9, 100.0] {
                t.set(p, h.0.percentile(p))?;
            }
            Ok(t)
        });
        m.add_method_mut("reset", |_, h, ()| {
            h.0.reset();
            Ok(())
        });
    }
}

/// JSON figures as Lua values (objects as tables, arrays as sequences, null as nil).
fn to_lua(lua: &Lua, v: &serde_json::Value) -> mlua::Result<Value> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        J::String(s) => Value::String(lua.create_string(s)?),
        J::Array(a) => {
            let t = lua.create_table_with_capacity(a.len(), 0)?;
            for x in a {
                t.raw_push(to_lua(lua, x)?)?;
            }
            Value::Table(t)
        }
        J::Object(o) => {
            let t = lua.create_table_with_capacity(0, o.len())?;
            for (k, x) in o {
                t.raw_set(k.as_str(), to_lua(lua, x)?)?;
            }
            Value::Table(t)
        }
    })
}
