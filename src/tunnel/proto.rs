//! The tunnel's inside-link protocol, version 2: versioned,
//! length-prefixed messages (docs/parts/tunnel-protocol.md).
//!
//! A frame is a 4-byte big-endian body length (1 to [`MAX_BODY`]), then the
//! body: one type byte and the fields, integers big-endian, strings as a
//! u16 length and UTF-8 bytes, a MAC as a length byte (0 or 32) and the
//! bytes. Every read is bounds-checked: a bad length, a short body, an
//! unknown type or trailing bytes is an error, never a panic, and no buffer
//! grows past [`MAX_BODY`].

use crate::frame::{In, Out};
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The protocol version this build speaks.
pub const VERSION: u8 = 2;
/// The first bytes of a Hello: tells an inside end from anything else.
pub const MAGIC: &[u8; 4] = b"NCTN";
/// The largest body accepted: every message is small (a Login or Welcome
/// with [`MAX_SERVICES`] entries fits).
pub const MAX_BODY: usize = 16 * 1024;
/// Most services one tunnel carries.
pub const MAX_SERVICES: usize = 16;
/// Bytes of each side's random challenge.
pub const NONCE: usize = 32;
/// Bytes of an HMAC-SHA256.
pub const MAC: usize = 32;

pub type Nonce = [u8; NONCE];
pub type Mac = [u8; MAC];

/// One message on an inside-link connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Inside → relay, first on every connection: magic, version, the
    /// inside end's challenge to the relay.
    Hello {
        version: u8,
        nonce: Nonce,
    },
    /// Relay → inside: the relay's challenge, and (when it has a secret)
    /// its proof that it holds the secret too.
    Challenge {
        version: u8,
        nonce: Nonce,
        proof: Option<Mac>,
    },
    /// Either way: a fatal problem, then the sender closes.
    Error(String),
    /// Inside → relay: this connection is the control connection; the
    /// services it carries (`tcp:HOST:PORT` / `udp:HOST:PORT`), in order.
    Login {
        mac: Option<Mac>,
        services: Vec<String>,
    },
    /// Relay → inside: logged in; where clients connect, one entry per
    /// service (`tcp:ADDR, ADDR` ...).
    Welcome {
        public: Vec<String>,
    },
    /// Relay → inside, on control: a client (or a UDP peer's flow) of
    /// service number `service` waits under this id; `nonce` is the fresh
    /// challenge its data connection's Accept answers (so that connection
    /// needs no challenge round trip of its own).
    Conn {
        id: u64,
        service: u8,
        nonce: Nonce,
    },
    /// Inside → relay, on control: client `id` cannot be served.
    Failed {
        id: u64,
        reason: String,
    },
    /// Either way, on control, every keepalive interval; answered with Pong.
    Ping,
    Pong,
    /// Inside → relay: this connection carries client `id`'s data.
    Accept {
        id: u64,
        mac: Option<Mac>,
    },
    /// Relay → inside: paired; data frames follow both ways (see
    /// `super::data`).
    Paired,
    /// Inside → relay: a Login for a mux link (`--tunnel-mux`): every
    /// client stream then runs on this connection (see `super::mux`).
    LoginMux {
        mac: Option<Mac>,
        services: Vec<String>,
        mux: u8,
    },
    /// Mux, relay → inside: stream `id` of service `service` begins.
    Open {
        id: u64,
        service: u8,
    },
    /// Mux, either way: bytes (TCP) or one datagram (UDP) of stream `id`.
    Data {
        id: u64,
        bytes: Vec<u8>,
    },
    /// Mux, either way: the sender may send `credit` more bytes on `id`.
    Window {
        id: u64,
        credit: u32,
    },
    /// Mux, either way: the sender's direction of stream `id` has ended.
    End {
        id: u64,
    },
    /// Mux, either way: stream `id` is aborted both ways (or a UDP flow
    /// is over); the link goes on.
    Reset {
        id: u64,
        reason: String,
    },
}

const T_HELLO: u8 = 0x01;
const T_CHALLENGE: u8 = 0x02;
const T_ERROR: u8 = 0x03;
const T_LOGIN: u8 = 0x10;
const T_WELCOME: u8 = 0x11;
const T_CONN: u8 = 0x12;
const T_FAILED: u8 = 0x13;
const T_PING: u8 = 0x14;
const T_PONG: u8 = 0x15;
const T_ACCEPT: u8 = 0x20;
const T_PAIRED: u8 = 0x21;
const T_LOGIN_MUX: u8 = 0x16;
const T_OPEN: u8 = 0x30;
/// Mux frame types; `T_DATA` is built in place by `super::mux`.
pub const T_DATA: u8 = 0x31;
const T_WINDOW: u8 = 0x32;
const T_END: u8 = 0x33;
const T_RESET: u8 = 0x34;
/// The largest mux frame body: a type, an id and 128 KiB of data (a TCP
/// chunk, or one UDP datagram).
pub const MAX_MUX_BODY: usize = 1 + 8 + 128 * 1024;

/// Longest text in a message (an error line): frames stay small.
const MAX_TEXT: usize = 512;

fn out(t: u8) -> Out {
    Out::new(t, MAX_TEXT)
}

/// The tunnel's own field: an optional HMAC (a length byte, 0 or `MAC`).
impl Out {
    fn mac(self, m: &Option<Mac>) -> Out {
        match m {
            Some(m) => self.u8(MAC as u8).bytes(m),
            None => self.u8(0),
        }
    }
}

impl Out {
    /// A list of strings: a count byte, then each string.
    fn list(self, items: &[String]) -> Out {
        let n = items.len().min(MAX_SERVICES);
        items[..n].iter().fold(self.u8(n as u8), |o, s| o.str(s))
    }
}

impl In<'_> {
    fn list(&mut self) -> Result<Vec<String>, String> {
        let n = self.u8()? as usize;
        if n > MAX_SERVICES {
            return Err(format!("{n} services (at most {MAX_SERVICES})"));
        }
        (0..n).map(|_| self.str()).collect()
    }

    fn mac(&mut self) -> Result<Option<Mac>, String> {
        match self.u8()? {
            0 => Ok(None),
            n if n as usize == MAC => Ok(Some(self.array::<MAC>()?)),
            n => Err(format!("bad MAC length {n} (0 or {MAC})")),
        }
    }
}

impl Msg {
    /// The message's kind (`Hello`, `Conn`...), for error lines.
    pub fn name(&self) -> &'static str {
        match self {
            Msg::Hello { .. } => "Hello",
            Msg::Challenge { .. } => "Challenge",
            Msg::Error(_) => "Error",
            Msg::Login { .. } => "Login",
            Msg::Welcome { .. } => "Welcome",
            Msg::Conn { .. } => "Conn",
            Msg::Failed { .. } => "Failed",
            Msg::Ping => "Ping",
            Msg::Pong => "Pong",
            Msg::Accept { .. } => "Accept",
            Msg::Paired => "Paired",
            Msg::LoginMux { .. } => "LoginMux",
            Msg::Open { .. } => "Open",
            Msg::Data { .. } => "Data",
            Msg::Window { .. } => "Window",
            Msg::End { .. } => "End",
            Msg::Reset { .. } => "Reset",
        }
    }

    /// The whole frame, length prefix included.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Msg::Hello { version, nonce } => out(T_HELLO).bytes(MAGIC).u8(*version).bytes(nonce),
            Msg::Challenge {
                version,
                nonce,
                proof,
            } => out(T_CHALLENGE).u8(*version).bytes(nonce).mac(proof),
            Msg::Error(s) => out(T_ERROR).str(s),
            Msg::Login { mac, services } => out(T_LOGIN).mac(mac).list(services),
            Msg::Welcome { public } => out(T_WELCOME).list(public),
            Msg::Conn { id, service, nonce } => out(T_CONN).u64(*id).u8(*service).bytes(nonce),
            Msg::Failed { id, reason } => out(T_FAILED).u64(*id).str(reason),
            Msg::Ping => out(T_PING),
            Msg::Pong => out(T_PONG),
            Msg::Accept { id, mac } => out(T_ACCEPT).u64(*id).mac(mac),
            Msg::Paired => out(T_PAIRED),
            Msg::LoginMux { mac, services, mux } => {
                out(T_LOGIN_MUX).mac(mac).list(services).u8(*mux)
            }
            Msg::Open { id, service } => out(T_OPEN).u64(*id).u8(*service),
            Msg::Data { id, bytes } => out(T_DATA).u64(*id).bytes(bytes),
            Msg::Window { id, credit } => out(T_WINDOW).u64(*id).u32(*credit),
            Msg::End { id } => out(T_END).u64(*id),
            Msg::Reset { id, reason } => out(T_RESET).u64(*id).str(reason),
        }
        .finish()
    }

    /// Parse one body (without the length prefix).
    pub fn decode(body: &[u8]) -> Result<Msg, String> {
        let Some((&t, rest)) = body.split_first() else {
            return Err("empty message".into());
        };
        let mut r = In(rest);
        let m = match t {
            T_HELLO => {
                if r.take(4)? != MAGIC {
                    return Err("not a netcrab tunnel inside end (bad magic)".into());
                }
                Msg::Hello {
                    version: r.u8()?,
                    nonce: r.array::<NONCE>()?,
                }
            }
            T_CHALLENGE => Msg::Challenge {
                version: r.u8()?,
                nonce: r.array::<NONCE>()?,
                proof: r.mac()?,
            },
            T_ERROR => Msg::Error(r.str()?),
            T_LOGIN => Msg::Login {
                mac: r.mac()?,
                services: r.list()?,
            },
            T_WELCOME => Msg::Welcome { public: r.list()? },
            T_CONN => Msg::Conn {
                id: r.u64()?,
                service: r.u8()?,
                nonce: r.array::<NONCE>()?,
            },
            T_FAILED => Msg::Failed {
                id: r.u64()?,
                reason: r.str()?,
            },
            T_PING => Msg::Ping,
            T_PONG => Msg::Pong,
            T_ACCEPT => Msg::Accept {
                id: r.u64()?,
                mac: r.mac()?,
            },
            T_PAIRED => Msg::Paired,
            T_LOGIN_MUX => Msg::LoginMux {
                mac: r.mac()?,
                services: r.list()?,
                mux: r.u8()?,
            },
            T_OPEN => Msg::Open {
                id: r.u64()?,
                service: r.u8()?,
            },
            T_DATA => {
                let id = r.u64()?;
                let bytes = r.take(r.0.len())?.to_vec();
                Msg::Data { id, bytes }
            }
            T_WINDOW => Msg::Window {
                id: r.u64()?,
                credit: r.u32()?,
            },
            T_END => Msg::End { id: r.u64()? },
            T_RESET => Msg::Reset {
                id: r.u64()?,
                reason: r.str()?,
            },
            t => return Err(format!("unknown message type 0x{t:02x}")),
        };
        r.end()?;
        Ok(m)
    }
}

/// What [`read_msg`] says when the connection ends between messages.
pub const CLOSED: &str = "connection closed";

/// Read one frame (never more than its own bytes: what follows a Paired is
/// raw data) and decode it.
pub fn read_msg<R: AsyncRead + Unpin>(
    r: &mut R,
) -> impl std::future::Future<Output = Result<Msg, String>> + '_ {
    read_frame(r, MAX_BODY)
}

/// [`read_msg`] with a larger bound (a mux link's data frames).
pub fn read_msg_max<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> impl std::future::Future<Output = Result<Msg, String>> + '_ {
    read_frame(r, max)
}

/// Both readers' one body: a reader of any type is read through `dyn`, so
/// the frame's state machine is compiled once, not per stream type.
async fn read_frame(r: &mut (dyn AsyncRead + Unpin), max: usize) -> Result<Msg, String> {
    // The length usually comes whole in one read; a first read of nothing
    // is a clean close, anything short of 4 bytes later a truncation.
    let mut len = [0u8; 4];
    let got = match r.read(&mut len).await {
        Ok(0) => return Err(CLOSED.into()),
        Ok(n) => n,
        Err(e) => return Err(crate::error::describe(&e)),
    };
    r.read_exact(&mut len[got..]).await.map_err(short)?;
    let n = u32::from_be_bytes(len) as u64;
    if n == 0 || n > max as u64 {
        return Err(format!("bad message length {n} (allowed 1 to {max} bytes)"));
    }
    let mut head = [0u8; 9];
    let h = (n as usize).min(9);
    r.read_exact(&mut head[..h]).await.map_err(short)?;
    // A mux Data frame's bytes go straight into their own buffer.
    if head[0] == T_DATA && h == 9 {
        let mut bytes = vec![0u8; n as usize - 9];
        r.read_exact(&mut bytes).await.map_err(short)?;
        let mut id = [0u8; 8];
        id.copy_from_slice(&head[1..9]);
        return Ok(Msg::Data {
            id: u64::from_be_bytes(id),
            bytes,
        });
    }
    let mut buf = head[..h].to_vec();
    buf.resize(n as usize, 0);
    r.read_exact(&mut buf[h..]).await.map_err(short)?;
    Msg::decode(&buf)
}

fn short(e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "connection closed in the middle of a message (truncated)".into()
    } else {
        crate::error::describe(&e)
    }
}

/// Write one message (encoded now, written when awaited).
pub fn write_msg<'a, W: AsyncWrite + Unpin>(
    w: &'a mut W,
    m: &Msg,
) -> impl std::future::Future<Output = Result<(), String>> + 'a {
    write_frame(w, m.encode())
}

/// Write one encoded message ([`Msg::encode`]).
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: Vec<u8>) -> Result<(), String> {
    w.write_all(&frame)
        .await
        .map_err(|e| crate::error::describe(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(m: Msg) {
        let f = m.encode();
        assert_eq!(Msg::decode(&f[4..]), Ok(m));
    }

    #[test]
    fn every_message_round_trips() {
        round(Msg::Hello {
            version: VERSION,
            nonce: [7; NONCE],
        });
        round(Msg::Challenge {
            version: 1,
            nonce: [1; NONCE],
            proof: Some([2; MAC]),
        });
        round(Msg::Challenge {
            version: 1,
            nonce: [1; NONCE],
            proof: None,
        });
        round(Msg::Error("nope é".into()));
        round(Msg::Login {
            mac: None,
            services: vec![],
        });
        round(Msg::Login {
            mac: Some([9; MAC]),
            services: vec!["tcp:127.0.0.1:22".into(), "udp:[::1]:53".into()],
        });
        round(Msg::Welcome {
            public: vec!["tcp:0.0.0.0:7002".into()],
        });
        round(Msg::Conn {
            id: u64::MAX,
            service: 3,
            nonce: [4; NONCE],
        });
        round(Msg::Failed {
            id: 3,
            reason: "connection refused".into(),
        });
        round(Msg::Ping);
        round(Msg::Pong);
        round(Msg::Accept {
            id: 5,
            mac: Some([3; MAC]),
        });
        round(Msg::Paired);
        round(Msg::LoginMux {
            mac: Some([1; MAC]),
            services: vec!["tcp:127.0.0.1:22".into()],
            mux: 1,
        });
        round(Msg::Open { id: 9, service: 2 });
        round(Msg::Data {
            id: 9,
            bytes: b"some bytes".to_vec(),
        });
        round(Msg::Data {
            id: 9,
            bytes: vec![],
        });
        round(Msg::Window {
            id: 1,
            credit: u32::MAX,
        });
        round(Msg::End { id: 3 });
        round(Msg::Reset {
            id: 3,
            reason: "connection reset".into(),
        });
    }

    #[test]
    fn bad_bodies_are_errors() {
        assert!(Msg::decode(&[]).is_err());
        assert!(Msg::decode(&[0xEE]).is_err());
        let mut hello = Msg::Hello {
            version: 1,
            nonce: [0; NONCE],
        }
        .encode();
        hello[5] = b'X';
        assert!(Msg::decode(&hello[4..]).unwrap_err().contains("bad magic"));
        assert!(Msg::decode(&[T_CONN, 1, 2]).is_err());
        assert!(Msg::decode(&[T_PAIRED, 0]).is_err());
        assert!(Msg::decode(&[T_LOGIN, 5, 1, 2, 3, 4, 5]).is_err());
        assert!(Msg::decode(&[T_LOGIN, 0, 200]).is_err());
        assert!(Msg::decode(&[T_FAILED, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0xFF]).is_err());
        // Any byte soup decodes or errors, never panics.
        let mut x: u32 = 12345;
        for len in 0..300 {
            let mut body: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = Msg::decode(&body);
            if let Some(b) = body.first_mut() {
                *b = (x % 0x35) as u8;
            }
            let _ = Msg::decode(&body);
        }
    }

    #[test]
    fn huge_or_truncated_frames_are_errors() {
        let mut huge: &[u8] = &[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3];
        let e = futures_lite::future::block_on(read_msg(&mut huge)).unwrap_err();
        assert!(e.contains("bad message length 4294967295"), "{e}");
        let mut cut: &[u8] = &[0, 0, 0, 9, T_CONN, 1];
        let e = futures_lite::future::block_on(read_msg(&mut cut)).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        // Exactly one frame is consumed: the bytes after it stay unread.
        let mut f = Msg::Paired.encode();
        f.extend_from_slice(b"raw");
        let mut r: &[u8] = &f;
        let m = futures_lite::future::block_on(read_msg(&mut r)).unwrap();
        assert_eq!((m, r), (Msg::Paired, &b"raw"[..]));
    }
}
