//! Program output while the prompt is up: the process's stdout and stderr (when they are the
//! terminal) are moved onto a pseudo-terminal of our own, so Lua code, C libraries and child
//! processes all still see a terminal (colours, window size), and a reader thread hands what
//! they write to rustyline's `ExternalPrinter`, which prints it above the prompt and redraws
//! the half-typed line. rustyline itself writes to `/dev/tty`.
//!
//! [`Capture::sync`] makes the order deterministic: it writes a marker (an OSC sequence no
//! terminal shows) through the pseudo-terminal and waits until the reader has passed it on, so
//! everything written before has been printed when the next prompt appears.

use std::io;
use std::os::fd::RawFd;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Where captured output goes (rustyline's external printer, or a plain write).
pub type Sink = Box<dyn FnMut(String) + Send>;

const MARK: &[u8] = b"\x1b]7791;";

/// The pseudo-terminal standing in for stdout/stderr, and its reader thread's progress.
pub struct Capture {
    /// The slave side (what fds 1 and 2 now are), for writing sync markers.
    slave: RawFd,
    master: RawFd,
    /// The real terminal, for its window size.
    real: RawFd,
    progress: Arc<(Mutex<u64>, Condvar)>,
    next: Mutex<u64>,
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Capture {
    /// Moves fds 1 and 2 (those that are terminals) onto a new pseudo-terminal and starts the
    /// reader thread that feeds `sink`. `None` when stdout is not a terminal.
    pub fn start(sink: Sink) -> io::Result<Option<Capture>> {
        // SAFETY: plain libc calls on descriptors we own; each result is checked.
        unsafe {
            if libc::isatty(1) != 1 {
                return Ok(None);
            }
            let real = check(libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3))?;
            let master = check(libc::posix_openpt(
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            ))?;
            check(libc::grantpt(master))?;
            check(libc::unlockpt(master))?;
            let mut name = [0 as libc::c_char; 128];
            if libc::ptsname_r(master, name.as_mut_ptr(), name.len()) != 0 {
                return Err(io::Error::last_os_error());
            }
            let slave = check(libc::open(
                name.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            ))?;
            // The program's terminal behaves like the real one (output processing, size).
            let mut tio: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(real, &mut tio) == 0 {
                let mut mine: libc::termios = std::mem::zeroed();
                if libc::tcgetattr(slave, &mut mine) == 0 {
                    mine.c_oflag = tio.c_oflag;
                    libc::tcsetattr(slave, libc::TCSANOW, &mine);
                }
            }
            let progress = Arc::new((Mutex::new(0u64), Condvar::new()));
            let cap = Capture {
                slave,
                master,
                real,
                progress: progress.clone(),
                next: Mutex::new(0),
            };
            cap.update_size();
            check(libc::dup2(slave, 1))?;
            if libc::isatty(2) == 1 {
                check(libc::dup2(slave, 2))?;
            }
            std::thread::Builder::new()
                .name("repl-output".into())
                .spawn(move || pump(master, sink, progress))?;
            Ok(Some(cap))
        }
    }

    /// Gives the pseudo-terminal the real terminal's window size.
    pub fn update_size(&self) {
        // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a valid winsize on our own descriptors.
        unsafe {
            let mut ws: libc::winsize = std::mem::zeroed();
            if libc::ioctl(self.real, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0 {
                libc::ioctl(self.master, libc::TIOCSWINSZ, &ws);
            }
        }
    }

    /// Writes straight to the real terminal.
    pub fn write_real(&self, bytes: &[u8]) {
        // SAFETY: writing our own buffer to our own descriptor.
        unsafe {
            libc::write(self.real, bytes.as_ptr().cast(), bytes.len());
        }
    }

    /// Waits (up to a second) until everything written to stdout/stderr so far is printed.
    pub fn sync(&self) {
        let n = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            *next += 1;
            *next
        };
        let mut mark = MARK.to_vec();
        mark.extend_from_slice(n.to_string().as_bytes());
        mark.push(7);
        // SAFETY: writing our own buffer to our own descriptor.
        let w = unsafe { libc::write(self.slave, mark.as_ptr().cast(), mark.len()) };
        if w != mark.len() as isize {
            return;
        }
        let (lock, cv) = &*self.progress;
        let mut seen = lock.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while *seen < n {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            seen = match cv.wait_timeout(seen, left) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }
}

/// Reads the master side until the process ends: output goes to `sink`, markers to `progress`.
fn pump(master: RawFd, mut sink: Sink, progress: Arc<(Mutex<u64>, Condvar)>) {
    let mut buf = vec![0u8; 65536];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        // SAFETY: reading into our own buffer from our own descriptor.
        let n = unsafe { libc::read(master, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            return;
        }
        pending.extend_from_slice(&buf[..n as usize]);
        let (text, marks, rest) = split_marks(&pending);
        if !text.is_empty() {
            sink(text);
        }
        if let Some(m) = marks {
            let (lock, cv) = &*progress;
            let mut seen = lock.lock().unwrap_or_else(|e| e.into_inner());
            *seen = (*seen).max(m);
            cv.notify_all();
        }
        pending.drain(..pending.len() - rest);
    }
}

/// Splits `buf` into printable text (markers removed), the highest marker seen, and how many
/// bytes at the end to keep for later (an unfinished marker or UTF-8 sequence).
fn split_marks(buf: &[u8]) -> (String, Option<u64>, usize) {
    let mut text = Vec::with_capacity(buf.len());
    let mut mark = None;
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == 0x1b && MARK.starts_with(&buf[i..buf.len().min(i + MARK.len())]) {
            let after = i + MARK.len();
            if after > buf.len() {
                break; // a marker may be coming
            }
            match buf[after..].iter().position(|&b| b == 7) {
                Some(len) => {
                    let num = std::str::from_utf8(&buf[after..after + len])
                        .ok()
                        .and_then(|s| s.parse::<u64>().ok());
                    if let Some(num) = num {
                        mark = Some(mark.map_or(num, |m: u64| m.max(num)));
                    }
                    i = after + len + 1;
                    continue;
                }
                None if buf.len() - after < 24 => break,
                None => {}
            }
        }
        text.push(buf[i]);
        i += 1;
    }
    // Hold back an unfinished UTF-8 sequence at the end of the text.
    let keep_utf8 = match std::str::from_utf8(&text) {
        Ok(_) => 0,
        Err(e) if e.error_len().is_none() => text.len() - e.valid_up_to(),
        Err(_) => 0,
    };
    let rest = buf.len() - i + keep_utf8;
    text.truncate(text.len() - keep_utf8);
    (String::from_utf8_lossy(&text).into_owned(), mark, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_cut_out_and_counted() {
        let (t, m, rest) = split_marks(b"a\x1b]7791;3\x07b\x1b]7791;4\x07");
        assert_eq!((t.as_str(), m, rest), ("ab", Some(4), 0));
    }

    #[test]
    fn an_unfinished_marker_or_character_waits() {
        let (t, m, rest) = split_marks(b"ab\x1b]77");
        assert_eq!((t.as_str(), m, rest), ("ab", None, 4));
        let (t, _, rest) = split_marks(
            "x\u{e9}"
                .as_bytes()
                .split_last()
                .map(|(_, r)| r)
                .unwrap_or(b""),
        );
        assert_eq!((t.as_str(), rest), ("x", 1));
        let (t, _, rest) = split_marks(b"\x1b[31mred");
        assert_eq!((t.as_str(), rest), ("\x1b[31mred", 0));
    }
}
