//! Profilers. `cpu.rs` samples Lua with LuaJIT's own profiler (compiled code too) and
//! `write.rs` turns the samples into a Chrome `.cpuprofile`, folded stacks and an SVG
//! flamegraph. The loop and heap profilers will live here too.

pub mod cpu;
pub mod heap;
pub mod safepoint;
pub mod write;

pub use cpu::{CpuOptions, CpuProfiler};
