//! Building netcrab for a target with the `dist` profile. `test` and `dist` share these
//! artifacts, so CI builds each target's full binary once.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::target::Target;
use crate::util::{cargo, err, output, run, target_dir, Context, Result};
use crate::zig;

/// The Cargo profile of shipped binaries (see the root Cargo.toml).
pub const PROFILE: &str = "dist";

/// Which feature set to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Default features.
    Full,
    /// `--no-default-features`.
    Minimal,
}

impl Flavor {
    /// The name used in file names and tables.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Full => "full",
            Flavor::Minimal => "minimal",
        }
    }
}

/// Where a build should go and with which overrides (defaults: the workspace target dir).
#[derive(Debug, Default)]
pub struct Overrides {
    /// `CARGO_TARGET_DIR`, when not the default.
    pub target_dir: Option<PathBuf>,
    /// `CARGO_PROFILE_DIST_OPT_LEVEL`, when measuring.
    pub opt_level: Option<&'static str>,
}

/// The `cargo build` command for `target`, with the target's linker, flags and build-std.
pub fn command(target: &Target, flavor: Flavor, o: &Overrides) -> Result<Command> {
    let mut cmd = cargo();
    cmd.args(["build", "--package", "netcrab", "--bin", "netcrab"]);
    cmd.args(["--profile", PROFILE, "--target", &target.triple]);
    if flavor == Flavor::Minimal {
        cmd.arg("--no-default-features");
    }
    if let Some(crates) = &target.build_std {
        cmd.arg(format!("-Zbuild-std={crates}"));
        if let Some(features) = &target.build_std_features {
            cmd.arg(format!("-Zbuild-std-features={features}"));
        }
    }
    // Per-target env rather than RUSTFLAGS: it doesn't touch host build scripts or proc macros.
    let prefix = target.cargo_env_prefix();
    if let Some(linker) = &target.linker {
        cmd.env(format!("{prefix}LINKER"), linker);
    } else if !target.zig_cc.is_empty() {
        cmd.env(format!("{prefix}LINKER"), zig::linker_wrapper(target)?);
    }
    // A panic is a bug that must never happen; in the shipped binaries it
    // aborts at once instead of carrying the formatting and unwinding-free
    // reporting machinery (about 45 KiB of a minimal build). The native
    // builds that the test suite and accept.py also run keep the message.
    let mut flags = target.rustflags.clone().unwrap_or_default();
    if target.rustc_bootstrap {
        flags.push_str(" -Zunstable-options -Cpanic=immediate-abort");
    }
    if !flags.trim().is_empty() {
        cmd.env(format!("{prefix}RUSTFLAGS"), flags.trim());
    }
    if target.rustc_bootstrap {
        // Lets stable cargo accept -Z build-std; scoped to this one command.
        cmd.env("RUSTC_BOOTSTRAP", "1");
    }
    if let Some(dir) = &o.target_dir {
        cmd.env("CARGO_TARGET_DIR", dir);
    }
    // A measurement's level wins over the target's own choice.
    if let Some(level) = o.opt_level.or(target.opt_level.as_deref()) {
        cmd.env("CARGO_PROFILE_DIST_OPT_LEVEL", level);
    }
    Ok(cmd)
}

/// Builds netcrab and returns a private copy of the binary, so a later build with other
/// features (which cargo writes to the same output path) can't swap it underneath us.
pub fn build(target: &Target, flavor: Flavor, o: &Overrides) -> Result<PathBuf> {
    run(&mut command(target, flavor, o)?).context(|| {
        format!(
            "building netcrab ({}) for {} (toolchain pieces missing? `cargo xtask setup --target {}`)",
            flavor.name(),
            target.triple,
            target.triple
        )
    })?;
    let dir = o.target_dir.clone().unwrap_or_else(target_dir);
    let out = dir.join(&target.triple).join(PROFILE);
    let built = out.join(format!("netcrab{}", target.exe_suffix));
    let copy = out.join(format!("netcrab-{}{}", flavor.name(), target.exe_suffix));
    copy_file(&built, &copy)?;
    if !target.remove_sections.is_empty() {
        remove_sections(&copy, &target.remove_sections)?;
    }
    Ok(copy)
}

/// Deletes sections from a linked binary with the toolchain's own `rust-objcopy` (it ships with
/// rustc; nothing to install).
fn remove_sections(bin: &Path, sections: &[String]) -> Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = output(Command::new(&rustc).args(["--print", "sysroot"]))?;
    let host = output(Command::new(&rustc).args(["--print", "host-tuple"]))?;
    let objcopy = Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(host.trim())
        .join("bin/rust-objcopy");
    let mut cmd = Command::new(&objcopy);
    for s in sections {
        cmd.arg(format!("--remove-section={s}"));
    }
    run(cmd.arg(bin))
}

/// Copies a file, naming both ends on failure.
pub fn copy_file(from: &Path, to: &Path) -> Result<()> {
    if !from.is_file() {
        return Err(err(format!("expected a binary at {}", from.display())));
    }
    std::fs::copy(from, to)
        .map(drop)
        .context(|| format!("copying {} to {}", from.display(), to.display()))
}
