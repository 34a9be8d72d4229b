//! The runtime's [`ProfileControl`]: what the REPL's `.prof` and the DAP requests
//! (`luvitProfileStart`/`Stop`, `luvitHeapSnapshot`) start and stop, with the same options as
//! the command-line flags.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use luvit_devtools::profile::control::{self, ProfileControl, Profiler};
use luvit_devtools::profile::cpu::CpuFormat;
use luvit_devtools::profile::event_loop::report;
use luvit_devtools::profile::heap::{self, sampler, sampler::HeapProfOptions};
use luvit_devtools::profile::native::{self, NativeOptions};
use luvit_devtools::profile::{CpuOptions, LoopOptions};
use mlua::Lua;
use serde_json::Value as Json;

use crate::r#loop::EventLoop;

struct Control;

/// Puts the control where devtools' front ends find it.
pub fn install_control(lua: &Lua) {
    control::install(lua, Rc::new(Control));
}

/// `options.dir`, checked, else the working directory.
fn dir(options: &Json) -> Result<PathBuf, String> {
    let d = match options.get("dir").and_then(Json::as_str) {
        Some(d) => PathBuf::from(d),
        None => std::env::current_dir().map_err(|e| format!("no working directory: {e}"))?,
    };
    super::check_dir("dir", &d)?;
    Ok(d)
}

/// A non-negative number option.
fn number(options: &Json, key: &str) -> Result<Option<f64>, String> {
    match options.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(n) if n >= 0.0 && n.is_finite() => Ok(Some(n)),
            _ => Err(format!("'{key}' must be a number >= 0, got {v}")),
        },
    }
}

impl ProfileControl for Control {
    fn start(&self, lua: &Lua, which: Profiler, options: &Json) -> Result<(), String> {
        let el = EventLoop::of(lua);
        match which {
            Profiler::Cpu => {
                let interval_us = number(options, "interval")?.unwrap_or(1000.0).max(1.0) as u64;
                let name = options.get("name").and_then(Json::as_str).map(String::from);
                let format = match options.get("format").and_then(Json::as_str) {
                    None => CpuFormat::CpuProfile,
                    Some(f) => CpuFormat::parse(f)
                        .ok_or_else(|| format!("unknown format '{f}' (cpuprofile, pprof)"))?,
                };
                let o = CpuOptions {
                    dir: dir(options)?,
                    name,
                    interval_us,
                    format,
                };
                super::start_cpu(&el, o)
            }
            Profiler::Loop => {
                let mut o = LoopOptions {
                    dir: dir(options)?,
                    ..LoopOptions::default()
                };
                if let Some(ms) = number(options, "threshold")? {
                    o.threshold = Duration::from_secs_f64(ms / 1000.0);
                }
                super::start_loop(&el, o)
            }
            Profiler::Heap => {
                let interval = number(options, "interval")?
                    .map_or(sampler::DEFAULT_INTERVAL, |n| n.max(1.0) as u64);
                let o = HeapProfOptions {
                    dir: dir(options)?,
                    interval,
                };
                super::start_heap(&el, o)
            }
            Profiler::Native => {
                let interval_us = number(options, "interval")?
                    .map_or(native::DEFAULT_INTERVAL_US, |n| n.max(100.0) as u64);
                let name = options.get("name").and_then(Json::as_str).map(String::from);
                super::start_native(NativeOptions {
                    dir: dir(options)?,
                    name,
                    interval_us,
                })
            }
        }
    }

    fn stop(&self, lua: &Lua, which: Profiler) -> Result<Vec<PathBuf>, String> {
        let el = EventLoop::of(lua);
        match which {
            Profiler::Cpu => super::stop_cpu(Some(&el)),
            Profiler::Loop => super::stop_loop(&el, None),
            Profiler::Heap => super::stop_heap(None),
            Profiler::Native => super::stop_native(),
        }
    }

    fn heap_snapshot(&self, lua: &Lua, path: Option<PathBuf>) -> Result<PathBuf, String> {
        // absolute, for DAP clients that open the file
        let path = path.unwrap_or_else(|| {
            std::env::current_dir()
                .unwrap_or_default()
                .join(heap::default_name("Heap", "heapsnapshot"))
        });
        heap::write_snapshot(lua, &path)
            .map(|_| path.clone())
            .map_err(|e| format!("cannot write the heap snapshot {}: {e}", path.display()))
    }

    fn loop_summary(&self, _lua: &Lua) -> Option<String> {
        super::loop_profiler().map(|p| report::summary(&p, &[]))
    }
}
