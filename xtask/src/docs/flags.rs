//! The flags as `src/cli/args.rs` declares them: each field of `struct Args` with its doc
//! comment and `#[argh(...)]` attribute. Read as text (xtask is std only): the file keeps to
//! one simple shape, `/// doc` lines, one `#[argh(...)]` attribute, `pub name: Type,`.

use crate::util::{err, Result};

/// One flag of the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// `--long-name` (argh's: the field name with dashes, or `long = "..."`).
    pub long: String,
    /// `-x`, when it has one.
    pub short: Option<String>,
    /// The value's name (`arg_name`) for an option; `None` for a switch.
    pub value: Option<String>,
    /// The doc comment, its lines joined by spaces.
    pub doc: String,
    /// The `// --- NAME flags ---` block the field is declared in, if any.
    pub block: Option<String>,
}

impl Flag {
    /// How a person types it: `-m, --max-clients N`, `--udp-flows`.
    pub fn spelling(&self) -> String {
        let mut s = match &self.short {
            Some(short) => format!("{short}, {}", self.long),
            None => self.long.clone(),
        };
        if let Some(v) = &self.value {
            s.push(' ');
            s.push_str(v);
        }
        s
    }

    /// Whether `name` (`-m` or `--max-clients`) names this flag.
    pub fn is_named(&self, name: &str) -> bool {
        self.long == name || self.short.as_deref() == Some(name)
    }
}

/// Every flag of `struct Args`, in declaration order (positionals left out).
pub fn parse(text: &str) -> Result<Vec<Flag>> {
    let start = text
        .find("pub struct Args {")
        .ok_or_else(|| err("no `pub struct Args {` in src/cli/args.rs"))?;
    let mut flags = Vec::new();
    let mut doc: Vec<String> = Vec::new();
    let mut attr = String::new();
    let mut block = None;
    for (n, line) in text[start..].lines().enumerate().skip(1) {
        let line = line.trim();
        if line == "}" {
            return Ok(flags);
        }
        if let Some(d) = line.strip_prefix("///") {
            doc.push(d.trim().to_string());
        } else if let Some(name) = block_name(line) {
            block = Some(name);
        } else if line.starts_with("//") || line.is_empty() {
            continue;
        } else if line.starts_with("#[argh(") || !attr.is_empty() && !attr.ends_with(")]") {
            // rustfmt may break a long attribute over lines.
            attr.push_str(line);
        } else if line.starts_with("#[") {
            continue;
        } else if let Some(field) = line.strip_prefix("pub ") {
            let name = field
                .split(':')
                .next()
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .ok_or_else(|| err(format!("args.rs: field line {} unreadable", n + 1)))?;
            if doc.is_empty() {
                return Err(err(format!("args.rs: field `{name}` has no doc comment")));
            }
            if let Some(flag) = field_flag(name, &attr, doc.join(" "), block.clone())? {
                flags.push(flag);
            }
            doc.clear();
            attr.clear();
        } else {
            return Err(err(format!("args.rs: cannot read `{line}` in struct Args")));
        }
    }
    Err(err("args.rs: struct Args does not end"))
}

/// `// --- tunnel flags ---` gives `tunnel`.
fn block_name(line: &str) -> Option<String> {
    let inner = line.strip_prefix("// ---")?.strip_suffix("---")?.trim();
    inner.strip_suffix(" flags").map(|b| b.trim().to_string())
}

/// The flag of one field, from its `#[argh(...)]`; `None` for a positional.
fn field_flag(name: &str, attr: &str, doc: String, block: Option<String>) -> Result<Option<Flag>> {
    let inner = attr
        .strip_prefix("#[argh(")
        .and_then(|a| a.strip_suffix(")]"))
        .ok_or_else(|| err(format!("args.rs: field `{name}` has no #[argh(...)]")))?;
    let mut kind = None;
    let mut flag = Flag {
        long: format!("--{}", name.replace('_', "-")),
        short: None,
        value: None,
        doc,
        block,
    };
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            None => {
                if matches!(part, "option" | "switch" | "positional") {
                    kind = Some(part);
                }
            }
            Some((key, value)) => {
                let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
                match key.trim() {
                    "short" => flag.short = Some(format!("-{value}")),
                    "long" => flag.long = format!("--{value}"),
                    "arg_name" => flag.value = Some(value.to_string()),
                    _ => {}
                }
            }
        }
    }
    match kind {
        Some("positional") => Ok(None),
        Some("switch") => {
            flag.value = None;
            Ok(Some(flag))
        }
        // An option without arg_name still shows that it takes a value.
        Some(_) => {
            flag.value.get_or_insert_with(|| "VALUE".to_string());
            Ok(Some(flag))
        }
        None => Err(err(format!(
            "args.rs: field `{name}`: #[argh(...)] says neither option, switch nor positional"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_blocks_and_attributes() -> Result<()> {
        let text = "pub struct Args {\n    /// targets\n    #[argh(positional, greedy)]\n    \
                    pub targets: Vec<String>,\n    /// most inbound\n    /// at once\n    \
                    #[argh(option, short = 'm', arg_name = \"N\")]\n    pub max_clients: Option<String>,\n\
                    \n    // --- tunnel flags ---\n    /// a switch\n    #[argh(\n        switch,\n        \
                    long = \"fm\"\n    )]\n    pub x: bool,\n    /// an option\n    #[argh(option)]\n    \
                    pub udp_idle: Option<String>,\n}\n";
        let flags = parse(text)?;
        assert_eq!(flags.len(), 3);
        assert_eq!(flags[0].spelling(), "-m, --max-clients N");
        assert_eq!(flags[0].doc, "most inbound at once");
        assert_eq!(flags[0].block, None);
        assert_eq!(flags[1].spelling(), "--fm");
        assert_eq!(flags[1].block.as_deref(), Some("tunnel"));
        assert_eq!(flags[2].spelling(), "--udp-idle VALUE");
        assert!(flags[0].is_named("-m") && flags[0].is_named("--max-clients"));
        Ok(())
    }

    #[test]
    fn a_field_without_doc_is_an_error() {
        assert!(parse("pub struct Args {\n    #[argh(switch)]\n    pub x: bool,\n}\n").is_err());
    }
}
