//! Faults, each a test on the real binary: a Lua error in every kind of callback, runaway
//! recursion and memory, a full disk, a file that vanishes mid-read, a child killed by a
//! signal, peers that reset mid-response and mid-TLS-handshake, a closed stdout, SIGTERM while
//! serving. Errors arrive through the API's error path; nothing panics; the server goes on.

mod harden;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use harden::{connect, fixture, limit_memory, line_of, luvit, run, Proc};

const KINDS: [&str; 8] = [
    "timer",
    "fs",
    "net",
    "http",
    "child",
    "signal",
    "coroutine",
    "gc",
];

fn fixture_arg(name: &str) -> String {
    fixture(name).to_string_lossy().into_owned()
}

fn assert_no_panic(stderr: &str) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "a Rust panic: {stderr}"
    );
}

#[test]
fn a_lua_error_in_each_kind_of_callback_is_reported_with_the_users_line_and_exit_1() {
    for kind in KINDS {
        let (code, _, stderr) = run(luvit().arg(fixture_arg("callback-errors.lua")).arg(kind));
        let line = line_of("callback-errors.lua", &format!("error('boom-{kind}')"));
        let site = format!("callback-errors.lua:{line}: boom-{kind}");
        assert_no_panic(&stderr);
        assert_eq!(code, Some(1), "{kind}: exit code; stderr: {stderr}");
        assert!(
            stderr.contains("Uncaught exception") && stderr.contains(&site),
            "{kind}: no '{site}' in: {stderr}"
        );
    }
}

#[test]
fn uncaught_exception_listeners_get_the_error_of_each_kind_of_callback_and_the_program_goes_on() {
    let (code, stdout, stderr) = run(luvit().arg(fixture_arg("callback-errors.lua")).arg("all"));
    assert_no_panic(&stderr);
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    let caught: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("caught: "))
        .collect();
    assert_eq!(caught.len(), KINDS.len(), "{stdout}");
    for (kind, l) in KINDS.iter().zip(caught) {
        let line = line_of("callback-errors.lua", &format!("error('boom-{kind}')"));
        assert!(
            l.contains(&format!("callback-errors.lua:{line}: boom-{kind}")),
            "{kind}: {l}"
        );
    }
    assert!(stdout.ends_with("all done\n"), "{stdout}");
}

#[test]
fn runaway_recursion_is_a_lua_error_at_the_users_line() {
    let (code, _, stderr) = run(luvit().arg(fixture_arg("exhaustion.lua")).arg("recursion"));
    let line = line_of("exhaustion.lua", "return recurse(n + 1) + 1");
    assert_no_panic(&stderr);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("exhaustion.lua:{line}: stack overflow")),
        "{stderr}"
    );
}

/// Address space for a program that allocates without end: the runtime needs well under this.
const MEMORY_CAP: libc::rlim_t = 1 << 30;

/// The line of exhaustion.lua that runs out of memory.
fn hoard_line() -> usize {
    line_of("exhaustion.lua", "t[#t + 1] = string.rep")
}

/// LuaJIT's own message is a bare "not enough memory"; ours says where it ran out.
#[test]
fn memory_exhaustion_is_a_lua_error_at_the_users_line_not_an_abort() {
    let mut cmd = luvit();
    cmd.arg(fixture_arg("exhaustion.lua")).arg("memory");
    let (code, _, stderr) = run(limit_memory(&mut cmd, MEMORY_CAP));
    assert_no_panic(&stderr);
    assert_eq!(code, Some(1), "ended by a signal? stderr: {stderr}");
    let at = format!("exhaustion.lua:{}: not enough memory", hoard_line());
    assert!(stderr.contains(&at), "{stderr}");
    // reported like any uncaught error: with its traceback through the user's functions
    assert!(stderr.contains("in function 'hoard'"), "{stderr}");
}

#[test]
fn a_program_recovers_from_recursion_and_memory_errors_it_catches() {
    let mut cmd = luvit();
    cmd.arg(fixture_arg("exhaustion.lua")).arg("recover");
    let (code, stdout, stderr) = run(limit_memory(&mut cmd, MEMORY_CAP));
    assert_no_panic(&stderr);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("recursion: false"), "{stdout}");
    assert!(stdout.contains("stack overflow"), "{stdout}");
    // pcall'd, at its line; and again (the reserve that saves the error is taken back)
    let at = format!("exhaustion.lua:{}: not enough memory", hoard_line());
    for label in ["memory: false ", "again: false "] {
        let line = stdout.lines().find(|l| l.starts_with(label));
        assert!(line.is_some_and(|l| l.ends_with(&at)), "{label}: {stdout}");
    }
    assert!(stdout.ends_with("recovered\n"), "{stdout}");
}

/// Fuzz finding lua_api_set_immediate_after_walk_close (tests/fuzz/regressions/lua_api/): a
/// program that closed every handle uv.walk shows closed the timer module's check handle too;
/// setImmediate then queued callbacks that never ran and the loop stayed alive, never
/// blocking (a spinning process that did not end). Later (session 11, a lua_api process's
/// memory growing by a queued callback per program): an immediate queued before such a close
/// waited for the next setImmediate, forever if none came. uv.walk no longer lists the
/// runtime's own check handle: the immediate runs, as in node.
#[test]
fn lua_api_set_immediate_after_walk_close_runs_the_immediates_and_ends() {
    let (code, _, stderr) = run(luvit().arg(fixture_arg("walk-close.lua")));
    assert_no_panic(&stderr);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(stderr.contains("order a,b"), "stderr: {stderr}");
    let walked = stderr.lines().find(|l| l.starts_with("walked "));
    assert!(
        walked.is_some_and(|l| !l.contains("check")),
        "stderr: {stderr}"
    );
}

fn io_server() -> Proc {
    Proc::serve(&[&fixture_arg("io-faults.lua")], &[])
}

/// GET `path` on a fresh connection: the body of a 200 response.
fn body_of(port: u16, path: &str) -> String {
    let mut s = connect(port);
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").expect("send");
    let (head, body) = harden::read_response(&mut s).expect("a response");
    assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
    String::from_utf8_lossy(&body).into_owned()
}

#[test]
fn a_full_disk_a_vanishing_file_and_a_killed_child_come_back_as_errors_and_the_server_goes_on() {
    let mut server = io_server();
    let full = body_of(server.port, "/devfull");
    assert!(
        full.starts_with("writeFile: ENOSPC") && full.contains("stream: ENOSPC"),
        "{full}"
    );
    let vanish = body_of(server.port, "/vanish");
    let got: usize = vanish
        .strip_prefix("stream ended after ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{vanish}"));
    assert!(got < 4 * 1024 * 1024, "read past the truncation: {vanish}");
    assert!(vanish.contains("readFile: ENOENT"), "{vanish}");
    let child = body_of(server.port, "/child");
    assert!(child.ends_with("signal 9"), "{child}");
    assert_eq!(body_of(server.port, "/"), "hello");
    assert!(server.alive(), "{}", server.stderr());
    assert_no_panic(&server.stderr());
}

#[test]
fn peers_that_reset_mid_response_are_counted_as_closed_and_the_server_goes_on() {
    let mut server = io_server();
    for _ in 0..5 {
        let mut s = connect(server.port);
        s.write_all(b"GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .expect("send");
        let mut buf = vec![0u8; 100 * 1024];
        s.read_exact(&mut buf).expect("the start of the response");
        // RST instead of FIN: linger 0, then close.
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .expect("linger");
        drop(s);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let stats = loop {
        let stats = body_of(server.port, "/stats");
        if stats.starts_with("cut short 5 ") || Instant::now() > deadline {
            break stats;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(stats.starts_with("cut short 5 finished 0"), "{stats}");
    assert_eq!(body_of(server.port, "/"), "hello");
    assert!(server.alive(), "{}", server.stderr());
}

/// The first flight of a real TLS 1.3/1.2 client (rustls), for a server that is then left
/// mid-handshake.
fn client_hello() -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("a client");
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).expect("a ClientHello");
    hello
}

fn reset(s: TcpStream) {
    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
    drop(s);
}

#[test]
fn peers_that_reset_mid_tls_handshake_leave_the_https_server_serving() {
    let mut server = io_server();
    let port: u16 = server.line_with("tls ").parse().expect("a port");
    let hello = client_hello();
    for i in 0..20 {
        let mut s = connect(port);
        if i % 2 == 0 {
            // Half a ClientHello, then a reset.
            s.write_all(&hello[..hello.len() / 2]).expect("send");
        } else {
            // A whole ClientHello; the server's first flight arrives; then a reset.
            s.write_all(&hello).expect("send");
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).expect("the server's hello");
            assert!(n > 0 && buf[0] == 0x16, "a handshake record");
        }
        reset(s);
    }
    let code = format!(
        "require('https').get({{ host = '127.0.0.1', port = {port}, path = '/', \
         rejectUnauthorized = false }}, function(res) \
         res:on('data', function(d) io.write(d) end) end)"
    );
    let (status, stdout, stderr) = run(luvit().args(["-e", &code]));
    assert_eq!((status, stdout.as_str()), (Some(0), "hello"), "{stderr}");
    assert!(server.alive(), "{}", server.stderr());
    assert_no_panic(&server.stderr());
}

/// A client whose peer reset the connection before its own end (`:_end()`): the shutdown
/// fails with ENOTCONN, which is no error of the program's (the https client met it after a
/// whole response, when the server reset first, and died of an unhandled 'error').
#[test]
fn ending_a_socket_the_peer_already_reset_is_not_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.write_all(b"x").expect("send");
        // (the client stops reading at once, so it learns of the reset only at its end)
        std::thread::sleep(Duration::from_millis(100));
        reset(s);
    });
    let code = format!(
        "local c = require('net').connect({port}, '127.0.0.1', function() end) \
         c:write('unread') \
         c:on('error', function(e) print('error: ' .. tostring(e)) end) \
         c:on('data', function() \
           require('uv').read_stop(c._handle) \
           require('timer').setTimeout(400, function() c:_end() print('ended') end) \
         end)"
    );
    let (status, stdout, stderr) = run(luvit().args(["-e", &code]));
    peer.join().expect("the peer");
    assert_eq!((status, stdout.as_str()), (Some(0), "ended\n"), "{stderr}");
    assert_no_panic(&stderr);
}

#[test]
fn a_closed_stdout_fails_writes_through_the_error_path_and_the_server_goes_on() {
    let mut child = luvit()
        .arg(fixture_arg("io-faults.lua"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("luvit starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
    let mut port = 0;
    let mut line = String::new();
    while port == 0 {
        line.clear();
        assert!(lines.read_line(&mut line).expect("a line") > 0, "no port");
        if let Some(p) = line.trim().strip_prefix("listening ") {
            port = p.parse().expect("a port");
        }
    }
    // The reader goes away: every later write to stdout meets EPIPE (and SIGPIPE, ignored).
    drop(lines);
    for _ in 0..3 {
        assert_eq!(body_of(port, "/print"), "printed");
    }
    let stats = body_of(port, "/stats");
    assert!(stats.ends_with("stdout errors 3"), "{stats}");
    assert_eq!(body_of(port, "/"), "hello");
    assert!(matches!(child.try_wait(), Ok(None)), "the server died");
    let _ = child.kill();
    let out = child.wait_with_output().expect("ended");
    assert_no_panic(&String::from_utf8_lossy(&out.stderr));
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("luvit-faults-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp folder");
    dir
}

/// Waits (at most `within`) for the process to end; its exit status.
fn ended(server: &mut Proc, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            return status;
        }
        assert!(Instant::now() < deadline, "still running after {within:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn cpuprofiles(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "cpuprofile"))
                .count()
        })
        .unwrap_or(0)
}

fn sigterm(server: &Proc) {
    // SAFETY: kill(2) on our own child's pid, which has not been reaped.
    unsafe { libc::kill(server.pid() as libc::pid_t, libc::SIGTERM) };
}

/// Node's semantics, kept: a program that listens for SIGTERM and closes its server drains,
/// its in-flight responses finish and the process exits 0 when the loop is empty.
#[test]
fn sigterm_with_a_handler_that_closes_the_server_lets_in_flight_responses_finish() {
    let dir = temp_dir("graceful");
    let prof_dir = format!("--cpu-prof-dir={}", dir.display());
    let mut server = Proc::serve(
        &["--cpu-prof", &prof_dir, &fixture_arg("sigterm-server.lua")],
        &[("GRACEFUL", "1"), ("DELAY", "500")],
    );
    let mut clients: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = connect(server.port);
            s.write_all(b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .expect("send");
            s
        })
        .collect();
    for _ in 0..3 {
        server.line_with("request");
    }
    let t = Instant::now();
    sigterm(&server);
    server.line_with("draining");
    // The listening socket goes in the loop's close phase, just after the handler.
    let refused_by = Instant::now() + Duration::from_secs(1);
    while TcpStream::connect(("127.0.0.1", server.port)).is_ok() {
        assert!(
            Instant::now() < refused_by,
            "new connections still accepted"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    for s in &mut clients {
        let (head, body) = harden::read_response(s).expect("the in-flight response");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(body, b"finished after 500 ms\n");
    }
    let status = ended(&mut server, Duration::from_secs(3));
    eprintln!("drained and exited {:?} after SIGTERM", t.elapsed());
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    assert_eq!(cpuprofiles(&dir), 1, "the profile is written");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without a handler SIGTERM ends the process at once, as in node (a response in flight is
/// cut), but the profile is still written.
#[test]
fn sigterm_without_a_handler_ends_the_process_at_once_and_still_writes_the_profile() {
    use std::os::unix::process::ExitStatusExt;
    let dir = temp_dir("abrupt");
    let prof_dir = format!("--cpu-prof-dir={}", dir.display());
    let mut server = Proc::serve(
        &["--cpu-prof", &prof_dir, &fixture_arg("sigterm-server.lua")],
        &[("DELAY", "5000")],
    );
    let mut s = connect(server.port);
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("send");
    server.line_with("request");
    sigterm(&server);
    let status = ended(&mut server, Duration::from_secs(2));
    assert!(
        status.signal() == Some(libc::SIGTERM) || status.code() == Some(128 + libc::SIGTERM),
        "ended as SIGTERM ends a process: {status:?}"
    );
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(
        rest.is_empty(),
        "no response: {:?}",
        String::from_utf8_lossy(&rest)
    );
    assert_eq!(cpuprofiles(&dir), 1, "the profile is written");
    let _ = std::fs::remove_dir_all(&dir);
}
