//! A regular file as stdin into one TCP socket goes with sendfile(2) on
//! Linux (seen at -vv: "sent with sendfile"); a FIFO is spliced and
//! /dev/zero copied. Bytes and `--stats` counts are exact either way
//! (sha-checked), natively, under QEMU and under Wine (where every stdin
//! is copied).

use crate::util::{command, runner_kind, sha256, skip, spawn_command, Proc, Runner};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// A scratch file (removed on drop), on tmpfs where there is one.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        Scratch(dir.join(format!("netcrab-fs-{tag}-{}", std::process::id())))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `blocks` MiB: one random MiB repeated, each copy stamped with its
/// index, so a lost, doubled or reordered MiB changes the hash.
fn write_file(path: &Path, blocks: usize) -> String {
    let base = crate::util::random_bytes(1 << 20, 77);
    let mut f = std::fs::File::create(path).expect("create file");
    let mut h = Sha256::new();
    let mut b = base.clone();
    for i in 0..blocks {
        b[..8].copy_from_slice(&(i as u64).to_le_bytes());
        f.write_all(&b).expect("write file");
        h.update(&b);
    }
    hex(h)
}

fn hex(h: Sha256) -> String {
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Read a connection to its end, hashing: (bytes, sha256).
fn drain(l: &TcpListener) -> (u64, String) {
    let (s, _) = l.accept().expect("accept");
    drain_stream(s)
}

fn drain_stream(mut s: std::net::TcpStream) -> (u64, String) {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => {
                h.update(&buf[..k]);
                n += k as u64;
            }
        }
    }
    (n, hex(h))
}

fn sender(stdin: Stdio, addr: &str) -> Proc {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let args = ["-vv", "--stats", host, port];
    let mut c = command(&args);
    c.stdin(stdin);
    spawn_command(c, &args, None)
}

/// The path Linux takes, as -vv says it.
fn check_path(p: &mut Proc, stderr: &str, want: &str) {
    if runner_kind() == Runner::Wine {
        return; // Windows copies every stdin
    }
    // A build without the kernel path copies everything.
    let want = if cfg!(all(target_os = "linux", feature = "splice")) {
        want
    } else {
        ""
    };
    let said = stderr.contains(&format!("Local input: {want}"));
    let other = ["spliced", "sent with sendfile"]
        .iter()
        .any(|w| *w != want && stderr.contains(&format!("Local input: {w}")));
    if want.is_empty() {
        if stderr.contains("Local input: s") {
            p.fail("stdin went by a kernel path; want the copy path");
        }
    } else if !said || other {
        p.fail(&format!("want 'Local input: {want}' at -vv"));
    }
}

/// These tests check the kernel path and `--stats`: a build without the
/// "splice" and "stats" features skips them.
fn minimal_build() -> bool {
    if cfg!(all(feature = "splice", feature = "stats")) {
        return false;
    }
    skip("file_send: needs the 'splice' and 'stats' features");
    true
}

fn send_file(blocks: usize, tag: &str) {
    if minimal_build() {
        return;
    }
    let f = Scratch::new(tag);
    let sum = write_file(&f.0, blocks);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let file = std::fs::File::open(&f.0).unwrap();
    let mut p = sender(file.into(), &addr);
    let (n, got) = if blocks == 0 {
        // Nothing sent: netcrab keeps the connection (as it always has)
        // until the peer closes; close once input has ended.
        let (s, _) = l.accept().expect("accept");
        p.wait_for("End of outbound data");
        s.shutdown(std::net::Shutdown::Write).expect("shutdown");
        drain_stream(s)
    } else {
        drain(&l)
    };
    let out = p.finish();
    let size = (blocks as u64) << 20;
    if (n, &got) != (size, &sum) {
        p.fail(&format!(
            "received {n} bytes (sha {got}), want {size} ({sum})"
        ));
    }
    if !out.stderr.contains(&format!("out {size} bytes")) {
        p.fail(&format!("--stats: want 'out {size} bytes'"));
    }
    check_path(
        &mut p,
        &out.stderr,
        if blocks > 0 { "sent with sendfile" } else { "" },
    );
}

#[test]
fn a_1_gib_file_arrives_whole() {
    if runner_kind() != Runner::Native {
        // Emulated, 1 GiB takes minutes: the 8 MiB case covers the path.
        skip("file_send: 1 GiB only natively (slow under an emulator)");
        return;
    }
    send_file(1024, "1g");
}

#[test]
fn a_small_and_an_empty_file_arrive_whole() {
    send_file(8, "8m");
    send_file(0, "empty");
}

#[cfg(unix)]
#[test]
fn a_fifo_is_spliced_not_sent_as_a_file() {
    if crate::util::skipped_under_wine("a FIFO as stdin") || minimal_build() {
        return;
    }
    let f = Scratch::new("fifo");
    let c = std::ffi::CString::new(f.0.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let data = crate::util::random_bytes(8 << 20, 5);
    let want = sha256::hex(&data);
    let path = f.0.clone();
    let writer = std::thread::spawn(move || {
        let mut w = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        w.write_all(&data).unwrap();
    });
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let fifo = std::fs::File::open(&f.0).unwrap();
    let mut p = sender(fifo.into(), &addr);
    let (n, got) = drain(&l);
    writer.join().unwrap();
    let out = p.finish();
    if (n, &got) != (8 << 20, &want) {
        p.fail(&format!("received {n} bytes (sha {got})"));
    }
    check_path(&mut p, &out.stderr, "spliced");
}

#[cfg(unix)]
#[test]
fn dev_zero_is_copied() {
    if crate::util::skipped_under_wine("/dev/zero as stdin") || minimal_build() {
        return;
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let zero = std::fs::File::open("/dev/zero").unwrap();
    let mut p = sender(zero.into(), &addr);
    let (mut s, _) = l.accept().expect("accept");
    let mut buf = vec![1u8; 4 << 20];
    s.read_exact(&mut buf).expect("4 MiB");
    assert!(buf.iter().all(|b| *b == 0), "not zeroes");
    drop(s);
    p.kill();
    let err = p.stderr();
    check_path(&mut p, &err, "");
}
