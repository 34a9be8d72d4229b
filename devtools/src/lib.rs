//! luvit-devtools: instruments an mlua state for the luvit runtime.
//!
//! This crate will hold the debugger core, its transports, the REPL and the profilers. It knows
//! nothing of the runtime's modules (HTTP, fs ...): the runtime tells it about the event loop
//! through the [`LoopObserver`] trait and nothing else.

pub mod clock;
pub mod debug;
pub mod observer;
pub mod oom;
pub mod profile;
pub mod repl;

pub use observer::{CallbackFunction, CallbackRun, LoopObserver, Origin, Site};

/// The version of this crate, shown by `luvit -v`.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
