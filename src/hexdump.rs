//! `--hexdump`: every chunk a socket sends or receives, dumped to stderr as
//! offset, 16 hex bytes and their printable characters.

use std::fmt::Write as _;
use std::io::Write as _;

/// Which way a chunk went.
#[derive(Clone, Copy)]
pub enum Dir {
    Received,
    Sent,
}

/// Format one chunk's dump.
pub fn format(dir: Dir, route: &str, data: &[u8]) -> String {
    let (arrow, verb) = match dir {
        Dir::Received => ("<", "received from"),
        Dir::Sent => (">", "sent to"),
    };
    let mut s = String::with_capacity(32 + data.len() * 4);
    let _ = writeln!(s, "{arrow} {} bytes {verb} {route}", data.len());
    for (i, line) in data.chunks(16).enumerate() {
        let _ = write!(s, "{arrow} {:08x} ", i * 16);
        for j in 0..16 {
            match line.get(j) {
                Some(b) => {
                    let _ = write!(s, " {b:02x}");
                }
                None => s.push_str("   "),
            }
            if j == 7 {
                s.push(' ');
            }
        }
        s.push_str("  |");
        s.extend(line.iter().map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        }));
        s.push_str("|\n");
    }
    s
}

/// Dump one chunk to stderr in a single write.
pub fn dump(dir: Dir, route: &str, data: &[u8]) {
    let text = format(dir, route, data);
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let d = format(Dir::Sent, "a<->b", b"hello, world\n\x00\x01\x02\xffXYZ");
        let lines: Vec<&str> = d.lines().collect();
        assert_eq!(lines[0], "> 20 bytes sent to a<->b");
        assert_eq!(
            lines[1],
            "> 00000000  68 65 6c 6c 6f 2c 20 77  6f 72 6c 64 0a 00 01 02  |hello, world....|"
        );
        assert!(lines[2].starts_with("> 00000010  ff 58 59 5a"));
        assert!(lines[2].ends_with("|.XYZ|"));
    }
}
