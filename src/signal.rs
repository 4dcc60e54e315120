//! Ctrl-C: turned into an ordinary async event so the run can flush what it
//! received and exit with code 130, instead of dying mid-write.

use smol::channel::{bounded, Receiver, Sender};
use std::sync::OnceLock;

static NOTIFY: OnceLock<Sender<()>> = OnceLock::new();

/// Start listening for Ctrl-C (SIGINT / the console's Ctrl-C). The returned
/// channel yields once per press. `None` if the handler could not be set.
pub fn ctrl_c() -> Option<Receiver<()>> {
    let (tx, rx) = bounded(1);
    NOTIFY.set(tx).ok()?;
    install().then_some(rx)
}

/// First press: ask the run to finish (flushing stdout). A second press
/// while that is still going (stdout blocked, say) exits at once.
fn notify() {
    static PRESSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if PRESSED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        crate::local::terminal::restore();
        std::process::exit(130);
    }
    if let Some(tx) = NOTIFY.get() {
        let _ = tx.try_send(());
    }
}

#[cfg(unix)]
static PIPE_WRITE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

#[cfg(unix)]
extern "C" fn on_sigint(_: libc::c_int) {
    // Only async-signal-safe work here: one byte into the self-pipe.
    let fd = PIPE_WRITE.load(std::sync::atomic::Ordering::Relaxed);
    if fd >= 0 {
        let b = 1u8;
        // SAFETY: write(2) is async-signal-safe; `b` outlives the call.
        unsafe { libc::write(fd, &b as *const u8 as *const libc::c_void, 1) };
    }
}

#[cfg(unix)]
fn install() -> bool {
    use std::io::Read;
    use std::os::fd::IntoRawFd;
    let Ok((mut reader, writer)) = std::os::unix::net::UnixStream::pair() else {
        return false;
    };
    PIPE_WRITE.store(writer.into_raw_fd(), std::sync::atomic::Ordering::Relaxed);
    // SAFETY: installing a handler that only writes to a pipe.
    let old = unsafe { libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t) };
    if old == libc::SIG_ERR {
        return false;
    }
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut b = [0u8; 1];
            while matches!(reader.read(&mut b), Ok(1)) {
                notify();
            }
        });
    spawned.is_ok()
}

#[cfg(windows)]
fn install() -> bool {
    #[link(name = "kernel32")]
    extern "system" {
        fn SetConsoleCtrlHandler(
            handler: Option<unsafe extern "system" fn(u32) -> i32>,
            add: i32,
        ) -> i32;
    }
    unsafe extern "system" fn handler(kind: u32) -> i32 {
        // CTRL_C_EVENT (0) and CTRL_BREAK_EVENT (1): handled; others
        // (close, logoff, shutdown) keep the default.
        if kind <= 1 {
            notify();
            1
        } else {
            0
        }
    }
    // SAFETY: registers a handler that only signals a channel.
    unsafe { SetConsoleCtrlHandler(Some(handler), 1) != 0 }
}

#[cfg(not(any(unix, windows)))]
fn install() -> bool {
    false
}
