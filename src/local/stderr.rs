//! stderr that never stalls the run. A stopped reader of stderr
//! (`2>&1 | less`, paused) would otherwise block every `eprintln!` on the
//! event loop, and with it every connection. At start stderr becomes a pipe
//! of our own: one thread drains it into a bounded buffer in memory (whole
//! lines that do not fit are dropped and counted), a second writes that
//! buffer to the real stderr, as slowly as it takes. Line order is kept;
//! children inherit stderr and go through the same buffer. When the buffer
//! drains after drops, or at exit, the count is said.
//!
//! Unix: fd 2 is replaced by the pipe (`dup2`). Windows: the process's
//! standard error handle is (`SetStdHandle`); std looks that handle up on
//! every write, so `eprintln!` and spawned children follow it.

#[cfg(any(unix, windows))]
mod imp {
    use super::os::{self, Real};
    use std::collections::VecDeque;
    use std::fs::File;
    use std::io::Read;
    use std::sync::{Condvar, Mutex, OnceLock};
    use std::time::{Duration, Instant};

    /// Bytes of stderr held while its reader is stopped.
    const CAP: usize = 1 << 20;
    /// How long exit waits for held lines to be written.
    const EXIT_WAIT: Duration = Duration::from_secs(1);

    #[derive(Default)]
    struct Held {
        bytes: VecDeque<u8>,
        /// Whole lines dropped since the count was last said.
        dropped: u64,
        /// The drain thread has seen the pipe's end.
        ended: bool,
        /// The writer is in the middle of a write.
        writing: bool,
    }

    struct State {
        held: Mutex<Held>,
        /// Signalled when bytes arrive, when the pipe ends, and when the
        /// writer has written (exit waits on it).
        cv: Condvar,
        /// The real stderr.
        real: Real,
    }

    static STATE: OnceLock<State> = OnceLock::new();

    fn lock(s: &State) -> std::sync::MutexGuard<'_, Held> {
        s.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn start() {
        let Some(pipe) = os::Pipe::new() else { return };
        let state = State {
            held: Mutex::new(Held::default()),
            cv: Condvar::new(),
            real: pipe.real,
        };
        if STATE.set(state).is_err() {
            return;
        }
        let Some(s) = STATE.get() else { return };
        let reader = pipe.reader;
        if crate::local::thread("stderr-in", move || drain(s, reader)).is_err() {
            // Never redirected: exit has nothing to wait for.
            lock(s).ended = true;
            return;
        }
        if crate::local::thread("stderr-out", move || write_out(s)).is_err() {
            // Never redirected: exit has nothing to wait for.
            lock(s).ended = true;
            return;
        }
        // From here stderr is the pipe.
        os::redirect(pipe.writer);
    }

    /// Pipe to buffer: never blocks on the real stderr. A line that does
    /// not fit is dropped whole (a partial line is held until its end).
    fn drain(s: &State, mut r: File) {
        let mut line: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // Windows says "broken pipe" where Unix says end of file.
                Err(_) => break,
            };
            let mut h = lock(s);
            let mut whole = false;
            for part in buf[..n].split_inclusive(|b| *b == b'\n') {
                line.extend_from_slice(part);
                // A line longer than the whole buffer goes in pieces.
                if line.last() == Some(&b'\n') || line.len() >= CAP {
                    if h.bytes.len() + line.len() <= CAP {
                        h.bytes.extend(line.iter());
                    } else {
                        h.dropped += 1;
                    }
                    line.clear();
                    whole = true;
                }
            }
            drop(h);
            // The writer wakes for whole lines only: a line written in
            // pieces costs one wake-up, not one per piece.
            if whole {
                s.cv.notify_all();
            }
        }
        let mut h = lock(s);
        if !line.is_empty() && h.bytes.len() + line.len() <= CAP {
            h.bytes.extend(line.iter());
        }
        h.ended = true;
        drop(h);
        s.cv.notify_all();
    }

    fn dropped_line(n: u64) -> String {
        let s = if n == 1 { "" } else { "s" };
        format!("netcrab: stderr was not being read: {n} line{s} of it dropped\n")
    }

    /// Buffer to the real stderr, blocking here only.
    fn write_out(s: &State) {
        let mut chunk = Vec::new();
        loop {
            let mut h = lock(s);
            while h.bytes.is_empty() && h.dropped == 0 {
                if h.ended {
                    return;
                }
                h = s.cv.wait(h).unwrap_or_else(|p| p.into_inner());
            }
            chunk.clear();
            let (a, b) = h.bytes.as_slices();
            chunk.extend_from_slice(a);
            chunk.extend_from_slice(b);
            h.bytes.clear();
            // Said once what was held before the drops is out: the count
            // comes where the lines went missing.
            let dropped = std::mem::take(&mut h.dropped);
            h.writing = true;
            drop(h);
            if dropped > 0 {
                chunk.extend_from_slice(dropped_line(dropped).as_bytes());
            }
            s.real.write_all(&chunk);
            lock(s).writing = false;
            s.cv.notify_all();
        }
    }

    /// At exit: stop taking new lines through the pipe and wait (at most
    /// `EXIT_WAIT`) for what is held to be written.
    pub fn flush_at_exit() {
        let Some(s) = STATE.get() else { return };
        // stderr becomes the real one again: our pipe's write end closes,
        // so the drain sees its end once children holding it have gone.
        os::restore(&s.real);
        let deadline = Instant::now() + EXIT_WAIT;
        // Woken by the drain when it sees the pipe's end (within
        // microseconds when nothing else holds the pipe; a child still
        // holding it costs the whole wait) and by the writer after each write.
        let mut h = lock(s);
        while !(h.ended && h.bytes.is_empty() && !h.writing && h.dropped == 0)
            && Instant::now() < deadline
        {
            let left = deadline.saturating_duration_since(Instant::now());
            h =
                s.cv.wait_timeout(h, left)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
        }
        let lost = h.dropped > 0 || !h.bytes.is_empty() || h.writing;
        drop(h);
        if lost {
            // Said only if stderr can take it now: exit never blocks on it.
            os::say_if_writable(
                &s.real,
                b"netcrab: stderr was not being read: some of it was dropped at exit\n",
            );
        }
    }
}

#[cfg(unix)]
mod os {
    use std::fs::File;
    use std::io::Write;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

    /// The real stderr: our copy of the fd 2 we started with.
    pub struct Real(RawFd);

    impl Real {
        /// Every byte, or until stderr fails; blocks as long as it takes.
        pub fn write_all(&self, bytes: &[u8]) {
            // SAFETY: the copy stays open for the process's life; not closed here.
            let mut f = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(self.0) });
            let _ = f.write_all(bytes);
        }
    }

    pub struct Pipe {
        pub real: Real,
        pub reader: File,
        pub writer: OwnedFd,
    }

    impl Pipe {
        pub fn new() -> Option<Pipe> {
            // SAFETY: dup of fd 2; the copy is ours from here on.
            let real = unsafe { libc::dup(2) };
            if real < 0 {
                return None;
            }
            let mut fds = [-1; 2];
            // SAFETY: pipe2 fills two descriptors we then own.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
                // SAFETY: closing the copy made above.
                unsafe { libc::close(real) };
                return None;
            }
            // SAFETY: both were just created and are owned only here.
            let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
            // SAFETY: fcntl on our own copy: not inherited by children.
            unsafe { libc::fcntl(real, libc::F_SETFD, libc::FD_CLOEXEC) };
            Some(Pipe {
                real: Real(real),
                reader: File::from(r),
                writer: w,
            })
        }
    }

    /// fd 2 becomes the pipe (dup2 leaves it inheritable); `w` itself is
    /// closed, fd 2 holds the pipe.
    pub fn redirect(w: OwnedFd) {
        // SAFETY: dup2 onto fd 2 of a descriptor we own.
        unsafe { libc::dup2(w.as_raw_fd(), 2) };
    }

    pub fn restore(real: &Real) {
        // SAFETY: dup2 of a descriptor that stays open.
        unsafe { libc::dup2(real.0, 2) };
    }

    pub fn say_if_writable(real: &Real, msg: &[u8]) {
        let mut p = libc::pollfd {
            fd: real.0,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one pollfd we own, no wait.
        if unsafe { libc::poll(&mut p, 1, 0) } == 1 {
            // SAFETY: writing our own bytes to the real stderr.
            unsafe { libc::write(real.0, msg.as_ptr().cast(), msg.len()) };
        }
    }
}

#[cfg(windows)]
mod os {
    use std::ffi::c_void;
    use std::fs::File;
    use std::io::Write;
    use std::os::windows::io::{FromRawHandle, OwnedHandle, RawHandle};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    type Handle = *mut c_void;
    /// `STD_ERROR_HANDLE`, (DWORD)-12.
    const STD_ERROR: u32 = -12i32 as u32;

    #[link(name = "kernel32")]
    extern "system" {
        fn CreatePipe(
            read: *mut Handle,
            write: *mut Handle,
            attrs: *const c_void,
            size: u32,
        ) -> i32;
        fn GetStdHandle(which: u32) -> Handle;
        fn SetStdHandle(which: u32, h: Handle) -> i32;
        fn GetConsoleMode(h: Handle, mode: *mut u32) -> i32;
        fn WriteConsoleW(
            h: Handle,
            text: *const u16,
            len: u32,
            written: *mut u32,
            reserved: *const c_void,
        ) -> i32;
    }

    /// The real stderr handle we started with (kept as a number: handles
    /// are plain values shared between threads), and whether it is a
    /// console, which takes UTF-16 where a file or pipe takes bytes.
    pub struct Real {
        handle: usize,
        console: bool,
    }

    /// Our pipe's write end while it is the process's stderr; closed at exit.
    static WRITER: Mutex<Option<OwnedHandle>> = Mutex::new(None);

    impl Real {
        fn raw(&self) -> Handle {
            self.handle as Handle
        }

        /// Every byte, or until stderr fails; blocks as long as it takes.
        pub fn write_all(&self, bytes: &[u8]) {
            if self.console {
                // Whole lines arrive here, so a character is never split.
                let text: Vec<u16> = String::from_utf8_lossy(bytes).encode_utf16().collect();
                let mut rest = &text[..];
                while !rest.is_empty() {
                    let n = rest.len().min(8192);
                    let mut done = 0u32;
                    // SAFETY: `rest` holds at least `n` units; `done` outlives the call.
                    let ok = unsafe {
                        WriteConsoleW(
                            self.raw(),
                            rest.as_ptr(),
                            n as u32,
                            &mut done,
                            std::ptr::null(),
                        )
                    };
                    if ok == 0 || done == 0 {
                        return;
                    }
                    rest = &rest[(done as usize).min(rest.len())..];
                }
            } else {
                // SAFETY: the handle stays open for the process's life; not closed here.
                let mut f =
                    std::mem::ManuallyDrop::new(unsafe { File::from_raw_handle(self.raw()) });
                let _ = f.write_all(bytes);
            }
        }
    }

    pub struct Pipe {
        pub real: Real,
        pub reader: File,
        pub writer: OwnedHandle,
    }

    impl Pipe {
        pub fn new() -> Option<Pipe> {
            // SAFETY: reads the process's stderr handle.
            let real = unsafe { GetStdHandle(STD_ERROR) };
            // No stderr at all (a GUI start, or closed): nothing to guard.
            if real.is_null() || real as isize == -1 {
                return None;
            }
            let mut mode = 0u32;
            // SAFETY: `mode` outlives the call; fails for anything but a console.
            let console = unsafe { GetConsoleMode(real, &mut mode) } != 0;
            let (mut r, mut w): (Handle, Handle) = (std::ptr::null_mut(), std::ptr::null_mut());
            // SAFETY: CreatePipe fills two handles we then own; neither is
            // inheritable (std duplicates stderr for a child it spawns).
            if unsafe { CreatePipe(&mut r, &mut w, std::ptr::null(), 64 * 1024) } == 0 {
                return None;
            }
            // SAFETY: both were just created and are owned only here.
            let (r, w) = unsafe {
                (
                    File::from_raw_handle(r as RawHandle),
                    OwnedHandle::from_raw_handle(w as RawHandle),
                )
            };
            Some(Pipe {
                real: Real {
                    handle: real as usize,
                    console,
                },
                reader: r,
                writer: w,
            })
        }
    }

    pub fn redirect(w: OwnedHandle) {
        use std::os::windows::io::AsRawHandle;
        // SAFETY: the pipe's write end stays open (held in WRITER) while
        // it is the standard handle.
        if unsafe { SetStdHandle(STD_ERROR, w.as_raw_handle()) } != 0 {
            *WRITER.lock().unwrap_or_else(|p| p.into_inner()) = Some(w);
        }
    }

    pub fn restore(real: &Real) {
        // SAFETY: the real handle stays open for the process's life.
        unsafe { SetStdHandle(STD_ERROR, real.raw()) };
        // Closing our write end lets the drain see the pipe's end. A write
        // that looked the handle up just before the switch may fail: at
        // exit, one line at most.
        drop(WRITER.lock().unwrap_or_else(|p| p.into_inner()).take());
    }

    /// Windows cannot ask a pipe whether a write would block: the line is
    /// written from a thread, and exit waits for it only briefly.
    pub fn say_if_writable(real: &Real, msg: &'static [u8]) {
        let real = Real {
            handle: real.handle,
            console: real.console,
        };
        let Ok(t) = std::thread::Builder::new().spawn(move || real.write_all(msg)) else {
            return;
        };
        let deadline = Instant::now() + Duration::from_millis(50);
        while !t.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// What `eprintln!`/`eprint!` do: the text formatted first, then written
/// whole, ignoring failure (std's versions panic when stderr cannot be
/// written).
pub fn say(text: std::fmt::Arguments<'_>, newline: bool) {
    use std::io::Write;
    let mut line = match text.as_str() {
        Some(s) => String::from(s),
        None => text.to_string(),
    };
    if newline {
        line.push('\n');
    }
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[cfg(any(unix, windows))]
pub use imp::{flush_at_exit, start};

#[cfg(not(any(unix, windows)))]
pub fn start() {}

#[cfg(not(any(unix, windows)))]
pub fn flush_at_exit() {}
