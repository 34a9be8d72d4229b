//! Timers and the per-iteration handles: `uv_timer_t`, `uv_prepare_t`, `uv_check_t`, `uv_idle_t`.

use mlua::{Function, Lua, MultiValue};

use super::errors::{ret, UvError};
use super::handle::{create, Data, Kind, Reg, H};
use crate::r#loop::{Callback, EventLoop, Phase};

fn ms(v: f64, fname: &str, what: &str) -> mlua::Result<u64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v as u64)
    } else {
        Err(mlua::Error::runtime(format!(
            "bad argument to '{fname}' ({what} must be a non-negative number, got {v})"
        )))
    }
}

fn ok0(lua: &Lua) -> mlua::Result<MultiValue> {
    ret(lua, Ok::<_, UvError>(0))
}

const TIMER: &[Kind] = &[Kind::Timer];

fn phase_fns(lua: &Lua, r: &mut Reg, kind: Kind, phase: Phase) -> mlua::Result<()> {
    let kinds: &'static [Kind] = match kind {
        Kind::Check => &[Kind::Check],
        Kind::Idle => &[Kind::Idle],
        _ => &[Kind::Prepare],
    };
    let name = kind.name();
    r.add(lua, &format!("new_{name}"), None, move |lua, ()| {
        create(lua, kind, Data::None)
    })?;
    r.add(
        lua,
        &format!("{name}_start"),
        Some((kinds, "start")),
        move |lua, (h, cb): (H, Function)| {
            h.expect_kind(kind, &format!("{name}_start"))?;
            let el = EventLoop::of(lua);
            if let Err(e) = h.live(&el) {
                return ret::<()>(lua, Err(e));
            }
            let cb = Callback::new(lua, &el, cb, kind.name());
            el.phase_start(h.id, phase, cb);
            ok0(lua)
        },
    )?;
    r.add(
        lua,
        &format!("{name}_stop"),
        Some((kinds, "stop")),
        move |lua, h: H| {
            h.expect_kind(kind, &format!("{name}_stop"))?;
            EventLoop::of(lua).phase_stop(h.id);
            ok0(lua)
        },
    )?;
    Ok(())
}

pub fn register(lua: &Lua, r: &mut Reg) -> mlua::Result<()> {
    r.add(lua, "new_timer", None, |lua, ()| {
        create(lua, Kind::Timer, Data::None)
    })?;
    r.add(
        lua,
        "timer_start",
        Some((TIMER, "start")),
        |lua, (h, timeout, repeat, cb): (H, f64, f64, Function)| {
            h.expect_kind(Kind::Timer, "timer_start")?;
            let el = EventLoop::of(lua);
            if let Err(e) = h.live(&el) {
                return ret::<()>(lua, Err(e));
            }
            let timeout = ms(timeout, "timer_start", "timeout")?;
            let repeat = ms(repeat, "timer_start", "repeat")?;
            let cb = Callback::new(lua, &el, cb, "timer");
            el.timer_start(h.id, timeout, repeat, cb);
            ok0(lua)
        },
    )?;
    r.add(lua, "timer_stop", Some((TIMER, "stop")), |lua, h: H| {
        h.expect_kind(Kind::Timer, "timer_stop")?;
        EventLoop::of(lua).timer_stop(h.id);
        ok0(lua)
    })?;
    r.add(lua, "timer_again", Some((TIMER, "again")), |lua, h: H| {
        h.expect_kind(Kind::Timer, "timer_again")?;
        if EventLoop::of(lua).timer_again(h.id) {
            ok0(lua)
        } else {
            ret::<()>(lua, Err(UvError::new("EINVAL", None)))
        }
    })?;
    r.add(
        lua,
        "timer_set_repeat",
        Some((TIMER, "set_repeat")),
        |lua, (h, v): (H, f64)| {
            h.expect_kind(Kind::Timer, "timer_set_repeat")?;
            EventLoop::of(lua).timer_set_repeat(h.id, ms(v, "timer_set_repeat", "repeat")?);
            Ok(())
        },
    )?;
    r.add(
        lua,
        "timer_get_repeat",
        Some((TIMER, "get_repeat")),
        |lua, h: H| {
            h.expect_kind(Kind::Timer, "timer_get_repeat")?;
            Ok(EventLoop::of(lua).timer_get_repeat(h.id))
        },
    )?;
    r.add(
        lua,
        "timer_get_due_in",
        Some((TIMER, "get_due_in")),
        |lua, h: H| {
            h.expect_kind(Kind::Timer, "timer_get_due_in")?;
            Ok(EventLoop::of(lua).timer_due_in(h.id))
        },
    )?;
    phase_fns(lua, r, Kind::Check, Phase::Check)?;
    phase_fns(lua, r, Kind::Idle, Phase::Idle)?;
    phase_fns(lua, r, Kind::Prepare, Phase::Prepare)?;
    Ok(())
}
