//! `--mobdebug`: a MobDebug controller written for the tests (it listens, as ZeroBrane does)
//! drives the real binary through the session an IDE runs; payloads are loaded by a real
//! LuaJIT (our binary's `-e`) and checked.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Ide {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    child: Child,
}

fn example_dir() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/debug");
    format!(
        "{}/",
        std::fs::canonicalize(root).unwrap().to_string_lossy()
    )
}

impl Ide {
    /// Listens, starts `luvit --mobdebug=127.0.0.1:PORT <script>`, accepts its call.
    fn start(script: &str) -> Ide {
        Ide::launch(script, true, &[], false)
    }

    /// Listens on a free port and starts the binary on `script` (with `--mobdebug` pointing
    /// at the port when `flag`, else with `IDE_PORT` in its environment), then accepts.
    fn launch(script: &str, flag: bool, env: &[(&str, &str)], capture_stdout: bool) -> Ide {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_luvit"));
        if flag {
            cmd.arg(format!("--mobdebug=127.0.0.1:{port}"));
        }
        cmd.arg(format!("{}{script}", example_dir()))
            .env("IDE_PORT", port.to_string())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(if capture_stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::inherit());
        let child = cmd.spawn().unwrap();
        let (sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Ide {
            reader: BufReader::new(sock.try_clone().unwrap()),
            writer: sock,
            child,
        }
    }

    fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.reader.read_line(&mut l).expect("a reply line");
        l.trim_end_matches(['\n', '\r']).to_string()
    }

    /// `204 Output stdout <n>` messages until the program ends (the socket closes): their text.
    fn output_until_closed(&mut self) -> String {
        let mut out = String::new();
        loop {
            let l = self.line();
            if l.is_empty() {
                return out;
            }
            let n: usize = l
                .strip_prefix("204 Output stdout ")
                .expect("output")
                .parse()
                .unwrap();
            let mut b = vec![0u8; n];
            self.reader.read_exact(&mut b).unwrap();
            out.push_str(&String::from_utf8_lossy(&b));
        }
    }

    fn ask(&mut self, line: &str) -> String {
        self.send(line);
        self.line()
    }

    /// A reply `200 OK <n>` / `401 ... <n>` followed by n bytes.
    fn ask_sized(&mut self, line: &str) -> (String, String) {
        let head = self.ask(line);
        let n: usize = head.rsplit(' ').next().unwrap().parse().unwrap();
        let mut body = vec![0u8; n];
        self.reader.read_exact(&mut body).unwrap();
        (head, String::from_utf8(body).unwrap())
    }
}

impl Drop for Ide {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Loads `payload` with LuaJIT's loadstring and runs `check` with the result in `v`; returns
/// what `check` prints.
fn lua_check(payload: &str, check: &str) -> String {
    let code = format!("local v = assert(loadstring(io.read('*a')))() {check}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .args(["-e", &code])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(payload.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{payload}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn an_ide_session_breakpoints_stack_exec_and_run_to_the_end() {
    let mut ide = Ide::start("basics.lua");
    let dir = example_dir();
    assert_eq!(ide.ask(&format!("BASEDIR {dir}")), "200 OK");
    assert_eq!(ide.ask("DELB * 0"), "200 OK");
    assert_eq!(ide.ask("SETB basics.lua 7"), "200 OK");
    assert_eq!(ide.ask("OUTPUT stdout c"), "200 OK");
    assert_eq!(ide.ask("LOAD 0 -"), "201 Started basics.lua 3");
    assert_eq!(ide.ask("STACK"), "200 OK do local _={};return _;end");
    assert_eq!(ide.ask("FROBNICATE"), "400 Bad Request");
    assert_eq!(ide.ask("RUN"), "200 OK");
    assert_eq!(ide.line(), "202 Paused basics.lua 7");
    let stack = ide.ask("STACK -- {maxlevel = 1}");
    let payload = stack.strip_prefix("200 OK ").expect("a stack");
    let shown = lua_check(
        payload,
        "print(v[1][1][1], v[1][1][2], v[1][1][4], v[1][2].sum[1], v[1][2].sum[2], v[2][1][4])",
    );
    assert_eq!(shown, "add\tbasics.lua\t7\t3\t3\t10");
    let (head, body) = ide.ask_sized("EXEC return sum * 2, 'x\\ny', {1, {2}} -- {stack = 1}");
    assert!(head.starts_with("200 OK "), "{head}");
    let shown = lua_check(&body, "print(#v, v[1], v[2], (v[3]:gsub(' %-%-.*', '')))");
    assert_eq!(shown, "3\t6\t\"x\\ny\"\t{1, {2}}");
    // EXEC's params shape the values: number format, entries per table, no comments
    let (_, body) = ide.ask_sized(
        "EXEC return 1/3, {1, 2, 3} -- {numformat = '%.3g', maxnum = 2, comment = false}",
    );
    assert_eq!(
        lua_check(&body, "print(v[1], v[2])"),
        "0.333\t{1, 2} --[[more]]"
    );
    // the caller's frame: stack = 2 is the main chunk, where total is not yet set
    let (_, body) = ide.ask_sized("EXEC return a -- {stack = 2}");
    assert_eq!(lua_check(&body, "print(v[1])"), "nil");
    let (head, body) = ide.ask_sized("EXEC error('boom')");
    assert!(head.starts_with("401 Error in Expression "), "{head}");
    assert!(body.contains("boom"), "{body}");
    let (head, _) = ide.ask_sized("EXEC return (");
    assert!(head.starts_with("401 Error in Expression "), "{head}");
    assert_eq!(ide.ask("DELB basics.lua 7"), "200 OK");
    assert_eq!(ide.ask("RUN"), "200 OK");
    // the program's output comes as 204 messages, then the socket closes at the end
    let out = ide.output_until_closed();
    assert!(
        out.contains("total\t3") && out.contains("late\t13"),
        "{out:?}"
    );
}

/// Fuzz finding (issue 11): EXEC and STACK params were loaded as code, so a params table with
/// a loop in it hung the debugger. They are read as data now (numbers, strings, booleans,
/// math.huge, nested tables): code in them makes them unreadable, and they are ignored.
#[test]
fn mobdebug_params_are_data_not_code() {
    let mut ide = Ide::start("basics.lua");
    ide.ask(&format!("BASEDIR {}", example_dir()));
    assert_eq!(ide.ask("SETB basics.lua 7"), "200 OK");
    assert_eq!(ide.ask("RUN"), "200 OK");
    assert_eq!(ide.line(), "202 Paused basics.lua 7");
    let started = std::time::Instant::now();
    let (head, body) =
        ide.ask_sized("EXEC return sum -- {stack = 1, x = (function() while true do end end)()}");
    assert!(head.starts_with("200 OK "), "{head}");
    assert_eq!(lua_check(&body, "print(v[1])"), "3");
    let stack = ide.ask("STACK -- {maxlevel = (function() while true do end end)()}");
    assert!(stack.starts_with("200 OK "), "{stack}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // data params still shape the values, with nested tables and strings in them
    let (_, body) = ide.ask_sized(
        "EXEC return 1/3, {1, 2, 3} -- {numformat = \"%.2g\", maxnum = 2, x = {1, {'}'}}, \
         comment = false}",
    );
    assert_eq!(
        lua_check(&body, "print(v[1], v[2])"),
        "0.33\t{1, 2} --[[more]]"
    );
    assert_eq!(ide.ask("DELB basics.lua 7"), "200 OK");
    assert_eq!(ide.ask("RUN"), "200 OK");
    // no more stops: the program runs to its end and the session closes
    assert_eq!(ide.output_until_closed(), "");
}

#[test]
fn over_a_yielding_line_continues_in_the_same_coroutine() {
    let mut ide = Ide::start("stepping.lua");
    ide.ask(&format!("BASEDIR {}", example_dir()));
    assert_eq!(ide.ask("SETB stepping.lua 12"), "200 OK");
    assert_eq!(ide.ask("RUN"), "200 OK");
    assert_eq!(ide.line(), "202 Paused stepping.lua 12");
    assert_eq!(ide.ask("DELB stepping.lua 12"), "200 OK");
    assert_eq!(ide.ask("OVER"), "200 OK");
    assert_eq!(ide.line(), "202 Paused stepping.lua 13");
    assert_eq!(ide.ask("STEP"), "200 OK");
    assert_eq!(ide.line(), "202 Paused stepping.lua 14");
    assert_eq!(ide.ask("OUT"), "200 OK");
    assert_eq!(ide.line(), "202 Paused stepping.lua 19");
    assert_eq!(ide.ask("EXIT"), "200 OK");
}

#[test]
fn suspend_and_setb_while_running_reach_a_hot_loop() {
    let mut ide = Ide::start("busy.lua");
    ide.ask(&format!("BASEDIR {}", example_dir()));
    assert_eq!(ide.ask("STEP"), "200 OK");
    assert_eq!(ide.line(), "202 Paused busy.lua 2");
    assert_eq!(ide.ask("RUN"), "200 OK");
    std::thread::sleep(Duration::from_millis(300));
    ide.send("SUSPEND");
    let paused = ide.line();
    let line: i32 = paused
        .strip_prefix("202 Paused busy.lua ")
        .expect("paused in the loop")
        .parse()
        .unwrap();
    assert!((4..=7).contains(&line), "{paused}");
    assert_eq!(ide.ask("RUN"), "200 OK");
    std::thread::sleep(Duration::from_millis(100));
    // SETB while running: no reply, and the breakpoint takes effect
    ide.send("SETB busy.lua 6");
    assert_eq!(ide.line(), "202 Paused busy.lua 6");
    // an IDE that goes away lets the program run on
    drop(ide.writer.try_clone());
}

/// Fuzz hang mobdebug_deferred_run_resumes (tests/fuzz/regressions/mobdebug/): a RUN or DONE
/// that arrived while the program ran paused it, was answered at the pause, and then the
/// program stayed stopped (the command's resume was dropped): the IDE waited for ever.
#[test]
fn mobdebug_deferred_run_resumes() {
    let mut ide = Ide::start("busy.lua");
    ide.ask(&format!("BASEDIR {}", example_dir()));
    assert_eq!(ide.ask("STEP"), "200 OK");
    assert_eq!(ide.line(), "202 Paused busy.lua 2");
    assert_eq!(ide.ask("RUN"), "200 OK");
    std::thread::sleep(Duration::from_millis(200));
    // RUN while running: the program pauses, the first RUN hears where, the second is answered
    ide.send("RUN");
    assert!(ide.line().starts_with("202 Paused busy.lua "));
    assert_eq!(ide.line(), "200 OK");
    std::thread::sleep(Duration::from_millis(100));
    // ... and the program runs: SETB gets no reply, its breakpoint stops the loop
    ide.send("SETB busy.lua 6");
    assert_eq!(ide.line(), "202 Paused busy.lua 6");
    // DONE while running: answered at the pause, then the program runs on undebugged
    assert_eq!(ide.ask("RUN"), "200 OK");
    assert_eq!(ide.line(), "202 Paused busy.lua 6");
    ide.send("DELB * 0");
    assert_eq!(ide.line(), "200 OK");
    assert_eq!(ide.ask("RUN"), "200 OK");
    std::thread::sleep(Duration::from_millis(100));
    ide.send("DONE");
    assert!(ide.line().starts_with("202 Paused busy.lua "));
    // it runs its hot loop on (it uses CPU) instead of staying stopped (idle)
    let cpu = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after = stat.rsplit(')').next().unwrap();
        let f: Vec<&str> = after.split_whitespace().collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    };
    let pid = ide.child.id();
    let before = cpu(pid);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        cpu(pid) >= before + 5,
        "the program stayed stopped after DONE"
    );
}

#[test]
fn no_ide_listening_is_one_line_and_the_program_runs() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .arg(format!("--mobdebug=127.0.0.1:{port}"))
        .arg(format!("{}basics.lua", example_dir()))
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no MobDebug IDE"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("total\t3"));
}

#[test]
fn a_watch_expression_stops_the_program_when_it_turns_true() {
    let mut ide = Ide::start("values.lua");
    ide.ask(&format!("BASEDIR {}", example_dir()));
    assert_eq!(ide.ask("SETW total > 5"), "200 OK 1");
    let head = ide.ask("SETW total >");
    assert!(head.starts_with("401 Error in Expression "), "{head}");
    let n: usize = head.rsplit(' ').next().unwrap().parse().unwrap();
    let mut msg = vec![0u8; n];
    ide.reader.read_exact(&mut msg).unwrap();
    assert_eq!(ide.ask("RUN"), "200 OK");
    assert_eq!(ide.line(), "203 Paused values.lua 15 1");
    let (_, body) = ide.ask_sized("EXEC return total, i");
    assert_eq!(lua_check(&body, "print(v[1], v[2])"), "6\t3");
    assert_eq!(ide.ask("DELW 1"), "200 OK");
    assert_eq!(ide.ask("DELW 7"), "400 Bad Request");
    assert_eq!(ide.ask("RUN"), "200 OK");
    assert_eq!(ide.line(), "", "the program ran to its end");
}

#[test]
fn a_program_that_calls_mobdebug_start_is_debugged_coroutines_and_all() {
    let mut ide = Ide::launch("zerobrane.lua", false, &[], true);
    ide.ask(&format!("BASEDIR {}", example_dir()));
    // the coroutine was created (and ran once) before the IDE attached
    assert_eq!(ide.ask("SETB zerobrane.lua 6"), "200 OK");
    assert_eq!(ide.ask("RUN"), "200 OK");
    assert_eq!(ide.line(), "202 Paused zerobrane.lua 6");
    let (_, body) = ide.ask_sized("EXEC return i");
    assert_eq!(lua_check(&body, "print(v[1])"), "2");
    let stack = ide.ask("STACK");
    let shown = lua_check(
        stack.strip_prefix("200 OK ").unwrap(),
        "print(#v >= 1, v[1][1][2])",
    );
    assert_eq!(shown, "true\tzerobrane.lua");
    assert_eq!(ide.ask("DELB zerobrane.lua 6"), "200 OK");
    assert_eq!(ide.ask("RUN"), "200 OK");
    assert_eq!(ide.line(), "", "the program ran to its end");
    let out = ide.child.wait_with_output_ref();
    assert!(
        out.contains("first\ttrue\t10") && out.contains("timer\ttrue\t20"),
        "{out}"
    );
}

trait OutputRef {
    fn wait_with_output_ref(&mut self) -> String;
}

impl OutputRef for Child {
    fn wait_with_output_ref(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut o) = self.stdout.take() {
            let _ = o.read_to_string(&mut s);
        }
        let _ = self.wait();
        s
    }
}

#[test]
fn the_zerobrane_plugin_parses_and_its_api_listing_loads() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let plugin = std::fs::read_to_string(root.join("devtools/zerobrane/luvit.lua")).unwrap();
    // the plugin is valid Lua (ZeroBrane loads it with its own Lua 5.1)
    let out = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .args(["-e", "assert(loadstring(io.read('*a'))) print('ok')"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(plugin.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    // the API listing it runs through the binary yields luvit's modules
    let start = plugin.find("local LIST_API = [[\n").unwrap() + "local LIST_API = [[\n".len();
    let end = start + plugin[start..].find("]]").unwrap();
    let listing = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .args(["-e", &plugin[start..end]])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listing.stdout);
    let shown = lua_check(
        &text,
        "print(v.fs.type, v.fs.childs.readFile.type, v.http.childs.createServer.type)",
    );
    assert_eq!(shown, "lib\tfunction\tfunction");
}

#[test]
fn output_stdout_r_redirects_the_programs_output_to_the_ide_only() {
    let mut ide = Ide::launch("basics.lua", true, &[], true);
    assert_eq!(ide.ask("OUTPUT stdout r"), "200 OK");
    assert_eq!(ide.ask("OUTPUT stderr x"), "400 Bad Request");
    assert_eq!(ide.ask("RUN"), "200 OK");
    let got = ide.output_until_closed();
    assert!(got.contains("total\t3"), "{got:?}");
    let local = ide.child.wait_with_output_ref();
    assert!(
        !local.contains("total"),
        "redirected, not copied: {local:?}"
    );
}
