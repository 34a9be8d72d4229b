//! The debugger end to end: the real binary under `--inspect-*`, driven over a real websocket
//! by the DAP client in `tests/dap/`, on the programs in `examples/debug/`.

mod dap;

use std::time::Duration;

use dap::{example, Dap};
use serde_json::json;

#[test]
fn breakpoint_in_the_main_chunk_shows_locals_and_continues_to_exit() {
    let script = example("basics.lua");
    let mut d = Dap::start("--inspect-wait=127.0.0.1:0", &script);
    // line 9 has no code: the breakpoint moves to line 10
    let bps = d.set_breakpoints(&script, &[7, 9]);
    assert_eq!(bps["breakpoints"][0]["verified"], true, "{bps}");
    assert_eq!(bps["breakpoints"][0]["line"], 7);
    assert_eq!(bps["breakpoints"][1]["line"], 10);
    d.ok("configurationDone", json!({}));
    let (reason, top) = d.stopped();
    assert_eq!(
        (reason.as_str(), top["line"].as_i64()),
        ("breakpoint", Some(10))
    );
    assert_eq!(top["name"], "main chunk");
    d.cont();
    let (reason, top) = d.stopped();
    assert_eq!(reason, "breakpoint");
    assert_eq!(top["line"], 7, "{top}");
    assert_eq!(top["source"]["path"], script.as_str());
    let id = top["id"].as_i64().unwrap();
    assert_eq!(d.local(id, "sum").as_deref(), Some("3"));
    assert_eq!(d.local(id, "a").as_deref(), Some("1"));
    // the caller's frame is the main chunk at line 10
    let stack = d.stack();
    assert_eq!(stack[1]["line"], 10, "{stack:?}");
    d.cont();
    // add() again, called from the timer callback
    let (reason, top) = d.stopped();
    assert_eq!(reason, "breakpoint");
    assert_eq!(top["line"], 7);
    let stack = d.stack();
    let names: Vec<String> = stack
        .iter()
        .map(|f| f["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("timer scheduled at") && n.contains("basics.lua:13")),
        "async origin of the timer callback in {names:?}"
    );
    d.set_breakpoints(&script, &[]);
    d.cont();
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn breakpoint_inside_a_coroutine_and_evaluate_in_its_frame() {
    let script = example("basics.lua");
    let mut d = Dap::start("--inspect-wait=127.0.0.1:0", &script);
    d.set_breakpoints(&script, &[21]);
    d.ok("configurationDone", json!({}));
    let (reason, top) = d.stopped();
    assert_eq!(
        (reason.as_str(), top["line"].as_i64()),
        ("breakpoint", Some(21))
    );
    let id = top["id"].as_i64().unwrap();
    let r = d.eval("y * 10 + x", Some(id));
    assert_eq!(r["body"]["result"], "105", "{r}");
    // assignment in the frame changes the program
    let r = d.eval("y = 100", Some(id));
    assert_eq!(r["success"], true, "{r}");
    let stack = d.stack();
    let names: Vec<String> = stack
        .iter()
        .map(|f| f["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("coroutine resumed at") && n.contains("basics.lua:25")),
        "coroutine boundary in {names:?}"
    );
    d.set_breakpoints(&script, &[]);
    d.cont();
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn inspect_brk_stops_on_the_first_line_and_steps() {
    let script = example("basics.lua");
    let mut d = Dap::start("--inspect-brk=127.0.0.1:0", &script);
    d.ok("configurationDone", json!({}));
    let (reason, top) = d.stopped();
    assert_eq!(reason, "entry");
    assert_eq!(top["line"], 3);
    d.ok("next", json!({ "threadId": 1 }));
    // `local function add` is one instruction that LuaJIT puts on the function's last line
    let (reason, top) = d.stopped();
    assert_eq!((reason.as_str(), top["line"].as_i64()), ("step", Some(8)));
    d.ok("next", json!({ "threadId": 1 }));
    let (_, top) = d.stopped();
    assert_eq!(top["line"], 10);
    d.ok("stepIn", json!({ "threadId": 1 }));
    let (_, top) = d.stopped();
    assert_eq!(top["line"], 6, "step into add");
    d.ok("stepOut", json!({ "threadId": 1 }));
    let (_, top) = d.stopped();
    assert_eq!(
        top["line"], 11,
        "back in the main chunk after add returned: {top}"
    );
    d.cont();
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn step_over_a_yielding_line_stays_in_the_coroutine() {
    let script = example("stepping.lua");
    let mut d = Dap::start("--inspect-wait=127.0.0.1:0", &script);
    d.set_breakpoints(&script, &[12]);
    d.ok("configurationDone", json!({}));
    let (_, top) = d.stopped();
    assert_eq!(top["line"], 12);
    d.set_breakpoints(&script, &[]);
    d.ok("next", json!({ "threadId": 1 }));
    // timer.sleep yields; the interval ticks meanwhile; the step ends on line 13 of work()
    let (reason, top) = d.stopped();
    assert_eq!(
        (reason.as_str(), top["line"].as_i64()),
        ("step", Some(13)),
        "{top}"
    );
    let id = top["id"].as_i64().unwrap();
    assert_eq!(d.local(id, "before").as_deref(), Some("41"));
    let ticks = d.eval("state.ticks", Some(id));
    let n: i64 = ticks["body"]["result"]
        .as_str()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    assert!(n > 0, "the interval ran while the coroutine slept: {ticks}");
    d.cont();
    assert_eq!(d.exit_code(), 0);
}

#[test]
fn pause_stops_a_hot_compiled_loop_and_breakpoints_reach_it() {
    let script = example("busy.lua");
    let mut d = Dap::start("--inspect-wait=127.0.0.1:0", &script);
    d.ok("configurationDone", json!({}));
    std::thread::sleep(Duration::from_millis(300));
    d.ok("pause", json!({ "threadId": 1 }));
    let (reason, top) = d.stopped();
    assert_eq!(reason, "pause");
    let line = top["line"].as_i64().unwrap();
    assert!((4..=7).contains(&line), "stopped inside the loop: {top}");
    let id = top["id"].as_i64().unwrap();
    let i: f64 = d.local(id, "i").unwrap().parse().unwrap();
    assert!(i > 100_000.0, "the loop had run hot: i = {i}");
    d.cont();
    std::thread::sleep(Duration::from_millis(100));
    // a breakpoint set while the compiled loop runs takes effect
    let t0 = std::time::Instant::now();
    d.set_breakpoints(&script, &[6]);
    let (reason, top) = d.stopped();
    assert_eq!(
        (reason.as_str(), top["line"].as_i64()),
        ("breakpoint", Some(6))
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
    d.ok("disconnect", json!({ "terminateDebuggee": true }));
}

#[test]
fn uncaught_error_in_a_callback_stops_at_the_raise_site() {
    let script = example("errors.lua");
    let mut d = Dap::start("--inspect-wait=127.0.0.1:0", &script);
    d.ok(
        "setExceptionBreakpoints",
        json!({ "filters": ["uncaught"] }),
    );
    d.ok("configurationDone", json!({}));
    let (reason, top) = d.stopped();
    assert_eq!(reason, "exception");
    assert_eq!(top["line"], 6, "the frame that raised: {top}");
    let id = top["id"].as_i64().unwrap();
    assert_eq!(d.local(id, "reason").as_deref(), Some("\"bad thing\""));
    let info = d.ok("exceptionInfo", json!({ "threadId": 1 }));
    assert!(
        info["description"].as_str().unwrap().contains("bad thing"),
        "{info}"
    );
    d.cont();
    assert_eq!(d.exit_code(), 1);
}

#[test]
fn bad_messages_get_error_responses_and_the_session_goes_on() {
    let script = example("basics.lua");
    let mut d = Dap::start("--inspect-wait=127.0.0.1:0", &script);
    d.send_raw("{not json");
    d.send_raw(r#"{"seq": 50, "type": "request", "command": "frobnicate"}"#);
    let r = d.response(50);
    assert_eq!(r["success"], false);
    assert!(r["message"].as_str().unwrap().contains("frobnicate"));
    let r = d.request("scopes", json!({}));
    assert_eq!(r["success"], false, "{r}");
    let r = d.request("setBreakpoints", json!({ "source": {} }));
    assert_eq!(r["success"], false);
    d.ok("configurationDone", json!({}));
    assert_eq!(d.exit_code(), 0);
}
