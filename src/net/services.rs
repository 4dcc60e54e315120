//! Ports by service name (`http` -> 80), as netcat looks them up: the services database
//! (`/etc/services`; on Windows the same format under `%SystemRoot%\System32\drivers\etc`).
//! Read once, at argument time (before the event loop runs), and only when a port is not a
//! number.

use std::sync::OnceLock;

/// Whether `s` could be a service name (and so is worth a lookup): a letter first, then
/// letters, digits, `-`, `_`, `.`, `+`.
pub fn is_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'+'))
}

/// The port of service `name` (TCP's entry first, then any protocol's), or `None`.
pub fn port(name: &str) -> Option<u16> {
    if !is_name(name) {
        return None;
    }
    lookup(database(), name)
}

fn database() -> &'static str {
    static DB: OnceLock<String> = OnceLock::new();
    DB.get_or_init(|| std::fs::read_to_string(path()).unwrap_or_default())
}

fn path() -> std::path::PathBuf {
    #[cfg(windows)]
    {
        let root = std::env::var_os("SystemRoot").unwrap_or_else(|| "C:\\Windows".into());
        std::path::Path::new(&root).join("System32\\drivers\\etc\\services")
    }
    #[cfg(not(windows))]
    {
        std::path::PathBuf::from("/etc/services")
    }
}

/// Looks `name` up in a services file's text: `name port/proto [aliases...] [# comment]`.
fn lookup(db: &str, name: &str) -> Option<u16> {
    let mut any = None;
    for line in db.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let (Some(first), Some(spec)) = (fields.next(), fields.next()) else {
            continue;
        };
        let named = first.eq_ignore_ascii_case(name)
            || fields.any(|alias| alias.eq_ignore_ascii_case(name));
        if !named {
            continue;
        }
        let Some((num, proto)) = spec.split_once('/') else {
            continue;
        };
        let Ok(p) = num.parse::<u16>() else {
            continue;
        };
        if proto.eq_ignore_ascii_case("tcp") {
            return Some(p);
        }
        any = any.or(Some(p));
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: &str = "# comment\nhttp\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP\n\
                      domain 53/udp\ndomain 53/tcp\nsyslog 514/udp\nbad x/tcp\n\
                      short\nhttps 443/tcp\n";

    #[test]
    fn names_aliases_and_protocols() {
        assert_eq!(lookup(DB, "http"), Some(80));
        assert_eq!(lookup(DB, "WWW"), Some(80));
        assert_eq!(lookup(DB, "domain"), Some(53));
        assert_eq!(lookup(DB, "syslog"), Some(514));
        assert_eq!(lookup(DB, "bad"), None);
        assert_eq!(lookup(DB, "short"), None);
        assert_eq!(lookup(DB, "gopher"), None);
        assert_eq!(lookup("", "http"), None);
    }

    #[test]
    fn only_name_shapes_are_looked_up() {
        assert!(is_name("http"));
        assert!(is_name("x11-ssh.offset+"));
        assert!(!is_name("80"));
        assert!(!is_name("8a"));
        assert!(!is_name(""));
        assert!(!is_name("a b"));
        assert!(!is_name("-z"));
    }
}
