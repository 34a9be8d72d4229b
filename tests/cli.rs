//! The `luvit` command line as a user meets it: flags, exit codes, error messages.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn luvit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_luvit"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run luvit")
}

fn script(name: &str, body: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("luvit-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, body).expect("write script");
    path
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn version_lists_luvit_and_luajit() {
    let out = luvit(&["-v"]);
    assert!(out.status.success());
    let s = text(&out.stdout);
    assert!(s.contains("luvit ") && s.contains("LuaJIT"), "{s}");
}

#[test]
fn help_prints_usage() {
    let out = luvit(&["--help"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("Usage: luvit"));
}

#[test]
fn unknown_flag_exits_2_with_a_clear_error() {
    let out = luvit(&["--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown option '--no-such-flag'"));
}

#[test]
fn missing_script_is_one_line_and_exit_1() {
    let out = luvit(&["/nonexistent/app.lua"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/app.lua"), "{err}");
}

#[test]
fn eval_prints_and_exits_0() {
    let out = luvit(&["-e", "print('hi', 1 + 1)"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi\t2\n");
}

#[test]
fn script_error_reports_file_line_and_traceback_and_exits_1() {
    let p = script("boom.lua", "local x = 1\nerror('boom')\n");
    let out = luvit(&[p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("boom.lua:2: boom"), "{err}");
    assert!(err.contains("stack traceback"), "{err}");
}

#[test]
fn error_in_a_timer_callback_exits_1_with_its_site() {
    let p = script(
        "timer-boom.lua",
        "require('timer').setTimeout(1, function()\n  error('late')\nend)\n",
    );
    let out = luvit(&[p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("timer-boom.lua:2: late"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn uncaught_exception_listener_keeps_the_process_alive() {
    let p = script(
        "caught.lua",
        "process:on('uncaughtException', function(e) print('caught', e) end)\nrequire('timer').setTimeout(1, function() error('x', 0) end)\nrequire('timer').setTimeout(5, function() print('after') end)\n",
    );
    let out = luvit(&[p.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "caught\tx\nafter\n");
}

#[test]
fn process_exit_code_and_exit_event() {
    let p = script("exit.lua", "process:on('exit', function(c) print('exit', c) end)\nprocess.exit(3)\nprint('not reached')\n");
    let out = luvit(&[p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), "exit\t3\n");
}

#[test]
fn args_hold_the_script_and_its_arguments() {
    let p = script(
        "args.lua",
        "print(#args, args[1] ~= nil, args[2], args[3])\n",
    );
    let out = luvit(&[p.to_str().unwrap(), "a", "--b"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "3\ttrue\ta\t--b\n");
}

#[test]
fn program_from_piped_stdin_runs() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run luvit");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"print('from stdin')")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "from stdin\n");
}

#[test]
fn syntax_error_in_required_module_names_its_file_and_line() {
    let dir = script("main-req.lua", "require('./bad')\n");
    let bad = dir.with_file_name("bad.lua");
    std::fs::write(&bad, "local x = = 1\n").expect("write");
    let out = luvit(&[dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("bad.lua:1:"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn missing_module_lists_the_paths_tried() {
    let p = script("main-missing.lua", "require('no-such-module-xyz')\n");
    let out = luvit(&[p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("No such module 'no-such-module-xyz'"), "{err}");
    assert!(err.contains("tried:"), "{err}");
}

#[test]
fn exit_inside_an_exit_listener_does_not_recurse() {
    let p = script(
        "exit-twice.lua",
        "process:on('exit', function(c) print('exit', c); process.exit(5) end)\nprocess.exit(2)\n",
    );
    let out = luvit(&[p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(text(&out.stdout), "exit\t2\n");
}

/// More arguments than LuaJIT's 8,000 C-stack slots (where mlua keeps the Lua values Rust
/// holds at once): 10,000 failed to start with "out of Lua stack".
#[test]
fn ten_thousand_script_arguments_all_arrive() {
    let path = script("argc.lua", "print(#args, args[#args])\n");
    let many: Vec<String> = (1..=10_000).map(|i| i.to_string()).collect();
    let mut all = vec![path.to_string_lossy().into_owned()];
    all.extend(many);
    let refs: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
    let out = luvit(&refs);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "10001\t10000\n");
}
