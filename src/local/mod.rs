//! The local endpoint: where local input comes from and received data goes.

#[cfg(feature = "exec")]
pub mod exec;
#[cfg(any(feature = "gen", feature = "faults", feature = "qos"))]
pub mod generate;
pub mod pool;
pub mod stderr;
pub mod stdio;
pub mod terminal;

/// Starts a named thread (its handle is not kept). The closure is boxed, so
/// std's thread start-up code is compiled once for every thread netcrab
/// starts rather than once per closure type.
pub fn thread(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    start_thread(name.into(), Box::new(f))
}

fn start_thread(name: String, f: Box<dyn FnOnce() + Send>) -> std::io::Result<()> {
    std::thread::Builder::new().name(name).spawn(f).map(drop)
}

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

/// Where local input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputMode {
    /// stdin, read in large blocks.
    #[default]
    Stdin,
    /// stdin; the original's "no character mode" spelling, same here.
    StdinNochar,
    /// No local input.
    None,
    /// Each socket's data goes back to it.
    Echo,
    /// Random data.
    Rand,
    /// A fixed random buffer sent over and over.
    Fixed,
    /// QoS ping client.
    PfQosCli,
    /// QoS ping server.
    PfQosSrv,
}

/// Where received data goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputMode {
    #[default]
    Stdout,
    None,
}
