//! `cargo xtask dist`: size-optimised builds, proved self-contained, copied to `dist/` as
//! `netcrab-<version>-<triple>[-minimal][.exe]`, with the manual page `netcrab.1` and a
//! `SHA256SUMS`, plus a size table.

use std::fs;
use std::path::{Path, PathBuf};

use crate::build::{build, copy_file, Flavor, Overrides};
use crate::sha256::hex_digest;
use crate::target::Target;
use crate::util::{err, kib, package_version, project_root, Context, Result};
use crate::verify::verify;
use crate::Opts;

/// The manual page's name in `dist/`.
const MAN_PAGE: &str = "netcrab.1";

/// One built, verified binary.
struct Artifact {
    triple: String,
    flavor: Flavor,
    size: u64,
    budget: u64,
    file: PathBuf,
}

/// Builds, verifies and publishes the selected targets.
pub fn task(opts: &Opts) -> Result<()> {
    let version = package_version()?;
    let dist = project_root().join("dist");
    fs::create_dir_all(&dist).context(|| format!("creating {}", dist.display()))?;
    let flavors: &[Flavor] = if opts.minimal {
        &[Flavor::Minimal]
    } else {
        &[Flavor::Full, Flavor::Minimal]
    };

    let mut artifacts = Vec::new();
    for t in &opts.targets {
        for &flavor in flavors {
            artifacts.push(publish(t, flavor, &version, &dist)?);
        }
    }
    // The manual page beside the binaries, fresh from the flag declarations.
    let man = dist.join(MAN_PAGE);
    fs::write(&man, crate::docs::man_page()?).context(|| format!("writing {}", man.display()))?;
    write_sums(&dist, &version)?;
    print_table(&artifacts, &opts.targets);
    if opts.compare_opt_levels {
        compare_opt_levels(&opts.targets, flavors)?;
    }

    let over: Vec<String> = artifacts
        .iter()
        .filter(|a| a.size > a.budget)
        .map(|a| format!("{} {} ({})", a.triple, a.flavor.name(), kib(a.size)))
        .collect();
    if !over.is_empty() {
        return Err(err(format!("over the size budget: {}", over.join(", "))));
    }
    Ok(())
}

/// The target's size limit for one flavor (bytes).
fn budget(t: &Target, flavor: Flavor) -> u64 {
    match flavor {
        Flavor::Full => t.budget.0,
        Flavor::Minimal => t.budget.1,
    }
}

/// Builds one flavor for one target, checks it, and copies it into `dist/`.
fn publish(t: &Target, flavor: Flavor, version: &str, dist: &Path) -> Result<Artifact> {
    let bin = build(t, flavor, &Overrides::default())?;
    let bytes = fs::read(&bin).context(|| format!("reading {}", bin.display()))?;
    let summary =
        verify(&bytes, &t.check).context(|| format!("{} is not self-contained", bin.display()))?;
    let suffix = match flavor {
        Flavor::Full => "",
        Flavor::Minimal => "-minimal",
    };
    let name = format!("netcrab-{version}-{}{suffix}{}", t.triple, t.exe_suffix);
    let file = dist.join(&name);
    copy_file(&bin, &file)?;
    eprintln!("dist: {name}: {summary}");
    Ok(Artifact {
        triple: t.triple.clone(),
        flavor,
        size: bytes.len() as u64,
        budget: budget(t, flavor),
        file,
    })
}

/// Writes `dist/SHA256SUMS` over every binary of this version in `dist/` and the manual page.
fn write_sums(dist: &Path, version: &str) -> Result<()> {
    let prefix = format!("netcrab-{version}-");
    let mut names = Vec::new();
    for entry in fs::read_dir(dist).context(|| format!("listing {}", dist.display()))? {
        let entry = entry.context(|| format!("listing {}", dist.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) || name == MAN_PAGE {
            names.push(name);
        }
    }
    names.sort();
    let mut sums = String::new();
    for name in &names {
        let path = dist.join(name);
        let bytes = fs::read(&path).context(|| format!("reading {}", path.display()))?;
        // Two spaces: the text-mode format `sha256sum -c` reads.
        sums.push_str(&format!("{}  {name}\n", hex_digest(&bytes)));
    }
    let path = dist.join("SHA256SUMS");
    fs::write(&path, sums).context(|| format!("writing {}", path.display()))
}

/// Prints target | full | minimal, with the budgets.
fn print_table(artifacts: &[Artifact], targets: &[Target]) {
    let cell = |triple: &str, flavor: Flavor| {
        artifacts
            .iter()
            .find(|a| a.triple == triple && a.flavor == flavor)
            .map(|a| {
                let mark = if a.size > a.budget { " OVER" } else { "" };
                format!("{}{mark}", kib(a.size))
            })
            .unwrap_or_else(|| "-".into())
    };
    println!(
        "\n{:<30} {:>14} {:>14}   budget (full / minimal)",
        "target", "full", "minimal"
    );
    for t in targets {
        println!(
            "{:<30} {:>14} {:>14}   {} / {}",
            t.triple,
            cell(&t.triple, Flavor::Full),
            cell(&t.triple, Flavor::Minimal),
            kib(t.budget.0),
            kib(t.budget.1)
        );
    }
    for a in artifacts {
        println!("  {}", a.file.display());
    }
}

/// Builds with opt-level "s" and "z" in separate target dirs and prints both sizes.
fn compare_opt_levels(targets: &[Target], flavors: &[Flavor]) -> Result<()> {
    let mut rows = Vec::new();
    for t in targets {
        for &flavor in flavors {
            let mut sizes = Vec::new();
            for level in ["s", "z"] {
                let o = Overrides {
                    target_dir: Some(project_root().join(format!("target/opt-level-{level}"))),
                    opt_level: Some(level),
                };
                let bin = build(t, flavor, &o)?;
                let len = fs::metadata(&bin)
                    .context(|| format!("reading {}", bin.display()))?
                    .len();
                sizes.push(len);
            }
            rows.push((t.triple.clone(), flavor, sizes));
        }
    }
    println!("\nopt-level comparison (bytes):");
    println!(
        "{:<30} {:<8} {:>10} {:>10}",
        "target", "flavor", "\"s\"", "\"z\""
    );
    for (triple, flavor, sizes) in rows {
        println!(
            "{triple:<30} {:<8} {:>10} {:>10}",
            flavor.name(),
            sizes[0],
            sizes[1]
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_cover_the_binaries_and_the_manual_page() -> Result<()> {
        let dir = crate::util::target_dir().join(format!("dist-test-{}", std::process::id()));
        fs::create_dir_all(&dir).context(|| "creating the test dir".into())?;
        for name in [
            "netcrab-9.9.9-x",
            "netcrab-1.0.0-old",
            MAN_PAGE,
            "notes.txt",
        ] {
            fs::write(dir.join(name), name).context(|| format!("writing {name}"))?;
        }
        write_sums(&dir, "9.9.9")?;
        let sums = fs::read_to_string(dir.join("SHA256SUMS")).context(|| "reading".into())?;
        fs::remove_dir_all(&dir).ok();
        let names: Vec<&str> = sums.lines().filter_map(|l| l.split("  ").nth(1)).collect();
        assert_eq!(names, ["netcrab-9.9.9-x", MAN_PAGE]);
        Ok(())
    }
}
