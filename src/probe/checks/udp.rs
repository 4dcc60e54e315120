//! UDP: 100 pings to the server's UDP port, 10 ms apart; round-trip times,
//! jitter (mean difference of consecutive round trips), loss, and whether
//! datagrams got through each way.

use super::{unexpected, Ctl};
use crate::probe::proto::Msg;
use crate::probe::report::{Check, Val};
use crate::probe::wire::{Dgram, Kind, HEADER};
use crate::probe::{ms, recv_until};
use async_net::UdpSocket;
use std::time::{Duration, Instant};

const COUNT: u32 = 100;
const INTERVAL: Duration = Duration::from_millis(10);
/// How long to wait for late replies after the last ping.
const TAIL: Duration = Duration::from_secs(1);

pub async fn run(ctl: &mut Ctl, u: &UdpSocket) -> Result<Check, String> {
    let mut sent_at: Vec<Option<Instant>> = vec![None; COUNT as usize];
    let mut rtts: Vec<Duration> = Vec::new();
    let mut sent = 0u32;
    let mut buf = vec![0u8; 65_536];
    let start = Instant::now();
    loop {
        let now = Instant::now();
        let next_send = start + INTERVAL * sent;
        if sent < COUNT && now >= next_send {
            let d = Dgram {
                kind: Kind::Ping,
                token: ctl.token,
                seq: sent,
            };
            // Timed from before the send: a fast reply can beat its return.
            // A failed send is simply a lost ping.
            let t = Instant::now();
            if u.send_to(&d.encode(HEADER), ctl.server_udp).await.is_ok() {
                sent_at[sent as usize] = Some(t);
            }
            sent += 1;
            continue;
        }
        let end = start + INTERVAL * COUNT + TAIL;
        if sent == COUNT && (now >= end || rtts.len() == COUNT as usize) {
            break;
        }
        let wake = if sent < COUNT { next_send } else { end };
        if let Some((d, _)) = recv_until(u, &mut buf, wake).await {
            if d.kind != Kind::Pong || d.token != ctl.token {
                continue;
            }
            if let Some(t) = sent_at.get_mut(d.seq as usize).and_then(Option::take) {
                rtts.push(t.elapsed());
            }
        }
    }
    ctl.send(&Msg::UdpStats).await?;
    let server_got = match ctl.recv("the UDP counts", Duration::from_secs(10)).await? {
        Msg::UdpStatsReply { pings } => pings,
        m => return Err(unexpected(&m, "UdpStatsReply")),
    };
    let got = rtts.len() as u32;
    let loss = f64::from(COUNT - got.min(COUNT)) * 100.0 / f64::from(COUNT);
    let to_server = server_got > 0;
    let from_server = got > 0;
    let ok = to_server && from_server;
    let ms_of: Vec<f64> = rtts.iter().map(|d| ms(*d)).collect();
    let (min, avg, max, jitter) = if ms_of.is_empty() {
        (f64::NAN, f64::NAN, f64::NAN, f64::NAN)
    } else {
        let min = ms_of.iter().copied().fold(f64::INFINITY, f64::min);
        let max = ms_of.iter().copied().fold(0.0, f64::max);
        let avg = ms_of.iter().sum::<f64>() / ms_of.len() as f64;
        let diffs: Vec<f64> = ms_of.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
        let jitter = if diffs.is_empty() {
            0.0
        } else {
            diffs.iter().sum::<f64>() / diffs.len() as f64
        };
        (min, avg, max, jitter)
    };
    let summary = if got > 0 {
        format!(
            "rtt min/avg/max {min:.3}/{avg:.3}/{max:.3} ms, jitter {jitter:.3} ms, \
             loss {loss:.1}% ({COUNT} sent, {server_got} reached the server, {got} came back)"
        )
    } else {
        format!(
            "no replies: {COUNT} sent, {server_got} reached the server ({})",
            if to_server {
                "server → client is blocked"
            } else {
                "client → server is blocked"
            }
        )
    };
    Ok(Check::new("udp", ok, summary)
        .with("to_server", Val::Bool(to_server))
        .with("from_server", Val::Bool(from_server))
        .with("sent", Val::Int(u64::from(COUNT)))
        .with("server_received", Val::Int(u64::from(server_got)))
        .with("received", Val::Int(u64::from(got)))
        .with("loss_pct", Val::Num(loss))
        .with("rtt_min_ms", Val::Num(min))
        .with("rtt_avg_ms", Val::Num(avg))
        .with("rtt_max_ms", Val::Num(max))
        .with("jitter_ms", Val::Num(jitter)))
}
