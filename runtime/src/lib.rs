//! luvit-rs: luvit's event-driven platform on LuaJIT and tokio.
//!
//! `main.rs` parses flags and calls [`runtime::Runtime`]; the event loop and its one door into
//! Lua live in [`r#loop`]; native modules in [`modules`]; the built-in Lua modules
//! (`runtime/lib/*.lua`) are embedded by [`builtins`].

pub mod builtins;
pub mod cli;
pub mod inspector;
pub mod r#loop;
pub mod lua_alloc;
pub mod modules;
pub mod profiling;
pub mod repl_host;
pub mod runtime;
