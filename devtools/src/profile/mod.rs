//! Profilers. `cpu.rs` samples Lua with LuaJIT's own profiler (compiled code too) and
//! `write.rs` turns the samples into a Chrome `.cpuprofile`, folded stacks and an SVG
//! flamegraph. `event_loop/` measures every loop callback from the dispatch point (lag,
//! utilization, per-site durations, slow callbacks with their stacks). `heap/` writes heap
//! snapshots, diffs them and samples allocations. `native.rs` samples the Rust side with
//! pprof, behind `native_gate.rs` (no sample while the C unwinder holds its lock). `safepoint.rs` and
//! `stack.rs` are what the profilers share to read the Lua stack while it runs.

pub mod control;
pub mod cpu;
pub mod event_loop;
pub mod heap;
pub mod histogram;
pub mod name;
pub mod native;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod native_gate;
pub mod pprof_out;
pub mod safepoint;
pub mod stack;
pub mod write;

pub use cpu::{CpuOptions, CpuProfiler};
pub use event_loop::{LoopOptions, LoopProfiler};
