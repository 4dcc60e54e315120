//! stderr that never stalls the run (Unix). A stopped reader of stderr
//! (`2>&1 | less`, paused) would otherwise block every `eprintln!` on the
//! event loop, and with it every connection. At start fd 2 becomes a pipe
//! of our own: one thread drains it into a bounded buffer in memory (whole
//! lines that do not fit are dropped and counted), a second writes that
//! buffer to the real stderr, as slowly as it takes. Line order is kept;
//! children inherit fd 2 and go through the same buffer. When the buffer
//! drains after drops, or at exit, the count is said.
//!
//! Windows: stderr is left as it is (a console or a pipe there is rarely
//! stopped; a stalled one still blocks).

#[cfg(unix)]
mod imp {
    use std::collections::VecDeque;
    use std::fs::File;
    use std::io::{Read, Write};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::sync::{Condvar, Mutex, OnceLock};
    use std::thread::{self, JoinHandle};
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
        real: RawFd,
        drain: Mutex<Option<JoinHandle<()>>>,
    }

    static STATE: OnceLock<State> = OnceLock::new();

    fn lock(s: &State) -> std::sync::MutexGuard<'_, Held> {
        s.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn start() {
        // SAFETY: dup of fd 2; the copy is ours from here on.
        let real = unsafe { libc::dup(2) };
        if real < 0 {
            return;
        }
        let mut fds = [-1; 2];
        // SAFETY: pipe2 fills two descriptors we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            // SAFETY: closing the copy made above.
            unsafe { libc::close(real) };
            return;
        }
        // SAFETY: both were just created and are owned only here.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: fcntl on our own copy: not inherited by children.
        unsafe { libc::fcntl(real, libc::F_SETFD, libc::FD_CLOEXEC) };
        let state = State {
            held: Mutex::new(Held::default()),
            cv: Condvar::new(),
            real,
            drain: Mutex::new(None),
        };
        if STATE.set(state).is_err() {
            return;
        }
        let Some(s) = STATE.get() else { return };
        let reader = File::from(r);
        let Ok(drain) = thread::Builder::new()
            .name("stderr-in".into())
            .spawn(move || drain(s, reader))
        else {
            return;
        };
        if thread::Builder::new()
            .name("stderr-out".into())
            .spawn(move || write_out(s))
            .is_err()
        {
            return;
        }
        *s.drain.lock().unwrap_or_else(|p| p.into_inner()) = Some(drain);
        // From here fd 2 is the pipe (dup2 leaves it inheritable).
        // SAFETY: dup2 onto fd 2 of a descriptor we own; `w` is closed after.
        unsafe { libc::dup2(w.as_raw_fd(), 2) };
        drop(w);
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
                Err(_) => break,
            };
            let mut h = lock(s);
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
                }
            }
            drop(h);
            s.cv.notify_all();
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
        // SAFETY: the real stderr stays open for the process's life.
        let mut real = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(s.real) });
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
            let _ = real.write_all(&chunk);
            if dropped > 0 {
                let _ = real.write_all(dropped_line(dropped).as_bytes());
            }
            lock(s).writing = false;
            s.cv.notify_all();
        }
    }

    /// At exit: stop taking new lines through the pipe and wait (at most
    /// `EXIT_WAIT`) for what is held to be written.
    pub fn flush_at_exit() {
        let Some(s) = STATE.get() else { return };
        // fd 2 becomes the real stderr again: our pipe's write end closes,
        // so the drain sees its end once children holding it have gone.
        // SAFETY: dup2 of a descriptor that stays open.
        unsafe { libc::dup2(s.real, 2) };
        let deadline = Instant::now() + EXIT_WAIT;
        if let Some(d) = s.drain.lock().unwrap_or_else(|p| p.into_inner()).take() {
            // It ends within microseconds when nothing else holds the pipe: look again soon,
            // then less often (a child still holding it costs the whole wait).
            let mut nap = Duration::from_micros(20);
            while !d.is_finished() && Instant::now() < deadline {
                thread::sleep(nap);
                nap = (nap * 2).min(Duration::from_millis(5));
            }
        }
        let mut h = lock(s);
        while (!h.bytes.is_empty() || h.writing || h.dropped > 0) && Instant::now() < deadline {
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
            let mut p = libc::pollfd {
                fd: s.real,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one pollfd we own, no wait.
            if unsafe { libc::poll(&mut p, 1, 0) } == 1 {
                let msg = b"netcrab: stderr was not being read: some of it was dropped at exit\n";
                // SAFETY: writing our own bytes to the real stderr.
                unsafe { libc::write(s.real, msg.as_ptr().cast(), msg.len()) };
            }
        }
    }
}

#[cfg(unix)]
pub use imp::{flush_at_exit, start};

#[cfg(not(unix))]
pub fn start() {}

#[cfg(not(unix))]
pub fn flush_at_exit() {}
