//! The one JSON string writer (`--ifaces --json`, `--stats-json`, the probe
//! and DHCP reports): quotes, backslashes and control characters escaped.

use std::fmt::Write as _;

/// `s` escaped for inside a JSON string (no surrounding quotes).
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

/// `s` as a JSON string, quotes included.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", escape(s))
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_what_json_requires() {
        assert_eq!(super::escape("a\"\\\n\t"), "a\\\"\\\\\\n\\t");
        assert_eq!(super::quote("a\"b\\c\u{1}"), "\"a\\\"b\\\\c\\u0001\"");
        assert_eq!(super::quote("plain é"), "\"plain é\"");
    }
}
