//! bore and rathole for the tunnel rows: taken from the bench's cache
//! (`target/bench-peers/bin`), else from PATH, else installed into the cache with
//! `cargo install --root <cache>`. A peer that cannot be had is skipped with the reason.

use std::path::PathBuf;

use crate::util::{cargo, have_program, run, target_dir};

/// The peers that could be had.
#[derive(Debug, Default)]
pub struct Peers {
    pub bore: Option<PathBuf>,
    pub rathole: Option<PathBuf>,
}

/// The cache every bench run shares.
pub fn cache() -> PathBuf {
    target_dir().join("bench-peers")
}

/// Find or install one peer: `bin` from crate `krate` with `extra` cargo flags. `--quick`
/// (CI's smoke run) installs nothing: building both takes minutes on a fresh machine.
fn get(bin: &str, krate: &str, extra: &[&str], may_install: bool) -> Option<PathBuf> {
    let cached = cache().join("bin").join(bin);
    if cached.is_file() {
        return Some(cached);
    }
    if have_program(bin) {
        return Some(PathBuf::from(bin));
    }
    if !may_install {
        eprintln!(
            "bench: tunnel: {bin} skipped: not installed, and --quick builds no peers (the full \
             bench installs {krate} into {})",
            cache().display()
        );
        return None;
    }
    eprintln!(
        "bench: tunnel: installing {krate} into {}",
        cache().display()
    );
    let root = cache();
    let mut cmd = cargo();
    cmd.args(["install", "--locked", "--root"])
        .arg(&root)
        .arg(krate)
        .args(extra);
    match run(&mut cmd) {
        Ok(()) if cached.is_file() => Some(cached),
        Ok(()) => {
            eprintln!(
                "bench: tunnel: {bin} skipped: cargo install {krate} left no {}",
                cached.display()
            );
            None
        }
        Err(e) => {
            eprintln!("bench: tunnel: {bin} skipped: cargo install {krate} failed: {e}");
            None
        }
    }
}

pub fn peers(may_install: bool) -> Peers {
    Peers {
        bore: get("bore", "bore-cli", &[], may_install),
        // Without TLS and websockets: no C build (native-tls), and the bench uses plain TCP.
        rathole: get(
            "rathole",
            "rathole",
            &["--no-default-features", "--features", "server,client"],
            may_install,
        ),
    }
}
