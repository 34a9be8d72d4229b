//! The loop's bookkeeping of handles and requests: what is registered, active, ref'd or
//! closing (what keeps the loop alive), timers' heap entries, phase handles, pending requests.

use mlua::{AnyUserData, Lua};

use super::dispatch::Held;
use super::{Callback, EventLoop, HandleEntry, HandleId, LoopState, Phase, ReqId, Slot};

impl EventLoop {
    // ---- handles -------------------------------------------------------------------------

    /// Reserves an id for a handle about to be created.
    pub fn new_handle_id(&self) -> HandleId {
        self.next_id()
    }

    /// Registers a live handle; it stays reachable (and listed by `uv.walk`) until closed.
    pub fn register_handle(&self, lua: &Lua, id: HandleId, ud: AnyUserData) {
        self.state.borrow_mut().handles.insert(
            id,
            HandleEntry {
                ud: Held::new(lua, ud),
                active: false,
                refd: true,
                closing: false,
                callbacks: [None, None],
                close_cb: None,
                timer_seq: 0,
                timer_due: 0,
                timer_repeat: 0,
                phase: None,
            },
        );
    }

    pub(super) fn counts(e: &HandleEntry) -> bool {
        e.active && e.refd && !e.closing
    }

    pub(super) fn update_entry(&self, id: HandleId, f: impl FnOnce(&mut HandleEntry)) -> bool {
        let mut st = self.state.borrow_mut();
        let Some(e) = st.handles.get_mut(&id) else {
            return false;
        };
        let before = Self::counts(e);
        f(e);
        let after = Self::counts(e);
        if before != after {
            if after {
                st.active_refd += 1;
            } else {
                st.active_refd -= 1;
            }
        }
        true
    }

    pub fn set_active(&self, id: HandleId, active: bool) {
        self.update_entry(id, |e| e.active = active);
    }

    pub fn set_ref(&self, id: HandleId, refd: bool) {
        self.update_entry(id, |e| e.refd = refd);
    }

    pub fn is_active(&self, id: HandleId) -> bool {
        self.state
            .borrow()
            .handles
            .get(&id)
            .is_some_and(|e| e.active && !e.closing)
    }

    pub fn has_ref(&self, id: HandleId) -> bool {
        self.state.borrow().handles.get(&id).is_some_and(|e| e.refd)
    }

    pub fn is_closing(&self, id: HandleId) -> bool {
        self.state
            .borrow()
            .handles
            .get(&id)
            .is_none_or(|e| e.closing)
    }

    pub fn set_callback(&self, id: HandleId, slot: Slot, cb: Option<Callback>) {
        if let Some(e) = self.state.borrow_mut().handles.get_mut(&id) {
            e.callbacks[slot as usize] = cb;
        }
    }

    /// Starts closing a handle: it stops counting, and its close callback runs in the close phase.
    pub fn close_handle(&self, id: HandleId, cb: Option<Callback>) -> bool {
        let mut closing = false;
        let found = self.update_entry(id, |e| {
            if !e.closing {
                e.closing = true;
                e.close_cb = cb;
                e.callbacks = [None, None];
                closing = true;
            }
        });
        if found && closing {
            if self.immediates_handle.get() == Some(id) {
                self.immediates_pending.set(false);
            }
            let mut st = self.state.borrow_mut();
            st.phase_handles.retain(|(_, h)| *h != id);
            st.closing.push(id);
        }
        found && closing
    }

    /// Every live handle, for `uv.walk`: the program's handles, in the order made. The check
    /// handle behind setImmediate is the runtime's own and not listed (as node keeps its
    /// immediate machinery out of reach): a program that closes every handle it is shown
    /// cannot strand the immediates it queued (a fuzz campaign's queue grew by one callback
    /// per program). Ids, not Lua objects: a server's 10,000 handles as mlua values at once
    /// would overflow the 8,000 slots mlua keeps them in ([`EventLoop::handle_object`] gets
    /// each in turn).
    pub fn handle_ids(&self) -> Vec<HandleId> {
        let st = self.state.borrow();
        let own = self.immediates_handle.get();
        let mut v: Vec<HandleId> = st
            .handles
            .iter()
            .filter(|(id, e)| !e.closing && Some(**id) != own)
            .map(|(id, _)| *id)
            .collect();
        v.sort_unstable();
        v
    }

    /// A handle's Lua object, while it is registered.
    pub fn handle_object(&self, lua: &Lua, id: HandleId) -> Option<AnyUserData> {
        let st = self.state.borrow();
        st.handles.get(&id).and_then(|e| e.ud.get(lua).ok())
    }

    // ---- timers and phase handles --------------------------------------------------------

    /// Arms `id` at `due` in the timer heap, compacting the heap when stale armings pile up.
    pub(super) fn push_timer(&self, id: HandleId, due: u64) -> u64 {
        let mut st = self.state.borrow_mut();
        let LoopState {
            timers, handles, ..
        } = &mut *st;
        if timers.needs_compaction() {
            timers.compact(|id, seq| super::timer_armed(handles, id, seq));
        }
        timers.push(id, due)
    }

    pub fn timer_start(&self, id: HandleId, timeout: u64, repeat: u64, cb: Callback) {
        let due = self.now().saturating_add(timeout);
        let seq = self.push_timer(id, due);
        self.update_entry(id, |e| {
            e.timer_seq = seq;
            e.timer_due = due;
            e.timer_repeat = repeat;
            e.callbacks[Slot::Main as usize] = Some(cb);
            e.active = true;
        });
    }

    pub fn timer_stop(&self, id: HandleId) {
        self.update_entry(id, |e| {
            e.timer_seq = 0;
            e.active = false;
        });
    }

    /// Restarts a repeating timer from now; false if it has no repeat or was never started.
    pub fn timer_again(&self, id: HandleId) -> bool {
        let (repeat, has_cb) = match self.state.borrow().handles.get(&id) {
            Some(e) => (e.timer_repeat, e.callbacks[0].is_some()),
            None => return false,
        };
        if !has_cb {
            return false;
        }
        self.timer_stop(id);
        if repeat > 0 {
            let due = self.now().saturating_add(repeat);
            let seq = self.push_timer(id, due);
            self.update_entry(id, |e| {
                e.timer_seq = seq;
                e.timer_due = due;
                e.active = true;
            });
        }
        true
    }

    pub fn timer_set_repeat(&self, id: HandleId, repeat: u64) {
        self.update_entry(id, |e| e.timer_repeat = repeat);
    }

    pub fn timer_get_repeat(&self, id: HandleId) -> u64 {
        self.state
            .borrow()
            .handles
            .get(&id)
            .map_or(0, |e| e.timer_repeat)
    }

    pub fn timer_due_in(&self, id: HandleId) -> u64 {
        let now = self.now();
        self.state
            .borrow()
            .handles
            .get(&id)
            .filter(|e| e.active)
            .map_or(0, |e| e.timer_due.saturating_sub(now))
    }

    pub fn phase_start(&self, id: HandleId, phase: Phase, cb: Callback) {
        let was_active = self.is_active(id);
        self.update_entry(id, |e| {
            e.callbacks[Slot::Main as usize] = Some(cb);
            e.active = true;
            e.phase = Some(phase);
        });
        if !was_active {
            self.state.borrow_mut().phase_handles.push((phase, id));
        }
    }

    pub fn phase_stop(&self, id: HandleId) {
        self.update_entry(id, |e| e.active = false);
        self.state
            .borrow_mut()
            .phase_handles
            .retain(|(_, h)| *h != id);
    }

    // ---- requests ------------------------------------------------------------------------

    /// Registers a one-shot request; it keeps the loop alive until its completion is dispatched.
    pub fn new_req(&self, cb: Option<Callback>) -> ReqId {
        let id = self.next_id();
        self.state.borrow_mut().reqs.insert(id, cb);
        id
    }

    /// Drops a request that will never complete (its I/O failed to start).
    pub fn cancel_req(&self, id: ReqId) {
        self.state.borrow_mut().reqs.remove(&id);
    }
}
