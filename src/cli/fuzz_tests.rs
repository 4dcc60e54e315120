//! Fuzz-style test of the whole command-line path (normaliser, argh,
//! validation): random argument vectors must give a result, never a panic.

use super::parse;

const TOKENS: &[&str] = &[
    "-l",
    "-L",
    "-k",
    "-u",
    "-z",
    "-r",
    "-R",
    "-b",
    "-n",
    "-v",
    "-N",
    "-4",
    "-6",
    "-V",
    "-p",
    "-m",
    "-f",
    "-i",
    "-o",
    "-w",
    "-q",
    "-e",
    "--ss",
    "--sb",
    "--rb",
    "--ttl",
    "--fm",
    "--mc",
    "--mc_no_loop",
    "--mc-if",
    "--udp-idle",
    "--exit-after-input",
    "--eai",
    "--no-shutdown",
    "--ifaces",
    "--dhcp-probe",
    "--json",
    "--",
    "-",
    "-lvp",
    "-lvu",
    "-vv",
    "-w5",
    "--ss=4096",
    "--fm=hub",
    "hub",
    "channels",
    "lc",
    "none",
    "echo",
    "rand",
    "stdin",
    "0",
    "1",
    "65535",
    "70000",
    "-1",
    "nan",
    "1e9",
    "127.0.0.1:80",
    "[::1]:80",
    ":80",
    "*:80",
    "*",
    "host",
    "80",
    "127.0.0.1:80x3",
    "a=b:1",
    "",
    "\u{0}",
    "é:80",
    "20-25,80",
    "-l127.0.0.1:0",
    "-L[::1]:0",
    "-uL127.0.0.1:0",
    "-lvp9000",
    "-i=echo",
    "-m=3",
    "-l=",
    "-e",
    "--exec",
    "--rvals",
    "--rsizemin",
    "--stats-time",
    "-vx",
    "-lx",
];

#[test]
fn fuzzed_command_lines_never_panic() {
    let mut x: u64 = 0x0123_4567_89ab_cdef;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..100_000 {
        let n = (next() % 7) as usize;
        let argv: Vec<String> = (0..n)
            .map(|_| TOKENS[(next() % TOKENS.len() as u64) as usize].to_string())
            .collect();
        // Ok or a usage error are both fine; the point is to return.
        let _ = parse(&argv);
    }
}
