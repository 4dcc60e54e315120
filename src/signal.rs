//! Ctrl-C, SIGTERM and SIGHUP: turned into an ordinary async event so the
//! run can flush what it received, end its children, restore the terminal
//! and exit with the conventional status (128 + the signal's number: 130,
//! 143, 129), instead of dying mid-write.
//!
//! A signal that was ignored when netcrab started (a background job of a
//! script ignores SIGINT; `nohup` ignores SIGHUP) stays ignored, as Unix
//! programs do.

use smol::channel::{bounded, Receiver, Sender};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

static NOTIFY: OnceLock<Sender<i32>> = OnceLock::new();

/// The first signal that asked the run to end (0: none yet).
static FIRST: AtomicI32 = AtomicI32::new(0);

/// What Windows' Ctrl-C and Ctrl-Break count as: SIGINT's number.
#[cfg(windows)]
const SIGINT: i32 = 2;

/// Start listening for the signals that end a run (SIGINT, SIGTERM, SIGHUP;
/// the console's Ctrl-C on Windows). The returned channel yields the
/// signal's number once per arrival. `None` if no handler could be set.
pub fn interrupts() -> Option<Receiver<i32>> {
    let (tx, rx) = bounded(1);
    NOTIFY.set(tx).ok()?;
    install().then_some(rx)
}

/// The exit status for the signal that ended the run, if one did.
pub fn exit_status() -> Option<u8> {
    match FIRST.load(Ordering::SeqCst) {
        0 => None,
        n => u8::try_from(128 + n).ok(),
    }
}

/// First signal: ask the run to finish (flushing stdout). A second one
/// while that is still going (stdout blocked, say) exits at once, still
/// ending the children and restoring the terminal.
fn notify(sig: i32) {
    if FIRST
        .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        crate::local::terminal::restore();
        #[cfg(feature = "exec")]
        crate::local::exec::kill_all();
        // process::exit runs no destructors: the socket files go here.
        #[cfg(feature = "unix")]
        crate::net::unix::remove_owned_files();
        crate::local::stderr::flush_at_exit();
        std::process::exit(128 + FIRST.load(Ordering::SeqCst));
    }
    if let Some(tx) = NOTIFY.get() {
        let _ = tx.try_send(sig);
    }
}

#[cfg(unix)]
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

#[cfg(unix)]
extern "C" fn on_signal(sig: libc::c_int) {
    // Only async-signal-safe work here: one byte into the self-pipe.
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; `b` outlives the call.
        unsafe { libc::write(fd, &b as *const u8 as *const libc::c_void, 1) };
    }
}

/// Whether `sig` is ignored now (SIG_IGN inherited from the parent).
#[cfg(unix)]
fn ignored(sig: libc::c_int) -> bool {
    // SAFETY: sigaction is plain data, for which all-zero bytes are valid.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `old`.
    let r = unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) };
    r == 0 && old.sa_sigaction == libc::SIG_IGN
}

#[cfg(unix)]
fn install() -> bool {
    use std::io::Read;
    use std::os::fd::IntoRawFd;
    let Ok((mut reader, writer)) = crate::net::unix::self_pipe() else {
        return false;
    };
    PIPE_WRITE.store(writer.into_raw_fd(), Ordering::Relaxed);
    let mut any = false;
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        if ignored(sig) {
            continue;
        }
        // SAFETY: sigaction is plain data, for which all-zero bytes are valid.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = on_signal as *const () as libc::sighandler_t;
        act.sa_flags = libc::SA_RESTART;
        // SAFETY: installing a handler that only writes to a pipe; the
        // mask is initialised before use.
        let ok = unsafe {
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut()) == 0
        };
        any |= ok;
    }
    if !any {
        return false;
    }
    let spawned = crate::local::thread("signals", move || {
        let mut b = [0u8; 1];
        while matches!(reader.read(&mut b), Ok(1)) {
            notify(i32::from(b[0]));
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
        // (close, logoff, shutdown) keep the default, which ends the
        // process without destructors: remove our socket files first.
        if kind <= 1 {
            notify(SIGINT);
            1
        } else {
            #[cfg(feature = "unix")]
            crate::net::unix::remove_owned_files();
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
