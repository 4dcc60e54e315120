//! netcrab: parse the command line, run, map the outcome to an exit code.

mod addr;
mod cli;
mod error;
mod faults;
#[cfg(feature = "hexdump")]
mod hexdump;
mod local;
mod net;
#[cfg(feature = "probe")]
mod probe;
#[cfg(feature = "qos")]
mod qos;
mod router;
mod run;
mod signal;
#[cfg(feature = "stats")]
mod stats;

use std::process::ExitCode;

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
    let result = cli::parse(&argv).and_then(|cmd| match cmd {
        cli::Command::Help => {
            print!("{}", cli::help_text());
            Ok(0)
        }
        cli::Command::Version => {
            println!("netcrab {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        cli::Command::Ifaces => net::ifaces::print_all()
            .map(|_| 0)
            .map_err(|e| error::Error::Runtime(format!("listing interfaces: {e}"))),
        cli::Command::Run(cfg) => run::run(*cfg),
        #[cfg(feature = "probe")]
        cli::Command::Probe(o) => probe::run_client(*o),
        #[cfg(feature = "probe")]
        cli::Command::ProbeServer(o) => probe::run_server(*o),
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("netcrab: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
