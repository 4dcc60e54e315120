//! netcrab's black-box suite: every test drives the real binary (set
//! NETCRAB_BIN and NETCRAB_RUNNER to test a cross-built one under an
//! emulator; `cargo xtask test --target T` does that).

mod util;

mod check;
mod cli;
mod compat;
mod dhcp;
mod fastpath;
mod file_send;
mod ifaces;
mod lifecycle;
mod local;
mod netns;
mod probe;
mod proxy;
mod reliability;
mod router;
mod scan;
mod signals;
mod tcp;
mod tunnel;
mod tunnel_mux;
mod tunnel_v2;
mod udp;
mod udp_batch;
mod udp_flows;
mod unix;
