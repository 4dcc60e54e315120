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
    'l', 'L', 'k', 'u', 'z', 'r', 'R', 'b', 'n', 'v', 'N', 'C', '4', '6', 'V', 'U',
];
/// Short flags that take a value.
const VALUED: &[char] = &['p', 'm', 'f', 'i', 'o', 'e', 'w', 'q', 'X', 'x', 'P', 's'];
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
    "--udp-peers",
    "--idle-timeout",
    "--allow",
    "--deny",
    "--allow-file",
    "--deny-file",
    "--hub-wait",
    "--close-grace",
    "--scan-parallel",
    "--probe-server",
    "--probe",
    "--probe-time",
    "--probe-group",
    "--proxy-proto",
    "--proxy-addr",
    "--proxy-user",
    "--proxy",
    "--proxy-type",
    "--proxy-auth",
    "--proxy-dns",
    "--proxy-pass-file",
    "--no-proxy",
    "--dhcp-probe",
    "--tunnel-relay",
    "--tunnel-public",
    "--tunnel-inside",
    "--secret",
    "--secret-file",
    "--check-name",
    "--check-url",
    "--check-expect",
    "--check-skip",
    "--tunnel-keepalive",
    "--source",
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
    // ncat's spelling.
    ("--unixsock", "-U"),
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

/// Whether `tok` is a flag rather than a value, as far as a flag before it
/// that needs a value is concerned: `--`, `--name`, or `-X...` with `X` a
/// known short letter (or `h`). `-1`, `-x` and `-` are values.
fn is_flag_like(tok: &str) -> bool {
    if tok == "--" {
        return true;
    }
    if let Some(long) = tok.strip_prefix("--") {
        return long.starts_with(|c: char| c.is_ascii_alphabetic());
    }
    match tok.strip_prefix('-').and_then(|r| r.chars().next()) {
        Some(c) => c == 'h' || SWITCHES.contains(&c) || VALUED.contains(&c),
        None => false,
    }
}

/// Whether `letters` (the rest of a short-flag token) read as more flags:
/// switches, optionally ending in a letter that takes a value (attached or
/// not). `-lvp9000` is `-l -v -p 9000`, but in `-l127.0.0.1:0` the rest is
/// the listen address.
fn is_group(letters: &[char]) -> bool {
    match letters.split_first() {
        None => true,
        Some((c, _)) if VALUED.contains(c) || matches!(c, 'l' | 'L') => true,
        Some((c, rest)) => SWITCHES.contains(c) && is_group(rest),
    }
}

/// An attached value, without the `=` of `-i=echo`.
fn attached(rest: &[char]) -> String {
    let s: String = rest.iter().collect();
    match s.strip_prefix('=') {
        Some(v) => v.to_string(),
        None => s,
    }
}

/// The value of `flag`, taken from the next argument. A missing one (the
/// end of the line, or another flag next) is a usage error naming the flag,
/// remembered in `missing` (unless help was asked for before it).
fn take_value<'a>(
    flag: &str,
    iter: &mut std::iter::Peekable<impl Iterator<Item = &'a String>>,
    out: &mut Vec<String>,
    missing: &mut Option<String>,
) {
    match iter.peek() {
        Some(v) if !is_flag_like(v) => out.extend(iter.next().cloned()),
        _ => {
            missing.get_or_insert_with(|| format!("missing value for {flag}"));
        }
    }
}

/// What step 1 found.
struct Expanded {
    args: Vec<String>,
    help: bool,
    /// The first flag that lacks its value, as a usage message.
    missing: Option<String>,
}

/// Step 1: split `--name=value`, fix `_` in long names, expand aliases,
/// groups (`-lvu`) and attached values (`-w5`, `-i=echo`, `-l127.0.0.1:0`,
/// `-uL[::1]:0`). Also says whether help was asked for: `-h`/`--help` as a
/// flag, not as a value (`--exec=-h`) or after `--`.
fn expand(args: &[String]) -> Expanded {
    let mut out = Vec::with_capacity(args.len());
    let mut help = false;
    let mut missing = None;
    let mut iter = args.iter().peekable();
    while let Some(a) = iter.next() {
        // Whichever comes first wins: `-h -e` is help, `-e -h` lacks a value.
        help |= (a == "-h" || a == "--help") && missing.is_none();
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
            let valued = is_valued(&name) && !is_listen_flag(&name);
            out.push(name);
            match value {
                Some(v) => out.push(v.to_string()),
                // A value-taking long flag's value is passed through
                // untouched. A listen flag's is left to step 2, which lets
                // it take its address from `-p` or the positionals.
                None if valued => take_value(a, &mut iter, &mut out, &mut missing),
                None => {}
            }
            continue;
        }
        let chars: Vec<char> = a.chars().skip(1).collect();
        if a.starts_with('-') && chars.len() > 1 && chars[0] != '-' {
            if !is_group(&chars) {
                // Leave it for argh to reject with its own message.
                out.push(a.clone());
                continue;
            }
            // Switches, up to a letter that takes a value: the rest of the
            // token is that value, or else the next argument is. For `-l`
            // and `-L` the rest may also be more switches (`-lvp 80`).
            for (k, c) in chars.iter().enumerate() {
                let flag = format!("-{c}");
                out.push(flag.clone());
                let rest = &chars[k + 1..];
                if VALUED.contains(c) {
                    if rest.is_empty() {
                        take_value(&flag, &mut iter, &mut out, &mut missing);
                    } else {
                        out.push(attached(rest));
                    }
                    break;
                }
                if matches!(c, 'l' | 'L') && !is_group(rest) {
                    out.push(attached(rest));
                    break;
                }
            }
            continue;
        }
        out.push(a.clone());
        if is_valued(a) {
            take_value(a, &mut iter, &mut out, &mut missing);
        }
    }
    Expanded {
        args: out,
        help,
        missing,
    }
}

/// Normalise a command line (without the program name).
pub fn normalize(args: &[String]) -> Result<Normalized, String> {
    let Expanded {
        args: expanded,
        help,
        missing,
    } = expand(args);
    if help {
        return Ok(Normalized::Help);
    }
    if let Some(msg) = missing {
        return Err(msg);
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
    let zero_io = flags.iter().any(|f| f == "-z" || f == "--zero-io");
    let mut joined: Vec<String> = Vec::new();
    let mut j = 0;
    while j < positionals.len() {
        let p = &positionals[j];
        match positionals.get(j + 1) {
            Some(n) if !has_port(p) && (is_port_list(n) || is_service(n)) => {
                joined.push(format!("{}:{n}", bracket_v6(p)));
                j += 2;
                // nc's `-z HOST P1 P2 ...`: every further port argument
                // scans the same host.
                if zero_io {
                    while let Some(n) = positionals.get(j).filter(|n| is_port_list(n)) {
                        joined.push(format!("{}:{n}", bracket_v6(p)));
                        j += 1;
                    }
                }
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
    Ok(Normalized::Args(out))
}

/// A service name the services database knows (`http`), so `HOST http` is `HOST:80`.
fn is_service(s: &str) -> bool {
    crate::net::services::port(s).is_some()
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

    fn norm(s: &str) -> Result<Normalized, String> {
        let v: Vec<String> = s.split_whitespace().map(String::from).collect();
        normalize(&v)
    }

    fn args(s: &str) -> Result<Normalized, String> {
        Ok(Normalized::Args(
            s.split_whitespace().map(String::from).collect(),
        ))
    }

    const HELP: Result<Normalized, String> = Ok(Normalized::Help);

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
            ("-z host 22 80 443", "-z -- host:22 host:80 host:443"),
            ("-zv host 22 80", "-z -v -- host:22 host:80"),
            ("-i -j h:1", "-i -j -- h:1"),
            ("-lj", "-l j"),
            ("-vj h:1", "-vj -- h:1"),
            // Attached values, also at the end of a group (0.11 took these).
            ("-l127.0.0.1:0", "-l 127.0.0.1:0"),
            ("-L[::1]:0", "-L [::1]:0"),
            ("-uL127.0.0.1:0", "-u -L 127.0.0.1:0"),
            ("-l8000", "-l 8000"),
            ("-l4000", "-l 4000"),
            ("-lvp9000", "-v -l *:9000"),
            ("-vw5 h:1", "-v -w 5 -- h:1"),
            ("-l=127.0.0.1:0", "-l 127.0.0.1:0"),
            ("-i=echo -l 1", "-i echo -l 1"),
            ("-o=none h:1", "-o none -- h:1"),
            ("-f=hub -L 1", "-f hub -L 1"),
            ("-m=3 -L 1", "-m 3 -L 1"),
            ("-ui=echo -l 1", "-u -i echo -l 1"),
            ("-ip h:1", "-i p -- h:1"),
            // A value that starts with '-' but is no flag stays a value.
            ("-m -1 -L 1", "-m -1 -L 1"),
            ("-e - h:1", "-e - -- h:1"),
            ("--listen -p 80", "--listen *:80"),
            ("-- -weird", "-- -weird"),
            ("--fm=hub -L 127.0.0.1:1", "--fm hub -L 127.0.0.1:1"),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input), args(want), "input: {input}");
        }
    }

    #[test]
    fn help_forms() {
        assert_eq!(norm("-h"), HELP);
        assert_eq!(norm("--help"), HELP);
        assert_eq!(norm("-l 80 -h"), HELP);
        assert_ne!(norm("-- -h"), HELP);
        // Help before a flag missing its value wins; after it, not.
        assert_eq!(norm("-h -e"), HELP);
        assert_eq!(norm("-e -h"), Err("missing value for -e".into()));
        // An option's value (or a missing one), not a request for help.
        assert_ne!(norm("-e -h h:1"), HELP);
        assert_ne!(norm("--exec -h h:1"), HELP);
        assert_ne!(norm("--exec=-h h:1"), HELP);
        // A host named help is a host, not a request for help.
        assert_eq!(norm("help 80"), args("-- help:80"));
    }

    /// A flag that needs a value and has none, at the end of the line or
    /// before another flag, is named (argh would take `--` as its value).
    #[test]
    fn missing_values_name_the_flag() {
        let cases: &[(&str, &str)] = &[
            ("h:1 -e", "-e"),
            ("h:1 --exec", "--exec"),
            ("h:1 -i", "-i"),
            ("h:1 --ss", "--ss"),
            ("-L 1 -m", "-m"),
            ("h:1 -p", "-p"),
            ("-lvp", "-p"),
            ("-uw", "-w"),
            ("-e -h h:1", "-e"),
            ("-e -- h:1", "-e"),
            ("-m -v -L 1", "-m"),
            ("--fm --stats h:1", "--fm"),
            ("--st", "--st"),
            ("--exec_each", "--exec_each"),
        ];
        for (input, flag) in cases {
            assert_eq!(
                norm(input),
                Err(format!("missing value for {flag}")),
                "input: {input}"
            );
        }
    }
}
