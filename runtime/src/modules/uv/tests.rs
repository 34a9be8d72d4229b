//! The `uv` module driven straight from Lua, without the Lua-side libraries: the loop's run
//! modes, timer ordering, fs calls, a TCP echo over a real socket, a child process.

use crate::runtime::Runtime;

/// Runs `code` with `uv` in scope, then the loop; returns what the code left in `out`.
fn run(code: &str) -> String {
    let rt = Runtime::new().expect("runtime");
    let _g = rt.el.enter();
    let f = rt
        .lua
        .load(format!(
            "local uv = require('uv'); out = {{}}\n{code}\nuv.run()\nreturn table.concat(out, ' ')"
        ))
        .set_name("=test")
        .into_function()
        .expect("compile");
    f.call::<String>(()).expect("run")
}

#[test]
fn timers_fire_in_due_order_and_repeat_until_stopped() {
    let got = run(r#"
        local function add(s) out[#out + 1] = s end
        local a, b, c = uv.new_timer(), uv.new_timer(), uv.new_timer()
        a:start(45, 0, function() add('a'); a:close() end)
        b:start(15, 0, function() add('b'); b:close() end)
        local n = 0
        c:start(1, 30, function() n = n + 1; add('c' .. n); if n == 3 then c:close() end end)
    "#);
    // c at 1, 31, 61 ms; b at 15; a at 45: gaps wide enough for a loaded machine.
    assert_eq!(got, "c1 b c2 a c3");
}

#[test]
fn zero_timers_started_in_a_callback_run_next_iteration() {
    let got = run(r#"
        local count = 0
        local t = uv.new_timer()
        local function again()
          count = count + 1
          if count < 1000 then t:start(0, 0, again) else t:close(); out[1] = tostring(count) end
        end
        t:start(0, 0, again)
    "#);
    assert_eq!(got, "1000");
}

#[test]
fn check_idle_and_close_callbacks_run() {
    let got = run(r#"
        local check, idle = uv.new_check(), uv.new_idle()
        local n = 0
        idle:start(function() n = n + 1 end)
        check:start(function()
          if n >= 3 then
            out[#out + 1] = 'checked'
            check:close(function() out[#out + 1] = 'closed' end)
            idle:close()
          end
        end)
    "#);
    assert_eq!(got, "checked closed");
}

#[test]
fn run_nowait_returns_while_work_is_pending() {
    let rt = Runtime::new().expect("runtime");
    let _g = rt.el.enter();
    let alive: bool = rt
        .lua
        .load("local uv = require('uv'); local t = uv.new_timer(); t:start(1000, 0, function() end); local alive = uv.run('nowait'); t:close(); uv.run(); return alive")
        .eval()
        .expect("run");
    assert!(alive);
}

#[test]
fn fs_sync_errors_follow_luv_conventions() {
    let got = run(r#"
        local v, msg, code = uv.fs_stat('/definitely/not/here')
        out[1] = tostring(v); out[2] = msg; out[3] = code
    "#);
    assert_eq!(
        got,
        "nil ENOENT: no such file or directory: /definitely/not/here ENOENT"
    );
}

#[test]
fn fs_async_write_read_roundtrip() {
    let got = run(r#"
        local path = os.tmpname()
        uv.fs_open(path, 'w', 420, function(err, fd)
          assert(not err, err)
          uv.fs_write(fd, 'hello', -1, function(err2, n)
            assert(not err2, err2)
            uv.fs_close(fd, function()
              uv.fs_open(path, 'r', 420, function(_, fd2)
                uv.fs_read(fd2, 100, 0, function(_, data)
                  out[1] = data .. ':' .. n
                  uv.fs_close(fd2)
                  uv.fs_unlink(path)
                end)
              end)
            end)
          end)
        end)
    "#);
    assert_eq!(got, "hello:5");
}

#[test]
fn tcp_echo_over_loopback() {
    let got = run(r#"
        local server = uv.new_tcp()
        assert(server:bind('127.0.0.1', 0))
        server:listen(128, function(err)
          assert(not err, err)
          local client = uv.new_tcp()
          server:accept(client)
          client:read_start(function(err2, data)
            assert(not err2, err2)
            if data then client:write(data:upper()) else client:close(); server:close() end
          end)
        end)
        local port = server:getsockname().port
        local c = uv.new_tcp()
        c:connect('127.0.0.1', port, function(err)
          assert(not err, err)
          c:write('ping', function(werr)
            assert(not werr, werr)
          end)
          c:read_start(function(err2, data)
            out[#out + 1] = data
            c:shutdown(function() c:close() end)
          end)
        end)
    "#);
    assert_eq!(got, "PING");
}

#[test]
fn spawn_a_child_and_read_its_stdout() {
    let got = run(r#"
        local stdout = uv.new_pipe(false)
        local chunks = {}
        local child, pid
        child, pid = uv.spawn('/bin/sh', { args = { '-c', 'echo out; exit 7' }, stdio = { nil, stdout, nil } },
          function(code, signal)
            out[#out + 1] = 'exit:' .. code .. ':' .. signal
            child:close()
          end)
        assert(child, pid)
        stdout:read_start(function(err, data)
          if data then chunks[#chunks + 1] = data else
            out[#out + 1] = table.concat(chunks):gsub('%s+$', '')
            stdout:close()
          end
        end)
    "#);
    assert!(got.contains("exit:7:0") && got.contains("out"), "{got}");
}

#[test]
fn handle_used_after_close_returns_an_error() {
    let got = run(r#"
        local t = uv.new_timer()
        t:close()
        local ok, msg = t:start(10, 0, function() end)
        out[1] = tostring(ok) .. ' ' .. tostring(msg)
    "#);
    assert!(got.starts_with("nil EBADF"), "{got}");
}

#[test]
fn wrong_argument_types_raise_errors_not_panics() {
    let rt = Runtime::new().expect("runtime");
    let _g = rt.el.enter();
    let r: String = rt
        .lua
        .load("local uv = require('uv'); local ok, e = pcall(uv.timer_start, 'nope', 1, 0, print); return tostring(e)")
        .eval()
        .expect("run");
    assert!(
        r.contains("timer_start") || r.contains("bad argument"),
        "{r}"
    );
}

#[test]
fn walk_lists_live_handles() {
    let got = run(r#"
        local t, c = uv.new_timer(), uv.new_check()
        uv.walk(function(h) out[#out + 1] = h:get_type() end)
        t:close(); c:close()
    "#);
    assert_eq!(got, "timer check");
}

#[test]
fn dropping_the_runtime_with_live_handles_is_clean() {
    let rt = Runtime::new().expect("runtime");
    let _g = rt.el.enter();
    rt.lua
        .load("local uv = require('uv'); t = uv.new_timer(); s = uv.fs_scandir('/')")
        .exec()
        .expect("run");
}

#[test]
fn queue_work_runs_on_another_state_and_calls_back() {
    let got = run(r#"
        local work = uv.new_work(function(a, b) return a * b, 'done' end, function(product, word)
          out[1] = tostring(product) .. ' ' .. word
        end)
        uv.queue_work(work, 6, 7)
    "#);
    assert_eq!(got, "42 done");
}
