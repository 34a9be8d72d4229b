//! The `luvit` command: parse flags, build the runtime, run, exit with the program's code.

use luvit::cli::{self, Command};

use luvit::runtime::{versions, Runtime};

fn main() {
    // `luvit dap`: a stdio debug adapter that launches programs under the debugger.
    if std::env::args().nth(1).as_deref() == Some("dap") && std::env::args().count() == 2 {
        let exe = std::env::current_exe()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "luvit".into());
        std::process::exit(luvit_devtools::debug::adapter::run(&exe));
    }
    // `luvit heapdiff A B [--json]`: what grew between two heap snapshots.
    if std::env::args().nth(1).as_deref() == Some("heapdiff") {
        let args: Vec<String> = std::env::args().skip(2).collect();
        std::process::exit(luvit_devtools::profile::heap::diff::run(&args));
    }
    let opts = match cli::parse(std::env::args().collect()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    match &opts.command {
        Command::Help => {
            print!("{}", cli::USAGE);
            return;
        }
        Command::Script { path, .. } => {
            if let Err(e) = std::fs::metadata(path) {
                let why = match e.kind() {
                    std::io::ErrorKind::NotFound => "no such file".to_string(),
                    _ => e.to_string(),
                };
                eprintln!("luvit: cannot open script '{path}': {why}");
                std::process::exit(1);
            }
        }
        _ => {}
    }
    let rt = match Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    // SAFETY: the main state, on this thread, alive until the process exits.
    unsafe { luvit_devtools::oom::install(rt.el.main_state()) };
    if opts.command == Command::Version {
        for (name, v) in versions(&rt.lua) {
            println!("{name} {v}");
        }
        return;
    }
    let dirs = [
        ("--cpu-prof-dir", opts.cpu_prof.as_ref().map(|o| &o.dir)),
        ("--loop-prof-dir", opts.loop_prof.as_ref().map(|o| &o.dir)),
        ("--heap-prof-dir", opts.heap_prof.as_ref().map(|o| &o.dir)),
        (
            "--native-prof-dir",
            opts.native_prof.as_ref().map(|o| &o.dir),
        ),
    ];
    for (flag, dir) in dirs {
        if let Some(Err(e)) = dir.map(|d| luvit::profiling::check_dir(flag, d)) {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
    luvit::profiling::install_control(&rt.lua);
    if let Some(cpu) = &opts.cpu_prof {
        if let Err(e) = luvit::profiling::start_cpu(&rt.el, cpu.clone()) {
            eprintln!("luvit: {e}");
            std::process::exit(1);
        }
    }
    if let Some(o) = &opts.native_prof {
        if let Err(e) = luvit::profiling::start_native(o.clone()) {
            eprintln!("luvit: {e}");
            std::process::exit(1);
        }
    }
    if let Some(o) = &opts.loop_prof {
        if let Err(e) = luvit::profiling::start_loop(&rt.el, o.clone()) {
            eprintln!("luvit: {e}");
            std::process::exit(1);
        }
    }
    if let Some(o) = &opts.heap_prof {
        if let Err(e) = luvit::profiling::start_heap(&rt.el, o.clone()) {
            eprintln!("luvit: {e}");
            std::process::exit(1);
        }
    }
    if opts.cpu_prof.is_some()
        || opts.native_prof.is_some()
        || opts.loop_prof.is_some()
        || opts.heap_prof.is_some()
    {
        let _enter = rt.el.enter();
        luvit::profiling::watch_signals(&rt);
    }
    if let Some((host, port)) = &opts.mobdebug {
        let chunk = match &opts.command {
            // named as `require` names the main chunk: absolute, `.`/`..` resolved lexically
            Command::Script { path, .. } => {
                Some(format!("@{}", luvit_devtools::debug::normalize_path(path)))
            }
            _ => None,
        };
        if let Err(e) = luvit::inspector::start_mobdebug(&rt, host, *port, chunk) {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
    if let Some(inspect) = &opts.inspect {
        let title = match &opts.command {
            Command::Script { path, .. } => std::fs::canonicalize(path)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| path.clone()),
            _ => "luvit".to_string(),
        };
        if let Err(e) = luvit::inspector::start(&rt, inspect, &title) {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
    // No script, or -i: the bootstrap may open the REPL.
    if matches!(opts.command, Command::Stdin { .. }) || opts.interactive {
        if let Err(e) = luvit::repl_host::install(&rt, &opts) {
            eprintln!("luvit: {e}");
            std::process::exit(1);
        }
    }
    let command = luvit::repl_host::command(&opts);
    let code = rt.run_main(&opts.exe, command.as_ref().unwrap_or(&opts.command));
    std::process::exit(code);
}
