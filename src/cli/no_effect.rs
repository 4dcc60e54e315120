//! Flags that shape an ordinary data run (how its connections are made,
//! kept and ended, and what is done to their bytes), as one table. A mode
//! that runs no such data (`--check`, tunnel mode) refuses each of them by
//! name, so none is accepted and silently ignored.

use super::args::Args;

/// A table of flags: whether each was given, and how a refusal names it
/// (two arrays, so the names are constant data rather than code that
/// builds them at each use).
pub type Given<'a> = (&'a [bool], &'a [&'static str]);

/// The data run's flags, in the order a refusal looks for them; `data_run`
/// says which were given.
pub const DATA_RUN: [&str; 45] = [
    "-z",
    "-e",
    "--exec-each",
    "-i",
    "-o",
    "-r",
    "-R",
    "--hexdump",
    "-C",
    "-k",
    "-m",
    "--fm",
    "-p",
    "-b",
    "--mc",
    "--mc-no-loop",
    "--mc-if",
    "--udp-flows",
    "--scan-parallel",
    "-q",
    "-N",
    "--no-shutdown",
    "--exit-after-input",
    "--close-grace",
    "--half-open",
    "--ss",
    "--sb",
    "--rb",
    "--ttl",
    "--rsizemin",
    "--rsizemax",
    "--rvals",
    "--stats",
    "--stats-time",
    "--stats-json",
    "--sdmin",
    "--sdmax",
    "--rdmin",
    "--rdmax",
    "--sdrop",
    "--rdrop",
    "--idle-timeout",
    "--hub-wait",
    "-U",
    "-s",
];

/// Whether each flag of [`DATA_RUN`] was given.
pub fn data_run(a: &Args) -> [bool; 45] {
    [
        a.zero_io,
        a.exec.is_some(),
        a.exec_each.is_some(),
        a.input.is_some(),
        a.output.is_some(),
        a.reconnect,
        a.reconnect_on_error,
        a.hexdump,
        a.crlf,
        a.keep_open,
        a.max_clients.is_some(),
        a.fm.is_some(),
        a.port.is_some(),
        a.broadcast,
        a.mc,
        a.mc_no_loop,
        a.mc_if.is_some(),
        a.udp_flows,
        a.scan_parallel.is_some(),
        a.quit_after.is_some(),
        a.shutdown,
        a.no_shutdown,
        a.exit_after_input,
        a.close_grace.is_some(),
        a.half_open,
        a.ss.is_some(),
        a.sb.is_some(),
        a.rb.is_some(),
        a.ttl.is_some(),
        a.rsizemin.is_some(),
        a.rsizemax.is_some(),
        a.rvals.is_some(),
        a.stats,
        a.stats_time.is_some(),
        a.stats_json,
        a.sdmin.is_some(),
        a.sdmax.is_some(),
        a.rdmin.is_some(),
        a.rdmax.is_some(),
        a.sdrop.is_some(),
        a.rdrop.is_some(),
        a.idle_timeout.is_some(),
        a.hub_wait.is_some(),
        a.unix,
        a.source.is_some(),
    ]
}

/// The first flag given, looking through `tables` in order.
pub fn first_given(tables: &[Given]) -> Option<&'static str> {
    tables
        .iter()
        .flat_map(|(set, names)| set.iter().zip(names.iter()))
        .find(|(set, _)| **set)
        .map(|(_, f)| *f)
}
