//! The P2P data path both ways: on Linux stdin pipe -> socket and socket ->
//! stdout move by splice(2) while one socket is involved; with
//! NETCRAB_NO_SPLICE=1 (and on other systems) bytes are copied. Every test
//! here runs on both paths and expects the same bytes, ends and totals.

use crate::util::peers::{accept, connect, listener};
use crate::util::{self, random_bytes, same_content, sha256, spawn_command, Proc};
use std::io::{Read, Write};
use std::net::Shutdown;
use std::process::Stdio;
use std::thread;
use std::time::Duration;

const MIB: usize = 1024 * 1024;

/// The data paths: the default (splice where it applies) and copying.
const PATHS: [(&str, bool); 2] = [("splice", false), ("copy", true)];

/// Start netcrab with stdin an open pipe, on the copy path when `copy`.
fn start_on(copy: bool, args: &[&str], stdout: Option<Stdio>) -> Proc {
    let mut c = util::command(args);
    c.stdin(Stdio::piped());
    set_path(&mut c, copy);
    spawn_command(c, args, stdout)
}

/// Choose the data path (also when the whole suite runs with
/// NETCRAB_NO_SPLICE set).
fn set_path(c: &mut std::process::Command, copy: bool) {
    if copy {
        c.env("NETCRAB_NO_SPLICE", "1");
    } else {
        c.env_remove("NETCRAB_NO_SPLICE");
    }
}

/// A scratch file for stdout, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("netcrab-{}-{name}", std::process::id()));
        Scratch(p)
    }
    fn stdout(&self) -> Stdio {
        Stdio::from(std::fs::File::create(&self.0).expect("scratch file"))
    }
    fn read(&self) -> Vec<u8> {
        std::fs::read(&self.0).unwrap_or_default()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Read `s` to its end on a thread; the join gives what came.
fn read_in_background(s: &std::net::TcpStream) -> thread::JoinHandle<Vec<u8>> {
    let mut r = s.try_clone().expect("clone the socket");
    thread::spawn(move || {
        let mut got = Vec::new();
        let _ = r.read_to_end(&mut got);
        got
    })
}

#[test]
fn both_ways_at_once_arrive_intact_on_both_paths() {
    for (path, copy) in PATHS {
        // -vv reports spliced bytes: proof of which path ran.
        let mut l = start_on(copy, &["-vv", "-l", "127.0.0.1:0"], None);
        let addr = l.listen_addr().to_string();
        let mut c = start_on(copy, &["-vv", &addr], None);
        let up = random_bytes(8 * MIB + 13, 1);
        let down = random_bytes(6 * MIB + 7, 2);
        let f1 = c.feed_stdin(up.clone());
        let f2 = l.feed_stdin(down.clone());
        let lo = l.expect_exit(0);
        let co = c.expect_exit(0);
        let _ = (f1.join(), f2.join());
        same_content(&format!("{path}: client to listener"), &lo.stdout, &up);
        same_content(&format!("{path}: listener to client"), &co.stdout, &down);
        let spliced = |o: &util::Output| {
            o.stderr.contains("Local input: spliced") && o.stderr.contains("bytes to stdout")
        };
        // splice(2) is Linux's; elsewhere (Wine) both runs copy.
        let expect = !copy
            && cfg!(all(target_os = "linux", feature = "splice"))
            && util::runner_kind() != util::Runner::Wine;
        for (who, o) in [("listener", &lo), ("client", &co)] {
            assert_eq!(spliced(o), expect, "{path}: {who}'s stderr:\n{}", o.stderr);
        }
    }
}

#[test]
fn into_a_file_and_dev_null_with_exact_totals_on_both_paths() {
    let stats = cfg!(feature = "stats");
    if !stats {
        util::skip("totals need the 'stats' feature; the file is still checked");
    }
    for (path, copy) in PATHS {
        for to_file in [true, false] {
            let file = Scratch::new(&format!("fp-{path}-{to_file}"));
            let out = if to_file {
                file.stdout()
            } else {
                Stdio::from(std::fs::File::create("/dev/null").expect("/dev/null"))
            };
            let mut args = vec!["-l", "127.0.0.1:0"];
            if stats {
                args.push("--stats");
            }
            let mut l = start_on(copy, &args, Some(out));
            let addr = l.listen_addr();
            let data = random_bytes(5 * MIB + 3, 3);
            let mut s = connect(addr);
            s.write_all(&data).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            // The listener's input stays open and silent: the close grace
            // ends the connection, and with it the run.
            let o = l.expect_exit(0);
            if to_file {
                same_content(&format!("{path}: file"), &file.read(), &data);
            }
            if stats {
                let want = format!("in {} bytes", data.len());
                assert!(
                    o.stderr.contains(&want),
                    "{path}: totals should say {want:?}:\n{}",
                    o.stderr
                );
            }
        }
    }
}

#[test]
fn appending_to_a_file_keeps_what_it_held_on_both_paths() {
    // `netcrab -l >> log`: splice(2) refuses files opened to append.
    for (path, copy) in PATHS {
        let file = Scratch::new(&format!("append-{path}"));
        std::fs::write(&file.0, b"earlier\n").unwrap();
        let out = std::fs::OpenOptions::new()
            .append(true)
            .open(&file.0)
            .unwrap();
        let mut l = start_on(copy, &["-l", "127.0.0.1:0"], Some(Stdio::from(out)));
        let addr = l.listen_addr();
        let data = random_bytes(3 * MIB, 11);
        let mut s = connect(addr);
        s.write_all(&data).unwrap();
        drop(s);
        l.expect_exit(0);
        let mut want = b"earlier\n".to_vec();
        want.extend_from_slice(&data);
        same_content(&format!("{path}: appended file"), &file.read(), &want);
    }
}

#[test]
fn half_close_lets_a_large_reply_through_on_both_paths() {
    for (path, copy) in PATHS {
        let (srv, addr) = listener();
        let request = random_bytes(3 * MIB + 1, 4);
        let reply = random_bytes(4 * MIB + 5, 5);
        let r2 = reply.clone();
        let server = thread::spawn(move || {
            let (mut s, _) = accept(&srv);
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            s.write_all(&r2).unwrap();
            got
        });
        let mut c = start_on(copy, &[&addr.to_string()], None);
        let f = c.feed_stdin(request.clone());
        let o = c.expect_exit(0);
        let _ = f.join();
        same_content(
            &format!("{path}: request"),
            &server.join().unwrap(),
            &request,
        );
        same_content(&format!("{path}: reply"), &o.stdout, &reply);
    }
}

#[test]
fn stdout_closed_by_its_reader_ends_quietly_on_both_paths() {
    for (path, copy) in PATHS {
        let (mut reader, writer) = std::io::pipe().expect("pipe");
        let mut l = start_on(copy, &["-l", "127.0.0.1:0"], Some(Stdio::from(writer)));
        let addr = l.listen_addr();
        let sender = thread::spawn(move || {
            let mut s = connect(addr);
            // netcrab stops reading once stdout is gone; this may fail.
            let _ = s.write_all(&random_bytes(16 * MIB, 6));
        });
        let mut first = [0u8; 100];
        reader.read_exact(&mut first).expect("first bytes");
        drop(reader); // like `| head -c 100`
        let o = l.finish();
        assert_eq!(o.code, Some(0), "{path}: {}", o.stderr);
        let _ = sender.join();
    }
}

#[test]
fn a_second_client_mid_transfer_loses_nothing_on_both_paths() {
    for (path, copy) in PATHS {
        let file = Scratch::new(&format!("second-{path}"));
        let mut l = start_on(copy, &["-L", "127.0.0.1:0", "-m", "2"], Some(file.stdout()));
        let addr = l.listen_addr();
        // Client A's bytes are all below 128, B's all 128 or above, so each
        // one's stream can be picked out of the listener's stdout.
        let a_data: Vec<u8> = random_bytes(4 * MIB, 7).iter().map(|b| b & 0x7f).collect();
        let b_data: Vec<u8> = random_bytes(2 * MIB, 8).iter().map(|b| b | 0x80).collect();
        let input = random_bytes(6 * MIB, 9);
        let mut a = connect(addr);
        let a_reader = read_in_background(&a);
        // A is served alone (the fast path where it applies) ...
        a.write_all(&a_data[..2 * MIB]).unwrap();
        l.write_stdin(&input[..3 * MIB]);
        thread::sleep(Duration::from_millis(300));
        // ... then B joins while both directions are still moving.
        let mut b = connect(addr);
        let b_reader = read_in_background(&b);
        let rest = input[3 * MIB..].to_vec();
        let feeder = l.feed_stdin(rest);
        a.write_all(&a_data[2 * MIB..]).unwrap();
        b.write_all(&b_data).unwrap();
        let _ = feeder.join();
        a.shutdown(Shutdown::Write).unwrap();
        b.shutdown(Shutdown::Write).unwrap();
        let a_got = a_reader.join().unwrap();
        let b_got = b_reader.join().unwrap();
        // -L keeps listening: wait for stdout to hold both clients' bytes.
        let want = a_data.len() + b_data.len();
        let deadline = std::time::Instant::now() + util::patience();
        while file.read().len() < want && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(l.running(), "{path}: -L ended: {}", l.report());
        l.kill();
        let out = file.read();
        let from_a: Vec<u8> = out.iter().copied().filter(|b| *b < 0x80).collect();
        let from_b: Vec<u8> = out.iter().copied().filter(|b| *b >= 0x80).collect();
        same_content(&format!("{path}: A's bytes on stdout"), &from_a, &a_data);
        same_content(&format!("{path}: B's bytes on stdout"), &from_b, &b_data);
        // A was there from the start: it got all of the input.
        same_content(&format!("{path}: input at A"), &a_got, &input);
        // B got a tail of it (from when it joined), unbroken.
        assert!(
            !b_got.is_empty() && input.ends_with(&b_got),
            "{path}: B got {} bytes that are not the input's tail",
            b_got.len()
        );
    }
}

#[test]
fn a_peer_that_closes_ends_the_run_after_the_grace_on_both_paths() {
    for (path, copy) in PATHS {
        let (srv, addr) = listener();
        let server = thread::spawn(move || {
            let (mut s, _) = accept(&srv);
            s.write_all(b"bye\n").unwrap();
            // Closes: netcrab's input (an open pipe, silent) does not keep
            // the connection past the close grace.
        });
        let mut c = start_on(copy, &[&addr.to_string()], None);
        let o = c.expect_exit(0);
        let _ = server.join();
        assert_eq!(o.stdout, b"bye\n", "{path}");
    }
}

#[test]
fn bytes_match_their_hash_through_a_pipe_on_both_paths() {
    // A long stream through stdout a pipe (the splice goes straight in):
    // compared by hash only, as a user would.
    for (path, copy) in PATHS {
        let mut l = start_on(copy, &["-l", "127.0.0.1:0"], None);
        let addr = l.listen_addr();
        let data = random_bytes(24 * MIB, 10);
        let want = sha256::hex(&data);
        let mut s = connect(addr);
        s.write_all(&data).unwrap();
        drop(s);
        let o = l.expect_exit(0);
        assert_eq!(sha256::hex(&o.stdout), want, "{path}");
    }
}

#[test]
fn a_full_file_system_exits_1_with_one_line_on_both_paths() {
    // stdout a file on a tiny tmpfs, mounted in a mount namespace of the
    // test's own (root; `unshare`), so splice(2) into a file meets ENOSPC.
    if util::skipped_under_wine("a Linux tmpfs") {
        return;
    }
    if !std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    {
        util::skip("needs root to mount a small tmpfs");
        return;
    }
    for (path, copy) in PATHS {
        let dir = Scratch::new(&format!("tmpfs-{path}"));
        std::fs::create_dir_all(&dir.0).unwrap();
        let args = ["-l", "127.0.0.1:0"];
        let inner = util::command(&args);
        let mut c = std::process::Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs -o size=256k tmpfs \"$0\" && exec \"$@\" > \"$0/out\"")
            .arg(&dir.0)
            .arg(inner.get_program())
            .args(inner.get_args())
            .stdin(Stdio::piped());
        set_path(&mut c, copy);
        let mut p = spawn_command(c, &args, Some(Stdio::null()));
        let addr = p.listen_addr();
        let mut s = connect(addr);
        let _ = s.write_all(&random_bytes(2 * MIB, 12));
        drop(s);
        let out = p.expect_exit(1);
        util::one_stdout_line(&out.stderr, "No space left", path);
        let _ = std::fs::remove_dir(&dir.0);
    }
}
