//! The clock of the loop's observers: nanoseconds on CLOCK_MONOTONIC (the clock `Instant`
//! reads) as a plain `u64`. The dispatch point reads it twice per callback when profiling and
//! the loop profiler does its arithmetic on it: a subtraction instead of `Instant`'s
//! normalized (seconds, nanoseconds) pair, on a path that runs for every callback.

/// Now, in nanoseconds on the monotonic clock.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out pointer; CLOCK_MONOTONIC always exists on Linux (the vDSO answers).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_moves_forward_with_instant() {
        let a = now_ns();
        let t = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = now_ns();
        let waited = t.elapsed().as_nanos() as u64;
        assert!(b > a && b - a >= 5_000_000, "{a} {b}");
        // the same clock as Instant: the two spans agree to a millisecond
        assert!(
            (b - a).abs_diff(waited) < 1_000_000,
            "{} vs {waited}",
            b - a
        );
    }
}
