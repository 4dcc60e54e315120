//! Plain renderings of the sections: `--help`'s text and the guide's Markdown flag tables.

use super::flags::Flag;
use super::template::{Item, Section};

/// Where descriptions start in `--help` (after two spaces of indent and the spelling).
const DESC_COLUMN: usize = 27;
/// The widest `--help` line.
const WIDTH: usize = 98;

/// The whole `--help` text.
pub fn help(sections: &[Section], flags: &[Flag]) -> String {
    let mut parts = Vec::new();
    for s in sections.iter().filter(|s| shown(s)) {
        let mut out = format!("{}\n", s.header);
        for item in &s.items {
            match item {
                Item::Text(line) => {
                    out.push_str(line);
                    out.push('\n');
                }
                Item::Flag(i) => out.push_str(&help_lines(&flags[*i])),
            }
        }
        parts.push(out);
    }
    parts.join("\n")
}

/// A header that ends in `:` announces items; without any it is left out (a feature's
/// section whose block has no flags yet).
pub fn shown(s: &Section) -> bool {
    !s.items.is_empty() || !s.header.ends_with(':')
}

/// One flag: spelling, then its description wrapped into the description column.
fn help_lines(f: &Flag) -> String {
    let spelling = format!("  {}", f.spelling());
    let lines = wrap(&f.doc, WIDTH - DESC_COLUMN);
    let pad = " ".repeat(DESC_COLUMN);
    let mut out = String::new();
    let mut rest = lines.iter();
    if spelling.len() + 2 <= DESC_COLUMN {
        let first = rest.next().map(String::as_str).unwrap_or("");
        out.push_str(&format!("{spelling:<DESC_COLUMN$}{first}\n"));
    } else {
        out.push_str(&spelling);
        out.push('\n');
    }
    for line in rest {
        out.push_str(&pad);
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Greedy word wrap to `width` columns (a longer word gets a line of its own).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A two-column text line (`  -i rand      endless random chunks`): its left and right.
pub fn two_columns(line: &str) -> Option<(&str, &str)> {
    let body = line.strip_prefix("  ")?;
    if body.starts_with(' ') {
        return None;
    }
    let gap = body.find("   ")?;
    let (left, right) = body.split_at(gap);
    Some((left.trim(), right.trim()))
}

/// The guide's flag tables: one per section that has flags, under a `###` heading.
pub fn markdown(sections: &[Section], flags: &[Flag]) -> String {
    let mut out = String::new();
    for s in sections.iter().filter(|s| s.has_flags()) {
        out.push_str(&format!(
            "\n### {}\n\n| flag | meaning |\n| --- | --- |\n",
            s.title()
        ));
        let mut notes = Vec::new();
        for item in &s.items {
            match item {
                Item::Flag(i) => {
                    let f = &flags[*i];
                    out.push_str(&row(&f.spelling(), &f.doc));
                }
                Item::Text(line) => match two_columns(line) {
                    Some((left, right)) if left.starts_with('-') => out.push_str(&row(left, right)),
                    // Continuation lines belong to the flag above; the guide's sections
                    // say it at more length.
                    _ if line.starts_with("    ") => {}
                    _ => notes.push(line.trim()),
                },
            }
        }
        if !notes.is_empty() {
            out.push('\n');
            out.push_str(&wrap(&notes.join(" "), 80).join("\n"));
            out.push('\n');
        }
    }
    out
}

fn row(flag: &str, meaning: &str) -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    format!("| `{}` | {} |\n", cell(flag), cell(meaning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_aligns() {
        assert_eq!(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
        let f = Flag {
            long: "--tunnel-inside".into(),
            short: None,
            value: Some("HOST:PORT".into()),
            doc: "x".into(),
            block: None,
        };
        assert_eq!(
            help_lines(&f),
            format!("  --tunnel-inside HOST:PORT\n{}x\n", " ".repeat(27))
        );
        let g = Flag {
            long: "--udp".into(),
            short: Some("-u".into()),
            ..f
        };
        assert_eq!(help_lines(&g), format!("  -u, --udp HOST:PORT      x\n"));
    }

    #[test]
    fn splits_two_columns() {
        assert_eq!(
            two_columns("  -i rand        endless chunks"),
            Some(("-i rand", "endless chunks"))
        );
        assert_eq!(two_columns("   deep"), None);
        assert_eq!(two_columns("  one line of prose"), None);
    }
}
