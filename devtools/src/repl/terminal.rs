//! The terminal as the process leaves it: whatever ends the process (`.exit`, `os.exit()` in a
//! timer while the prompt is in raw mode, an uncaught error), an `atexit` handler prints the
//! output still in the pseudo-terminal and puts the terminal back as it was found.

use std::sync::OnceLock;

use super::output::Capture;

static CAPTURE: OnceLock<Capture> = OnceLock::new();
static SAVED: OnceLock<libc::termios> = OnceLock::new();

/// Remembers the terminal's mode and registers the exit handler; keeps `capture` for it.
pub fn guard(capture: Option<Capture>) {
    if let Some(c) = capture {
        let _ = CAPTURE.set(c);
    }
    // SAFETY: tcgetattr fills a zeroed termios; atexit takes a plain extern "C" function.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::isatty(0) == 1 && libc::tcgetattr(0, &mut t) == 0 {
            let _ = SAVED.set(t);
        }
        libc::atexit(at_exit);
    }
}

/// The output capture, if stdout was a terminal.
pub fn capture() -> Option<&'static Capture> {
    CAPTURE.get()
}

/// Waits until what was written so far is on the screen.
pub fn sync() {
    if let Some(c) = CAPTURE.get() {
        c.sync();
    }
}

extern "C" fn at_exit() {
    sync();
    if let Some(t) = SAVED.get() {
        // SAFETY: restoring the mode read at start on the same descriptor; the escape turns
        // bracketed paste off in case the prompt was up.
        unsafe {
            // Raw mode now means the prompt was up: end its line.
            let mut now: libc::termios = std::mem::zeroed();
            let raw = libc::tcgetattr(0, &mut now) == 0 && now.c_lflag & libc::ICANON == 0;
            libc::tcsetattr(0, libc::TCSADRAIN, t);
            if let Some(c) = CAPTURE.get() {
                c.write_real(if raw {
                    b"\x1b[?2004l\r\n"
                } else {
                    b"\x1b[?2004l"
                });
            }
        }
    }
}
