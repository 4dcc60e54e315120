//! The probe's UDP datagrams: `NCPU`, a kind byte, the client's token and a
//! sequence number (17 bytes), then padding up to the wanted size.

/// The first bytes of every probe datagram.
const MAGIC: &[u8; 4] = b"NCPU";
/// Header size; the smallest probe datagram.
pub const HEADER: usize = 17;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Client → server; answered with Pong of the same size.
    Ping = 1,
    Pong = 2,
    /// Path-MTU probe; answered with Echo of the same size.
    Probe = 3,
    Echo = 4,
    /// Server → client's subnet broadcast.
    Broadcast = 5,
    /// Multicast from the client / from the server.
    McClient = 6,
    McServer = 7,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Ping,
            2 => Kind::Pong,
            3 => Kind::Probe,
            4 => Kind::Echo,
            5 => Kind::Broadcast,
            6 => Kind::McClient,
            7 => Kind::McServer,
            _ => return None,
        })
    }
}

/// A parsed datagram header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dgram {
    pub kind: Kind,
    pub token: u64,
    pub seq: u32,
}

impl Dgram {
    /// `size` bytes (at least the header).
    pub fn encode(&self, size: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(size.max(HEADER));
        v.extend_from_slice(MAGIC);
        v.push(self.kind as u8);
        v.extend_from_slice(&self.token.to_be_bytes());
        v.extend_from_slice(&self.seq.to_be_bytes());
        v.resize(size.max(HEADER), 0);
        v
    }

    /// The header of a datagram, or None for anything else.
    pub fn decode(b: &[u8]) -> Option<Dgram> {
        if b.len() < HEADER || &b[..4] != MAGIC {
            return None;
        }
        let kind = Kind::from_u8(b[4])?;
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[5..13]);
        let mut s = [0u8; 4];
        s.copy_from_slice(&b[13..17]);
        Some(Dgram {
            kind,
            token: u64::from_be_bytes(t),
            seq: u32::from_be_bytes(s),
        })
    }
}

/// Rewrite the kind byte of a datagram in place (for replies of equal size).
pub fn set_kind(b: &mut [u8], kind: Kind) {
    if b.len() >= HEADER {
        b[4] = kind as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_junk() {
        let d = Dgram {
            kind: Kind::Probe,
            token: 42,
            seq: 7,
        };
        let mut b = d.encode(1000);
        assert_eq!(b.len(), 1000);
        assert_eq!(Dgram::decode(&b), Some(d));
        set_kind(&mut b, Kind::Echo);
        assert_eq!(Dgram::decode(&b).map(|d| d.kind), Some(Kind::Echo));
        assert_eq!(Dgram::decode(&b[..16]), None);
        assert_eq!(Dgram::decode(b"NCPU\x09aaaaaaaaaaaaaaaa"), None);
        assert_eq!(Dgram::decode(b"hello world, hello world"), None);
    }
}
