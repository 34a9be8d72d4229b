//! A client's outgoing queue: what the Lua side sends a transport, with a count of the bytes
//! queued and not yet taken by the transport's writer. The debugger reads the count to hold
//! program output to a budget for a client that does not read ([`OUTPUT_BUDGET`]: past it,
//! output is dropped and counted, never waited for), and the MobDebug reader to stop reading
//! commands while replies pile up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// The most bytes a client's queue may hold before program output for it is dropped.
pub const OUTPUT_BUDGET: usize = 8 << 20;

/// The sending side (the Lua thread's).
pub struct Outbox {
    tx: UnboundedSender<String>,
    queued: Arc<AtomicUsize>,
}

/// The transport's side.
pub struct OutboxReader {
    rx: UnboundedReceiver<String>,
    queued: Arc<AtomicUsize>,
}

/// A new queue.
pub fn channel() -> (Outbox, OutboxReader) {
    let (tx, rx) = unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    (
        Outbox {
            tx,
            queued: queued.clone(),
        },
        OutboxReader { rx, queued },
    )
}

impl Outbox {
    /// Queues a message; false when the transport is gone.
    pub fn send(&self, text: String) -> bool {
        let n = text.len();
        self.queued.fetch_add(n, Ordering::Relaxed);
        if self.tx.send(text).is_err() {
            self.queued.fetch_sub(n, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Bytes queued and not yet taken by the transport.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

impl OutboxReader {
    fn took(&self, text: String) -> String {
        self.queued.fetch_sub(text.len(), Ordering::Relaxed);
        text
    }

    /// The next message; `None` once the Lua side dropped the queue.
    pub async fn recv(&mut self) -> Option<String> {
        let t = self.rx.recv().await?;
        Some(self.took(t))
    }

    /// [`OutboxReader::recv`] for a plain thread.
    pub fn blocking_recv(&mut self) -> Option<String> {
        let t = self.rx.blocking_recv()?;
        Some(self.took(t))
    }

    pub fn try_recv(&mut self) -> Result<String, TryRecvError> {
        let t = self.rx.try_recv()?;
        Ok(self.took(t))
    }

    /// Bytes queued and not yet taken (shared with the sending side).
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// A handle on the count, for a reader thread that watches the writer's backlog.
    pub fn counter(&self) -> Arc<AtomicUsize> {
        self.queued.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_follows_what_is_queued_and_taken() {
        let (out, mut rx) = channel();
        assert!(out.send("hello".into()) && out.send("abc".into()));
        assert_eq!(out.queued(), 8);
        assert_eq!(rx.try_recv().as_deref(), Ok("hello"));
        assert_eq!((out.queued(), rx.queued()), (3, 3));
        drop(rx);
        assert!(!out.send("gone".into()));
        assert_eq!(out.queued(), 3);
    }
}
