//! Debian packages: `apt-get install` for setup, zig (python3-pip) and bench (the peers). Its
//! own module so that setup and zig, which both install packages, need not import each other.

use std::process::Command;

use crate::util::{run, Result};

/// `apt-get update` then `apt-get install` of `packages` (through sudo when
/// not root).
pub fn apt_install(packages: &[&str]) -> Result<()> {
    let apt_get = |args: &[&str]| -> Command {
        // Not root: go through sudo when there is one (root in CI and on the dev machines).
        let mut cmd = if is_root() {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.args(["--preserve-env=DEBIAN_FRONTEND", "apt-get"]);
            c
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    run(&mut apt_get(&["update", "-q"]))?;
    let mut install = apt_get(&["install", "-y", "-q", "--no-install-recommends"]);
    install.args(packages);
    run(&mut install)
}

/// Whether we run as root (`id -u` says 0).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}
