//! Every program in `examples/` runs: the ones that end by themselves exit 0 with the output
//! they promise; the servers answer a real request on 127.0.0.1 and are then stopped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

fn run(name: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .arg(example(name))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run luvit");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(name: &str, port: u16) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_luvit"))
        .arg(example(name))
        .env("PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("start server");
    Server(child)
}

/// Sends `request` once the server accepts connections; returns the whole response.
fn ask(port: u16, request: &str) -> String {
    let start = Instant::now();
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(10)))
                    .expect("timeout");
                s.write_all(request.as_bytes()).expect("send");
                let mut out = Vec::new();
                s.read_to_end(&mut out).expect("read response");
                return String::from_utf8_lossy(&out).into_owned();
            }
            Err(_) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("server on {port} never answered: {e}"),
        }
    }
}

#[test]
fn self_terminating_examples_run() {
    assert!(run("hello.lua", &[]).contains("Hello from luvit-rs"));
    run("timers.lua", &[]);
    run("streams.lua", &[]);
    run("files.lua", &[]);
    assert!(run("http-client.lua", &[]).contains("You asked for /example"));
    assert!(run("tcp-echo.lua", &["--selftest"]).contains("echoed: ping"));
}

#[test]
fn hello_http_server_answers() {
    let port = free_port();
    let _server = serve("http-hello.lua", port);
    let res = ask(
        port,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(res.starts_with("HTTP/1.1 200 OK\r\n"), "{res}");
    assert!(res.ends_with("\r\n\r\nHello world\n"), "{res}");
}

#[test]
fn file_server_streams_files_and_refuses_escapes() {
    let port = free_port();
    let _server = serve("file-server.lua", port);
    let res = ask(port, "GET /hello.lua HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(res.starts_with("HTTP/1.1 200 OK\r\n"), "{res}");
    assert!(res.contains("Hello from luvit-rs"), "{res}");
    let res = ask(
        port,
        "GET /../Cargo.toml HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert!(res.starts_with("HTTP/1.1 403"), "{res}");
    let res = ask(port, "GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(res.starts_with("HTTP/1.1 404"), "{res}");
}
