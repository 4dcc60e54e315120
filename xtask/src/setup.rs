//! `cargo xtask setup`: make a fresh Debian 12 machine able to build and run every selected
//! target. Each step first checks what is there, so a second run does nothing.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::apt::apt_install;
use crate::target::Target;
use crate::util::{err, output, project_root, run, run_bounded, run_bounded_ok, Result};
use crate::zig;
use crate::Opts;

/// wineboot on a fresh prefix takes ~5 s here; allow for a slow CI machine, but never hang.
const WINEBOOT_LIMIT: Duration = Duration::from_secs(240);
/// `wineserver -w` returns once the prefix's processes are gone.
const WINESERVER_WAIT_LIMIT: Duration = Duration::from_secs(60);

/// Runs every setup step for the selected targets.
pub fn task(opts: &Opts) -> Result<()> {
    apt(&opts.targets)?;
    rustup(&opts.targets)?;
    if opts.targets.iter().any(|t| !t.zig_cc.is_empty()) {
        zig::install()?;
    }
    for t in &opts.targets {
        wine_prefix(t)?;
    }
    eprintln!("setup: done for {}", triples(&opts.targets));
    Ok(())
}

fn triples(targets: &[Target]) -> String {
    let names: Vec<&str> = targets.iter().map(|t| t.triple.as_str()).collect();
    names.join(", ")
}

/// Installs the missing Debian packages (apt-get update only when something is missing).
fn apt(targets: &[Target]) -> Result<()> {
    let mut wanted: Vec<&str> = targets
        .iter()
        .flat_map(|t| t.apt.iter().map(String::as_str))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let missing: Vec<&str> = wanted.into_iter().filter(|p| !deb_installed(p)).collect();
    if missing.is_empty() {
        eprintln!("setup: apt packages present");
        return Ok(());
    }
    eprintln!("setup: installing {}", missing.join(" "));
    apt_install(&missing)
}

/// Whether dpkg says the package is installed.
fn deb_installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).ends_with("install ok installed"))
        .unwrap_or(false)
}

/// Adds missing rustup targets and components to the toolchain cargo runs with.
fn rustup(targets: &[Target]) -> Result<()> {
    let rustup = || {
        // Run in the project so a rust-toolchain file (and RUSTUP_TOOLCHAIN from cargo) apply.
        let mut c = Command::new("rustup");
        c.current_dir(project_root());
        c
    };
    let installed_targets = output(rustup().args(["target", "list", "--installed"]))?;
    let installed_components = output(rustup().args(["component", "list", "--installed"]))?;
    for t in targets {
        for triple in &t.rustup_targets {
            if installed_targets.lines().any(|l| l.trim() == triple) {
                continue;
            }
            run(rustup().args(["target", "add", triple]))?;
        }
        for comp in &t.rustup_components {
            // Listed as `rust-src` or `rust-std-x86_64-unknown-linux-gnu`.
            let have = installed_components
                .lines()
                .any(|l| l.trim() == comp || l.trim().starts_with(&format!("{comp}-")));
            if !have {
                run(rustup().args(["component", "add", comp]))?;
            }
        }
    }
    eprintln!("setup: rustup targets and components present");
    Ok(())
}

/// Creates the target's WINEPREFIX with wineboot, once, if its runner is Wine.
pub fn wine_prefix(t: &Target) -> Result<()> {
    let (Some(server), Some(prefix)) = (&t.wineserver, t.wineprefix()) else {
        return Ok(());
    };
    if Path::new(prefix).join("system.reg").is_file() {
        eprintln!("setup: Wine prefix {prefix} exists");
        return Ok(());
    }
    let mut boot = t.runner_command(t.wine_loader()?);
    boot.args(["wineboot", "--init"])
        // No Mono/Gecko: their installers would try to download or ask through a dialog.
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        // Keep our stdout clean; wineboot's chatter goes to stderr.
        .stdout(Stdio::null());
    if let Err(e) = run_bounded_ok(&mut boot, WINEBOOT_LIMIT) {
        stop_wineserver(t, server);
        return Err(e);
    }
    // wineboot returns before the prefix is flushed; wait for the wineserver to be done.
    let mut wait = t.runner_command(server);
    wait.arg("-w");
    if run_bounded(&mut wait, WINESERVER_WAIT_LIMIT)?.is_none() {
        stop_wineserver(t, server);
    }
    if !Path::new(prefix).join("system.reg").is_file() {
        return Err(err(format!(
            "wineboot ran but {prefix}/system.reg is missing"
        )));
    }
    eprintln!("setup: Wine prefix {prefix} created");
    Ok(())
}

/// `wineserver -k`: ends every Wine process of the prefix (best effort, bounded).
pub fn stop_wineserver(t: &Target, server: &str) {
    let mut kill = t.runner_command(server);
    kill.arg("-k");
    // Best effort: nothing to do if it's already gone.
    run_bounded(&mut kill, Duration::from_secs(20)).ok();
}
