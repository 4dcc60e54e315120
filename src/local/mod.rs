//! The local endpoint: where local input comes from and received data goes.

#[cfg(feature = "exec")]
pub mod exec;
#[cfg(any(feature = "gen", feature = "faults", feature = "qos"))]
pub mod generate;
pub mod pool;
pub mod stdio;
pub mod terminal;
