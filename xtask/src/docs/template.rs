//! `src/cli/help.in`: the grouped help text a person wrote, with the flags left out. A line
//! `@flags -l --udp-idle ...` stands for those flags' lines, in that order; `@block NAME` for
//! the flags declared in args.rs's `// --- NAME flags ---` block that no `@flags` line names
//! (so a new block needs no edit here). Every flag must land somewhere, once.

use super::flags::Flag;
use crate::util::{err, Result};

/// One part of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A flag, by its index in the flag list.
    Flag(usize),
    /// A line of the text, as written (indent included).
    Text(String),
}

/// A section: a header line (`UDP:`, `Exit codes: 0 success, ...`) and what follows it up to
/// the next blank line. The first section (the one-line summary) has no items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub header: String,
    pub items: Vec<Item>,
}

impl Section {
    /// The header without its trailing colon.
    pub fn title(&self) -> &str {
        self.header.trim_end_matches(':')
    }

    /// Whether any flag is in it.
    pub fn has_flags(&self) -> bool {
        self.items.iter().any(|i| matches!(i, Item::Flag(_)))
    }
}

/// Reads the template and places every flag.
pub fn parse(text: &str, flags: &[Flag]) -> Result<Vec<Section>> {
    let mut placed = vec![false; flags.len()];
    let place = |placed: &mut [bool], i: usize| -> Result<Item> {
        if std::mem::replace(&mut placed[i], true) {
            return Err(err(format!("help.in: {} placed twice", flags[i].long)));
        }
        Ok(Item::Flag(i))
    };
    // `@block` lines are resolved last, once every `@flags` line has claimed its flags.
    let mut blocks: Vec<(usize, usize, String)> = Vec::new();
    let mut sections: Vec<Section> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let is_header = !line.starts_with(' ') && !line.starts_with('@');
        let current = sections.len().wrapping_sub(1);
        let section = match sections.last_mut() {
            Some(s) if !is_header => s,
            _ => {
                if !is_header {
                    return Err(err(format!("help.in: `{line}` comes before any header")));
                }
                sections.push(Section {
                    header: line.to_string(),
                    items: Vec::new(),
                });
                continue;
            }
        };
        if let Some(names) = line.strip_prefix("@flags ") {
            for name in names.split_whitespace() {
                let i = flags
                    .iter()
                    .position(|f| f.is_named(name))
                    .ok_or_else(|| err(format!("help.in: no flag `{name}` in args.rs")))?;
                section.items.push(place(&mut placed, i)?);
            }
        } else if let Some(name) = line.strip_prefix("@block ") {
            blocks.push((current, section.items.len(), name.trim().to_string()));
        } else if line.starts_with('@') {
            return Err(err(format!("help.in: unknown directive `{line}`")));
        } else {
            section.items.push(Item::Text(line.to_string()));
        }
    }
    // Insert from the last so the recorded positions stay right.
    for (s, at, name) in blocks.into_iter().rev() {
        let mut items = Vec::new();
        for (i, f) in flags.iter().enumerate() {
            if f.block.as_deref() == Some(name.as_str()) && !placed[i] {
                items.push(place(&mut placed, i)?);
            }
        }
        sections[s].items.splice(at..at, items);
    }
    let missing: Vec<&str> = flags
        .iter()
        .zip(&placed)
        .filter(|(_, p)| !**p)
        .map(|(f, _)| f.long.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(err(format!(
            "help.in places no line for {} (add them to an `@flags` line, or declare them in a \
             `// --- NAME flags ---` block that an `@block NAME` line places)",
            missing.join(", ")
        )));
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(long: &str, block: Option<&str>) -> Flag {
        Flag {
            long: long.into(),
            short: None,
            value: None,
            doc: "d".into(),
            block: block.map(String::from),
        }
    }

    #[test]
    fn places_named_flags_then_blocks() -> Result<()> {
        let flags = [
            flag("--a", None),
            flag("--b", Some("t")),
            flag("--c", Some("t")),
        ];
        let s = parse(
            "summary\n\nOne:\n@flags --c --a\n  text\n\nTwo:\n@block t\n@block u\n",
            &flags,
        )?;
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[1].items,
            [Item::Flag(2), Item::Flag(0), Item::Text("  text".into())]
        );
        assert_eq!(s[2].items, [Item::Flag(1)]);
        Ok(())
    }

    #[test]
    fn every_flag_lands_once() {
        let flags = [flag("--a", None), flag("--b", Some("t"))];
        assert!(parse("x\nOne:\n@flags --a\n", &flags).is_err());
        assert!(parse("x\nOne:\n@flags --a --a\n@block t\n", &flags).is_err());
        assert!(parse("x\nOne:\n@flags --a --zz\n@block t\n", &flags).is_err());
    }
}
