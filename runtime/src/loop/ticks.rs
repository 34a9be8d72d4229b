//! The `process.nextTick` queue. mlua keeps every Lua value Rust holds in a slot of an
//! auxiliary thread's stack, which LuaJIT caps at 8,000: 10,000 `nextTick`s queued in one turn
//! panicked ("out of auxiliary stack space"). So a tick's function and arguments are held as
//! mlua values only while the queue holds fewer than [`DIRECT`] of them (the usual case, and
//! the fastest); past that they wait in one Lua table (a function, then its arguments, from
//! slot `at`), which costs a protected table write per value: a chain of 1M ticks took 1.2 s
//! that way, 0.25 s held directly (registry keys, one per tick, took 2 s).

use std::collections::VecDeque;
use std::rc::Rc;

use luvit_devtools::Origin;
use mlua::{Function, MultiValue, Table, Value};

/// How many Lua values the queue may hold as mlua references.
const DIRECT: usize = 1024;

/// Where a queued tick's function and arguments are.
enum Stored {
    Direct(Function, MultiValue),
    /// In the table: the function at `at`, its `nargs` arguments after it.
    Slots {
        at: i64,
        nargs: usize,
    },
}

/// One queued tick, and where it was queued (when observed).
struct Entry {
    stored: Stored,
    origin: Option<Rc<Origin>>,
}

#[derive(Default)]
pub struct TickQueue {
    /// The table (set by the loop before the first push; one mlua reference for its life).
    slots: Option<Table>,
    entries: VecDeque<Entry>,
    /// The next free slot.
    tail: i64,
    /// Lua values held directly by the queued entries.
    direct: usize,
}

impl TickQueue {
    /// Whether the queue has its table ([`TickQueue::set_table`] before the first push: made
    /// by the caller with no borrow of the queue held, since making it may run the garbage
    /// collector, and a finalizer may queue a tick).
    pub fn has_table(&self) -> bool {
        self.slots.is_some()
    }

    pub fn set_table(&mut self, t: Table) {
        self.slots = Some(t);
    }

    /// Queues `f(args)`. No Lua code runs here (raw writes only).
    pub fn push(
        &mut self,
        f: Function,
        args: MultiValue,
        origin: Option<Rc<Origin>>,
    ) -> mlua::Result<()> {
        if self.entries.is_empty() {
            // Every slot is nil again: start over, so the table's array part is reused.
            self.tail = 1;
        }
        let nargs = args.len();
        if self.direct + 1 + nargs <= DIRECT {
            self.direct += 1 + nargs;
            let stored = Stored::Direct(f, args);
            self.entries.push_back(Entry { stored, origin });
            return Ok(());
        }
        let Some(slots) = self.slots.clone() else {
            return Err(mlua::Error::runtime("nextTick queue: no table"));
        };
        let at = self.tail;
        slots.raw_set(at, f)?;
        for (i, v) in args.into_iter().enumerate() {
            slots.raw_set(at + 1 + i as i64, v)?;
        }
        self.tail = at + 1 + nargs as i64;
        let stored = Stored::Slots { at, nargs };
        self.entries.push_back(Entry { stored, origin });
        Ok(())
    }

    /// The next tick (its slots cleared), or `None` when the queue is empty. Slots read back
    /// as they were set: a failure here is out of memory, reported by the caller.
    #[allow(clippy::type_complexity)]
    pub fn pop(&mut self) -> Option<mlua::Result<(Function, MultiValue, Option<Rc<Origin>>)>> {
        let e = self.entries.pop_front()?;
        let (at, nargs) = match e.stored {
            Stored::Direct(f, args) => {
                self.direct -= 1 + args.len();
                return Some(Ok((f, args, e.origin)));
            }
            Stored::Slots { at, nargs } => (at, nargs),
        };
        let slots = self.slots.clone()?;
        let take = |i: i64| -> mlua::Result<Value> {
            let v = slots.raw_get(i)?;
            slots.raw_set(i, Value::Nil)?;
            Ok(v)
        };
        let got = (|| {
            let f = match take(at)? {
                Value::Function(f) => f,
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "nextTick queue: a {} where a function was queued",
                        other.type_name()
                    )))
                }
            };
            let mut args = super::dispatch::args_with_room(nargs);
            for i in 0..nargs {
                args.push_back(take(at + 1 + i as i64)?);
            }
            Ok((f, args, e.origin))
        })();
        Some(got)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.slots = None;
        self.tail = 1;
        self.direct = 0;
    }
}
