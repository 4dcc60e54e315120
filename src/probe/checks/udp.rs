//! UDP: 100 pings to the server's UDP port, 10 ms apart; round-trip times,
//! jitter (mean difference of consecutive round trips), loss, and whether
//! datagrams got through each way.

use super::{unexpected, Ctl};
use crate::decimal::Dbl;
use crate::probe::proto::Msg;
use crate::probe::recv_until;
use crate::probe::report::{Check, Val};
use crate::probe::wire::{Dgram, Kind, HEADER};
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
    let loss = Dbl::ratio(u128::from(COUNT - got.min(COUNT)) * 100, u128::from(COUNT));
    let to_server = server_got > 0;
    let from_server = got > 0;
    let ok = to_server && from_server;
    // In nanoseconds; the means as milliseconds.
    let ns: Vec<u128> = rtts.iter().map(Duration::as_nanos).collect();
    let mean_ms = |sum: u128, n: usize| Dbl::ratio(sum, n as u128 * 1_000_000);
    let figures = (!ns.is_empty()).then(|| {
        let min = ns.iter().copied().min().unwrap_or(0);
        let max = ns.iter().copied().max().unwrap_or(0);
        let avg = mean_ms(ns.iter().sum(), ns.len());
        let diffs = ns.windows(2).map(|w| w[1].abs_diff(w[0]));
        let jitter = mean_ms(diffs.sum(), ns.len().saturating_sub(1));
        (mean_ms(min, 1), avg, mean_ms(max, 1), jitter)
    });
    let summary = if let (true, Some((min, avg, max, jitter))) = (got > 0, figures) {
        format!(
            "rtt min/avg/max {}/{}/{} ms, jitter {} ms, \
             loss {}% ({COUNT} sent, {server_got} reached the server, {got} came back)",
            min.fixed(3),
            avg.fixed(3),
            max.fixed(3),
            jitter.fixed(3),
            loss.fixed(1)
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
        .with("rtt_min_ms", figures.map_or(Val::Null, |f| Val::Num(f.0)))
        .with("rtt_avg_ms", figures.map_or(Val::Null, |f| Val::Num(f.1)))
        .with("rtt_max_ms", figures.map_or(Val::Null, |f| Val::Num(f.2)))
        .with("jitter_ms", figures.map_or(Val::Null, |f| Val::Num(f.3))))
}
