//! `cargo xtask features`: builds netcrab with no optional feature, then with each feature
//! alone (`cargo check --no-default-features --features F`), so no feature leans on another
//! without saying so in Cargo.toml. What `cargo hack --each-feature check` does, without
//! installing it.

use std::fs;
use std::process::ExitCode;
use std::time::Instant;

use crate::util::{cargo, err, project_root, run, Context, Result};

/// Checks every feature alone; prints one line per build and fails if any failed.
pub fn task(args: &[String]) -> Result<ExitCode> {
    if let Some(a) = args.first() {
        return Err(err(format!("features takes no options (got `{a}`)")));
    }
    let path = project_root().join("Cargo.toml");
    let text = fs::read_to_string(&path).context(|| format!("reading {}", path.display()))?;
    let features = features(&text);
    if features.is_empty() {
        return Err(err("no [features] in Cargo.toml"));
    }
    let mut results = Vec::new();
    for feature in std::iter::once(None).chain(features.iter().map(Some)) {
        let mut cmd = cargo();
        cmd.args(["check", "--package", "netcrab", "--no-default-features"]);
        if let Some(f) = feature {
            cmd.args(["--features", f]);
        }
        let start = Instant::now();
        let ok = run(&mut cmd).is_ok();
        let name = feature.map_or("(none)", String::as_str);
        results.push((name, ok, start.elapsed()));
    }
    eprintln!("\nfeature builds (each alone, --no-default-features):");
    for (name, ok, took) in &results {
        let verdict = if *ok { "ok" } else { "FAILED" };
        eprintln!("  {name:<12} {verdict:<7} {:>6.1}s", took.as_secs_f64());
    }
    let failed: Vec<&str> = results.iter().filter(|r| !r.1).map(|r| r.0).collect();
    if failed.is_empty() {
        eprintln!("every feature builds alone ({} builds)", results.len());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("features that do not build alone: {}", failed.join(", "));
        Ok(ExitCode::FAILURE)
    }
}

/// The names in Cargo.toml's `[features]` table, less `default`.
fn features(text: &str) -> Vec<String> {
    let mut in_features = false;
    let mut names = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_features = line == "[features]";
        } else if in_features && !line.starts_with('#') {
            if let Some((name, _)) = line.split_once('=') {
                let name = name.trim();
                if !name.is_empty() && name != "default" {
                    names.push(name.to_string());
                }
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::features;

    #[test]
    fn reads_the_features_table() {
        let text = "[package]\nname = \"x\"\n[features]\ndefault = [\"a\"]\n# c\na = []\n\
                    b = [\"a\", \"dep:y\"]\n\n[dependencies]\nz = \"1\"\n";
        assert_eq!(features(text), ["a", "b"]);
    }
}
