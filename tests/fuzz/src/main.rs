//! `luvit-fuzz TARGET [FILE...]`: under afl-fuzz (built with `cargo afl build --features afl`)
//! runs TARGET on afl's inputs in persistent mode; otherwise runs it once on each FILE (or on
//! stdin), which reproduces a crash with a normal build.

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(name) = args.next() else {
        eprintln!(
            "usage: luvit-fuzz TARGET [FILE...]\ntargets: {}",
            luvit_fuzz::TARGETS.join(" ")
        );
        std::process::exit(2);
    };
    let Some(mut run) = luvit_fuzz::target(&name) else {
        eprintln!("luvit-fuzz: no target '{name}'");
        std::process::exit(2);
    };
    #[cfg(feature = "afl")]
    {
        let _ = args;
        afl::fuzz(true, |data| run(data));
    }
    #[cfg(not(feature = "afl"))]
    {
        let files: Vec<String> = args.collect();
        if files.is_empty() {
            let mut data = Vec::new();
            if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut data) {
                eprintln!("luvit-fuzz: stdin: {e}");
                std::process::exit(1);
            }
            run(&data);
        }
        for f in files {
            match std::fs::read(&f) {
                Ok(data) => run(&data),
                Err(e) => {
                    eprintln!("luvit-fuzz: {f}: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
}
