//! Rewrites netcat-style spellings into the exact forms argh understands.
//!
//! argh matches every flag literally, so it has no grouped shorts (`-lvu`),
//! no `--name=value`, no attached values (`-w5`), no underscores in long
//! names (`--mc_no_loop`) and no `-h`. This pass runs before argh and turns
//! those spellings, plus the classic netcat forms (`HOST PORT`, `-l -p PORT`,
//! `-lvp PORT`), into plain argh arguments.

/// What the caller should do after normalising.
#[derive(Debug, PartialEq, Eq)]
pub enum Normalized {
    /// Hand these arguments to argh.
    Args(Vec<String>),
    /// Print the help text and exit 0.
    Help,
}

/// Short flags that take no value (switches). `l`, `L` and `k` are listed
/// here too: in a group (`-lvp 80`) a listen flag takes its address from
/// `-p` or the positionals instead of the next argument.
const SWITCHES: &[char] = &[
    'l', 'L', 'k', 'u', 'z', 'r', 'R', 'b', 'n', 'v', 'N', 'C', '4', '6', 'V',
];
/// Short flags that take a value.
const VALUED: &[char] = &['p', 'm', 'f', 'i', 'o', 'e', 'w', 'q'];
/// Long flags that take a value (used to skip their values while scanning).
const VALUED_LONG: &[&str] = &[
    "--listen",
    "--listen-harder",
    "--port",
    "--max-clients",
    "--fm",
    "--input",
    "--output",
    "--exec",
    "--exec-each",
    "--ss",
    "--sb",
    "--rb",
    "--ttl",
    "--wait",
    "--quit-after",
    "--rsizemin",
    "--rsizemax",
    "--rvals",
    "--sdmin",
    "--sdmax",
    "--rdmin",
    "--rdmax",
    "--sdrop",
    "--rdrop",
    "--stats-time",
    "--mc-if",
    "--udp-idle",
    "--idle-timeout",
    "--allow",
    "--deny",
    "--allow-file",
    "--deny-file",
    "--hub-wait",
    "--close-grace",
    "--probe-server",
    "--probe",
    "--probe-time",
    "--probe-group",
    "--tunnel-relay",
    "--tunnel-public",
    "--tunnel-inside",
    "--secret",
    "--secret-file",
];
/// Older or alternative spellings accepted for compatibility.
const ALIASES: &[(&str, &str)] = &[
    ("--eai", "--exit-after-input"),
    ("--st", "--stats-time"),
    ("--send-delay-min", "--sdmin"),
    ("--send-delay-max", "--sdmax"),
    ("--receive-delay-min", "--rdmin"),
    ("--receive-delay-max", "--rdmax"),
    ("--send-drop-chance", "--sdrop"),
    ("--receive-drop-chance", "--rdrop"),
    ("--keep-open", "-k"),
];

fn is_valued(tok: &str) -> bool {
    VALUED_LONG.contains(&tok)
        || (tok.len() == 2 && tok.starts_with('-') && tok[1..].chars().all(|c| VALUED.contains(&c)))
}

fn is_listen_flag(tok: &str) -> bool {
    matches!(tok, "-l" | "-L" | "--listen" | "--listen-harder")
}

fn is_number(tok: &str) -> bool {
    !tok.is_empty() && tok.bytes().all(|b| b.is_ascii_digit())
}

/// Whether a positional already carries a port (or is a form that needs none).
fn has_port(tok: &str) -> bool {
    if tok == "*" || tok.contains('=') || is_number(tok) {
        return true;
    }
    if let Some(rest) = tok.strip_prefix('[') {
        return rest.contains("]:");
    }
    // A bare IPv6 literal has colons but no port.
    tok.contains(':') && tok.parse::<std::net::Ipv6Addr>().is_err()
}

/// Step 1: split `--name=value`, fix `_` in long names, expand aliases,
/// groups (`-lvu`) and attached values (`-w5`). Also says whether help was
/// asked for: `-h`/`--help` as a flag, not as a value (`-e -h`) or after `--`.
fn expand(args: &[String]) -> (Vec<String>, bool) {
    let mut out = Vec::with_capacity(args.len());
    let mut help = false;
    let mut iter = args.iter();
    while let Some(a) = iter.next() {
        help |= a == "-h" || a == "--help";
        if a == "--" {
            out.push(a.clone());
            out.extend(iter.by_ref().cloned());
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let mut name = format!("--{}", name.replace('_', "-"));
            if let Some((_, to)) = ALIASES.iter().find(|(from, _)| *from == name) {
                name = to.to_string();
            }
            out.push(name);
            if let Some(v) = value {
                out.push(v.to_string());
            }
            // A value-taking long flag's value is passed through untouched.
            if value.is_none() && is_valued(out.last().map(String::as_str).unwrap_or("")) {
                if let Some(v) = iter.next() {
                    out.push(v.clone());
                }
            }
            continue;
        }
        let chars: Vec<char> = a.chars().skip(1).collect();
        if a.starts_with('-') && chars.len() > 1 && chars[0] != '-' {
            let (last, init) = chars
                .split_last()
                .map(|(l, i)| (*l, i))
                .unwrap_or((' ', &[]));
            if init.iter().all(|c| SWITCHES.contains(c))
                && (SWITCHES.contains(&last) || VALUED.contains(&last))
            {
                // `-lvu` or `-lvp` (the last letter may take the next argument).
                out.extend(chars.iter().map(|c| format!("-{c}")));
                if VALUED.contains(&last) {
                    if let Some(v) = iter.next() {
                        out.push(v.clone());
                    }
                }
                continue;
            }
            if VALUED.contains(&chars[0]) {
                // `-w5`, `-p8000`: an attached value.
                out.push(format!("-{}", chars[0]));
                out.push(chars[1..].iter().collect());
                continue;
            }
            // Leave it for argh to reject with its own message.
            out.push(a.clone());
            continue;
        }
        out.push(a.clone());
        if is_valued(a) {
            if let Some(v) = iter.next() {
                out.push(v.clone());
            }
        }
    }
    (out, help)
}

/// Normalise a command line (without the program name).
pub fn normalize(args: &[String]) -> Normalized {
    let (expanded, help) = expand(args);
    if help {
        return Normalized::Help;
    }

    // Step 2: walk the arguments, keeping flags with their values, and
    // collecting positionals and listen flags that came without an address.
    let mut flags: Vec<String> = Vec::new();
    let mut positionals: Vec<String> = Vec::new();
    let mut bare_listens: Vec<String> = Vec::new();
    let mut port: Option<String> = None;
    let mut i = 0;
    while i < expanded.len() {
        let a = &expanded[i];
        if a == "--" {
            positionals.extend(expanded[i + 1..].iter().cloned());
            break;
        }
        let next = expanded.get(i + 1);
        if is_listen_flag(a) {
            match next {
                Some(v) if !(v.starts_with('-') && v.len() > 1) => {
                    // `-l HOST PORT`: join a port-less host with a number after it.
                    let mut value = v.clone();
                    i += 2;
                    if !has_port(&value) {
                        if let Some(p) = expanded.get(i).filter(|p| is_number(p)) {
                            value = format!("{value}:{p}");
                            i += 1;
                        }
                    }
                    flags.push(a.clone());
                    flags.push(value);
                }
                _ => {
                    bare_listens.push(a.clone());
                    i += 1;
                }
            }
            continue;
        }
        if a == "-p" || a == "--port" {
            port = next.cloned();
            i += 2;
            continue;
        }
        if a.starts_with('-') && a.len() > 1 {
            flags.push(a.clone());
            if is_valued(a) {
                if let Some(v) = next {
                    flags.push(v.clone());
                }
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        positionals.push(a.clone());
        i += 1;
    }

    // Step 3: `HOST PORT` → `HOST:PORT`.
    let mut joined: Vec<String> = Vec::new();
    let mut j = 0;
    while j < positionals.len() {
        let p = &positionals[j];
        match positionals.get(j + 1) {
            Some(n) if !has_port(p) && is_port_list(n) => {
                joined.push(format!("{}:{n}", bracket_v6(p)));
                j += 2;
            }
            _ => {
                joined.push(p.clone());
                j += 1;
            }
        }
    }

    // Step 4: a bare `-l` takes `-p PORT`, or the positionals (netcat's
    // `nc -l 8000`, `nc -l localhost 8000`).
    let mut out = flags;
    if !bare_listens.is_empty() {
        let addr = match port.take() {
            Some(p) => match joined.first() {
                Some(h) if !has_port(h) => {
                    let h = joined.remove(0);
                    format!("{}:{p}", bracket_v6(&h))
                }
                _ => format!("*:{p}"),
            },
            None if !joined.is_empty() => joined.remove(0),
            // Leave it to the validation step to say an address is missing.
            None => String::new(),
        };
        for l in bare_listens {
            out.push(l);
            out.push(addr.clone());
        }
    }
    if let Some(p) = port {
        out.push("-p".into());
        out.push(p);
    }
    if !joined.is_empty() {
        out.push("--".into());
        out.extend(joined);
    }
    Normalized::Args(out)
}

/// A port, or a `-z` style port list (`20-25,80`).
fn is_port_list(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b',')
        && !s.starts_with('-')
}

/// `::1` + port needs brackets to stay unambiguous.
fn bracket_v6(h: &str) -> String {
    if h.contains(':') && !h.starts_with('[') {
        format!("[{h}]")
    } else {
        h.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tables above are kept by hand; argh's own description of `Args`
    /// must agree with them, or a value could be read as a flag (or a flag
    /// swallow the next argument).
    #[test]
    fn tables_match_the_argh_struct() {
        use argh::{ArgsInfo, FlagInfoKind};
        let info = crate::cli::args::Args::get_args_info();
        let mut long: Vec<&str> = Vec::new();
        let mut short_valued: Vec<char> = Vec::new();
        let mut short_switches: Vec<char> = Vec::new();
        for f in info.flags {
            match f.kind {
                FlagInfoKind::Option { .. } => {
                    long.push(f.long);
                    short_valued.extend(f.short);
                }
                FlagInfoKind::Switch => short_switches.extend(f.short),
            }
        }
        let mut table: Vec<&str> = VALUED_LONG.to_vec();
        long.sort_unstable();
        table.sort_unstable();
        assert_eq!(long, table, "VALUED_LONG");
        // `-l`/`-L` take a value in argh but are listed as switches here
        // (see SWITCHES).
        short_switches.extend(['l', 'L']);
        short_valued.retain(|c| !matches!(c, 'l' | 'L'));
        for (mut argh, table, name) in [
            (short_valued, VALUED, "VALUED"),
            (short_switches, SWITCHES, "SWITCHES"),
        ] {
            let mut table = table.to_vec();
            argh.sort_unstable();
            table.sort_unstable();
            assert_eq!(argh, table, "{name}");
        }
    }

    fn norm(s: &str) -> Normalized {
        let v: Vec<String> = s.split_whitespace().map(String::from).collect();
        normalize(&v)
    }

    fn args(s: &str) -> Normalized {
        Normalized::Args(s.split_whitespace().map(String::from).collect())
    }

    #[test]
    fn table() {
        let cases: &[(&str, &str)] = &[
            ("127.0.0.1:80", "-- 127.0.0.1:80"),
            ("localhost 80", "-- localhost:80"),
            ("::1 80", "-- [::1]:80"),
            ("-l -p 8000", "-l *:8000"),
            ("-lvp 8000", "-v -l *:8000"),
            ("-lnvp 8000", "-n -v -l *:8000"),
            ("-l 8000", "-l 8000"),
            ("-l localhost 8000", "-l localhost:8000"),
            ("-lk 8000", "-k -l 8000"),
            ("-L 127.0.0.1:5 -v", "-L 127.0.0.1:5 -v"),
            ("-vv host:1", "-v -v -- host:1"),
            ("-uv host:1", "-u -v -- host:1"),
            ("--ss=4096 h:1", "--ss 4096 -- h:1"),
            ("--mc_no_loop h:1", "--mc-no-loop -- h:1"),
            ("--eai h:1", "--exit-after-input -- h:1"),
            ("-w5 h:1", "-w 5 -- h:1"),
            ("-q0 h:1", "-q 0 -- h:1"),
            ("-p 4000 h:1", "-p 4000 -- h:1"),
            ("-z host 20-25,80", "-z -- host:20-25,80"),
            ("-i -x h:1", "-i -x -- h:1"),
            ("-lx", "-lx"),
            ("-- -weird", "-- -weird"),
            ("--fm=hub -L 127.0.0.1:1", "--fm hub -L 127.0.0.1:1"),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input), args(want), "input: {input}");
        }
    }

    #[test]
    fn help_forms() {
        assert_eq!(norm("-h"), Normalized::Help);
        assert_eq!(norm("--help"), Normalized::Help);
        assert_eq!(norm("-l 80 -h"), Normalized::Help);
        assert_ne!(norm("-- -h"), Normalized::Help);
        // An option's value, not a request for help.
        assert_ne!(norm("-e -h h:1"), Normalized::Help);
        assert_ne!(norm("--exec -h h:1"), Normalized::Help);
        assert_ne!(norm("--exec=-h h:1"), Normalized::Help);
        // A host named help is a host, not a request for help.
        assert_eq!(norm("help 80"), args("-- help:80"));
    }
}
