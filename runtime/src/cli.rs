//! Command-line parsing: `luvit [options] [script.lua [args...]]`.

use std::fmt;

/// What the user asked for.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// Run a script file with arguments.
    Script {
        path: String,
        args: Vec<String>,
    },
    /// `-e CODE`: run a chunk of code; remaining args are visible in `args`.
    Eval {
        code: String,
        args: Vec<String>,
    },
    /// No script: the REPL on a terminal, the program from stdin otherwise.
    Stdin {
        args: Vec<String>,
    },
    Version,
    Help,
}

#[derive(Debug, PartialEq)]
pub struct Options {
    pub command: Command,
    /// `--inspect*`: the debugger's address and start mode.
    pub inspect: Option<luvit_devtools::debug::Options>,
    /// `--mobdebug[=[host:]port]`: the MobDebug IDE to dial.
    pub mobdebug: Option<(String, u16)>,
    /// `-i`/`--interactive`: open the REPL (after the script, if one is given).
    pub interactive: bool,
    /// `--cpu-prof` and its `-dir`/`-name`/`-interval` settings.
    pub cpu_prof: Option<luvit_devtools::profile::CpuOptions>,
    /// `--native-prof` and its `-dir`/`-name`/`-interval` settings.
    pub native_prof: Option<luvit_devtools::profile::native::NativeOptions>,
    /// `--heap-prof` and its `-dir`/`-interval` settings.
    pub heap_prof: Option<luvit_devtools::profile::heap::sampler::HeapProfOptions>,
    /// `--loop-prof` and its `-dir`/`-threshold` settings.
    pub loop_prof: Option<luvit_devtools::profile::LoopOptions>,
    /// The arguments exactly as given, for `process.argv` (`args[0]` is the executable).
    pub exe: String,
    pub raw: Vec<String>,
}

#[derive(Debug, PartialEq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub const USAGE: &str = "\
Usage: luvit [options] [script.lua [arguments...]]
       luvit dap    (a stdio DAP debug adapter: its launch request starts a program)
       luvit heapdiff A.heapsnapshot B.heapsnapshot [--json]
                    (what grew between two heap snapshots)

Options:
  -h, --help          print this help and exit
  -v, --version       print the versions of luvit-rs and its parts and exit
  -e, --eval CODE     run CODE (arguments that follow are in `args`)
  -i, --interactive   open the REPL, after running the script if one is given
  --inspect[=[host:]port]       serve the debugger (DAP over websocket; default
                                127.0.0.1:9229, port 0 picks a free one)
  --inspect-brk[=[host:]port]   the same, and stop on the script's first line
  --inspect-wait[=[host:]port]  the same, and run only once a debugger has attached
  --mobdebug[=[host:]port]      dial a MobDebug IDE (ZeroBrane Studio; default
                                localhost:8172 or $MOBDEBUG_PORT) and stop on the
                                first line
  --cpu-prof                    write a CPU profile at exit (.cpuprofile, .folded, .svg)
  --cpu-prof-dir=DIR            where (default: the working directory)
  --cpu-prof-name=NAME          the files' base name (default CPU.<date>.<time>.<pid>.0.<seq>)
  --cpu-prof-interval=MICROS    sampling interval (default 1000; LuaJIT samples per ms)
  --cpu-prof-format=FORMAT      cpuprofile (Chrome's, default) or pprof (.pb.gz); both
                                with .folded and .svg
  --native-prof                 sample the native side (Rust, C, the loop) at exit:
                                NATIVE.*.pb.gz (pprof) and .svg; not with --cpu-prof
  --native-prof-dir=DIR         where (default: the working directory)
  --native-prof-name=NAME       the files' base name (default NATIVE.<date>...)
  --native-prof-interval=MICROS sampling interval (default 10000)
  --heap-prof                   write a sampling heap profile at exit (.heapprofile, .svg)
  --heap-prof-dir=DIR           where (default: the working directory)
  --heap-prof-interval=BYTES    mean bytes between samples (default 524288)
  --loop-prof                   measure the event loop: lag, utilization, each callback
                                site; write LOOP.*.json and .trace.json and a summary
  --loop-prof-dir=DIR           where (default: the working directory)
  --loop-prof-threshold=MS      log callbacks longer than this with their stacks (50)
  --inspect-dap-tcp[=[host:]port]
                                serve DAP with Content-Length framing over TCP instead
                                (default 127.0.0.1:4711); combine with -brk/-wait
  --                  stop reading options; the next argument is the script

With no script, luvit starts the REPL on a terminal and otherwise runs the program read
from standard input.
";

/// `--inspect[=[host:]port]` and its -brk/-wait forms; `None` for other arguments.
fn inspect_flag(arg: &str) -> Option<Result<luvit_devtools::debug::Options, CliError>> {
    let (flag, value) = match arg.split_once('=') {
        Some((f, v)) => (f, Some(v)),
        None => (arg, None),
    };
    let (wait, brk, tcp) = match flag {
        "--inspect" => (false, false, false),
        "--inspect-brk" => (true, true, false),
        "--inspect-wait" => (true, false, false),
        "--inspect-dap-tcp" => (false, false, true),
        _ => return None,
    };
    let mut opts = luvit_devtools::debug::Options {
        host: "127.0.0.1".into(),
        port: if tcp { 4711 } else { 9229 },
        wait,
        brk,
        tcp,
    };
    if let Some(v) = value {
        let bad = || CliError(format!("luvit: {flag}: expected [host:]port, got '{v}'"));
        let (host, port) = match v.rsplit_once(':') {
            Some((h, p)) => (Some(h.trim_start_matches('[').trim_end_matches(']')), p),
            None if v.bytes().all(|b| b.is_ascii_digit()) => (None, v),
            None => (Some(v), "9229"),
        };
        if let Some(h) = host {
            if h.is_empty() {
                return Some(Err(bad()));
            }
            opts.host = h.to_string();
        }
        match port.parse::<u16>() {
            Ok(p) => opts.port = p,
            Err(_) => return Some(Err(bad())),
        }
    }
    Some(Ok(opts))
}

pub fn parse(argv: Vec<String>) -> Result<Options, CliError> {
    let mut it = argv.into_iter();
    let exe = it.next().unwrap_or_else(|| "luvit".to_string());
    let mut rest: Vec<String> = it.collect();
    let mut inspect: Option<luvit_devtools::debug::Options> = None;
    let mut mobdebug = None;
    let mut interactive = false;
    let mut cpu = FlagGroup::new("cpu-prof", &["dir", "name", "interval", "format"]);
    let mut native = FlagGroup::new("native-prof", &["dir", "name", "interval"]);
    let mut loop_flags = FlagGroup::new("loop-prof", &["dir", "threshold"]);
    let mut heap = FlagGroup::new("heap-prof", &["dir", "interval"]);
    loop {
        if matches!(
            rest.first().map(String::as_str),
            Some("-i" | "--interactive")
        ) {
            interactive = true;
            rest.remove(0);
            continue;
        }
        if cpu.take(&mut rest)?
            || native.take(&mut rest)?
            || loop_flags.take(&mut rest)?
            || heap.take(&mut rest)?
        {
            continue;
        }
        let Some(r) = rest.first().and_then(|a| {
            mobdebug_flag(a).or_else(|| inspect_flag(a).map(|r| r.map(Flag::Inspect)))
        }) else {
            break;
        };
        let new = match r? {
            Flag::Mobdebug(host, port) => {
                mobdebug = Some((host, port));
                rest.remove(0);
                continue;
            }
            Flag::Inspect(o) => o,
        };
        let given = rest[0].contains('=');
        // Several flags combine: `--inspect-dap-tcp=0 --inspect-brk` is DAP over TCP on a free
        // port, stopped on the first line.
        inspect = Some(match inspect {
            None => new,
            Some(old) => luvit_devtools::debug::Options {
                host: if given { new.host } else { old.host },
                port: if given || new.tcp { new.port } else { old.port },
                wait: old.wait || new.wait,
                brk: old.brk || new.brk,
                tcp: old.tcp || new.tcp,
            },
        });
        rest.remove(0);
    }
    let mut o = parse_rest(exe, rest)?;
    o.inspect = inspect;
    o.mobdebug = mobdebug;
    o.interactive = interactive;
    o.cpu_prof = cpu_options(&cpu)?;
    o.native_prof = native_options(&native)?;
    if o.cpu_prof.is_some() && o.native_prof.is_some() {
        return Err(CliError(
            "luvit: --cpu-prof and --native-prof both sample on SIGPROF: use one at a time".into(),
        ));
    }
    o.heap_prof = heap_options(&heap)?;
    o.loop_prof = loop_options(&loop_flags)?;
    Ok(o)
}

/// `--heap-prof`, `--heap-prof-dir=DIR`, `--heap-prof-interval=BYTES` (node's flags). main.rs
/// checks the directory before the program runs.
fn heap_options(
    g: &FlagGroup,
) -> Result<Option<luvit_devtools::profile::heap::sampler::HeapProfOptions>, CliError> {
    if !g.enabled()? {
        return Ok(None);
    }
    let interval = g
        .number("interval", "a number of bytes", |n| {
            n >= 1.0 && n.fract() == 0.0
        })?
        .map_or(
            luvit_devtools::profile::heap::sampler::DEFAULT_INTERVAL,
            |n| n as u64,
        );
    Ok(Some(
        luvit_devtools::profile::heap::sampler::HeapProfOptions {
            dir: g.dir(),
            interval,
        },
    ))
}

/// `--cpu-prof`, `--cpu-prof-dir=DIR`, `--cpu-prof-name=NAME`, `--cpu-prof-interval=MICROS`,
/// `--cpu-prof-format=cpuprofile|pprof` (node's flags, and the format).
fn cpu_options(g: &FlagGroup) -> Result<Option<luvit_devtools::profile::CpuOptions>, CliError> {
    if !g.enabled()? {
        return Ok(None);
    }
    let interval_us = g
        .number("interval", "microseconds", |n| n >= 1.0 && n.fract() == 0.0)?
        .map_or(1000, |n| n as u64);
    let format = match g.get("format") {
        None => luvit_devtools::profile::cpu::CpuFormat::CpuProfile,
        Some(f) => luvit_devtools::profile::cpu::CpuFormat::parse(f).ok_or_else(|| {
            CliError(format!(
                "luvit: --cpu-prof-format: unknown format '{f}' (formats: cpuprofile, pprof)"
            ))
        })?,
    };
    Ok(Some(luvit_devtools::profile::CpuOptions {
        dir: g.dir(),
        name: g.get("name").map(String::from),
        interval_us,
        format,
    }))
}

/// `--native-prof`, `--native-prof-dir=DIR`, `--native-prof-name=NAME`,
/// `--native-prof-interval=MICROS` (named like the CPU profiler's).
fn native_options(
    g: &FlagGroup,
) -> Result<Option<luvit_devtools::profile::native::NativeOptions>, CliError> {
    if !g.enabled()? {
        return Ok(None);
    }
    let interval_us = g
        .number("interval", "microseconds (100 or more)", |n| {
            n >= 100.0 && n.fract() == 0.0
        })?
        .map_or(luvit_devtools::profile::native::DEFAULT_INTERVAL_US, |n| {
            n as u64
        });
    Ok(Some(luvit_devtools::profile::native::NativeOptions {
        dir: g.dir(),
        name: g.get("name").map(String::from),
        interval_us,
    }))
}

/// A profiler's flags: `--NAME` turns it on, `--NAME-KEY=VALUE` (or `--NAME-KEY VALUE`) set
/// its options.
struct FlagGroup {
    name: &'static str,
    keys: &'static [&'static str],
    on: bool,
    values: Vec<(&'static str, String)>,
}

impl FlagGroup {
    fn new(name: &'static str, keys: &'static [&'static str]) -> FlagGroup {
        FlagGroup {
            name,
            keys,
            on: false,
            values: Vec::new(),
        }
    }

    /// Consumes one of the group's flags at the front of `rest`, if there is one.
    fn take(&mut self, rest: &mut Vec<String>) -> Result<bool, CliError> {
        let Some(arg) = rest.first().cloned() else {
            return Ok(false);
        };
        let Some(tail) = arg
            .strip_prefix("--")
            .and_then(|a| a.strip_prefix(self.name))
        else {
            return Ok(false);
        };
        if tail.is_empty() {
            self.on = true;
            rest.remove(0);
            return Ok(true);
        }
        let (key, inline) = match tail.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (tail, None),
        };
        let Some(key) = key
            .strip_prefix('-')
            .and_then(|k| self.keys.iter().find(|known| **known == k))
        else {
            return Ok(false);
        };
        rest.remove(0);
        let value = match inline {
            Some(v) => v,
            None if !rest.is_empty() => rest.remove(0),
            None => {
                return Err(CliError(format!(
                    "luvit: --{}-{key} needs a value",
                    self.name
                )))
            }
        };
        self.values.push((key, value));
        Ok(true)
    }

    /// The last value given for `key`.
    fn get(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the profiler is on; options without `--NAME` are an error.
    fn enabled(&self) -> Result<bool, CliError> {
        if !self.on && !self.values.is_empty() {
            let keys: Vec<String> = self.keys.iter().map(|k| format!("-{k}")).collect();
            return Err(CliError(format!(
                "luvit: --{}{} need --{}",
                self.name,
                keys.join("/"),
                self.name
            )));
        }
        Ok(self.on)
    }

    fn dir(&self) -> std::path::PathBuf {
        match self.get("dir") {
            Some(d) => std::path::PathBuf::from(d),
            None => std::env::current_dir().unwrap_or_else(|_| ".".into()),
        }
    }

    /// A number option, within `ok`.
    fn number(
        &self,
        key: &str,
        what: &str,
        ok: impl Fn(f64) -> bool,
    ) -> Result<Option<f64>, CliError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.parse::<f64>() {
                Ok(n) if n.is_finite() && ok(n) => Ok(Some(n)),
                _ => Err(CliError(format!(
                    "luvit: --{}-{key}: expected {what}, got '{v}'",
                    self.name
                ))),
            },
        }
    }
}

/// `--loop-prof`, `--loop-prof-dir=DIR`, `--loop-prof-threshold=MS`.
fn loop_options(g: &FlagGroup) -> Result<Option<luvit_devtools::profile::LoopOptions>, CliError> {
    if !g.enabled()? {
        return Ok(None);
    }
    let mut o = luvit_devtools::profile::LoopOptions {
        dir: g.dir(),
        ..Default::default()
    };
    if let Some(ms) = g.number("threshold", "milliseconds", |n| n >= 0.0)? {
        o.threshold = std::time::Duration::from_secs_f64(ms / 1000.0);
    }
    Ok(Some(o))
}

enum Flag {
    Inspect(luvit_devtools::debug::Options),
    Mobdebug(String, u16),
}

/// `--mobdebug[=[host:]port]`; the port defaults to $MOBDEBUG_PORT, then 8172.
fn mobdebug_flag(arg: &str) -> Option<Result<Flag, CliError>> {
    let value = match arg.split_once('=') {
        Some(("--mobdebug", v)) => Some(v),
        None if arg == "--mobdebug" => None,
        _ => return None,
    };
    let default_port = std::env::var("MOBDEBUG_PORT")
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(8172);
    let bad = |v: &str| {
        CliError(format!(
            "luvit: --mobdebug: expected [host:]port, got '{v}'"
        ))
    };
    Some(match value {
        None => Ok(Flag::Mobdebug("localhost".into(), default_port)),
        Some(v) => match v.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() => p
                .parse::<u16>()
                .map(|p| Flag::Mobdebug(h.trim_matches(['[', ']']).to_string(), p))
                .map_err(|_| bad(v)),
            Some(_) => Err(bad(v)),
            None if v.bytes().all(|b| b.is_ascii_digit()) && !v.is_empty() => v
                .parse::<u16>()
                .map(|p| Flag::Mobdebug("localhost".into(), p))
                .map_err(|_| bad(v)),
            None => Ok(Flag::Mobdebug(v.to_string(), default_port)),
        },
    })
}

fn parse_rest(exe: String, rest: Vec<String>) -> Result<Options, CliError> {
    // Options come before the script; everything after the script belongs to it.
    let Some(first) = rest.first().cloned() else {
        return Ok(Options {
            command: Command::Stdin { args: vec![] },
            inspect: None,
            mobdebug: None,
            interactive: false,
            cpu_prof: None,
            native_prof: None,
            heap_prof: None,
            loop_prof: None,
            exe,
            raw: rest,
        });
    };
    let command = match first.as_str() {
        "-h" | "--help" => Command::Help,
        "-v" | "--version" => Command::Version,
        "-e" | "--eval" => {
            let code = rest.get(1).cloned().ok_or_else(|| {
                CliError(format!(
                    "luvit: {first} needs an argument (the code to run)"
                ))
            })?;
            Command::Eval {
                code,
                args: rest[2..].to_vec(),
            }
        }
        "--" => match rest.get(1) {
            Some(p) => Command::Script {
                path: p.clone(),
                args: rest[2..].to_vec(),
            },
            None => Command::Stdin { args: vec![] },
        },
        "-" => Command::Stdin {
            args: rest[1..].to_vec(),
        },
        s if s.starts_with('-') => {
            return Err(CliError(format!(
                "luvit: unknown option '{s}' (see luvit --help)"
            )));
        }
        _ => Command::Script {
            path: first.clone(),
            args: rest[1..].to_vec(),
        },
    };
    Ok(Options {
        command,
        inspect: None,
        mobdebug: None,
        interactive: false,
        cpu_prof: None,
        native_prof: None,
        heap_prof: None,
        loop_prof: None,
        exe,
        raw: rest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Options, CliError> {
        parse(
            std::iter::once("luvit")
                .chain(args.iter().copied())
                .map(String::from)
                .collect(),
        )
    }

    #[test]
    fn script_arguments_after_the_script_are_not_options() {
        let o = p(&["app.lua", "-v", "x"]).unwrap();
        assert_eq!(
            o.command,
            Command::Script {
                path: "app.lua".into(),
                args: vec!["-v".into(), "x".into()]
            }
        );
    }

    #[test]
    fn unknown_flag_is_an_error_naming_it() {
        let e = p(&["--frobnicate"]).unwrap_err();
        assert!(e.0.contains("--frobnicate"), "{e}");
    }

    #[test]
    fn eval_without_code_is_an_error() {
        assert!(p(&["-e"]).is_err());
        assert_eq!(
            p(&["-e", "print(1)", "a"]).unwrap().command,
            Command::Eval {
                code: "print(1)".into(),
                args: vec!["a".into()]
            }
        );
    }

    #[test]
    fn inspect_flags_take_an_optional_address() {
        let o = p(&["--inspect", "app.lua"]).unwrap();
        let i = o.inspect.unwrap();
        assert_eq!(
            (i.host.as_str(), i.port, i.wait, i.brk),
            ("127.0.0.1", 9229, false, false)
        );
        let i = p(&["--inspect-brk=0", "app.lua"]).unwrap().inspect.unwrap();
        assert_eq!((i.port, i.wait, i.brk), (0, true, true));
        let i = p(&["--inspect-wait=localhost:9300", "a.lua"])
            .unwrap()
            .inspect
            .unwrap();
        assert_eq!((i.host.as_str(), i.port, i.wait), ("localhost", 9300, true));
        let i = p(&["--inspect=[::1]:0", "a.lua"]).unwrap().inspect.unwrap();
        assert_eq!(i.host, "::1");
        assert!(p(&["--inspect=host:port", "a.lua"]).is_err());
        assert!(p(&["--inspect=:1", "a.lua"]).is_err());
        let i = p(&["--inspect-dap-tcp=0", "--inspect-brk", "a.lua"])
            .unwrap()
            .inspect
            .unwrap();
        assert_eq!((i.port, i.tcp, i.brk, i.wait), (0, true, true, true));
        let o = p(&["--mobdebug=127.0.0.1:9000", "a.lua"]).unwrap();
        assert_eq!(o.mobdebug, Some(("127.0.0.1".into(), 9000)));
        assert!(p(&["--mobdebug=x:y", "a.lua"]).is_err());
        // after the script, it is the script's argument
        let o = p(&["a.lua", "--inspect"]).unwrap();
        assert!(o.inspect.is_none());
    }

    #[test]
    fn interactive_flag_comes_before_the_script() {
        let o = p(&["-i", "app.lua", "x"]).unwrap();
        assert!(o.interactive);
        assert_eq!(
            o.command,
            Command::Script {
                path: "app.lua".into(),
                args: vec!["x".into()]
            }
        );
        let o = p(&["--inspect", "--interactive"]).unwrap();
        assert!(o.interactive && o.inspect.is_some());
        assert_eq!(o.command, Command::Stdin { args: vec![] });
        assert!(!p(&["app.lua", "-i"]).unwrap().interactive);
    }

    #[test]
    fn heap_prof_flags_take_a_dir_and_an_interval() {
        let dir = std::env::temp_dir();
        let o = p(&[
            "--heap-prof",
            &format!("--heap-prof-dir={}", dir.display()),
            "--heap-prof-interval",
            "4096",
            "a.lua",
        ])
        .unwrap();
        let h = o.heap_prof.unwrap();
        assert_eq!((h.dir, h.interval), (dir, 4096));
        assert_eq!(
            p(&["--heap-prof", "a.lua"])
                .unwrap()
                .heap_prof
                .unwrap()
                .interval,
            524288
        );
        assert!(p(&["--heap-prof", "--heap-prof-interval=0", "a.lua"]).is_err());
        assert!(p(&["--heap-prof-interval=10", "a.lua"]).is_err());
    }

    #[test]
    fn no_arguments_reads_stdin() {
        assert_eq!(p(&[]).unwrap().command, Command::Stdin { args: vec![] });
    }
}
