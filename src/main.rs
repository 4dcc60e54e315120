//! netcrab: parse the command line, run, map the outcome to an exit code.

// Every unsafe block says why it is sound (`-D warnings` makes it an error).
#![warn(clippy::undocumented_unsafe_blocks)]

// `eprintln!`/`eprint!` that never panic. std's versions panic when stderr
// cannot be written (a pipe whose reader has gone: `netcrab ... 2>&1 | head
// -1`, or a full disk), and a panic inside a task ends only that task, so a
// run could hang waiting for it. Defined before the modules, so every module
// uses these instead of std's.
//
// The text is formatted first and written with one call (one function,
// not code at each call site): stderr is unbuffered, and each format piece
// would otherwise be a write of its own (a dozen system calls and pipe
// wake-ups for one short line).
macro_rules! eprintln {
    ($($arg:tt)*) => {
        $crate::local::stderr::say(format_args!($($arg)*), true)
    };
}
#[allow(unused_macros)] // only the `stats` feature prints without a newline
macro_rules! eprint {
    ($($arg:tt)*) => {
        $crate::local::stderr::say(format_args!($($arg)*), false)
    };
}

mod addr;
mod c_qsort;
mod cli;
mod decimal;
mod dhcp;
mod error;
mod faults;
#[cfg(any(feature = "probe", feature = "tunnel"))]
mod frame;
#[cfg(feature = "hexdump")]
mod hexdump;
#[cfg_attr(
    not(any(feature = "stats", feature = "probe", feature = "dhcp")),
    allow(dead_code)
)]
mod json;
mod local;
mod net;
mod probe;
#[cfg(feature = "qos")]
mod qos;
mod router;
mod run;
mod signal;
#[cfg(feature = "stats")]
mod stats;
mod sync64;
mod thread_name;
#[cfg(feature = "tunnel")]
mod tunnel;

use std::process::ExitCode;

/// Print a finished text; exit code 0, or a runtime error.
fn print(text: &str) -> error::Result<u8> {
    local::stdio::print_text(text)
        .map(|()| 0)
        .map_err(|e| error::runtime("writing to stdout", &e))
}

fn main() -> ExitCode {
    let argv: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect::<Result<_, _>>()
    {
        Ok(v) => v,
        Err(bad) => {
            eprintln!(
                "netcrab: argument '{}' is not valid UTF-8",
                bad.to_string_lossy()
            );
            return ExitCode::from(2);
        }
    };
    let result = cli::parse(&argv).and_then(|cmd| {
        if !matches!(
            cmd,
            cli::Command::Help | cli::Command::Version | cli::Command::Ifaces { .. }
        ) {
            // A stalled stderr must stall nothing but itself.
            local::stderr::start();
        }
        run_command(cmd)
    });
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("netcrab: {e}");
            e.exit_code()
        }
    };
    local::stderr::flush_at_exit();
    ExitCode::from(code)
}

fn run_command(cmd: cli::Command) -> error::Result<u8> {
    match cmd {
        cli::Command::Help => print(cli::help_text()),
        cli::Command::Version => print(concat!("netcrab ", env!("CARGO_PKG_VERSION"), "\n")),
        cli::Command::Ifaces { json } => net::ifaces::snapshot()
            .map_err(|e| error::runtime("listing interfaces", &e))
            .and_then(|s| {
                print(&if json {
                    net::ifaces::json(&s)
                } else {
                    net::ifaces::text(&s)
                })
                // Exit 1 when the verdict is not "looks connected", as
                // --probe and --dhcp-probe do when they fail.
                .map(|c| {
                    if net::ifaces::looks_connected(&s) {
                        c
                    } else {
                        1
                    }
                })
            }),
        cli::Command::Run(cfg) => {
            for w in &cfg.warnings {
                eprintln!("netcrab: warning: {w}");
            }
            run::run(*cfg)
        }
        #[cfg(feature = "probe")]
        cli::Command::Probe(o) => probe::run_client(*o),
        #[cfg(feature = "probe")]
        cli::Command::ProbeServer(o) => probe::run_server(*o),
        #[cfg(feature = "dhcp")]
        cli::Command::DhcpProbe(o) => dhcp::run(*o),
        #[cfg(feature = "tunnel")]
        cli::Command::TunnelRelay(o) => tunnel::run_relay(*o),
        #[cfg(feature = "tunnel")]
        cli::Command::TunnelInside(o) => tunnel::run_inside(*o),
        #[cfg(feature = "check")]
        cli::Command::Check(o) => net::check::run(*o),
    }
}
