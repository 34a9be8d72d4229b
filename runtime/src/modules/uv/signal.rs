//! `uv_signal_t`: POSIX signals delivered to Lua through the loop (callback gets `"sigint"`).

use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Value};
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinHandle;

use super::errors::{ret, UvError};
use super::handle::{create, Data, Kind, Reg, H};
use crate::r#loop::{Callback, EventLoop, Slot};

/// The watcher task of a started signal handle; stopping or closing aborts it.
#[derive(Default)]
pub struct SignalData {
    task: Option<JoinHandle<()>>,
    signum: i32,
}

impl SignalData {
    fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            watching(self.signum, -1);
        }
    }
}

impl Drop for SignalData {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How many started signal handles watch each signal (the profiler's SIGINT/SIGTERM watcher
/// ends the process only when the program does not handle the signal itself).
static WATCHERS: [std::sync::atomic::AtomicI32; 65] =
    [const { std::sync::atomic::AtomicI32::new(0) }; 65];

fn watching(signum: i32, delta: i32) {
    if let Some(w) = WATCHERS.get(signum as usize) {
        w.fetch_add(delta, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Whether the program handles `signum` with a started signal handle.
pub fn program_watches(signum: i32) -> bool {
    WATCHERS
        .get(signum as usize)
        .is_some_and(|w| w.load(std::sync::atomic::Ordering::SeqCst) > 0)
}

const SIGNALS: &[(&str, i32)] = &[
    ("sighup", libc::SIGHUP),
    ("sigint", libc::SIGINT),
    ("sigquit", libc::SIGQUIT),
    ("sigill", libc::SIGILL),
    ("sigtrap", libc::SIGTRAP),
    ("sigabrt", libc::SIGABRT),
    ("sigbus", libc::SIGBUS),
    ("sigfpe", libc::SIGFPE),
    ("sigkill", libc::SIGKILL),
    ("sigusr1", libc::SIGUSR1),
    ("sigsegv", libc::SIGSEGV),
    ("sigusr2", libc::SIGUSR2),
    ("sigpipe", libc::SIGPIPE),
    ("sigalrm", libc::SIGALRM),
    ("sigterm", libc::SIGTERM),
    ("sigchld", libc::SIGCHLD),
    ("sigcont", libc::SIGCONT),
    ("sigstop", libc::SIGSTOP),
    ("sigtstp", libc::SIGTSTP),
    ("sigttin", libc::SIGTTIN),
    ("sigttou", libc::SIGTTOU),
    ("sigurg", libc::SIGURG),
    ("sigxcpu", libc::SIGXCPU),
    ("sigxfsz", libc::SIGXFSZ),
    ("sigvtalrm", libc::SIGVTALRM),
    ("sigprof", libc::SIGPROF),
    ("sigwinch", libc::SIGWINCH),
    ("sigio", libc::SIGIO),
    ("sigpwr", libc::SIGPWR),
    ("sigsys", libc::SIGSYS),
];

/// A signal number from a name (`"SIGINT"`, `"sigint"`, `"int"`) or a number.
pub fn signum(v: &Value) -> mlua::Result<i32> {
    match v {
        Value::Integer(i) => Ok(*i as i32),
        Value::Number(n) => Ok(*n as i32),
        Value::Nil => Ok(libc::SIGTERM),
        Value::String(s) => {
            let name = s.to_str()?.to_ascii_lowercase();
            let name = if name.starts_with("sig") {
                name
            } else {
                format!("sig{name}")
            };
            SIGNALS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    mlua::Error::runtime(format!("unknown signal name '{}'", s.to_string_lossy()))
                })
        }
        other => Err(mlua::Error::runtime(format!(
            "bad signal (string or number expected, got {})",
            other.type_name()
        ))),
    }
}

pub fn signame(n: i32) -> &'static str {
    SIGNALS
        .iter()
        .find(|(_, v)| *v == n)
        .map_or("unknown", |(name, _)| name)
}

fn start(lua: &Lua, h: &H, sig: Value, cb: Function, oneshot: bool) -> mlua::Result<MultiValue> {
    h.expect_kind(Kind::Signal, "signal_start")?;
    let el = EventLoop::of(lua);
    if let Err(e) = h.live(&el) {
        return ret::<()>(lua, Err(e));
    }
    let n = signum(&sig)?;
    let mut watcher = match signal(SignalKind::from_raw(n)) {
        Ok(w) => w,
        Err(e) => return ret::<()>(lua, Err(UvError::from_io(&e, None))),
    };
    el.set_callback(
        h.id,
        Slot::Main,
        Some(Callback::new(lua, &el, cb, "signal")),
    );
    el.set_active(h.id, true);
    let id = h.id;
    let el2 = el.clone();
    let task = el.spawn_local(async move {
        while watcher.recv().await.is_some() {
            el2.post_local(Box::new(move |lua, el| {
                if let Ok(args) = signame(n).into_lua_multi(lua) {
                    if oneshot {
                        el.set_active(id, false);
                    }
                    el.call_handle(lua, id, Slot::Main, args);
                }
            }));
            if oneshot {
                break;
            }
        }
    });
    if let Data::Signal(d) = &mut *h.data.borrow_mut() {
        d.stop();
        d.task = Some(task);
        d.signum = n;
        watching(n, 1);
    }
    ret(lua, Ok::<_, UvError>(0))
}

const SIG: &[Kind] = &[Kind::Signal];

pub fn register(lua: &Lua, r: &mut Reg) -> mlua::Result<()> {
    r.add(lua, "new_signal", None, |lua, ()| {
        create(lua, Kind::Signal, Data::Signal(SignalData::default()))
    })?;
    r.add(
        lua,
        "signal_start",
        Some((SIG, "start")),
        |lua, (h, sig, cb): (H, Value, Function)| start(lua, &h, sig, cb, false),
    )?;
    r.add(
        lua,
        "signal_start_oneshot",
        Some((SIG, "start_oneshot")),
        |lua, (h, sig, cb): (H, Value, Function)| start(lua, &h, sig, cb, true),
    )?;
    r.add(lua, "signal_stop", Some((SIG, "stop")), |lua, h: H| {
        h.expect_kind(Kind::Signal, "signal_stop")?;
        if let Data::Signal(d) = &mut *h.data.borrow_mut() {
            d.stop();
        }
        EventLoop::of(lua).set_active(h.id, false);
        ret(lua, Ok::<_, UvError>(0))
    })?;
    Ok(())
}
