//! `netcrab.1`: the manual page, in plain man(7) roff, from the same sections as `--help`.
//! Usage becomes SYNOPSIS, Addresses part of DESCRIPTION, the flag sections OPTIONS, Examples
//! EXAMPLES and the exit-code line EXIT STATUS.

use super::flags::Flag;
use super::template::{Item, Section};
use super::text::{shown, two_columns};

/// The page. `version` goes in the footer; no date, so the file only changes with its sources.
pub fn page(sections: &[Section], flags: &[Flag], version: &str) -> String {
    let mut out = String::new();
    out.push_str(".\\\" Written by `cargo xtask docs` from src/cli/args.rs and src/cli/help.in.\n");
    out.push_str(".\\\" Do not edit: change those and run `cargo xtask docs`.\n");
    out.push_str(&format!(
        ".TH NETCRAB 1 \"\" \"netcrab {}\" \"User Commands\"\n",
        esc(version)
    ));
    let summary = sections.first().map(|s| s.header.as_str()).unwrap_or("");
    let summary = summary.strip_prefix("netcrab: ").unwrap_or(summary);
    out.push_str(&format!(".SH NAME\nnetcrab \\- {}\n", esc(summary)));
    let find = |prefix: &str| sections.iter().find(|s| s.header.starts_with(prefix));

    out.push_str(".SH SYNOPSIS\n");
    for item in find("Usage")
        .map(|s| s.items.as_slice())
        .unwrap_or_default()
    {
        if let Item::Text(line) = item {
            let cmd = two_columns(line).map_or(line.trim(), |(left, _)| left);
            out.push_str(&format!(".PP\n{}\n", esc(cmd)));
        }
    }

    out.push_str(".SH DESCRIPTION\n");
    out.push_str(&paragraph(&format!(
        "netcrab is {summary} It connects to targets and listens on many addresses at once, \
         routes data between the sockets (as a hub, or in channels that pair sockets into \
         tunnels), and checks whether a box is on the network. Received data goes to stdout \
         and nothing else does: status lines, -v output and errors go to stderr."
    )));
    if let Some(addresses) = find("Addresses") {
        out.push_str(".SS Addresses\n");
        items(&mut out, &addresses.items, flags);
    }

    // Every other section, in order: the flag groups and the text between them (QoS probes).
    out.push_str(".SH OPTIONS\n");
    let placed = ["Usage", "Addresses", "Exit codes", "Examples"];
    for s in sections.iter().skip(1).filter(|s| {
        shown(s) && !s.items.is_empty() && !placed.iter().any(|p| s.header.starts_with(p))
    }) {
        out.push_str(&format!(".SS {}\n", esc(s.title())));
        items(&mut out, &s.items, flags);
    }

    // As written: the examples are laid out in columns.
    out.push_str(".SH EXAMPLES\n.nf\n");
    for item in find("Examples")
        .map(|s| s.items.as_slice())
        .unwrap_or_default()
    {
        if let Item::Text(line) = item {
            out.push_str(&esc(line.strip_prefix("  ").unwrap_or(line)));
            out.push('\n');
        }
    }
    out.push_str(".fi\n");

    out.push_str(".SH EXIT STATUS\n");
    if let Some(exit) = find("Exit codes") {
        let mut text = vec![exit
            .header
            .strip_prefix("Exit codes: ")
            .unwrap_or(&exit.header)];
        text.extend(exit.items.iter().filter_map(|i| match i {
            Item::Text(line) => Some(line.trim()),
            Item::Flag(_) => None,
        }));
        out.push_str(&paragraph(&text.join(" ")));
    }

    out.push_str(".SH SEE ALSO\n");
    out.push_str(".BR nc (1),\n.BR ncat (1),\n.BR socat (1)\n");
    out.push_str(&paragraph(
        "The user guide, docs/GUIDE.md, and the wire formats, docs/PROTOCOLS.md, in the \
         netcrab sources.",
    ));
    out
}

/// A section's items: flags and two-column lines as tagged paragraphs, other lines as prose.
fn items(out: &mut String, items: &[Item], flags: &[Flag]) {
    let mut prose: Vec<&str> = Vec::new();
    let flush = |out: &mut String, prose: &mut Vec<&str>, indented: bool| {
        if !prose.is_empty() {
            let text = esc(&prose.join(" "));
            out.push_str(&format!(
                "{}\n{text}\n",
                if indented { ".IP" } else { ".PP" }
            ));
            prose.clear();
        }
    };
    let mut indented = false;
    // Whether the last thing written is a tagged paragraph's body, which a continuation
    // line extends.
    let mut in_tp = false;
    for item in items {
        match item {
            Item::Flag(i) => {
                flush(out, &mut prose, indented);
                let f = &flags[*i];
                out.push_str(&format!(".TP\n{}\n{}\n", tag(f), esc(&f.doc)));
                indented = true;
                in_tp = true;
            }
            Item::Text(line) => {
                if let Some((left, right)) = two_columns(line) {
                    flush(out, &mut prose, indented);
                    out.push_str(&format!(".TP\n.B {}\n{}\n", esc(left), esc(right)));
                    indented = true;
                    in_tp = true;
                } else if line.starts_with("    ") {
                    // A continuation of the item above; a line naming a value (`hub: ...`)
                    // starts a paragraph of its own.
                    let text = line.trim();
                    if text.split_once(": ").is_some_and(|(w, _)| !w.contains(' ')) {
                        flush(out, &mut prose, indented);
                        in_tp = false;
                    }
                    indented = true;
                    if in_tp {
                        out.push_str(&esc(text));
                        out.push('\n');
                    } else {
                        prose.push(text);
                    }
                } else {
                    in_tp = false;
                    if indented {
                        flush(out, &mut prose, indented);
                        indented = false;
                    }
                    prose.push(line.trim());
                }
            }
        }
    }
    flush(out, &mut prose, indented);
}

/// `\fB-m\fR, \fB--max-clients\fR \fIN\fR`.
fn tag(f: &Flag) -> String {
    let mut t = match &f.short {
        Some(s) => format!("\\fB{}\\fR, \\fB{}\\fR", esc(s), esc(&f.long)),
        None => format!("\\fB{}\\fR", esc(&f.long)),
    };
    if let Some(v) = &f.value {
        t.push_str(&format!(" \\fI{}\\fR", esc(v)));
    }
    t
}

fn paragraph(text: &str) -> String {
    format!(".PP\n{}\n", esc(text))
}

/// Escapes text for roff: backslashes, hyphens (so they stay ASCII minus signs that can be
/// searched and pasted), double quotes (which would split a macro's arguments), and a leading `.` or `'` that would read as a request.
fn esc(text: &str) -> String {
    let mut s = text
        .replace('\\', "\\e")
        .replace('-', "\\-")
        .replace('"', "\\(dq");
    if s.starts_with('.') || s.starts_with('\'') {
        s.insert_str(0, "\\&");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_roff() {
        assert_eq!(esc("-m a\\n"), "\\-m a\\en");
        assert_eq!(esc(".x"), "\\&.x");
        assert_eq!(esc("'q"), "\\&'q");
    }
}
