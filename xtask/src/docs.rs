//! `cargo xtask docs`: writes what is derived from the flag declarations (each field of
//! `struct Args` in src/cli/args.rs with its doc comment) and the grouped text of
//! src/cli/help.in: `--help`'s text (src/cli/help.txt, which help.rs includes), the manual
//! page netcrab.1, and the flag tables of docs/GUIDE.md. `--check` writes nothing and fails
//! when a file is stale, or when `man --warnings` has anything to say about netcrab.1 (CI runs
//! it).

mod flags;
mod man;
mod template;
mod text;

use std::fs;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use crate::util::{err, have_program, package_version, project_root, show, Context, Result};

/// The guide's generated part sits between these lines.
const GUIDE_BEGIN: &str =
    "<!-- generated: flags (cargo xtask docs; edit the doc comments in src/cli/args.rs) -->";
const GUIDE_END: &str = "<!-- end generated: flags -->";

/// One generated file and its fresh content.
struct Output {
    path: PathBuf,
    content: String,
}

/// `cargo xtask docs [--check]`.
pub fn task(args: &[String]) -> Result<ExitCode> {
    let check = match args {
        [] => false,
        [a] if a == "--check" => true,
        _ => return Err(err("usage: cargo xtask docs [--check]")),
    };
    let mut stale = Vec::new();
    for out in outputs()? {
        let now = fs::read_to_string(&out.path).unwrap_or_default();
        if now == out.content {
            continue;
        }
        let name = out
            .path
            .strip_prefix(project_root())
            .unwrap_or(&out.path)
            .display()
            .to_string();
        if check {
            stale.push(name);
        } else {
            fs::write(&out.path, &out.content)
                .context(|| format!("writing {}", out.path.display()))?;
            eprintln!("docs: wrote {name}");
        }
    }
    if stale.is_empty() {
        if check {
            eprintln!("docs: every generated file is up to date");
            return man_warnings();
        }
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "docs: stale (run `cargo xtask docs` and commit): {}",
        stale.join(", ")
    );
    Ok(ExitCode::FAILURE)
}

/// `man --warnings` on netcrab.1 at 80 columns: any warning fails. Without man-db, says so and
/// passes (the page is still checked for staleness).
fn man_warnings() -> Result<ExitCode> {
    if !have_program("man") {
        eprintln!("docs: no `man` here (Debian: man-db); netcrab.1 not rendered");
        return Ok(ExitCode::SUCCESS);
    }
    let page = project_root().join("netcrab.1");
    let mut cmd = Command::new("man");
    cmd.env("MANWIDTH", "80")
        .args(["--warnings", "-l"])
        .arg(&page)
        .stdout(Stdio::null());
    let out = cmd
        .output()
        .context(|| format!("running `{}`", show(&cmd)))?;
    let warnings = String::from_utf8_lossy(&out.stderr);
    if out.status.success() && warnings.trim().is_empty() {
        eprintln!("docs: netcrab.1 renders without warnings");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("docs: `{}` ({}):\n{warnings}", show(&cmd), out.status);
    Ok(ExitCode::FAILURE)
}

/// The manual page, fresh from the sources (what `dist` ships).
pub fn man_page() -> Result<String> {
    let (sections, flags) = read()?;
    Ok(man::page(&sections, &flags, &package_version()?))
}

fn read() -> Result<(Vec<template::Section>, Vec<flags::Flag>)> {
    let root = project_root();
    let args = read_file(&root.join("src/cli/args.rs"))?;
    let flags = flags::parse(&args).context(|| "src/cli/args.rs".into())?;
    let help_in = read_file(&root.join("src/cli/help.in"))?;
    let sections = template::parse(&help_in, &flags)?;
    Ok((sections, flags))
}

fn outputs() -> Result<Vec<Output>> {
    let root = project_root();
    let (sections, flags) = read()?;
    let guide_path = root.join("docs/GUIDE.md");
    let guide = read_file(&guide_path)?;
    let (before, rest) = guide
        .split_once(GUIDE_BEGIN)
        .context(|| format!("docs/GUIDE.md has no line `{GUIDE_BEGIN}`"))?;
    let (_, after) = rest
        .split_once(GUIDE_END)
        .context(|| format!("docs/GUIDE.md has no line `{GUIDE_END}`"))?;
    let table = text::markdown(&sections, &flags);
    Ok(vec![
        Output {
            path: root.join("src/cli/help.txt"),
            content: text::help(&sections, &flags),
        },
        Output {
            path: root.join("netcrab.1"),
            content: man::page(&sections, &flags, &package_version()?),
        },
        Output {
            path: guide_path,
            content: format!("{before}{GUIDE_BEGIN}\n{table}\n{GUIDE_END}{after}"),
        },
    ])
}

fn read_file(path: &std::path::Path) -> Result<String> {
    fs::read_to_string(path).context(|| format!("reading {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same check as `cargo xtask docs --check`, so `cargo test` catches a stale file too.
    #[test]
    fn generated_files_are_fresh() -> Result<()> {
        for out in outputs()? {
            let now = read_file(&out.path)?;
            assert!(
                now == out.content,
                "{} is stale: run `cargo xtask docs`",
                out.path.display()
            );
        }
        Ok(())
    }
}
