//! Zig as the C side of a musl target that has no rustup `rust-std` here (or at all: tier 3).
//!
//! The rust-lld targets link against the musl CRT objects, `libc.a` and `libunwind.a` that ship
//! inside the rustup target (`lib/self-contained`). A target whose rust-std cannot be had needs
//! those from elsewhere; std itself is rebuilt from rust-src anyway (build-std). `zig cc` carries
//! musl's and LLVM libunwind's sources for every architecture and builds them for the requested
//! target on first use (cached under ~/.cache/zig), then links with its own LLD. Zig comes as the
//! `ziglang` wheel from PyPI: one pinned download, unpacked into a cache directory, no build.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::apt::apt_install;
use crate::target::Target;
use crate::util::{err, output, run, target_dir, Context, Result};

/// The `ziglang` wheel version. Pinned: a zig update changes the musl and libunwind it builds.
pub const VERSION: &str = "0.17.1";

/// Where the unpacked wheel lives: outside the project, so `cargo clean` keeps the ~100 MB
/// download. Without a HOME, inside the target dir.
fn home() -> PathBuf {
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => PathBuf::from(h).join(".cache/netcrab"),
        None => target_dir().join("tools"),
    }
    .join(format!("zig-{VERSION}"))
}

/// The zig executable inside the unpacked wheel.
pub fn program() -> PathBuf {
    home().join("ziglang/zig")
}

/// Whether the pinned zig is unpacked and runs.
fn installed() -> bool {
    Command::new(program())
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.trim_ascii() == VERSION.as_bytes())
}

/// `cargo xtask setup`: downloads the pinned wheel with pip (the only client that talks to
/// PyPI here) and unpacks it. A wheel is a zip file; pip `download` installs nothing, so it
/// works on Debian's externally managed Python too.
pub fn install() -> Result<()> {
    if installed() {
        eprintln!("setup: zig {VERSION} present");
        return Ok(());
    }
    let pip_works = Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !pip_works {
        apt_install(&["python3-pip"])?;
    }
    let dir = home();
    let wheels = dir.with_file_name(format!("zig-{VERSION}-download"));
    fs::create_dir_all(&wheels).context(|| format!("creating {}", wheels.display()))?;
    run(Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .arg("--dest")
        .arg(&wheels)
        .arg(format!("ziglang=={VERSION}")))?;
    let wheel = find_wheel(&wheels)?;
    if dir.exists() {
        fs::remove_dir_all(&dir).context(|| format!("removing {}", dir.display()))?;
    }
    run(Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&dir))?;
    // zipfile drops the mode bits.
    make_executable(&program())?;
    fs::remove_dir_all(&wheels).ok();
    let version = output(Command::new(program()).arg("version"))?;
    if version.trim() != VERSION {
        return Err(err(format!(
            "{} says version {}, expected {VERSION}",
            program().display(),
            version.trim()
        )));
    }
    eprintln!("setup: zig {VERSION} unpacked in {}", dir.display());
    Ok(())
}

fn find_wheel(dir: &Path) -> Result<PathBuf> {
    fs::read_dir(dir)
        .context(|| format!("listing {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context(|| format!("pip left no .whl in {}", dir.display()))
}

/// `drop-eh-frame`: an implicit linker script (lld merges it into its default layout) that
/// discards the C library's unwind tables. zig builds musl with them (about 280 FDEs, 11 KiB
/// on MIPS); the Rust code has none (`-C force-unwind-tables=no`, `-Cpanic=immediate-abort`),
/// and no unwinder is linked in (libunwind's `_Unwind_*` are all garbage-collected), so
/// nothing in the binary reads them.
const DROP_EH_FRAME: &str = "/* Written by cargo xtask (drop-eh-frame): no unwind tables. */\n\
    SECTIONS { /DISCARD/ : { *(.eh_frame) *(.eh_frame_hdr) } } INSERT AFTER .text;\n";
const DROP_EH_FRAME_FILE: &str = "drop-eh-frame.ld";

/// Writes the linker wrapper for `t`, a shell script (rustc's linker must be one program), and
/// returns its path. Rewritten on every build, so it always names the pinned zig.
///
/// Without `zig-lld` or `drop-eh-frame` the wrapper is one `exec zig cc ARGS "$@"`. With
/// either (lld arguments such as `--icf`, which `zig cc` refuses as unsupported linker
/// arguments, or the `drop-eh-frame` linker script), `zig cc` links as usual with
/// `ZIG_VERBOSE_LINK=1`, which makes it print the ld.lld command it ran (its CRT objects,
/// libc.a, libzigc.a, libunwind.a and compiler-rt, all in zig's cache); the script then runs
/// that same command again through `zig ld.lld` with the extra arguments appended, overwriting
/// the output. The paths in that line have no spaces (zig's cache, cargo's target dir).
pub fn linker_wrapper(t: &Target) -> Result<PathBuf> {
    if !installed() {
        return Err(err(format!(
            "zig {VERSION} is not installed: run `cargo xtask setup --target {}`",
            t.triple
        )));
    }
    let dir = target_dir().join("zig-cc");
    fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(&t.triple);
    let zig = shell_quote(&program().to_string_lossy());
    let cc: Vec<String> = t.zig_cc.iter().map(|w| shell_quote(w)).collect();
    let cc = cc.join(" ");
    let head = format!(
        "#!/bin/sh\n# Written by `cargo xtask` from targets/{}.target: rustc's linker.\n",
        t.triple
    );
    let mut lld = t.zig_lld.clone();
    if t.drop_eh_frame {
        let ld = dir.join(DROP_EH_FRAME_FILE);
        fs::write(&ld, DROP_EH_FRAME).context(|| format!("writing {}", ld.display()))?;
        lld.push("--no-eh-frame-hdr".into());
        lld.push(ld.to_string_lossy().into_owned());
    }
    let script = if lld.is_empty() {
        format!("{head}exec {zig} cc {cc} \"$@\"\n")
    } else {
        let extra: Vec<String> = lld.iter().map(|w| shell_quote(w)).collect();
        format!(
            "{head}# zig cc links and prints its ld.lld command; that command runs again with: {}\n\
             set -f\n\
             log=$(mktemp) || exit 1\n\
             ZIG_VERBOSE_LINK=1 {zig} cc {cc} \"$@\" 2>\"$log\"\n\
             status=$?\n\
             grep -v -e '^ld.lld ' -e '^ar rcs ' \"$log\" >&2\n\
             line=$(grep '^ld.lld ' \"$log\" | tail -n 1)\n\
             rm -f \"$log\"\n\
             [ \"$status\" -eq 0 ] || exit \"$status\"\n\
             if [ -z \"$line\" ]; then echo 'zig cc printed no ld.lld command' >&2; exit 1; fi\n\
             exec {zig} $line {}\n",
            lld.join(" "),
            extra.join(" ")
        )
    };
    fs::write(&path, script).context(|| format!("writing {}", path.display()))?;
    make_executable(&path)?;
    Ok(path)
}

/// chmod 755.
fn make_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .context(|| format!("making {} executable", path.display()))
}

/// Single-quotes a word for sh.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quotes_for_sh() {
        assert_eq!(shell_quote("-target"), "'-target'");
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }
}
