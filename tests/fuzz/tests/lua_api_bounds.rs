//! The `lua_api` harness's bounds: a program that runs forever is stopped by its instruction
//! budget (in a plain loop, in a loop that catches the error, in a coroutine, in a loop the
//! JIT compiled before the hook was set, in a callback the cleanup runs) and the next program
//! runs as usual; programs start from an empty working directory; files are capped; the
//! process's own file descriptors are left alone, and the files a program left open closed.
//! One test function: the harness holds one runtime per thread and one working directory
//! per process.

use std::time::{Duration, Instant};

use luvit_fuzz::lua_api::Target;

/// Far above what a stopped program costs (tens of milliseconds), far below "forever".
const LIMIT: Duration = Duration::from_secs(20);

fn stopped(t: &Target, what: &str, code: &str) {
    let start = Instant::now();
    let r = t.run_source(code);
    let took = start.elapsed();
    assert!(
        matches!(r, Ok(None)),
        "{what}: a stopped program is a normal outcome, got {r:?}"
    );
    assert!(took < LIMIT, "{what}: took {took:?}");
    eprintln!("{what}: stopped in {took:?}");
}

/// A program after the stopped ones: runs to its end and sees no leftover handle.
fn runs_normally(t: &Target) {
    let r = t.run_source(
        "local uv = require('uv')\n\
         local n = 0\n\
         for i = 1, 1000 do n = n + i end\n\
         if n ~= 500500 then return 'the loop did not finish' end\n\
         local left = 0\n\
         uv.walk(function(h) if not h:is_closing() then left = left + 1 end end)\n\
         if left > 0 then return left .. ' handles left open' end",
    );
    assert!(matches!(r, Ok(None)), "a normal program after: {r:?}");
}

#[test]
fn lua_api_programs_are_bounded_and_start_alike() {
    let t = Target::new();

    stopped(&t, "a plain loop", "while true do end");
    runs_normally(&t);

    stopped(
        &t,
        "a loop that catches the budget's error",
        "while true do pcall(function() while true do end end) end",
    );
    runs_normally(&t);

    stopped(
        &t,
        "a loop in a coroutine",
        "coroutine.wrap(function() local x = 0 while true do x = x + 1 end end)()",
    );
    runs_normally(&t);

    // A trace compiled with no hook set: LUAJIT_ENABLE_CHECKHOOK makes it leave for the hook.
    t.lua()
        .load(
            "function SPIN(n) local x = 0 for i = 1, n do x = x + i % 7 end return x end\n\
             for _ = 1, 20 do SPIN(10000) end",
        )
        .exec()
        .expect("warm the trace");
    stopped(&t, "a compiled loop", "SPIN(1e15)");
    runs_normally(&t);

    // The cleanup closes every handle before it turns the loop: a timer's callback would not
    // run there, a close callback and an fs request's callback do.
    stopped(
        &t,
        "a close callback run at cleanup",
        "require('uv').new_timer():close(function() while true do end end)",
    );
    runs_normally(&t);
    stopped(
        &t,
        "an fs callback run at cleanup",
        "require('fs').stat('.', function() local x = 0 while true do x = x + 1 end end)",
    );
    runs_normally(&t);

    // Fuzz finding lua_api_fs_close_of_the_runtimes_own_fd (regressions/lua_api/): a program
    // closed fd 3, the loop's epoll, with fs.close(3.84...), and the next poll panicked. The
    // process's own file descriptors are not a program's to close: fs.close(0.5) is
    // fs.close(0) (the fd a number converts to), and is skipped.
    let (idx, n): (i64, i64) = t
        .lua()
        .load(
            "for i, e in ipairs(FUZZ_FNS) do\n\
               if e[1] == 'fs.close' then return i, #FUZZ_FNS end\n\
             end",
        )
        .eval()
        .expect("fs.close is among the functions");
    // bytes fb, cb pick function (fb * 256 + cb) % n + 1 with cb % 5 arguments; the argument
    // byte 6 picks the pool's sixth value, 0.5
    let (fb, cb) = (0..256i64)
        .flat_map(|fb| (0..256i64).map(move |cb| (fb, cb)))
        .find(|(fb, cb)| cb % 5 == 1 && (fb * 256 + cb) % n + 1 == idx)
        .expect("a byte pair for fs.close");
    eprintln!("fs.close(0.5): input {fb} {cb} 6");
    t.run(&[fb as u8, cb as u8, 6]);
    // SAFETY: F_GETFD only reads the descriptor's flags.
    let open = unsafe { libc::fcntl(0, libc::F_GETFD) } != -1;
    assert!(
        open,
        "lua_api_fs_close_of_the_runtimes_own_fd: a program closed fd 0"
    );

    // Each program starts in an empty working directory.
    let r = t.run_source(
        "local f = assert(io.open('left-behind', 'w')) f:write('x') f:close()\n\
         assert(require('uv').fs_mkdir('sub', 0))\n\
         assert(require('uv').fs_chmod('.', 0))",
    );
    assert!(matches!(r, Ok(None)), "writing: {r:?}");
    let r = t.run_source(
        "if io.open('left-behind') then return 'a file from the program before' end\n\
         local uv = require('uv')\n\
         if uv.fs_stat('sub') then return 'a directory from the program before' end\n\
         local f = io.open('mine', 'w') if not f then return 'the directory is not writable' end\n\
         f:close()",
    );
    assert!(matches!(r, Ok(None)), "reading: {r:?}");

    // A file a program leaves open is closed after it (fds would run out in a campaign).
    let r = t.run_source("LEFT_OPEN = assert(require('uv').fs_open('open', 'w', 420))");
    assert!(matches!(r, Ok(None)), "opening: {r:?}");
    let r = t.run_source(
        "local st, err = require('uv').fs_fstat(LEFT_OPEN)\n\
         if st then return 'fd ' .. LEFT_OPEN .. ' is still open' end\n\
         if not tostring(err):find('EBADF') then return 'not EBADF: ' .. tostring(err) end",
    );
    assert!(matches!(r, Ok(None)), "left open: {r:?}");

    // Files are capped: a write past 64 MiB fails (EFBIG), the process lives on.
    let r = t.run_source(
        "local uv = require('uv')\n\
         local fd = assert(uv.fs_open('big', 'w', 420))\n\
         local ok, err = uv.fs_write(fd, 'x', 2^31)\n\
         uv.fs_close(fd)\n\
         if ok then return 'a write at 2 GiB succeeded' end\n\
         if not tostring(err):find('EFBIG') then return 'not EFBIG: ' .. tostring(err) end",
    );
    assert!(matches!(r, Ok(None)), "file cap: {r:?}");
}
