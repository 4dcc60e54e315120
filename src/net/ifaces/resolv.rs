//! The resolver configuration on Unix: /etc/resolv.conf (inside
//! `ip netns exec NAME` that is /etc/netns/NAME/resolv.conf, bind-mounted).

use super::Dns;

const PATH: &str = "/etc/resolv.conf";

#[cfg(unix)]
pub fn read() -> Dns {
    match std::fs::read_to_string(PATH) {
        Ok(text) => {
            let (servers, search) = parse(&text);
            Dns {
                source: PATH,
                servers: Ok(servers),
                search,
            }
        }
        Err(e) => Dns {
            source: PATH,
            servers: Err(format!("cannot read {PATH}: {e}")),
            search: Vec::new(),
        },
    }
}

/// Name servers (in order, valid addresses only) and the search list (the
/// last `search` or `domain` line wins, as resolv.conf(5) says).
pub fn parse(text: &str) -> (Vec<String>, Vec<String>) {
    let mut servers = Vec::new();
    let mut search = Vec::new();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or_default();
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(a) = words.next() {
                    let ip = a.split('%').next().unwrap_or_default();
                    if ip.parse::<std::net::IpAddr>().is_ok() && !servers.iter().any(|s| s == a) {
                        servers.push(a.to_string());
                    }
                }
            }
            Some("search") | Some("domain") => {
                search = words.map(str::to_string).collect();
            }
            _ => {}
        }
    }
    (servers, search)
}

#[cfg(test)]
mod tests {
    #[test]
    fn servers_and_the_last_search_line() {
        let text = "# comment\n\
                    nameserver 192.0.2.53\n\
                    nameserver  fe80::1%eth0  # trailing\n\
                    ;nameserver 192.0.2.99\n\
                    nameserver not-an-address\n\
                    nameserver 192.0.2.53\n\
                    domain old.example\n\
                    search a.example b.example\n\
                    options ndots:2\n";
        let (servers, search) = super::parse(text);
        assert_eq!(servers, ["192.0.2.53", "fe80::1%eth0"]);
        assert_eq!(search, ["a.example", "b.example"]);
        assert_eq!(super::parse(""), (vec![], vec![]));
    }
}
