//! The mux link (`--tunnel-mux`, mux version [`VERSION`]): after a
//! `LoginMux` and its `Welcome`, every client stream of every service runs
//! on the one control connection, as `Open`, `Data`, `Window`, `End` and
//! `Reset` frames (docs/PROTOCOLS.md).
//!
//! Flow control: each end may send at most [`WINDOW`] bytes of a TCP stream
//! that the other end has not yet written to its socket; the reader grants
//! more (`Window`) as it drains. A client that stops reading stalls only its
//! own stream, and each end holds at most [`WINDOW`] per stream and
//! direction. UDP streams carry one datagram per `Data` frame and need no
//! credit: a datagram that finds its stream's queue full is dropped.
//!
//! Priority: small frames (Open, Window, End, Reset, Ping...) go out ahead
//! of data, and data goes round robin, one frame per stream at a time, so a
//! bulk transfer delays another stream by at most one write of about
//! [`BATCH`] bytes.

use super::data::{self, Dest, Plain, MAX_DATAGRAM};
use super::mailbox::Mailbox;
use super::proto::{Msg, T_DATA};
use super::Watch;
use crate::error::describe;
use async_net::{Shutdown, TcpStream, UdpSocket};
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use smol::channel::{Receiver, Sender};
use smol::Async;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The mux version a `LoginMux` carries.
pub const VERSION: u8 = 1;
/// Bytes of a TCP stream in flight per direction (sent, not yet drained).
pub const WINDOW: usize = 512 * 1024;
/// The largest data chunk of a TCP `Data` frame: big enough for one
/// stream's speed, small enough that other streams' frames interleave.
const CHUNK: usize = 128 * 1024;
/// The buffer of a read after a wait: a full one is followed by reads of a
/// whole [`CHUNK`].
const FIRST: usize = 16 * 1024;
/// Bytes gathered into one write on the link.
const BATCH: usize = 256 * 1024;
/// A data frame's head: length, type, stream id.
const HEAD: usize = 4 + 1 + 8;

/// A wake-up that is never lost: `ring` before `wait` makes `wait` return.
struct Bell(Sender<()>, Receiver<()>);

impl Bell {
    fn new() -> Bell {
        let (t, r) = smol::channel::bounded(1);
        Bell(t, r)
    }
    fn ring(&self) {
        let _ = self.0.try_send(());
    }
    async fn wait(&self) {
        let _ = self.1.recv().await;
    }
}

/// Fires once, for good: every `wait`, before or after, returns.
struct Latch(Sender<()>, Receiver<()>);

impl Latch {
    fn new() -> Latch {
        let (t, r) = smol::channel::bounded(1);
        Latch(t, r)
    }
    fn fire(&self) {
        self.0.close();
    }
    async fn wait(&self) {
        while self.1.recv().await.is_ok() {}
    }
}

/// One stream's state, shared by its task and the link's reader and writer.
pub struct Stream {
    udp: bool,
    /// Bytes we may still send (TCP).
    credit: Cell<usize>,
    credit_bell: Bell,
    /// The one frame waiting for the link's writer.
    slot: RefCell<Option<Vec<u8>>>,
    taken: Bell,
    /// What came from the peer, not yet written to our socket.
    inq: RefCell<VecDeque<Vec<u8>>>,
    inq_bytes: Cell<usize>,
    /// The peer's direction has ended.
    in_end: Cell<bool>,
    in_bell: Bell,
    /// The peer reset the stream.
    kill: Latch,
    reason: RefCell<Option<String>>,
}

/// The local side of a stream.
pub enum Local {
    Tcp(TcpStream),
    /// A UNIX stream service (the inside end's), carried as a TCP stream.
    #[cfg(any(unix, feature = "unix"))]
    Unix(crate::net::unix::UnixStream),
    Udp {
        end: UdpEnd,
        /// The flow ends after this long without a datagram (the relay's).
        idle: Option<Duration>,
    },
}

/// A UDP stream's socket.
pub enum UdpEnd {
    /// The inside end's own socket to the service.
    Connected(Rc<Async<std::net::UdpSocket>>),
    /// The relay's: one peer of the public socket, whose datagrams arrive
    /// on `rx`; `queued` counts the bytes waiting there.
    Peer {
        sock: Rc<UdpSocket>,
        peer: SocketAddr,
        rx: Mailbox<Vec<u8>>,
        queued: Rc<Cell<usize>>,
    },
}

/// One mux link's streams and its outgoing frames.
pub struct Mux {
    /// Small frames, sent ahead of data.
    control: RefCell<VecDeque<Vec<u8>>>,
    /// Streams whose slot holds a data frame, in turn.
    ready: RefCell<VecDeque<u64>>,
    streams: RefCell<HashMap<u64, Rc<Stream>>>,
    wake: Bell,
    closed: Latch,
}

/// How a stream's task ended, other than cleanly.
enum Ended {
    /// Our socket failed (or a UDP flow is over): the peer is told.
    Local(String),
    /// The peer reset it, or the link is gone.
    Killed,
}

fn head(f: &mut [u8], id: u64, n: usize) {
    f[..4].copy_from_slice(&((1 + 8 + n) as u32).to_be_bytes());
    f[4] = T_DATA;
    f[5..HEAD].copy_from_slice(&id.to_be_bytes());
}

impl Mux {
    pub fn new() -> Rc<Mux> {
        Rc::new(Mux {
            control: RefCell::new(VecDeque::new()),
            ready: RefCell::new(VecDeque::new()),
            streams: RefCell::new(HashMap::new()),
            wake: Bell::new(),
            closed: Latch::new(),
        })
    }

    /// Queue a small frame (ahead of data).
    pub fn send(&self, m: &Msg) {
        self.send_frame(m.encode());
    }

    /// [`Mux::send`] of a message already encoded.
    pub fn send_frame(&self, frame: Vec<u8>) {
        if self.is_closed() {
            return;
        }
        self.control.borrow_mut().push_back(frame);
        self.wake.ring();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.0.is_closed()
    }

    /// The link is gone: every stream is reset.
    pub fn close(&self) {
        self.closed.fire();
        let streams: Vec<_> = self.streams.borrow_mut().drain().collect();
        for (_, s) in streams {
            s.kill.fire();
        }
        self.control.borrow_mut().clear();
        self.ready.borrow_mut().clear();
    }

    /// A new stream under `id` (the relay's numbering).
    pub fn add(&self, id: u64, udp: bool) -> Rc<Stream> {
        let s = Rc::new(Stream {
            udp,
            credit: Cell::new(WINDOW),
            credit_bell: Bell::new(),
            slot: RefCell::new(None),
            taken: Bell::new(),
            inq: RefCell::new(VecDeque::new()),
            inq_bytes: Cell::new(0),
            in_end: Cell::new(false),
            in_bell: Bell::new(),
            kill: Latch::new(),
            reason: RefCell::new(None),
        });
        if self.is_closed() {
            s.kill.fire();
        } else {
            self.streams.borrow_mut().insert(id, s.clone());
        }
        s
    }

    /// The relay's side: a new stream of service `service`, announced.
    pub fn open(&self, id: u64, service: u8, udp: bool) -> Rc<Stream> {
        let s = self.add(id, udp);
        self.send(&Msg::Open { id, service });
        s
    }

    /// Abort stream `id` from this end, telling the peer why.
    pub fn reset(&self, id: u64, reason: &str) {
        if let Some(s) = self.streams.borrow_mut().remove(&id) {
            s.kill.fire();
        }
        self.send(&Msg::Reset {
            id,
            reason: reason.to_string(),
        });
    }

    /// Take a stream frame from the link; any other message is handed back.
    /// Never waits: the link's reader goes straight on.
    pub fn on_frame(&self, m: Msg) -> Option<Msg> {
        let id = match &m {
            Msg::Data { id, .. }
            | Msg::Window { id, .. }
            | Msg::End { id }
            | Msg::Reset { id, .. } => *id,
            _ => return Some(m),
        };
        // A frame for a stream that has ended here is late, not wrong.
        let s = self.streams.borrow().get(&id).cloned()?;
        match m {
            Msg::Data { bytes, .. } => {
                let n = bytes.len();
                let over = s.inq_bytes.get() + n > WINDOW;
                if s.udp {
                    if over || n == 0 {
                        return None;
                    }
                } else if over || s.in_end.get() {
                    self.reset(id, "the peer sent past its window or its end");
                    return None;
                }
                s.inq_bytes.set(s.inq_bytes.get() + n);
                s.inq.borrow_mut().push_back(bytes);
                s.in_bell.ring();
            }
            Msg::Window { credit, .. } => {
                s.credit.set(s.credit.get().saturating_add(credit as usize));
                s.credit_bell.ring();
            }
            Msg::End { .. } => {
                s.in_end.set(true);
                s.in_bell.ring();
            }
            Msg::Reset { reason, .. } => {
                self.streams.borrow_mut().remove(&id);
                *s.reason.borrow_mut() = Some(reason);
                s.kill.fire();
            }
            _ => {}
        }
        None
    }

    /// Write what is queued to the link, for as long as it lasts.
    pub async fn writer(&self, mut w: TcpStream, watch: &Watch) -> Result<(), String> {
        let mut batch = Vec::new();
        loop {
            // One frame alone (a single busy stream) goes out as it is,
            // without a copy into the batch.
            if let Some(f) = self.alone() {
                watch
                    .writing(w.write_all(&f))
                    .await
                    .map_err(|e| describe(&e))?;
                continue;
            }
            batch.clear();
            self.fill(&mut batch);
            if batch.is_empty() {
                if batch.capacity() > 2 * BATCH {
                    batch = Vec::new();
                }
                self.wake.wait().await;
                continue;
            }
            watch
                .writing(w.write_all(&batch))
                .await
                .map_err(|e| describe(&e))?;
        }
    }

    /// Write what is queued now, for a last message before the link closes.
    pub async fn flush(&self, mut w: TcpStream) {
        let mut batch = Vec::new();
        self.fill(&mut batch);
        let _ = super::within(Duration::from_secs(1), "room for the last frames", async {
            w.write_all(&batch).await.map_err(|e| describe(&e))
        })
        .await;
    }

    /// The data frame of the only ready stream, when nothing else waits.
    fn alone(&self) -> Option<Vec<u8>> {
        if !self.control.borrow().is_empty() || self.ready.borrow().len() != 1 {
            return None;
        }
        let id = self.ready.borrow_mut().pop_front()?;
        let s = self.streams.borrow().get(&id).cloned()?;
        let f = s.slot.borrow_mut().take()?;
        s.taken.ring();
        Some(f)
    }

    /// Small frames first, then a data frame from each ready stream in
    /// turn, small frames again between them, up to [`BATCH`].
    fn fill(&self, batch: &mut Vec<u8>) {
        loop {
            for f in self.control.borrow_mut().drain(..) {
                batch.extend_from_slice(&f);
            }
            if batch.len() >= BATCH {
                return;
            }
            let Some(id) = self.ready.borrow_mut().pop_front() else {
                return;
            };
            let s = self.streams.borrow().get(&id).cloned();
            if let Some(s) = s {
                if let Some(f) = s.slot.borrow_mut().take() {
                    batch.extend_from_slice(&f);
                    s.taken.ring();
                }
            }
        }
    }

    /// Hand a data frame to the writer; returns once it has taken it.
    async fn post(&self, id: u64, s: &Stream, f: Vec<u8>) {
        *s.slot.borrow_mut() = Some(f);
        self.ready.borrow_mut().push_back(id);
        self.wake.ring();
        while s.slot.borrow().is_some() {
            s.taken.wait().await;
        }
    }

    /// Carry stream `id` between `local` and the link until it ends. The
    /// error is why it was cut (reset by either end, or the link lost).
    pub async fn run(&self, id: u64, s: Rc<Stream>, local: Local) -> Result<(), String> {
        let tcp = match &local {
            Local::Tcp(t) => Some(t.clone()),
            _ => None,
        };
        let work = async {
            match local {
                Local::Tcp(t) => self.stream(id, &s, Plain::Tcp(t)).await,
                #[cfg(any(unix, feature = "unix"))]
                Local::Unix(u) => self.stream(id, &s, Plain::Unix(u)).await,
                Local::Udp { end, idle } => {
                    let seen = Cell::new(Instant::now());
                    let flow = futures_lite::future::or(
                        self.up_udp(id, &s, &end, &seen),
                        self.down_udp(&s, &end, &seen),
                    );
                    match idle {
                        Some(d) => futures_lite::future::or(flow, data::idle(&seen, d)).await,
                        None => flow.await,
                    }
                    Err(Ended::Local("the flow ended".into()))
                }
            }
        };
        let killed = async {
            futures_lite::future::or(s.kill.wait(), self.closed.wait()).await;
            Err(Ended::Killed)
        };
        let r = futures_lite::future::or(work, killed).await;
        let mine = self.streams.borrow_mut().remove(&id);
        match r {
            Ok(()) => Ok(()),
            Err(Ended::Local(e)) => {
                if mine.is_some() {
                    self.send(&Msg::Reset {
                        id,
                        reason: e.clone(),
                    });
                }
                abort(tcp);
                Err(e)
            }
            Err(Ended::Killed) => {
                abort(tcp);
                Err(s
                    .reason
                    .borrow_mut()
                    .take()
                    .unwrap_or_else(|| "the tunnel link was lost".into()))
            }
        }
    }

    /// Both directions of a byte stream, until both have ended.
    async fn stream(&self, id: u64, s: &Stream, p: Plain) -> Result<(), Ended> {
        let up = self.up_tcp(id, s, p.clone());
        let down = self.down_tcp(id, s, p);
        futures_lite::future::try_zip(up, down)
            .await
            .map(drop)
            .map_err(Ended::Local)
    }

    /// Our socket's bytes, within the peer's credit, as data frames; its
    /// end as an End.
    async fn up_tcp(&self, id: u64, s: &Stream, mut from: Plain) -> Result<(), String> {
        let mut full = false; // the last read was big
        loop {
            while s.credit.get() == 0 {
                s.credit_bell.wait().await;
            }
            if !full {
                // Wait for bytes without holding a buffer: a thousand idle
                // streams cost no read buffers.
                from.readable().await.map_err(|e| describe(&e))?;
            }
            // A first read takes a small buffer: a short exchange's request
            // does not pay for zeroing (and freeing) a whole chunk.
            let room = s.credit.get().min(if full { CHUNK } else { FIRST });
            let mut f = vec![0u8; HEAD + room];
            let n = from.read(&mut f[HEAD..]).await.map_err(|e| describe(&e))?;
            if n == 0 {
                self.send(&Msg::End { id });
                return Ok(());
            }
            // After a big read more is likely to come at once: read again
            // without the peek's system call, into a whole chunk.
            full = n >= FIRST;
            f.truncate(HEAD + n);
            if !full {
                // A short exchange's frame does not keep a chunk's room
                // while it waits for the writer.
                f.shrink_to_fit();
            }
            head(&mut f, id, n);
            s.credit.set(s.credit.get() - n);
            self.post(id, s, f).await;
        }
    }

    /// The peer's bytes to our socket, granting credit as they drain; its
    /// End as a half-close.
    async fn down_tcp(&self, id: u64, s: &Stream, mut to: Plain) -> Result<(), String> {
        let mut grant = 0usize;
        loop {
            let next = s.inq.borrow_mut().pop_front();
            match next {
                Some(c) => {
                    to.write_all(&c).await.map_err(|e| describe(&e))?;
                    s.inq_bytes.set(s.inq_bytes.get() - c.len());
                    grant += c.len();
                    // Grants in quarters of the window: fewer frames, and
                    // never a deadlock (a sender out of credit means at
                    // least 3/4 of a window waits here to be drained).
                    if grant >= WINDOW / 4 {
                        self.send(&Msg::Window {
                            id,
                            credit: grant as u32,
                        });
                        grant = 0;
                    }
                }
                None if s.in_end.get() => {
                    to.shut(Shutdown::Write);
                    return Ok(());
                }
                None => s.in_bell.wait().await,
            }
        }
    }

    async fn up_udp(&self, id: u64, s: &Stream, end: &UdpEnd, seen: &Cell<Instant>) {
        loop {
            let d = match end {
                UdpEnd::Connected(sock) => match data::recv_datagram(sock).await {
                    Ok(d) => d,
                    // An ICMP "port unreachable" from a service that is
                    // down for a moment: the flow goes on.
                    Err(_) => {
                        smol::Timer::after(Duration::from_millis(10)).await;
                        continue;
                    }
                },
                UdpEnd::Peer { rx, queued, .. } => match rx.recv().await {
                    Some(d) => {
                        queued.set(queued.get().saturating_sub(d.len()));
                        d
                    }
                    None => return,
                },
            };
            seen.set(Instant::now());
            if d.is_empty() || d.len() > MAX_DATAGRAM {
                continue;
            }
            let mut f = vec![0u8; HEAD];
            head(&mut f, id, d.len());
            f.extend_from_slice(&d);
            self.post(id, s, f).await;
        }
    }

    async fn down_udp(&self, s: &Stream, end: &UdpEnd, seen: &Cell<Instant>) {
        let dest = match end {
            UdpEnd::Connected(sock) => Dest::Connected(sock.clone()),
            UdpEnd::Peer { sock, peer, .. } => Dest::Peer(sock.clone(), *peer),
        };
        loop {
            let next = s.inq.borrow_mut().pop_front();
            match next {
                Some(d) => {
                    s.inq_bytes.set(s.inq_bytes.get() - d.len());
                    seen.set(Instant::now());
                    // A datagram the service or peer refuses is lost, as
                    // UDP goes.
                    let _ = dest.send(&d).await;
                }
                None => s.in_bell.wait().await,
            }
        }
    }
}

/// A reset stream's socket closes with an RST, not a FIN: the other side
/// must not take a cut stream for a whole one.
fn abort(t: Option<TcpStream>) {
    if let Some(t) = t {
        let _ = socket2::SockRef::from(&t).set_linger(Some(Duration::ZERO));
        // The last clone's drop closes it.
    }
}
