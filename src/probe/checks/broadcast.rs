//! Broadcast: the server sends to the broadcast address of each of its
//! subnets that holds the client's address, to the client's UDP port.

use super::{unexpected, Ctl};
use crate::probe::proto::Msg;
use crate::probe::recv_until;
use crate::probe::report::{Check, Val};
use crate::probe::wire::Kind;
use async_net::UdpSocket;
use std::time::{Duration, Instant};

const LISTEN: Duration = Duration::from_secs(1);

pub async fn run(ctl: &mut Ctl, u: &UdpSocket) -> Result<Check, String> {
    if ctl.local.ip().to_canonical().is_ipv6() {
        return Ok(Check::skipped("broadcast", "IPv6 has no broadcast"));
    }
    let port = u
        .local_addr()
        .map_err(|e| format!("UDP socket: {}", crate::error::describe(&e)))?
        .port();
    ctl.send(&Msg::Broadcast { port }).await?;
    let (sent, detail) = match ctl
        .recv("the broadcast report", Duration::from_secs(10))
        .await?
    {
        Msg::BroadcastDone { sent, detail } => (sent, detail),
        m => return Err(unexpected(&m, "BroadcastDone")),
    };
    if sent == 0 {
        // A shared subnet without a broadcast address says so itself.
        let why = if detail.contains("has no broadcast address") {
            detail
        } else {
            format!("not on a shared subnet: {detail}")
        };
        return Ok(Check::skipped("broadcast", &why));
    }
    let deadline = Instant::now() + LISTEN;
    let mut buf = vec![0u8; 65_536];
    let mut arrived = false;
    while let Some((d, _)) = recv_until(u, &mut buf, deadline).await {
        if d.kind == Kind::Broadcast && d.token == ctl.token {
            arrived = true;
            break;
        }
    }
    let summary = if arrived {
        format!("arrived (server sent to {detail})")
    } else {
        format!("server sent {sent} to {detail}, none arrived")
    };
    Ok(Check::new("broadcast", arrived, summary)
        .with("sent", Val::Int(u64::from(sent)))
        .with("to", Val::Str(detail)))
}
