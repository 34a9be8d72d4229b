//! `luvit dap`'s way out to the editor: every message the adapter sends (its own answers, the
//! program's session relayed, the program's stdout/stderr as `output` events) goes through one
//! queue in order, and one thread writes the queue to stdout. Nothing that produces messages
//! waits for the editor, so an editor that stops reading stdout stalls no pipe and no program.
//!
//! Memory is bounded two ways: program output past [`OUTPUT_BUDGET`] queued bytes is dropped
//! and counted, and the editor hears how many bytes with the next message that reaches it (as
//! the websocket and MobDebug transports do); the program's own session messages are never
//! dropped, but the relay waits ([`ToEditor::wait_room`]) while the queue is over
//! [`RELAY_LIMIT`], which holds the program's DAP socket back, not the program.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use super::framing::write_unflushed;
use super::outbox::{self, Outbox, OUTPUT_BUDGET};
use super::protocol::{Request, Sequencer};

/// Queued bytes past which the relay from the program's session waits for the editor.
pub const RELAY_LIMIT: usize = OUTPUT_BUDGET + (4 << 20);

struct State {
    out: Outbox,
    /// Messages queued and not yet flushed to stdout (shared with the writer).
    unflushed: Arc<AtomicUsize>,
    seq: Sequencer,
    /// Output bytes dropped since the editor last heard of it.
    dropped: u64,
}

/// The adapter's sending side, shared by its threads.
#[derive(Clone)]
pub struct ToEditor {
    st: Arc<Mutex<State>>,
    /// Whether the writer still writes (stdout not closed).
    writing: Arc<AtomicBool>,
}

impl ToEditor {
    /// A queue written to `w` (stdout) by a thread of its own, until the queue is dropped or
    /// `w` fails.
    pub fn spawn<W: Write + Send + 'static>(w: W) -> ToEditor {
        let (out, mut rx) = outbox::channel();
        let writing = Arc::new(AtomicBool::new(true));
        let alive = writing.clone();
        let unflushed = Arc::new(AtomicUsize::new(0));
        let flushed = unflushed.clone();
        let _ = std::thread::Builder::new()
            .name("luvit-dap-out".into())
            .spawn(move || {
                let mut w = std::io::BufWriter::with_capacity(64 << 10, w);
                let mut next = rx.blocking_recv();
                let mut written = 0;
                while let Some(text) = next {
                    trace("out", &text);
                    if write_unflushed(&mut w, &text).is_err() {
                        break;
                    }
                    written += 1;
                    // flush once nothing more is waiting
                    next = match rx.try_recv() {
                        Ok(t) => Some(t),
                        Err(_) => {
                            if w.flush().is_err() {
                                break;
                            }
                            flushed.fetch_sub(std::mem::take(&mut written), Ordering::SeqCst);
                            rx.blocking_recv()
                        }
                    };
                }
                alive.store(false, Ordering::SeqCst);
            });
        ToEditor {
            st: Arc::new(Mutex::new(State {
                out,
                unflushed,
                seq: Sequencer::default(),
                dropped: 0,
            })),
            writing,
        }
    }

    /// Queues the message `make` builds (its seq taken after the dropped-output notice's,
    /// which goes first when there is one to give).
    fn queue(st: &mut State, make: impl FnOnce(&mut Sequencer) -> String) {
        if st.dropped > 0 {
            let n = std::mem::take(&mut st.dropped);
            let notice = st.seq.event(
                "output",
                json!({ "category": "console", "output": super::dropped_notice(n, "editor") }),
            );
            if st.out.send(notice.to_string()) {
                st.unflushed.fetch_add(1, Ordering::SeqCst);
            }
        }
        let msg = make(&mut st.seq);
        if st.out.send(msg) {
            st.unflushed.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Queues a message the program's session sent (never dropped).
    pub fn relay(&self, text: String) {
        if let Ok(mut st) = self.st.lock() {
            Self::queue(&mut st, |_| text);
        }
    }

    pub fn respond(&self, req: &Request, body: Result<Json, String>) {
        if let Ok(mut st) = self.st.lock() {
            Self::queue(&mut st, |seq| {
                match body {
                    Ok(b) => seq.response(req.seq, &req.command, b),
                    Err(e) => seq.error(req.seq, &req.command, &e),
                }
                .to_string()
            });
        }
    }

    /// An error response to a message that was not a request we could read.
    pub fn refuse(&self, seq: i64, command: &str, why: &str) {
        if let Ok(mut st) = self.st.lock() {
            Self::queue(&mut st, |s| s.error(seq, command, why).to_string());
        }
    }

    pub fn event(&self, name: &str, body: Json) {
        if let Ok(mut st) = self.st.lock() {
            Self::queue(&mut st, |seq| seq.event(name, body).to_string());
        }
    }

    /// The program wrote `text` to its stdout or stderr: an `output` event, or dropped and
    /// counted when the editor's queue is over its budget. Never waits.
    pub fn output(&self, category: &str, text: &str) {
        let Ok(mut st) = self.st.lock() else { return };
        // the event's JSON is a little longer than the text; the budget is about the text
        if st.out.queued().saturating_add(text.len()) > OUTPUT_BUDGET {
            st.dropped = st.dropped.saturating_add(text.len() as u64);
            return;
        }
        Self::queue(&mut st, |seq| {
            seq.event("output", json!({ "category": category, "output": text }))
                .to_string()
        });
    }

    fn queued(&self) -> usize {
        self.st.lock().map_or(0, |st| st.out.queued())
    }

    /// Waits while the queue is over [`RELAY_LIMIT`] (the editor is not reading).
    pub fn wait_room(&self) {
        while self.queued() > RELAY_LIMIT {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits up to `limit` for the writer to write out everything queued (before the adapter
    /// exits: its last answers should reach an editor that reads; not for a closed stdout).
    pub fn flush(&self, limit: Duration) {
        let until = Instant::now() + limit;
        let unflushed = self.st.lock().map(|st| st.unflushed.clone());
        let Ok(unflushed) = unflushed else { return };
        while unflushed.load(Ordering::SeqCst) > 0
            && self.writing.load(Ordering::SeqCst)
            && Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// `LUVIT_DAP_LOG=FILE` appends every message the adapter passes, for debugging editors.
pub fn trace(dir: &str, text: &str) {
    if let Some(path) = std::env::var_os("LUVIT_DAP_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{dir} {text}");
        }
    }
}

/// Splits what a pipe gave into text to send now and an incomplete UTF-8 sequence at its end
/// to keep for the next read (so a character cut by a read is not sent as two U+FFFD).
pub fn take_text(pending: &mut Vec<u8>) -> String {
    let rest = pending.split_off(pending.len() - incomplete_tail(pending));
    let text = String::from_utf8_lossy(pending).into_owned();
    *pending = rest;
    text
}

/// How many bytes at the end of `b` start a UTF-8 sequence that is not complete yet (0-3).
fn incomplete_tail(b: &[u8]) -> usize {
    for back in 1..=b.len().min(3) {
        let c = b[b.len() - back];
        if c & 0xc0 == 0x80 {
            continue; // a continuation byte: look further back for the lead
        }
        let need = match c {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => 1,
        };
        return if need > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_cut_by_a_read_is_sent_whole() {
        let mut p = "aé".as_bytes().to_vec();
        p.pop();
        assert_eq!(take_text(&mut p), "a");
        assert_eq!(p, vec![0xc3]);
        p.extend_from_slice(&[0xa9, b'b']);
        assert_eq!(take_text(&mut p), "éb");
        assert!(p.is_empty());
        let mut bad = vec![0xff, b'x', 0xe2, 0x82];
        assert_eq!(take_text(&mut bad), "\u{fffd}x");
        assert_eq!(bad, vec![0xe2, 0x82]);
    }

    #[test]
    fn output_past_the_budget_is_dropped_and_told_before_the_next_message() {
        // a writer that never takes anything: a pipe nobody reads
        struct Stuck;
        impl Write for Stuck {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                std::thread::sleep(Duration::from_secs(3600));
                Ok(0)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let ed = ToEditor::spawn(Stuck);
        let chunk = "x".repeat(64 << 10);
        for _ in 0..400 {
            ed.output("stdout", &chunk);
        }
        let queued = ed.queued();
        assert!(queued <= OUTPUT_BUDGET + (1 << 20), "{queued}");
        let dropped = ed.st.lock().map(|s| s.dropped).unwrap_or(0);
        assert!(dropped >= (400 << 16) - OUTPUT_BUDGET as u64, "{dropped}");
        ed.event("stopped", json!({}));
        assert_eq!(ed.st.lock().map(|s| s.dropped).unwrap_or(1), 0);
    }
}
