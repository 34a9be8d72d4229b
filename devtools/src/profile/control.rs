//! Starting and stopping the profilers from the REPL (`.prof`) and from a DAP client
//! (`luvitProfileStart`, `luvitProfileStop`, `luvitHeapSnapshot`). The profilers are devtools',
//! but their life in a process (the event loop they observe, where files go) is the runtime's:
//! it puts a [`ProfileControl`] in the Lua state's app data, and both front ends find it there.

use std::path::PathBuf;
use std::rc::Rc;

use mlua::Lua;
use serde_json::Value as Json;

/// Which profiler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profiler {
    Cpu,
    Loop,
    Heap,
    Native,
}

impl Profiler {
    pub fn parse(name: &str) -> Result<Profiler, String> {
        match name {
            "cpu" => Ok(Profiler::Cpu),
            "loop" => Ok(Profiler::Loop),
            "heap" => Ok(Profiler::Heap),
            "native" => Ok(Profiler::Native),
            other => Err(format!(
                "unknown profiler '{other}' (cpu, loop, heap or native)"
            )),
        }
    }
}

/// What the runtime offers; every method runs on the Lua thread.
pub trait ProfileControl {
    /// Starts `which` with JSON options (`dir`, `interval`, `threshold`, as the CLI flags).
    fn start(&self, lua: &Lua, which: Profiler, options: &Json) -> Result<(), String>;
    /// Stops `which` and writes its files; their paths.
    fn stop(&self, lua: &Lua, which: Profiler) -> Result<Vec<PathBuf>, String>;
    /// Writes a heap snapshot (to `path`, or a default name in the working directory).
    fn heap_snapshot(&self, lua: &Lua, path: Option<PathBuf>) -> Result<PathBuf, String>;
    /// The loop profiler's live summary, when it runs.
    fn loop_summary(&self, lua: &Lua) -> Option<String>;
}

/// The control the runtime installed, if any.
pub fn of(lua: &Lua) -> Option<Rc<dyn ProfileControl>> {
    lua.app_data_ref::<Rc<dyn ProfileControl>>()
        .map(|c| c.clone())
}

/// Installs the runtime's control.
pub fn install(lua: &Lua, control: Rc<dyn ProfileControl>) {
    lua.set_app_data(control);
}

/// A `.prof` command line (`cpu start`, `cpu stop`, `loop`, `loop start`, `loop stop`,
/// `heap snapshot [FILE]`, `heap start`, `heap stop`): what to print.
pub fn repl_command(lua: &Lua, args: &str) -> Result<String, String> {
    let control = of(lua).ok_or("the profilers are not available here")?;
    let words: Vec<&str> = args.split_whitespace().collect();
    let files = |paths: Vec<PathBuf>| {
        let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        format!("wrote {}", list.join(", "))
    };
    match words.as_slice() {
        ["heap", "snapshot"] => control
            .heap_snapshot(lua, None)
            .map(|p| format!("wrote {}", p.display())),
        ["heap", "snapshot", file] => control
            .heap_snapshot(lua, Some(PathBuf::from(file)))
            .map(|p| format!("wrote {}", p.display())),
        ["loop"] => control
            .loop_summary(lua)
            .ok_or_else(|| "the loop profiler is not running (.prof loop start)".to_string()),
        [which, "start"] => {
            let p = Profiler::parse(which)?;
            control.start(lua, p, &Json::Null)?;
            Ok(format!(
                "{which} profiler started (.prof {which} stop writes the files)"
            ))
        }
        [which, "stop"] => control.stop(lua, Profiler::parse(which)?).map(files),
        _ => Err(PROF_USAGE.to_string()),
    }
}

pub const PROF_USAGE: &str = "usage: .prof cpu|native|heap start|stop, .prof loop [start|stop], \
.prof heap snapshot [FILE]";

/// The DAP custom requests; `None` for any other command.
pub fn dap_request(lua: &Lua, command: &str, args: &Json) -> Option<Result<Json, String>> {
    let run = || -> Result<Json, String> {
        let control = of(lua).ok_or("the profilers are not available in this process")?;
        let which = || {
            args.get("profiler")
                .and_then(Json::as_str)
                .ok_or_else(|| {
                    format!("{command}: 'profiler' is required (cpu, loop, heap or native)")
                })
                .and_then(Profiler::parse)
        };
        match command {
            "luvitProfileStart" => {
                let opts = args.get("options").cloned().unwrap_or(Json::Null);
                control.start(lua, which()?, &opts)?;
                Ok(Json::Null)
            }
            "luvitProfileStop" => {
                let paths = control.stop(lua, which()?)?;
                Ok(serde_json::json!({
                    "files": paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>()
                }))
            }
            _ => {
                let path = args.get("path").and_then(Json::as_str).map(PathBuf::from);
                let p = control.heap_snapshot(lua, path)?;
                Ok(serde_json::json!({ "file": p.display().to_string() }))
            }
        }
    };
    matches!(
        command,
        "luvitProfileStart" | "luvitProfileStop" | "luvitHeapSnapshot"
    )
    .then(run)
}
