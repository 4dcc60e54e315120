//! The help text, grouped for people (argh's generated list cannot group).
//!
//! `help.in` holds the grouped text with each group's flags named, not described; a flag is
//! described once, by its doc comment in `args.rs`. `cargo xtask docs` puts the two together
//! into `help.txt` (and the manual page, and the guide's flag tables); CI's
//! `cargo xtask docs --check` fails when `help.txt` is stale.

/// `help.txt`, LZ4-packed by build.rs (it is the largest constant of the binary).
const PACKED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/help.lz4"));

/// The help text, unpacked. Called once, to print `--help` before the process exits, so the
/// text is leaked like the constant it replaces.
pub fn text() -> &'static str {
    let bytes = lz4_flex::block::decompress_size_prepended(PACKED).unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default().leak()
}

#[cfg(test)]
const TEXT: &str = include_str!("help.txt");

#[cfg(test)]
mod tests {
    use super::TEXT;
    use argh::ArgsInfo;

    /// Every flag argh accepts is in `--help`, by its long name and its short one.
    #[test]
    fn every_flag_is_in_the_help() {
        let info = crate::cli::args::Args::get_args_info();
        assert!(info.flags.len() > 50, "too few flags: {}", info.flags.len());
        for f in info.flags {
            // argh's own --argh-help trigger is hidden on purpose.
            if f.long == "--argh-help" {
                continue;
            }
            // A flag line starts with the flag's spelling: `-m, --max-clients N`, `--udp-flows`.
            let names = |l: &str| {
                let spelling = l.trim_start().split("  ").next().unwrap_or("");
                spelling.split([',', ' ']).any(|w| w == f.long)
            };
            assert!(
                TEXT.lines()
                    .any(|l| l.trim_start().starts_with('-') && names(l)),
                "{} has no line in --help (run `cargo xtask docs`)",
                f.long
            );
            if let Some(short) = f.short {
                assert!(
                    TEXT.contains(&format!("  -{short}, {}", f.long)),
                    "-{short} is not in --help beside {}",
                    f.long
                );
            }
        }
    }

    /// The packed text unpacks to `help.txt`, byte for byte.
    #[test]
    fn packed_text_is_the_help_text() {
        assert_eq!(super::text(), TEXT);
    }

    /// Help lines fit a 100-column terminal.
    #[test]
    fn lines_fit_100_columns() {
        for line in TEXT.lines() {
            assert!(line.chars().count() <= 100, "too long: {line}");
        }
    }
}
