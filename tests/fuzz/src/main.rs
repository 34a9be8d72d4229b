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
    // Inputs are read first: a target may change the working directory (lua_api's sandbox).
    #[cfg(not(feature = "afl"))]
    let inputs = {
        let files: Vec<String> = args.collect();
        let mut inputs = Vec::new();
        if files.is_empty() {
            let mut data = Vec::new();
            if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut data) {
                eprintln!("luvit-fuzz: stdin: {e}");
                std::process::exit(1);
            }
            inputs.push(data);
        }
        for f in files {
            match std::fs::read(&f) {
                Ok(data) => inputs.push(data),
                Err(e) => {
                    eprintln!("luvit-fuzz: {f}: {e}");
                    std::process::exit(1);
                }
            }
        }
        inputs
    };
    // mutable for the replay loop; afl's path moves it into its closure
    #[cfg_attr(feature = "afl", allow(unused_mut))]
    let Some(mut run) = luvit_fuzz::target(&name) else {
        eprintln!("luvit-fuzz: no target '{name}'");
        std::process::exit(2);
    };
    #[cfg(feature = "afl")]
    {
        let _ = args;
        // afl aborts on any panic (its hook): unwinding safety does not matter here.
        let mut run = std::panic::AssertUnwindSafe(run);
        luvit_fuzz::dump::install();
        afl::fuzz(true, move |data| {
            luvit_fuzz::dump::keep(data);
            let whole = &mut run;
            (whole.0)(data)
        });
    }
    #[cfg(not(feature = "afl"))]
    for data in inputs {
        run(&data);
    }
}
