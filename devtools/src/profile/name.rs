//! node's default names for the files the profilers write:
//! `PREFIX.YYYYMMDD.HHMMSS.PID.0.SEQ` in local time, where SEQ counts from 001 the files
//! this process has named, shared by every kind of profile as node shares it.

use std::sync::atomic::{AtomicU32, Ordering};

static SEQ: AtomicU32 = AtomicU32::new(1);

/// The next default name for a profile whose kind is `prefix` (`CPU`, `LOOP`, `Heap` ...).
pub fn dated(prefix: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: localtime_r fills the struct we own.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        tm
    };
    format!(
        "{prefix}.{:04}{:02}{:02}.{:02}{:02}{:02}.{}.0.{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_look_like_nodes_and_count_up() {
        let a = dated("CPU");
        let b = dated("Heap");
        assert!(a.starts_with("CPU.") && b.starts_with("Heap."), "{a} {b}");
        assert_eq!(a.split('.').count(), 6);
        let seq = |n: &str| n.rsplit('.').next().and_then(|s| s.parse::<u32>().ok());
        assert_eq!(seq(&a).map(|s| s + 1), seq(&b), "{a} then {b}");
        assert_eq!(a.rsplit('.').next().map(str::len), Some(3));
    }
}
