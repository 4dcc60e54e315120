//! Character mode for `-i stdin` at a terminal (Unix): keys go out as they
//! are typed instead of a line at a time. Only line buffering is turned
//! off: the terminal still echoes, Backspace and Tab are ordinary keys, and
//! Ctrl-C still interrupts. Ctrl-D ends input, as at a shell. The settings
//! are restored on every way out (end of run, Ctrl-C, errors); netcrab never
//! panics, and a panic would abort without unwinding anyway.

#[cfg(unix)]
static SAVED: std::sync::Mutex<Option<libc::termios>> = std::sync::Mutex::new(None);

/// Switch stdin to character mode if it is a terminal. Returns whether it did.
#[cfg(unix)]
pub fn enter_char_mode() -> bool {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return false;
    }
    // SAFETY: termios is plain data, for which all-zero bytes are valid.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: tcgetattr fills the termios we own for fd 0.
    if unsafe { libc::tcgetattr(0, &mut t) } != 0 {
        return false;
    }
    let original = t;
    t.c_lflag &= !libc::ICANON;
    t.c_cc[libc::VMIN] = 1;
    t.c_cc[libc::VTIME] = 0;
    // SAFETY: applying a termios derived from the current one to fd 0.
    if unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) } != 0 {
        return false;
    }
    if let Ok(mut s) = SAVED.lock() {
        *s = Some(original);
    }
    true
}

#[cfg(not(unix))]
pub fn enter_char_mode() -> bool {
    false
}

/// Put the terminal back as it was (no-op if character mode was not used).
pub fn restore() {
    #[cfg(unix)]
    if let Some(t) = SAVED.lock().ok().and_then(|mut s| s.take()) {
        // SAFETY: restoring the settings read from fd 0 earlier.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
    }
}

/// Ctrl-D in character mode: the end of input.
pub const END_OF_INPUT: u8 = 0x04;
