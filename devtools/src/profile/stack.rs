//! Reading the Lua stack at a hook or safe point: the running coroutine's frames, top first,
//! then a `[coroutine]` boundary and the main thread's frames below it (the callback that
//! resumed it), as the profilers show them.

use std::ffi::CStr;

use mlua::ffi::{self, lua_Debug, lua_State};

use super::cpu::Frame;

/// The frames of `l` (top first), then, when `l` is a coroutine, those of `main` under a
/// boundary frame; at most `max` in all.
///
/// # Safety
/// Call on the Lua thread at a hook or safe point; `l` and `main` are live states of one
/// global state.
pub unsafe fn capture(l: *mut lua_State, main: *mut lua_State, max: usize) -> Vec<Frame> {
    let mut frames = Vec::new();
    read(l, max, &mut frames);
    if !main.is_null() && l != main && frames.len() < max {
        frames.push(Frame {
            name: "[coroutine]".into(),
            chunk: String::new(),
            line: 0,
        });
        read(main, max, &mut frames);
    }
    frames
}

unsafe fn read(l: *mut lua_State, max: usize, out: &mut Vec<Frame>) {
    let mut ar: lua_Debug = std::mem::zeroed();
    let mut level = 0;
    while out.len() < max && ffi::lua_getstack(l, level, &mut ar) != 0 {
        level += 1;
        if ffi::lua_getinfo(l, c"Sln".as_ptr(), &mut ar) == 0 {
            continue;
        }
        let text = |p: *const std::ffi::c_char| {
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        let what = text(ar.what);
        let source = text(ar.source);
        let name = match text(ar.name) {
            n if !n.is_empty() => n,
            _ if what == "main" => "(main chunk)".into(),
            _ => "(anonymous)".into(),
        };
        let (chunk, line) = if what == "C" {
            ("[C]".to_string(), 0)
        } else {
            (source, ar.currentline)
        };
        out.push(Frame { name, chunk, line });
    }
}
