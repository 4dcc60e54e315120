//! `--probe` / `--probe-server`: the two-ended network check, over loopback
//! and across two network namespaces (root only), plus a server that meets
//! garbage on its control port and keeps serving.

use crate::util::netns::{pair_or_skip, sh, NET};
use crate::util::{self, skip, start_no_input, Proc};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const CHECKS: [&str; 6] = ["tcp", "udp", "pmtu", "broadcast", "multicast", "reverse"];

/// A tiny JSON reader: enough to check the report's shape.
#[derive(Debug, Clone, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    fn get(&self, k: &str) -> Option<&J> {
        match self {
            J::Obj(v) => v.iter().find(|(n, _)| n == k).map(|(_, j)| j),
            _ => None,
        }
    }
}

struct P<'a>(&'a [u8], usize);

impl P<'_> {
    fn ws(&mut self) {
        while self.1 < self.0.len() && self.0[self.1].is_ascii_whitespace() {
            self.1 += 1;
        }
    }
    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.0.get(self.1) == Some(&c) {
            self.1 += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at {}", c as char, self.1))
        }
    }
    fn lit(&mut self, w: &str, v: J) -> Result<J, String> {
        if self.0[self.1..].starts_with(w.as_bytes()) {
            self.1 += w.len();
            Ok(v)
        } else {
            Err(format!("bad literal at {}", self.1))
        }
    }
    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let mut s = String::new();
        loop {
            let c = *self.0.get(self.1).ok_or("unterminated string")?;
            self.1 += 1;
            match c {
                b'"' => return Ok(s),
                b'\\' => {
                    let e = *self.0.get(self.1).ok_or("bad escape")?;
                    self.1 += 1;
                    match e {
                        b'n' => s.push('\n'),
                        b't' => s.push('\t'),
                        b'r' => s.push('\r'),
                        b'u' => {
                            let h = std::str::from_utf8(&self.0[self.1..self.1 + 4]).unwrap();
                            s.push(char::from_u32(u32::from_str_radix(h, 16).unwrap()).unwrap());
                            self.1 += 4;
                        }
                        c => s.push(c as char),
                    }
                }
                c => s.push(c as char),
            }
        }
    }
    fn value(&mut self) -> Result<J, String> {
        self.ws();
        match self.0.get(self.1).copied().ok_or("unexpected end")? {
            b'{' => {
                self.1 += 1;
                let mut v = Vec::new();
                self.ws();
                if self.0.get(self.1) == Some(&b'}') {
                    self.1 += 1;
                    return Ok(J::Obj(v));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.eat(b':')?;
                    v.push((k, self.value()?));
                    self.ws();
                    match self.0.get(self.1) {
                        Some(b',') => self.1 += 1,
                        Some(b'}') => {
                            self.1 += 1;
                            return Ok(J::Obj(v));
                        }
                        _ => return Err(format!("expected , or }} at {}", self.1)),
                    }
                }
            }
            b'[' => {
                self.1 += 1;
                let mut v = Vec::new();
                self.ws();
                if self.0.get(self.1) == Some(&b']') {
                    self.1 += 1;
                    return Ok(J::Arr(v));
                }
                loop {
                    v.push(self.value()?);
                    self.ws();
                    match self.0.get(self.1) {
                        Some(b',') => self.1 += 1,
                        Some(b']') => {
                            self.1 += 1;
                            return Ok(J::Arr(v));
                        }
                        _ => return Err(format!("expected , or ] at {}", self.1)),
                    }
                }
            }
            b'"' => Ok(J::Str(self.string()?)),
            b't' => self.lit("true", J::Bool(true)),
            b'f' => self.lit("false", J::Bool(false)),
            b'n' => self.lit("null", J::Null),
            _ => {
                let st = self.1;
                while self.1 < self.0.len() && b"+-0123456789.eE".contains(&self.0[self.1]) {
                    self.1 += 1;
                }
                std::str::from_utf8(&self.0[st..self.1])
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .map(J::Num)
                    .ok_or(format!("bad value at {st}"))
            }
        }
    }
}

fn parse_json(s: &str) -> Result<J, String> {
    let mut p = P(s.as_bytes(), 0);
    let v = p.value()?;
    p.ws();
    if p.1 != s.len() {
        return Err(format!("trailing text at {}", p.1));
    }
    Ok(v)
}

/// Check the report's shape: every check a key, every `ok` a boolean, a
/// `skipped` a string. Returns the report.
fn check_json(s: &str) -> J {
    let j = parse_json(s.trim()).unwrap_or_else(|e| panic!("report is not JSON ({e}): {s}"));
    for k in CHECKS {
        let c = j.get(k).unwrap_or_else(|| panic!("no '{k}' in {s}"));
        assert!(
            matches!(c.get("ok"), Some(J::Bool(_))),
            "'{k}.ok' is not a boolean: {s}"
        );
        if let Some(sk) = c.get("skipped") {
            assert!(matches!(sk, J::Str(_)), "'{k}.skipped' is not a string");
        }
    }
    j
}

fn ok_of(j: &J, k: &str) -> bool {
    j.get(k).and_then(|c| c.get("ok")) == Some(&J::Bool(true))
}

/// The exit code the report calls for: 0 when every check passed or was skipped.
fn expected_code(j: &J) -> i32 {
    let fine = CHECKS.iter().all(|k| {
        let c = j.get(k).unwrap();
        c.get("ok") == Some(&J::Bool(true)) || c.get("skipped").is_some()
    });
    if fine {
        0
    } else {
        1
    }
}

/// The status word of a check's line in the text report.
fn status<'a>(text: &'a str, check: &str) -> &'a str {
    text.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(check)).then(|| w.next().unwrap_or(""))
        })
        .unwrap_or_else(|| panic!("no '{check}' line in:\n{text}"))
}

/// Whether this build has the probe (a minimal build leaves it out; its
/// flags then give a usage error, which `probe_usage_errors` still checks).
fn probe_built() -> bool {
    if !cfg!(feature = "probe") {
        util::skip("needs the 'probe' feature");
    }
    cfg!(feature = "probe")
}

fn server_loopback(once: bool) -> (Proc, SocketAddr) {
    let mut args = vec!["--probe-server", "127.0.0.1:0"];
    if once {
        args.push("--once");
    }
    let mut p = start_no_input(&args);
    let a = p.listen_addr();
    (p, a)
}

#[test]
fn probe_loopback_text_report() {
    if !probe_built() {
        return;
    }
    let (mut srv, addr) = server_loopback(true);
    let a = addr.to_string();
    let mut cli = start_no_input(&["--probe", &a, "--probe-time", "0.3"]);
    let out = cli.finish();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for k in ["tcp", "udp", "pmtu", "reverse"] {
        if status(&text, k) != "ok" {
            cli.fail(&format!("check {k} is not ok"));
        }
    }
    // Loopback is no broadcast subnet.
    assert_eq!(status(&text, "broadcast"), "skipped", "{text}");
    assert!(text.contains("path MTU "), "{text}");
    let all_fine = !text
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some("FAIL"));
    assert_eq!(out.code, Some(if all_fine { 0 } else { 1 }), "{text}");
    // --once: the server ends after its client.
    srv.expect_exit(0);
}

#[test]
fn probe_loopback_json_report() {
    if !probe_built() {
        return;
    }
    let (mut srv, addr) = server_loopback(true);
    let a = addr.to_string();
    let mut cli = start_no_input(&["--probe", &a, "--probe-time", "0.3", "--json"]);
    let out = cli.finish();
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    let j = check_json(&s);
    for k in ["tcp", "udp", "pmtu", "reverse"] {
        assert!(ok_of(&j, k), "{k} not ok: {s}");
    }
    assert!(matches!(j.get("tcp").and_then(|t| t.get("up_mib_s")), Some(J::Num(x)) if *x > 0.0));
    assert!(matches!(
        j.get("udp").and_then(|t| t.get("rtt_avg_ms")),
        Some(J::Num(_))
    ));
    assert_eq!(out.code, Some(expected_code(&j)), "{s}");
    srv.expect_exit(0);
}

/// Write `bytes` to the control port, then expect the server to close.
fn garbage(addr: SocketAddr, bytes: &[u8], half_close: bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(util::patience())).unwrap();
    s.write_all(bytes).unwrap();
    if half_close {
        s.shutdown(std::net::Shutdown::Write).unwrap();
    }
    // The server may answer with an Error message; then it closes.
    let mut sink = Vec::new();
    match s.read_to_end(&mut sink) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!(
            "server did not close after {} garbage bytes: {e}",
            bytes.len()
        ),
    }
    assert!(sink.len() < 2048, "unexpectedly long reply");
}

#[test]
fn probe_server_survives_garbage() {
    if !probe_built() {
        return;
    }
    let (mut srv, addr) = server_loopback(false);
    // Random bytes.
    garbage(addr, &util::random_bytes(3000, 7), false);
    srv.wait_stderr("an error line", |s| {
        s.contains("netcrab: probe client").then_some(())
    });
    // A 4 GiB length prefix.
    garbage(addr, &[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4], false);
    srv.wait_for("bad message length 4294967295");
    // A truncated message: 20 bytes announced, 5 sent, then EOF.
    garbage(addr, &[0, 0, 0, 20, 1, b'N', b'C', b'P', b'R'], true);
    srv.wait_for("truncated");
    // A well-formed message that is not a Hello.
    garbage(addr, &[0, 0, 0, 1, 0x7F], false);
    srv.wait_for("expected Hello");
    // A Hello with another protocol version.
    garbage(addr, &[0, 0, 0, 6, 1, b'N', b'C', b'P', b'R', 99], false);
    srv.wait_for("protocol version 99");
    // Still serving.
    let a = addr.to_string();
    let mut cli = start_no_input(&["--probe", &a, "--probe-time", "0.1", "--json"]);
    let out = cli.finish();
    let j = check_json(&String::from_utf8_lossy(&out.stdout));
    assert!(ok_of(&j, "tcp") && ok_of(&j, "udp"), "{j:?}");
    assert!(srv.running(), "the server ended");
    srv.kill();
    assert!(!srv.stderr().contains("panicked"), "{}", srv.stderr());
}

/// Connections that never say Hello hold a slot each, counted from accept:
/// of 100, the server keeps 64 open and tells the rest "busy" at once (it
/// used to keep all of them, each up to 10 s). Meanwhile a real client gets
/// a prompt "busy"; once the idle ones go, a client is served.
#[test]
fn probe_server_limits_connections_that_never_say_hello() {
    if !probe_built() {
        return;
    }
    let (mut srv, addr) = server_loopback(false);
    let idle: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    // Which of them the server closes in the next 3 s (well before the
    // server's 10 s wait for a Hello ends the ones it keeps).
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut open = Vec::new();
    let mut closed = 0;
    for mut s in idle {
        let wait = deadline.saturating_duration_since(Instant::now());
        s.set_read_timeout(Some(wait.max(Duration::from_millis(50))))
            .unwrap();
        let mut reply = Vec::new();
        match s.read_to_end(&mut reply) {
            Ok(_) => {
                // A busy reply, or (past the replies in flight) none.
                let text = String::from_utf8_lossy(&reply);
                assert!(reply.is_empty() || text.contains("server busy"), "{text:?}");
                closed += 1;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                open.push(s)
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => closed += 1,
            Err(e) => panic!("reading an idle connection: {e}"),
        }
    }
    assert_eq!(
        (open.len(), closed),
        (64, 36),
        "(kept open, closed) of 100 connections without Hello"
    );
    // Accepting goes on: a real client is told "busy" at once.
    let a = addr.to_string();
    let t0 = Instant::now();
    let mut cli = start_no_input(&["--probe", &a, "--probe-time", "0.1"]);
    let out = cli.finish();
    let took = t0.elapsed();
    if out.code != Some(1) || !String::from_utf8_lossy(&out.stdout).contains("server busy") {
        cli.fail("expected a 'server busy' failure");
    }
    assert!(took < util::patience() / 3, "the busy client took {took:?}");
    // The idle ones go; once the server has seen them close, it serves.
    drop(open);
    srv.wait_stderr("64 idle connections closed", |s| {
        let ended = s.matches(": connection closed; connection closed").count()
            + s.matches("waiting for the client's Hello").count();
        (ended >= 64).then_some(())
    });
    let mut cli = start_no_input(&["--probe", &a, "--probe-time", "0.1", "--json"]);
    let out = cli.finish();
    let j = check_json(&String::from_utf8_lossy(&out.stdout));
    assert!(ok_of(&j, "tcp") && ok_of(&j, "udp"), "{j:?}");
    assert!(srv.running(), "the server ended");
}

#[test]
fn probe_usage_errors() {
    for args in [
        &["--once"][..],
        &["--json"],
        &["--probe", "127.0.0.1:1", "127.0.0.1:2"],
        &["--probe", "127.0.0.1:1", "--probe-time", "abc"],
        &["--probe", "127.0.0.1:1", "--probe-group", "10.0.0.1"],
        &["--probe", "127.0.0.1:1", "--probe-server", ":1"],
        &["--probe", "127.0.0.1:1", "-4", "-6"],
        &["--probe-server", "127.0.0.1:0", "--json"],
    ] {
        let (mut p, out) = util::run(args);
        if out.code != Some(2) || !out.stderr.starts_with("netcrab: ") {
            p.fail("expected a usage error (exit 2)");
        }
    }
}

#[test]
fn probe_refused_reports_failure() {
    if !probe_built() {
        return;
    }
    let port = util::free_port();
    let a = format!("127.0.0.1:{port}");
    let (_p, out) = util::run(&["--probe", &a, "--json"]);
    assert_eq!(out.code, Some(1));
    let j = check_json(&String::from_utf8_lossy(&out.stdout));
    assert!(!ok_of(&j, "tcp"));
    assert!(j.get("udp").and_then(|c| c.get("skipped")).is_some());
}

/// Run a probe from namespace `from` against `server`; (stdout, exit code).
fn probe_in(n: &crate::util::netns::Pair, from: &str, server: &str, json: bool) -> (String, i32) {
    let mut args = vec!["--probe", server, "--probe-time", "0.3"];
    if json {
        args.push("--json");
    }
    let mut p = n.run(from, &args, false);
    let out = p.finish();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.code.unwrap_or(-1),
    )
}

#[test]
fn probe_across_namespaces() {
    if !probe_built() {
        return;
    }
    let Some(n) = pair_or_skip() else { return };
    for (ns, dev) in [(&n.a, "va"), (&n.b, "vb")] {
        sh(&["ip", "-n", ns, "link", "set", dev, "mtu", "1400"]).unwrap();
    }
    let mut srv = n.run(&n.a, &["--probe-server", &format!("{NET}.1:0")], false);
    let server = srv.listen_addr().to_string();

    let (text, code) = probe_in(&n, &n.b, &server, false);
    eprintln!("text report across namespaces:\n{text}");
    for k in CHECKS {
        assert_eq!(status(&text, k), "ok", "{k}:\n{text}\n{}", srv.stderr());
    }
    assert!(text.contains("path MTU 1400 bytes"), "{text}");
    assert_eq!(code, 0, "{text}");

    let (json, code) = probe_in(&n, &n.b, &server, true);
    eprintln!("JSON report across namespaces:\n{json}");
    let j = check_json(&json);
    for k in CHECKS {
        assert!(ok_of(&j, k), "{k}: {json}");
    }
    assert_eq!(
        j.get("pmtu").and_then(|p| p.get("mtu")),
        Some(&J::Num(1400.0))
    );
    assert_eq!(code, 0);

    // Inbound connections blocked in the client's namespace: a firewall
    // drops new inbound TCP (a SYN without ACK); the control connection is
    // outbound, so only the reverse check fails.
    let nft = |args: &str| {
        let mut v = vec!["ip", "netns", "exec", n.b.as_str(), "nft"];
        v.extend(args.split(' '));
        sh(&v)
    };
    if let Err(why) = nft("add table inet probetest") {
        return skip(&format!("the firewall part needs nft: {why}"));
    }
    nft("add chain inet probetest in { type filter hook input priority 0 ; policy accept ; }")
        .unwrap();
    nft("add rule inet probetest in tcp flags & (syn | ack) == syn drop").unwrap();
    let (json, code) = probe_in(&n, &n.b, &server, true);
    eprintln!("JSON report with inbound TCP blocked:\n{json}");
    let j = check_json(&json);
    assert!(!ok_of(&j, "reverse"), "{json}");
    assert!(j.get("reverse").and_then(|r| r.get("skipped")).is_none());
    for k in ["tcp", "udp", "pmtu", "broadcast", "multicast"] {
        assert!(ok_of(&j, k), "{k}: {json}");
    }
    assert_eq!(code, 1);
    assert!(srv.running());
    srv.kill();
}

/// A link with no route to 224.0.0.0/4 (as a lab set-up adds and a plain one lacks): a
/// wildcard `--probe-server` still joins the group on the control connection's interface, and
/// an IPv6 probe without `--probe-group` uses the IPv6 default group instead of skipping.
#[test]
fn probe_multicast_without_a_multicast_route_and_over_ipv6() {
    if !probe_built() {
        return;
    }
    if util::runner_kind() == util::Runner::Qemu {
        // qemu-user lacks IP_MULTICAST_IF (see net/udp.rs): its multicast follows the routing
        // table, which this test takes away on purpose.
        return skip("qemu-user does not implement IP_MULTICAST_IF; this test removes the route");
    }
    let Some(n) = pair_or_skip() else { return };
    for (ns, dev, host) in [(&n.a, "va", 1), (&n.b, "vb", 2)] {
        sh(&["ip", "-n", ns, "route", "del", "224.0.0.0/4", "dev", dev]).unwrap();
        let v6 = format!("fd7c:213:47::{host}/64");
        sh(&["ip", "-n", ns, "addr", "add", &v6, "dev", dev, "nodad"]).unwrap();
    }
    let mut srv = n.run(&n.a, &["--probe-server", "0.0.0.0:0"], false);
    let port = srv.listen_addr().port();
    let (text, code) = probe_in(&n, &n.b, &format!("{NET}.1:{port}"), false);
    assert_eq!(status(&text, "multicast"), "ok", "{text}\n{}", srv.stderr());
    assert_eq!(code, 0, "{text}");
    srv.kill();

    let mut srv6 = n.run(&n.a, &["--probe-server", "[::]:0"], false);
    let port = srv6.listen_addr().port();
    let (text, _) = probe_in(&n, &n.b, &format!("[fd7c:213:47::1]:{port}"), false);
    assert_eq!(
        status(&text, "multicast"),
        "ok",
        "{text}\n{}",
        srv6.stderr()
    );
    assert!(text.contains("group ff08::4d4d"), "{text}");
    srv6.kill();
}

/// `--probe` at something that is not a probe server (an SSH daemon's banner) says so and
/// shows what the peer sent, printable, instead of a bare "bad message length".
#[test]
fn probe_at_a_non_probe_service_names_what_it_said() {
    if !probe_built() {
        return;
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let banner = std::thread::spawn(move || {
        if let Ok((mut c, _)) = l.accept() {
            let _ = c.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n");
            std::thread::sleep(Duration::from_millis(1500));
        }
    });
    let mut p = start_no_input(&["--probe", &addr.to_string()]);
    let out = p.finish();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("tcp")).unwrap_or("");
    assert!(line.contains("not a netcrab probe server"), "{text}");
    assert!(
        line.contains("SSH-2.0-OpenSSH_9.2p1 Debian\\r\\n"),
        "{text}"
    );
    assert_eq!(out.code, Some(1), "{text}");
    let _ = banner.join();
}
