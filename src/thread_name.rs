//! `pthread_setname_np` for the static musl builds, in place of musl's own.
//!
//! std names every thread it starts (async-io's reactor, the `blocking` pool, netcrab's own
//! threads in `local`) through `pthread_setname_np`. musl's version formats the
//! `/proc/self/task/<tid>/comm` path with `snprintf`, and that one call is all that links
//! musl's printf engine (`printf_core`, `fmt_fp`: about 9 KiB, and on soft-float MIPS the
//! double routines of compiler-rt it uses). This definition does the same job without it:
//! the linker then never takes musl's `pthread_setname_np.o` out of `libc.a`. Same contract
//! as musl's: ERANGE for a name of 16 bytes or more, `prctl(PR_SET_NAME)` for the calling
//! thread (the only case std uses), else a write to the thread's `comm` file.
#![cfg(all(target_os = "linux", target_env = "musl"))]

use libc::{c_char, c_int, pthread_t};

/// The longest name the kernel keeps, without its NUL (TASK_COMM_LEN - 1).
const MAX_NAME: usize = 15;

/// # Safety
/// `name` points to a NUL-terminated string and `thread` is a live thread, as for musl's.
#[no_mangle]
unsafe extern "C" fn pthread_setname_np(thread: pthread_t, name: *const c_char) -> c_int {
    let len = libc::strnlen(name, MAX_NAME + 1);
    if len > MAX_NAME {
        return libc::ERANGE;
    }
    if libc::pthread_equal(thread, libc::pthread_self()) != 0 {
        let name = name as libc::c_ulong;
        return match libc::prctl(libc::PR_SET_NAME, name, 0 as libc::c_ulong, 0, 0) {
            0 => 0,
            _ => errno(),
        };
    }
    // Another thread (no caller in netcrab does this): its kernel thread id is in its CPU
    // clock id, which the kernel ABI defines as ((~tid) << 3) | 6.
    let mut clock: libc::clockid_t = 0;
    let rc = libc::pthread_getcpuclockid(thread, &mut clock);
    if rc != 0 {
        return rc;
    }
    let path = comm_path(!(clock >> 3));
    let fd = libc::open(path.as_ptr().cast(), libc::O_WRONLY | libc::O_CLOEXEC);
    if fd < 0 {
        return errno();
    }
    let status = match libc::write(fd, name.cast(), len) {
        n if n < 0 => errno(),
        _ => 0,
    };
    libc::close(fd);
    status
}

/// The last OS error number.
fn errno() -> c_int {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// `/proc/self/task/<tid>/comm`, NUL-terminated, with the number in decimal.
fn comm_path(tid: c_int) -> [u8; 40] {
    const HEAD: &[u8] = b"/proc/self/task/";
    const TAIL: &[u8] = b"/comm\0";
    let mut out = [0u8; 40];
    out[..HEAD.len()].copy_from_slice(HEAD);
    let mut at = HEAD.len();
    let mut digits = [0u8; 10];
    let mut n = tid.unsigned_abs();
    let mut count = 0;
    loop {
        digits[count] = b'0' + (n % 10) as u8;
        count += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in digits[..count].iter().rev() {
        out[at] = d;
        at += 1;
    }
    out[at..at + TAIL.len()].copy_from_slice(TAIL);
    out
}
