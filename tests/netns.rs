//! Tests across a private network: two network namespaces joined by a veth
//! pair, made and removed by the test itself (root only). Traffic stays
//! inside these namespaces.

use crate::util::netns::{pair_or_skip, NET};
use crate::util::{self, skip};
use std::process::Command;

#[test]
fn broadcast_reaches_the_subnet() {
    let Some(n) = pair_or_skip() else { return };
    let port = util::free_port().to_string();
    let mut rx = n.run(
        &n.b,
        &["-u", "-L", &format!("0.0.0.0:{port}"), "-i", "none"],
        false,
    );
    rx.listen_addr();
    let mut tx = n.run(&n.a, &["-u", "-b", &format!("{NET}.255:{port}")], true);
    tx.write_stdin(b"broadcast hello");
    let got = rx.wait_stdout_len(15);
    assert_eq!(got, b"broadcast hello");
}

#[test]
fn multicast_group_member_receives() {
    let Some(n) = pair_or_skip() else { return };
    let port = util::free_port().to_string();
    let group = format!("239.255.77.1:{port}");
    let mut rx = n.run(&n.b, &["-u", "--mc", "-L", &group, "-i", "none"], false);
    rx.wait_for("Joining multicast group");
    let mut tx = n.run(&n.a, &["-u", "--mc", "--mc-no-loop", &group], true);
    tx.wait_for("Joining multicast group");
    tx.write_stdin(b"group hello");
    assert_eq!(rx.wait_stdout_len(11), b"group hello");
    // --mc-no-loop: the sender does not hear itself.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        tx.stdout().is_empty(),
        "own multicast looped back despite --mc-no-loop"
    );
}

#[test]
fn ipv6_link_local_multicast() {
    if util::runner_kind() == util::Runner::Qemu {
        return skip("qemu-user does not translate IPV6_ADD_MEMBERSHIP (ENOPROTOOPT)");
    }
    let Some(n) = pair_or_skip() else { return };
    let port = util::free_port().to_string();
    let group = format!("[ff02::77]:{port}");
    let mut rx = n.run(
        &n.b,
        &["-u", "--mc", "--mc-if", "vb", "-L", &group, "-i", "none"],
        false,
    );
    rx.wait_for("Joining multicast group");
    let mut tx = n.run(&n.a, &["-u", "--mc", "--mc-if", "va", &group], true);
    tx.wait_for("Joining multicast group");
    tx.write_stdin(b"v6 group");
    assert_eq!(rx.wait_stdout_len(8), b"v6 group");
}

#[test]
fn ttl_is_set_on_the_wire() {
    let Some(n) = pair_or_skip() else { return };
    if Command::new("python3").arg("-V").output().is_err() {
        return skip("python3 is needed for the IP_RECVTTL receiver");
    }
    let port = util::free_port();
    let script = format!(
        "import socket\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         s.setsockopt(socket.IPPROTO_IP,getattr(socket,'IP_RECVTTL',12),1)\n\
         s.bind(('{NET}.2',{port}))\n\
         print('ready',flush=True)\n\
         d,anc,f,a=s.recvmsg(2048,socket.CMSG_SPACE(4))\n\
         print('ttl',int.from_bytes(anc[0][2][:4],'little'),flush=True)\n"
    );
    let mut py = Command::new("ip")
        .args(["netns", "exec", &n.b, "python3", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut out = std::io::BufReader::new(py.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let mut tx = n.run(
        &n.a,
        &["-u", "--ttl", "3", &format!("{NET}.2:{port}")],
        true,
    );
    tx.write_stdin(b"ttl");
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let _ = py.kill();
    let _ = py.wait();
    assert_eq!(line.trim(), "ttl 3");
}

#[test]
fn a_name_that_cannot_be_resolved_is_a_clear_error() {
    // Inside the namespace no route leads to any name server, so the lookup
    // fails at once and no query leaves the machine.
    let Some(n) = pair_or_skip() else { return };
    let mut p = n.run(&n.a, &["no-such-host.invalid:80"], false);
    let out = p.expect_exit(1);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(
        lines[0].starts_with("netcrab: cannot resolve 'no-such-host.invalid'"),
        "{}",
        out.stderr
    );
}

/// A multicast join on a link with no route to the group's range fails with one line that
/// names the interface it tried and how to name one (`--mc-if`), not a bare "No such device".
#[test]
fn multicast_join_without_a_route_names_the_interface_and_mc_if() {
    let Some(n) = pair_or_skip() else { return };
    crate::util::netns::sh(&["ip", "-n", &n.b, "route", "del", "224.0.0.0/4", "dev", "vb"])
        .unwrap();
    let port = util::free_port().to_string();
    let group = format!("239.255.77.2:{port}");
    let mut rx = n.run(&n.b, &["-u", "--mc", "-L", &group, "-i", "none"], false);
    let out = rx.finish();
    assert_eq!(out.code, Some(1), "{out:?}");
    let line = out.stderr.lines().last().unwrap_or("");
    assert!(line.contains("239.255.77.2"), "{}", out.stderr);
    assert!(line.contains("default interface"), "{}", out.stderr);
    assert!(line.contains("--mc-if"), "{}", out.stderr);
    // Named, it works.
    let mut ok = n.run(
        &n.b,
        &["-u", "--mc", "--mc-if", "vb", "-L", &group, "-i", "none"],
        false,
    );
    ok.wait_for("Joining multicast group");
    ok.kill();
}
