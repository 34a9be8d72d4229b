//! `--inspect-dap-tcp`: DAP with Content-Length framing over TCP, for DAP clients that do not
//! speak websocket (nvim-dap, Emacs dape, Helix). Plain threads: a reader per connection feeds
//! the Lua side through the same [`Link`] as the websocket; a writer drains its queue.

use std::io::BufReader;
use std::net::{Shutdown, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::framing::{read_message, write_message};
use super::server::{Incoming, Link, BACKLOG};

/// Serves DAP connections on `listener` until the process ends.
pub fn spawn(listener: TcpListener, link: Arc<Link>) -> std::io::Result<()> {
    listener.set_nonblocking(false)?;
    std::thread::Builder::new()
        .name("luvit-dap-tcp".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = stream.set_nodelay(true);
                let link = link.clone();
                let _ = std::thread::Builder::new()
                    .name("luvit-dap-conn".into())
                    .spawn(move || serve(stream, &link));
            }
        })?;
    Ok(())
}

fn serve(stream: std::net::TcpStream, link: &Link) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let id = link.new_id();
    let (out_tx, mut out_rx) = super::outbox::channel();
    link.send(Incoming::Connected {
        id,
        out: out_tx,
        mobdebug: false,
    });
    let written = Arc::new(AtomicUsize::new(0));
    let counted = written.clone();
    let w = std::thread::spawn(move || {
        while let Some(text) = out_rx.blocking_recv() {
            if write_message(&mut writer, &text).is_err() {
                break;
            }
            counted.fetch_add(1, Ordering::Relaxed);
        }
        let _ = writer.shutdown(Shutdown::Both);
    });
    let mut reader = BufReader::new(&stream);
    let mut forwarded = 0usize;
    // A framing error cannot be answered (the stream is out of step): the connection ends.
    while let Ok(Some(text)) = read_message(&mut reader) {
        link.send(Incoming::Message { id, text });
        forwarded += 1;
        // Backpressure: wait while the Lua side is behind, or while answers pile up for a
        // client that does not read them (every request is answered once).
        while link.backed_up()
            || forwarded.saturating_sub(written.load(Ordering::Relaxed)) >= BACKLOG
        {
            if w.is_finished() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    link.send(Incoming::Disconnected { id });
    let _ = w.join();
}
