//! `--dhcp-probe IFACE`: is there a DHCP server on this link, and what would
//! it offer? One DHCPDISCOVER (resent every 2 s until an offer comes), every
//! DHCPOFFER for its transaction id collected until the wait ends, one line
//! (or one JSON object) per server. No DHCPREQUEST is ever sent, so no
//! server records a lease.

#[cfg(feature = "dhcp")]
mod packet;
#[cfg(feature = "dhcp")]
mod probe;

#[cfg(test)]
#[cfg(feature = "dhcp")]
mod fuzz_tests;

mod opts;

#[cfg(feature = "dhcp")]
use crate::error::{describe, Error, Result};
pub use opts::DhcpOpts;
#[cfg(feature = "dhcp")]
use packet::Offer;
#[cfg(feature = "dhcp")]
use std::io;
#[cfg(feature = "dhcp")]
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
#[cfg(feature = "dhcp")]
use std::time::{Duration, Instant};

/// How long to wait for an offer before sending the DISCOVER again.
#[cfg(feature = "dhcp")]
const RESEND: Duration = Duration::from_secs(2);

/// One server's answer.
#[cfg(feature = "dhcp")]
struct Answer {
    offer: Offer,
    from: IpAddr,
}

#[cfg(feature = "dhcp")]
impl Answer {
    /// Servers are told apart by their identifier, else by source address.
    fn server(&self) -> IpAddr {
        self.offer.server_id.map(IpAddr::V4).unwrap_or(self.from)
    }
}

/// Run the probe; exit code 0 when at least one offer came.
#[cfg(feature = "dhcp")]
pub fn run(o: DhcpOpts) -> Result<u8> {
    let link = probe::open(&o.iface)?;
    let mut x = [0u8; 4];
    getrandom::fill(&mut x)
        .map_err(|e| Error::Runtime(format!("getting a random transaction id: {e}")))?;
    let xid = u32::from_be_bytes(x);
    let mac = mac_text(link.mac);
    if o.verbose > 0 {
        if !link.own_mac {
            eprintln!(
                "{} has no Ethernet address: using {mac} (random, locally administered)",
                o.iface
            );
        }
        eprintln!(
            "Sending DHCPDISCOVER on {} from {mac} (xid 0x{xid:08x}), waiting {} s for offers",
            o.iface,
            secs(o.wait)
        );
    }
    let dest = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::BROADCAST, probe::SERVER_PORT));
    let start = Instant::now();
    let deadline = start + o.wait;
    let mut next_send = start;
    let mut sent = 0u32;
    let mut answers: Vec<Answer> = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if answers.is_empty() && now >= next_send {
            let elapsed = u16::try_from(now.duration_since(start).as_secs()).unwrap_or(u16::MAX);
            let msg = packet::discover(xid, link.mac, elapsed);
            link.sock
                .send_to(&msg, dest)
                .map_err(|e| send_error(&o.iface, &e))?;
            sent += 1;
            next_send = now + RESEND;
        }
        let until = if answers.is_empty() {
            deadline.min(next_send)
        } else {
            deadline
        };
        let wait = until
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        link.sock
            .set_read_timeout(Some(wait))
            .map_err(|e| crate::error::runtime("setting a receive timeout", &e))?;
        let (n, from) = match link.sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if quiet_recv_error(&e) => {
                if o.verbose > 0 && !is_timeout(&e) {
                    eprintln!("Ignored a datagram: {}", describe(&e));
                }
                continue;
            }
            Err(e) => {
                return Err(crate::error::runtime(
                    format!("receiving on {}", o.iface),
                    &e,
                ))
            }
        };
        let offer = match packet::parse_offer(&buf[..n], xid) {
            Ok(offer) => offer,
            Err(why) => {
                if o.verbose > 0 {
                    eprintln!("Ignored {n} bytes from {from}: {why}");
                }
                continue;
            }
        };
        let a = Answer {
            offer,
            from: from.ip(),
        };
        if answers.iter().any(|b| b.server() == a.server()) {
            if o.verbose > 0 {
                eprintln!("Another offer from server {} (already shown)", a.server());
            }
            continue;
        }
        if !o.json {
            crate::local::stdio::print_text(&line(&a))
                .map_err(|e| crate::error::runtime("writing to stdout", &e))?;
        }
        answers.push(a);
    }
    if o.json {
        let text = json(&o, &mac, xid, sent, &answers);
        crate::local::stdio::print_text(&text)
            .map_err(|e| crate::error::runtime("writing to stdout", &e))?;
    }
    if answers.is_empty() {
        return Err(Error::Runtime(format!(
            "no DHCP offer on {} within {} s ({sent} DHCPDISCOVER sent)",
            o.iface,
            secs(o.wait)
        )));
    }
    Ok(0)
}

#[cfg(feature = "dhcp")]
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Receive errors that are not the socket's end: the wait ran out, a signal,
/// and on Windows an ICMP error reported late or a datagram too large.
#[cfg(feature = "dhcp")]
fn quiet_recv_error(e: &io::Error) -> bool {
    is_timeout(e)
        || matches!(
            e.kind(),
            io::ErrorKind::Interrupted | io::ErrorKind::ConnectionReset
        )
        || (cfg!(windows) && e.raw_os_error() == Some(10040))
}

#[cfg(feature = "dhcp")]
fn send_error(iface: &str, e: &io::Error) -> Error {
    // Linux says "unreachable" for an interface that is down.
    #[cfg(unix)]
    if matches!(e.raw_os_error(), Some(libc::ENETDOWN | libc::ENETUNREACH)) {
        return Error::Runtime(format!(
            "sending the DHCPDISCOVER on {iface}: network unreachable (is {iface} up?)"
        ));
    }
    crate::error::runtime(format!("sending the DHCPDISCOVER on {iface}"), e)
}

/// Seconds without a needless ".0".
#[cfg(feature = "dhcp")]
fn secs(d: Duration) -> String {
    // f64's `{}` already printed a whole number without ".0".
    crate::decimal::secs_shortest(d)
}

#[cfg(feature = "dhcp")]
fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(feature = "dhcp")]
fn list(v: &[Ipv4Addr]) -> String {
    if v.is_empty() {
        return "-".to_string();
    }
    v.iter()
        .map(Ipv4Addr::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(feature = "dhcp")]
fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |x| x.to_string())
}

#[cfg(feature = "dhcp")]
fn lease_text(l: Option<u32>) -> String {
    match l {
        None => "-".to_string(),
        Some(u32::MAX) => "infinite".to_string(),
        Some(s) => format!("{s}s"),
    }
}

/// The text report's line for one server: space-separated names and values,
/// `-` for what the offer left out.
#[cfg(feature = "dhcp")]
fn line(a: &Answer) -> String {
    let o = &a.offer;
    format!(
        "server {} offer {} mask {} router {} dns {} lease {} from {}\n",
        opt(o.server_id),
        o.offered,
        opt(o.mask),
        list(&o.routers),
        list(&o.dns),
        lease_text(o.lease),
        a.from
    )
}

/// A JSON string (the interface name is the only free text).
#[cfg(feature = "dhcp")]
#[cfg(feature = "dhcp")]
fn json_ip(v: Option<Ipv4Addr>) -> String {
    v.map_or_else(
        || "null".to_string(),
        |ip| crate::json::quote(&ip.to_string()),
    )
}

#[cfg(feature = "dhcp")]
fn json_list(v: &[Ipv4Addr]) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|ip| crate::json::quote(&ip.to_string()))
        .collect();
    format!("[{}]", items.join(","))
}

/// `--json`: one object; the keys are listed in the README.
#[cfg(feature = "dhcp")]
fn json(o: &DhcpOpts, mac: &str, xid: u32, sent: u32, answers: &[Answer]) -> String {
    let offers: Vec<String> = answers
        .iter()
        .map(|a| {
            let f = &a.offer;
            format!(
                "{{\"server_id\":{},\"offered\":{},\"mask\":{},\"routers\":{},\"dns\":{},\
                 \"lease_s\":{},\"from\":{}}}",
                json_ip(f.server_id),
                crate::json::quote(&f.offered.to_string()),
                json_ip(f.mask),
                json_list(&f.routers),
                json_list(&f.dns),
                f.lease
                    .map_or_else(|| "null".to_string(), |l| l.to_string()),
                crate::json::quote(&a.from.to_string())
            )
        })
        .collect();
    format!(
        "{{\"interface\":{},\"mac\":{},\"xid\":\"0x{xid:08x}\",\"wait_s\":{},\
         \"discovers_sent\":{sent},\"offers\":[{}]}}\n",
        crate::json::quote(&o.iface),
        crate::json::quote(mac),
        secs(o.wait),
        offers.join(",")
    )
}

#[cfg(test)]
#[cfg(feature = "dhcp")]
mod tests {
    use super::*;

    fn answer() -> Answer {
        Answer {
            offer: Offer {
                server_id: Some(Ipv4Addr::new(10, 0, 0, 1)),
                offered: Ipv4Addr::new(10, 0, 0, 50),
                mask: None,
                routers: vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)],
                dns: vec![],
                lease: Some(u32::MAX),
            },
            from: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)),
        }
    }

    #[test]
    fn text_line() {
        assert_eq!(
            line(&answer()),
            "server 10.0.0.1 offer 10.0.0.50 mask - router 10.0.0.1,10.0.0.2 dns - \
             lease infinite from 10.0.0.9\n"
        );
    }

    #[test]
    fn json_object() {
        let o = DhcpOpts {
            iface: "e\"0".to_string(),
            json: true,
            wait: Duration::from_millis(1500),
            verbose: 0,
        };
        assert_eq!(
            json(&o, "02:00:00:00:00:01", 0xab, 1, &[answer()]),
            "{\"interface\":\"e\\\"0\",\"mac\":\"02:00:00:00:00:01\",\"xid\":\"0x000000ab\",\
             \"wait_s\":1.5,\"discovers_sent\":1,\"offers\":[{\"server_id\":\"10.0.0.1\",\
             \"offered\":\"10.0.0.50\",\"mask\":null,\"routers\":[\"10.0.0.1\",\"10.0.0.2\"],\
             \"dns\":[],\"lease_s\":4294967295,\"from\":\"10.0.0.9\"}]}\n"
        );
    }
}
