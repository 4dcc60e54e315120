//! The local endpoint: where local input comes from and received data goes.

#[cfg(feature = "exec")]
pub mod exec;
#[cfg(any(feature = "gen", feature = "faults", feature = "qos"))]
pub mod generate;
pub mod pool;
pub mod stdio;
pub mod terminal;

/// Byte values of generated input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RandVals {
    /// Any byte.
    #[default]
    Binary,
    /// Printable ASCII, 0x20..=0x7E.
    Ascii,
}

/// `-i rand`, `-i fixed` and the QoS pings: chunk sizes and byte values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenSpec {
    pub min: usize,
    pub max: usize,
    pub vals: RandVals,
}
