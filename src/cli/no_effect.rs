//! Flags that shape an ordinary data run (how its connections are made,
//! kept and ended, and what is done to their bytes), as one table. A mode
//! that runs no such data (`--check`, tunnel mode) refuses each of them by
//! name, so none is accepted and silently ignored.

use super::args::Args;

/// Whether a flag was given, and how the refusal names it.
pub type Given = (bool, &'static str);

/// The data run's flags, in the order a refusal looks for them.
pub fn data_run(a: &Args) -> [Given; 45] {
    [
        (a.zero_io, "-z"),
        (a.exec.is_some(), "-e"),
        (a.exec_each.is_some(), "--exec-each"),
        (a.input.is_some(), "-i"),
        (a.output.is_some(), "-o"),
        (a.reconnect, "-r"),
        (a.reconnect_on_error, "-R"),
        (a.hexdump, "--hexdump"),
        (a.crlf, "-C"),
        (a.keep_open, "-k"),
        (a.max_clients.is_some(), "-m"),
        (a.fm.is_some(), "--fm"),
        (a.port.is_some(), "-p"),
        (a.broadcast, "-b"),
        (a.mc, "--mc"),
        (a.mc_no_loop, "--mc-no-loop"),
        (a.mc_if.is_some(), "--mc-if"),
        (a.udp_flows, "--udp-flows"),
        (a.scan_parallel.is_some(), "--scan-parallel"),
        (a.quit_after.is_some(), "-q"),
        (a.shutdown, "-N"),
        (a.no_shutdown, "--no-shutdown"),
        (a.exit_after_input, "--exit-after-input"),
        (a.close_grace.is_some(), "--close-grace"),
        (a.half_open, "--half-open"),
        (a.ss.is_some(), "--ss"),
        (a.sb.is_some(), "--sb"),
        (a.rb.is_some(), "--rb"),
        (a.ttl.is_some(), "--ttl"),
        (a.rsizemin.is_some(), "--rsizemin"),
        (a.rsizemax.is_some(), "--rsizemax"),
        (a.rvals.is_some(), "--rvals"),
        (a.stats, "--stats"),
        (a.stats_time.is_some(), "--stats-time"),
        (a.stats_json, "--stats-json"),
        (a.sdmin.is_some(), "--sdmin"),
        (a.sdmax.is_some(), "--sdmax"),
        (a.rdmin.is_some(), "--rdmin"),
        (a.rdmax.is_some(), "--rdmax"),
        (a.sdrop.is_some(), "--sdrop"),
        (a.rdrop.is_some(), "--rdrop"),
        (a.idle_timeout.is_some(), "--idle-timeout"),
        (a.hub_wait.is_some(), "--hub-wait"),
        (a.unix, "-U"),
        (a.source.is_some(), "-s"),
    ]
}

/// The first flag given, looking through `tables` in order.
pub fn first_given(tables: &[&[Given]]) -> Option<&'static str> {
    tables
        .iter()
        .flat_map(|t| t.iter())
        .find(|(set, _)| *set)
        .map(|(_, f)| *f)
}
