//! The local endpoint: where local input comes from and received data goes.

pub mod stdio;
