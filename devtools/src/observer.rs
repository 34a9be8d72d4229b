//! The seam between the runtime's event loop and the devtools.
//!
//! The runtime's dispatch point (the one door from the loop into Lua) reports every callback it
//! runs to the [`LoopObserver`]s attached (the debugger, the loop profiler, the CPU profiler's
//! origin frames). With none attached the runtime pays a single branch per callback and records
//! no origins.

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

/// A place in Lua source: the chunk name as Lua reports it (`@path` for files) and a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub source: String,
    pub line: u32,
}

/// What scheduled a callback: its kind (`timer`, `fs`, `tcp read`...), the API the user's code
/// called to schedule it (`setTimeout`, `readFile`, `listen`: the built-in function the user's
/// frame called), the Lua site that scheduled it, and the origin that was current at that moment
/// (the async chain).
#[derive(Debug)]
pub struct Origin {
    pub kind: &'static str,
    pub api: Option<String>,
    pub site: Option<Site>,
    pub parent: Option<Rc<Origin>>,
    /// Where the function this origin runs is defined (`app.lua:3`), when the origin knows
    /// it better than the callback that runs it does (a request handler run inside a read).
    pub function: Option<String>,
    /// A profiler's note on this origin (the loop profiler keeps its site index here, so a
    /// callback run costs no lookup); 0 when none.
    pub memo: std::cell::Cell<u64>,
}

impl Origin {
    /// The name to show: the API the user called, else the kind.
    pub fn label(&self) -> &str {
        self.api.as_deref().unwrap_or(self.kind)
    }

    /// Walks the async chain from this origin back to the root.
    pub fn chain(&self) -> impl Iterator<Item = &Origin> {
        std::iter::successors(Some(self), |o| o.parent.as_deref())
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.site {
            Some(site) => {
                let path = site.source.strip_prefix('@').unwrap_or(&site.source);
                write!(f, "{} at {}:{}", self.label(), path, site.line)
            }
            None => write!(f, "{}", self.label()),
        }
    }
}

/// A callback's Lua function, fetched only when asked: most observers never ask, and the
/// dispatch point keeps callbacks in the registry (a fetch makes a Lua reference).
#[derive(Clone, Copy)]
pub struct CallbackFunction<'a>(pub &'a dyn Fn() -> Option<mlua::Function>);

impl CallbackFunction<'_> {
    pub fn get(&self) -> Option<mlua::Function> {
        (self.0)()
    }
}

/// One run of a callback, as the dispatch point sees it.
pub struct CallbackRun<'a> {
    pub origin: &'a Rc<Origin>,
    /// The Lua function about to run.
    pub function: CallbackFunction<'a>,
    /// When it became ready to run (a timer's due time, an I/O completion reaching the loop),
    /// for the loop lag; `None` for phase handles, next ticks and close callbacks. On
    /// [`crate::clock`], like `started`.
    pub ready: Option<u64>,
    /// When it started (read once by the dispatch point for every observer), nanoseconds on
    /// [`crate::clock`].
    pub started: u64,
}

/// Told about every callback the event loop runs, and about the loop going idle.
pub trait LoopObserver {
    /// A callback is about to run.
    fn callback_started(&self, run: &CallbackRun);
    /// The callback returned (or raised) after `elapsed`.
    fn callback_finished(&self, run: &CallbackRun, elapsed: Duration);
    /// The running callback turned out to be `origin`'s (a request handler run inside a
    /// socket's read); its `callback_finished` carries that origin.
    fn callback_relabeled(&self, origin: &Rc<Origin>) {
        let _ = origin;
    }
    /// The loop has woken up after waiting `parked` for I/O or timers.
    fn loop_parked(&self, parked: Duration) {
        let _ = parked;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_chain_walks_to_the_root_and_displays_sites() {
        let root = Rc::new(Origin {
            kind: "main",
            api: None,
            site: None,
            parent: None,
            function: None,
            memo: Default::default(),
        });
        let child = Origin {
            kind: "timer",
            api: Some("setTimeout".into()),
            site: Some(Site {
                source: "@app.lua".into(),
                line: 12,
            }),
            parent: Some(root),
            function: None,
            memo: Default::default(),
        };
        let kinds: Vec<_> = child.chain().map(|o| o.kind).collect();
        assert_eq!(kinds, ["timer", "main"]);
        assert_eq!(child.to_string(), "setTimeout at app.lua:12");
    }
}
