//! `--tunnel-mux` with one reader stopped: 99 streams of a source service, read to the end
//! through one mux link, alone and then beside a 100th stream whose client reads nothing. The
//! goal: the 99 finish within 1.2x the time they take alone (a stopped reader stalls only its
//! own stream).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use super::super::report::{Report, Role, Row, Settings, Tools};
use crate::util::{err, Result};

const STREAMS: usize = 99;

/// A service that sends `bytes` to each connection, then closes it.
fn source(bytes: usize) -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| err(format!("source service: {e}")))?;
    let port = l.local_addr().map_err(|e| err(e.to_string()))?.port();
    thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            thread::spawn(move || {
                let chunk = vec![0x5au8; 64 * 1024];
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if c.write_all(&chunk[..n]).is_err() {
                        return;
                    }
                    left -= n;
                }
            });
        }
    });
    Ok(port)
}

/// `STREAMS` clients at once, each reading `bytes` to the end: seconds for all of them.
fn read_all(to: SocketAddr, bytes: usize) -> Result<f64> {
    let t = Instant::now();
    let workers: Vec<_> = (0..STREAMS)
        .map(|_| {
            thread::spawn(move || -> std::result::Result<(), String> {
                let mut s = TcpStream::connect(to).map_err(|e| e.to_string())?;
                s.set_read_timeout(Some(Duration::from_secs(60)))
                    .map_err(|e| e.to_string())?;
                let mut buf = vec![0u8; 256 * 1024];
                let mut got = 0;
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) => return Err(e.to_string()),
                    }
                }
                if got != bytes {
                    return Err(format!("{got} of {bytes} bytes"));
                }
                Ok(())
            })
        })
        .collect();
    for w in workers {
        w.join()
            .map_err(|_| err("a client thread panicked"))?
            .map_err(err)?;
    }
    Ok(t.elapsed().as_secs_f64())
}

pub fn stalled_reader(s: &Settings, t: &Tools, report: &mut Report) {
    let bytes: usize = s.pick(1 << 20, 8 << 20);
    let workload = format!(
        "--tunnel-mux: {STREAMS} streams x {} MiB, one more stopped",
        bytes >> 20
    );
    eprintln!("bench: {workload}");
    let run = || -> Result<(f64, f64, u64)> {
        let port = source(bytes)?;
        let (procs, public, _) =
            super::netcrab_tunnel_with(&t.netcrab, Some(port), None, false, true)?;
        let public = public.ok_or_else(|| err("no public address"))?;
        let alone = read_all(public, bytes)?;
        let stopped = TcpStream::connect(public).map_err(|e| err(e.to_string()))?;
        // Its window and socket buffers fill meanwhile.
        thread::sleep(Duration::from_millis(300));
        let beside = read_all(public, bytes)?;
        drop(stopped);
        let rss = procs.iter().map(|p| p.peak_kib()).sum();
        Ok((alone, beside, rss))
    };
    let (alone, beside, rss, note) = match run() {
        Ok((a, b, rss)) => (Some(a), Some(b), Some(rss), String::new()),
        Err(e) => {
            eprintln!("bench: {workload}: {e}");
            (None, None, None, format!("FAILED: {e}"))
        }
    };
    for (tool, value, rss) in [
        ("99 streams alone (s)", alone, None),
        ("99 streams beside a stopped reader (s)", beside, rss),
    ] {
        report.rows.push(Row {
            workload: workload.clone(),
            tool: tool.to_string(),
            role: Role::Reference,
            value,
            unit: "s",
            rss_kib: rss,
            ratio: None,
            failed: value.is_none(),
            note: note.clone(),
        });
    }
    report.goal_ratio(
        "tunnel mux: 99 streams beside a stopped reader within 1.2x their time alone (alone / beside >= 0.83)",
        alone,
        beside,
        1.0 / 1.2,
    );
}
