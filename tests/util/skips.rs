//! Skipped tests: each skip prints `SKIP: test: reason` at once, past libtest's capture of
//! test output (a skipped test still counts as "ok" to libtest, so it must show), and the
//! test binary's last line counts them (an `atexit` hook: libtest has no end-of-run hook).

use std::io::Write;
use std::sync::{Mutex, Once};

/// Every skip of this run: (test, reason).
static SKIPS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
static HOOK: Once = Once::new();

/// The first line of the summary, which `cargo xtask test` looks for.
pub const SUMMARY: &str = "SKIP summary:";

/// Records and prints one skip. A test may skip a part of itself and go on.
pub fn record(why: &str) {
    // libtest names each test's thread after the test.
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("?")
        .to_string();
    // io::stderr() is not captured (only the print macros are), so the line shows.
    let _ = writeln!(std::io::stderr().lock(), "SKIP: {test}: {why}");
    SKIPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((test, why.to_string()));
    HOOK.call_once(register);
}

#[cfg(unix)]
fn register() {
    extern "C" fn at_exit() {
        let skips = SKIPS.lock().unwrap_or_else(|e| e.into_inner());
        let _ = std::io::stderr().write_all(summary(&skips).as_bytes());
    }
    // SAFETY: atexit only stores the pointer of a plain function that lives as long as the
    // program; the function itself takes a lock and writes to stderr, both fine at exit.
    unsafe {
        libc::atexit(at_exit);
    }
}

#[cfg(not(unix))]
fn register() {}

/// The lines printed at exit: the count, then each test with its reasons.
fn summary(skips: &[(String, String)]) -> String {
    let mut tests: Vec<&str> = skips.iter().map(|(t, _)| t.as_str()).collect();
    tests.sort_unstable();
    tests.dedup();
    let mut out = format!(
        "\n{SUMMARY} {} skip(s) in {} test(s), which libtest counted as passed \
         (the whole test, or the part named):\n",
        skips.len(),
        tests.len()
    );
    for test in tests {
        let why: Vec<&str> = skips
            .iter()
            .filter(|(t, _)| t == test)
            .map(|(_, w)| w.as_str())
            .collect();
        out.push_str(&format!("  {test}: {}\n", why.join("; ")));
    }
    out
}

#[test]
fn summary_counts_skips_per_test() {
    let s = summary(&[
        ("a::x".into(), "no root".into()),
        ("a::x".into(), "no nft".into()),
        ("b::y".into(), "Wine".into()),
    ]);
    assert!(s.contains("SKIP summary: 3 skip(s) in 2 test(s)"), "{s}");
    assert!(s.contains("  a::x: no root; no nft\n"), "{s}");
}
