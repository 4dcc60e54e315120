//! The control protocol: versioned, length-prefixed messages over the TCP
//! control connection (see README "Probe control protocol").
//!
//! A frame is a 4-byte big-endian body length (1 to [`MAX_BODY`]), then the
//! body: one type byte and the fields, integers big-endian, strings as a
//! u16 length and UTF-8 bytes. Every read is bounds-checked: a bad length,
//! a short body or an unknown type is an error, never a panic, and no
//! buffer ever grows past [`MAX_BODY`].

use crate::frame::{In, Out};
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The protocol version this build speaks.
pub const VERSION: u8 = 1;
/// The first bytes of a Hello: tells a probe client from anything else.
pub const MAGIC: &[u8; 4] = b"NCPR";
/// The largest message body accepted (64 KiB).
pub const MAX_BODY: usize = 64 * 1024;
/// Payload bytes per Data message in the throughput runs.
pub const DATA_CHUNK: usize = 60 * 1024;

/// One control message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Client → server, first: magic and version.
    Hello {
        version: u8,
    },
    /// Server → client: accepted; `token` tags this client's UDP datagrams.
    Welcome {
        version: u8,
        token: u64,
        udp_port: u16,
    },
    /// Either way: a fatal problem, then the sender closes.
    Error(String),
    /// Client → server: Data messages follow until UploadEnd.
    Upload,
    /// Throughput payload (its length only; the bytes are not kept).
    Data(usize),
    UploadEnd,
    /// Server → client: what arrived between the first Data and UploadEnd.
    UploadResult {
        bytes: u64,
        micros: u64,
    },
    /// Client → server: send Data for this long, then DownloadEnd.
    Download {
        millis: u32,
    },
    DownloadEnd {
        bytes: u64,
    },
    /// Client → server: how many of my UDP pings arrived?
    UdpStats,
    UdpStatsReply {
        pings: u32,
    },
    /// Client → server: send broadcasts to my UDP port.
    Broadcast {
        port: u16,
    },
    /// Server → client: how many broadcasts went out, and where (or why none).
    BroadcastDone {
        sent: u16,
        detail: String,
    },
    /// Client → server: join `group` and bind `port`, then exchange datagrams.
    Multicast {
        group: IpAddr,
        port: u16,
    },
    McReady {
        ok: bool,
        detail: String,
    },
    McResult {
        heard: u32,
    },
    /// Client → server: connect back to my address at `port`.
    Reverse {
        port: u16,
    },
    ReverseResult {
        ok: bool,
        detail: String,
    },
    /// Client → server: done.
    Bye,
}

const T_HELLO: u8 = 0x01;
const T_WELCOME: u8 = 0x02;
const T_ERROR: u8 = 0x03;
const T_UPLOAD: u8 = 0x10;
const T_DATA: u8 = 0x11;
const T_UPLOAD_END: u8 = 0x12;
const T_UPLOAD_RESULT: u8 = 0x13;
const T_DOWNLOAD: u8 = 0x14;
const T_DOWNLOAD_END: u8 = 0x15;
const T_UDP_STATS: u8 = 0x20;
const T_UDP_STATS_REPLY: u8 = 0x21;
const T_BROADCAST: u8 = 0x30;
const T_BROADCAST_DONE: u8 = 0x31;
const T_MULTICAST: u8 = 0x40;
const T_MC_READY: u8 = 0x41;
const T_MC_RESULT: u8 = 0x42;
const T_REVERSE: u8 = 0x50;
const T_REVERSE_RESULT: u8 = 0x51;
const T_BYE: u8 = 0x7F;

/// Longest text in a message (an error line).
const MAX_TEXT: usize = 1024;

fn out(t: u8) -> Out {
    Out::new(t, MAX_TEXT)
}

/// The probe's own field: an IP address (family byte, then its octets).
impl Out {
    fn ip(self, ip: IpAddr) -> Out {
        match ip {
            IpAddr::V4(a) => self.u8(4).bytes(&a.octets()),
            IpAddr::V6(a) => self.u8(6).bytes(&a.octets()),
        }
    }
}

impl In<'_> {
    fn ip(&mut self) -> Result<IpAddr, String> {
        match self.u8()? {
            4 => Ok(IpAddr::V4(Ipv4Addr::from(self.array::<4>()?))),
            6 => Ok(IpAddr::V6(Ipv6Addr::from(self.array::<16>()?))),
            f => Err(format!("bad address family {f}")),
        }
    }
}

impl Msg {
    /// The message's kind (`Hello`, `Data`...), for error lines.
    pub fn name(&self) -> &'static str {
        // A match, not the Debug text cut at its first field: no formatting
        // machinery for a name.
        match self {
            Msg::Hello { .. } => "Hello",
            Msg::Welcome { .. } => "Welcome",
            Msg::Error(_) => "Error",
            Msg::Upload => "Upload",
            Msg::Data(_) => "Data",
            Msg::UploadEnd => "UploadEnd",
            Msg::UploadResult { .. } => "UploadResult",
            Msg::Download { .. } => "Download",
            Msg::DownloadEnd { .. } => "DownloadEnd",
            Msg::UdpStats => "UdpStats",
            Msg::UdpStatsReply { .. } => "UdpStatsReply",
            Msg::Broadcast { .. } => "Broadcast",
            Msg::BroadcastDone { .. } => "BroadcastDone",
            Msg::Multicast { .. } => "Multicast",
            Msg::McReady { .. } => "McReady",
            Msg::McResult { .. } => "McResult",
            Msg::Reverse { .. } => "Reverse",
            Msg::ReverseResult { .. } => "ReverseResult",
            Msg::Bye => "Bye",
        }
    }

    /// The whole frame, length prefix included.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Msg::Hello { version } => out(T_HELLO).bytes(MAGIC).u8(*version),
            Msg::Welcome {
                version,
                token,
                udp_port,
            } => out(T_WELCOME).u8(*version).u64(*token).u16(*udp_port),
            Msg::Error(s) => out(T_ERROR).str(s),
            Msg::Upload => out(T_UPLOAD),
            Msg::Data(n) => out(T_DATA).bytes(&vec![0u8; (*n).min(MAX_BODY - 1)]),
            Msg::UploadEnd => out(T_UPLOAD_END),
            Msg::UploadResult { bytes, micros } => out(T_UPLOAD_RESULT).u64(*bytes).u64(*micros),
            Msg::Download { millis } => out(T_DOWNLOAD).u32(*millis),
            Msg::DownloadEnd { bytes } => out(T_DOWNLOAD_END).u64(*bytes),
            Msg::UdpStats => out(T_UDP_STATS),
            Msg::UdpStatsReply { pings } => out(T_UDP_STATS_REPLY).u32(*pings),
            Msg::Broadcast { port } => out(T_BROADCAST).u16(*port),
            Msg::BroadcastDone { sent, detail } => out(T_BROADCAST_DONE).u16(*sent).str(detail),
            Msg::Multicast { group, port } => out(T_MULTICAST).ip(*group).u16(*port),
            Msg::McReady { ok, detail } => out(T_MC_READY).u8(u8::from(*ok)).str(detail),
            Msg::McResult { heard } => out(T_MC_RESULT).u32(*heard),
            Msg::Reverse { port } => out(T_REVERSE).u16(*port),
            Msg::ReverseResult { ok, detail } => {
                out(T_REVERSE_RESULT).u8(u8::from(*ok)).str(detail)
            }
            Msg::Bye => out(T_BYE),
        }
        .finish()
    }

    /// Parse one body (without the length prefix).
    pub fn decode(body: &[u8]) -> Result<Msg, String> {
        let Some((&t, rest)) = body.split_first() else {
            return Err("empty message".into());
        };
        if t == T_DATA {
            return Ok(Msg::Data(rest.len()));
        }
        let mut r = In(rest);
        let m = match t {
            T_HELLO => {
                if r.take(4)? != MAGIC {
                    return Err("not a netcrab probe client (bad magic)".into());
                }
                Msg::Hello { version: r.u8()? }
            }
            T_WELCOME => Msg::Welcome {
                version: r.u8()?,
                token: r.u64()?,
                udp_port: r.u16()?,
            },
            T_ERROR => Msg::Error(r.str()?),
            T_UPLOAD => Msg::Upload,
            T_UPLOAD_END => Msg::UploadEnd,
            T_UPLOAD_RESULT => Msg::UploadResult {
                bytes: r.u64()?,
                micros: r.u64()?,
            },
            T_DOWNLOAD => Msg::Download { millis: r.u32()? },
            T_DOWNLOAD_END => Msg::DownloadEnd { bytes: r.u64()? },
            T_UDP_STATS => Msg::UdpStats,
            T_UDP_STATS_REPLY => Msg::UdpStatsReply { pings: r.u32()? },
            T_BROADCAST => Msg::Broadcast { port: r.u16()? },
            T_BROADCAST_DONE => Msg::BroadcastDone {
                sent: r.u16()?,
                detail: r.str()?,
            },
            T_MULTICAST => Msg::Multicast {
                group: r.ip()?,
                port: r.u16()?,
            },
            T_MC_READY => Msg::McReady {
                ok: r.bool()?,
                detail: r.str()?,
            },
            T_MC_RESULT => Msg::McResult { heard: r.u32()? },
            T_REVERSE => Msg::Reverse { port: r.u16()? },
            T_REVERSE_RESULT => Msg::ReverseResult {
                ok: r.bool()?,
                detail: r.str()?,
            },
            T_BYE => Msg::Bye,
            t => return Err(format!("unknown message type 0x{t:02x}")),
        };
        r.end()?;
        Ok(m)
    }
}

/// Read one frame into `buf` (reused; never larger than [`MAX_BODY`]) and
/// decode it.
pub async fn read_msg<R: AsyncRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> Result<Msg, String> {
    let mut len = [0u8; 4];
    match r.read(&mut len[..1]).await {
        Ok(0) => return Err("connection closed".into()),
        Ok(_) => {}
        Err(e) => return Err(crate::error::describe(&e)),
    }
    r.read_exact(&mut len[1..]).await.map_err(short)?;
    let n = u32::from_be_bytes(len) as u64;
    if n == 0 || n > MAX_BODY as u64 {
        let start = first_bytes(r, len).await;
        return Err(format!(
            "bad message length {n} (allowed 1 to {MAX_BODY} bytes): not a netcrab probe \
             message; the peer sent \"{start}\""
        ));
    }
    buf.clear();
    buf.resize(n as usize, 0);
    r.read_exact(buf).await.map_err(short)?;
    Msg::decode(buf)
}

/// What a peer that does not speak the protocol sent (an SSH or HTTP banner, say), printable
/// and short: the four bytes read as a length, and what else arrives within a moment.
async fn first_bytes<R: AsyncRead + Unpin>(r: &mut R, len: [u8; 4]) -> String {
    let mut seen = len.to_vec();
    let mut more = [0u8; 60];
    let wait = async {
        smol::Timer::after(std::time::Duration::from_millis(300)).await;
        Ok(0)
    };
    if let Ok(k) = futures_lite::future::or(r.read(&mut more), wait).await {
        seen.extend_from_slice(&more[..k]);
    }
    String::from_utf8_lossy(&seen).escape_debug().collect()
}

fn short(e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "connection closed in the middle of a message (truncated)".into()
    } else {
        crate::error::describe(&e)
    }
}

/// Write an encoded frame (`Msg::encode`; the throughput runs reuse one).
pub async fn write_raw<W: AsyncWrite + Unpin>(w: &mut W, frame: &[u8]) -> Result<(), String> {
    w.write_all(frame)
        .await
        .map_err(|e| crate::error::describe(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(m: Msg) {
        // The name is the variant's, as Debug spells it.
        let d = format!("{m:?}");
        assert_eq!(m.name(), &d[..d.find([' ', '(', '{']).unwrap_or(d.len())]);
        let f = m.encode();
        assert_eq!(Msg::decode(&f[4..]), Ok(m));
    }

    #[test]
    fn every_message_round_trips() {
        round(Msg::Hello { version: VERSION });
        round(Msg::Welcome {
            version: 1,
            token: 0x0102_0304_0506_0708,
            udp_port: 7777,
        });
        round(Msg::Error("nope".into()));
        round(Msg::Data(DATA_CHUNK));
        round(Msg::UploadResult {
            bytes: 5,
            micros: 6,
        });
        round(Msg::Multicast {
            group: "239.255.77.77".parse().unwrap(),
            port: 9,
        });
        round(Msg::Multicast {
            group: "ff02::77".parse().unwrap(),
            port: 9,
        });
        round(Msg::ReverseResult {
            ok: true,
            detail: "é".into(),
        });
        round(Msg::Bye);
    }

    #[test]
    fn bad_bodies_are_errors() {
        assert!(Msg::decode(&[]).is_err());
        assert!(Msg::decode(&[0xEE]).is_err());
        assert!(Msg::decode(&[T_HELLO, b'X', b'C', b'P', b'R', 1]).is_err());
        assert!(Msg::decode(&[T_WELCOME, 1, 2]).is_err());
        assert!(Msg::decode(&[T_BYE, 0]).is_err());
        assert!(Msg::decode(&[T_BROADCAST_DONE, 0, 1, 0xFF, 0xFF]).is_err());
        assert!(Msg::decode(&[T_MULTICAST, 5, 1, 2, 3, 4, 0, 1]).is_err());
        // Any byte soup decodes or errors, never panics.
        let mut x: u32 = 12345;
        for len in 0..200 {
            let body: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = Msg::decode(&body);
        }
    }

    #[test]
    fn huge_or_truncated_frames_are_errors() {
        let mut buf = Vec::new();
        let mut huge: &[u8] = &[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3];
        let e = futures_lite::future::block_on(read_msg(&mut huge, &mut buf)).unwrap_err();
        assert!(e.contains("bad message length 4294967295"), "{e}");
        assert!(buf.capacity() <= MAX_BODY);
        let mut cut: &[u8] = &[0, 0, 0, 9, T_WELCOME, 1];
        let e = futures_lite::future::block_on(read_msg(&mut cut, &mut buf)).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
    }
}
