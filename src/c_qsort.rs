//! `qsort` for the static musl builds, in place of the C library's.
//!
//! Its one caller in netcrab is musl's resolver: getaddrinfo sorts at most 48 addresses by
//! their RFC 6724 precedence, and each sort key holds the address's position, so no two keys
//! compare equal and every correct sort gives the same order. The C library's general-purpose
//! sort is large for that (zig's pattern-defeating quicksort on MIPS: 6 KiB; musl's smoothsort
//! on the rustup musl targets); this insertion sort is a few instructions. zig's `qsort` is a
//! weak symbol and musl's sits in its own archive member, so this definition replaces either.
#![cfg(all(target_os = "linux", target_env = "musl"))]

use libc::{c_int, c_void, size_t};

/// The comparison function of `qsort(3)`.
type Compare = unsafe extern "C" fn(*const c_void, *const c_void) -> c_int;

/// # Safety
/// As for `qsort(3)`: `base` holds `count` elements of `size` bytes each and `compare` is a
/// consistent ordering of them.
#[no_mangle]
unsafe extern "C" fn qsort(
    base: *mut c_void,
    count: size_t,
    size: size_t,
    compare: Option<Compare>,
) {
    let Some(compare) = compare else { return };
    let base = base.cast::<u8>();
    for i in 1..count {
        // Sink element i into the sorted prefix by swapping it down, one place at a time.
        let mut j = i;
        while j > 0 {
            let left = base.add((j - 1) * size);
            let right = base.add(j * size);
            if compare(left.cast(), right.cast()) <= 0 {
                break;
            }
            std::ptr::swap_nonoverlapping(left, right, size);
            j -= 1;
        }
    }
}
