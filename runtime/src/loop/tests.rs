//! The dispatch point's seam: with an observer attached, every callback is reported with its
//! origin (kind, the Lua line that scheduled it, the async chain) and its duration.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use luvit_devtools::{CallbackRun, LoopObserver};

use crate::runtime::Runtime;

#[derive(Default)]
struct Recorder {
    calls: RefCell<Vec<(String, Duration)>>,
}

impl LoopObserver for Recorder {
    fn callback_started(&self, _run: &CallbackRun) {}
    fn callback_finished(&self, run: &CallbackRun, elapsed: Duration) {
        let chain: Vec<String> = run.origin.chain().map(|o| o.to_string()).collect();
        self.calls.borrow_mut().push((chain.join(" <- "), elapsed));
    }
}

#[test]
fn observer_sees_each_callback_with_its_origin_chain_and_duration() {
    let rt = Runtime::new().expect("runtime");
    let _g = rt.el.enter();
    let rec = Rc::new(Recorder::default());
    rt.el.attach_observer(rec.clone());
    rt.lua
        .load(
            "local uv = require('uv')\n\
             local t = uv.new_timer()\n\
             t:start(1, 0, function()\n\
               t:close()\n\
               local t2 = uv.new_timer()\n\
               t2:start(1, 0, function() t2:close(); local x = 0; for i = 1, 1e6 do x = x + i end end)\n\
             end)\n\
             uv.run()",
        )
        .set_name("@app.lua")
        .exec()
        .expect("run");
    let calls = rec.calls.borrow();
    let chains: Vec<&str> = calls.iter().map(|(c, _)| c.as_str()).collect();
    assert!(chains.contains(&"timer at app.lua:3"), "{chains:?}");
    assert!(
        chains.contains(&"timer at app.lua:6 <- timer at app.lua:3"),
        "{chains:?}"
    );
    let inner = calls
        .iter()
        .find(|(c, _)| c.starts_with("timer at app.lua:6"))
        .expect("inner timer");
    assert!(inner.1 > Duration::ZERO);
}

#[test]
fn without_an_observer_no_origin_is_recorded() {
    let rt = Runtime::new().expect("runtime");
    let _g = rt.el.enter();
    assert!(!rt.el.observed());
    assert!(rt.el.current_origin().is_none());
}
