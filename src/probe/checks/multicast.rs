//! Multicast: both ends join the group on the control connection's
//! interface, each sends, each counts what the other sent.

use super::{unexpected, Ctl};
use crate::probe::mcast::{self, COUNT};
use crate::probe::proto::Msg;
use crate::probe::report::{Check, Val};
use crate::probe::wire::Kind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The default group over IPv4 (organization-local scope).
const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 77, 77);
/// The default group over IPv6: the same scope (ff08::, organization-local), group id 0x4d4d.
const DEFAULT_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff08, 0, 0, 0, 0, 0, 0, 0x4d4d);
use std::time::Duration;

pub async fn run(ctl: &mut Ctl, group: Option<IpAddr>) -> Result<Check, String> {
    let local = ctl.local.ip().to_canonical();
    let group = group.unwrap_or(match local {
        IpAddr::V4(_) => IpAddr::V4(DEFAULT_GROUP),
        IpAddr::V6(_) => IpAddr::V6(DEFAULT_GROUP_V6),
    });
    if local.is_ipv4() != group.is_ipv4() {
        return Ok(Check::skipped(
            "multicast",
            &format!("group {group} is not of the control connection's family ({local})"),
        ));
    }
    let sock = match mcast::socket(local, group, 0) {
        Ok(s) => s,
        Err(e) => return Ok(Check::failed("multicast", &format!("client: {e}"))),
    };
    let port = sock
        .local_addr()
        .map_err(|e| format!("multicast socket: {}", crate::error::describe(&e)))?
        .port();
    ctl.send(&Msg::Multicast { group, port }).await?;
    match ctl
        .recv("the multicast reply", Duration::from_secs(10))
        .await?
    {
        Msg::McReady { ok: true, .. } => {}
        Msg::McReady { ok: false, detail } => return Ok(Check::failed("multicast", &detail)),
        m => return Err(unexpected(&m, "McReady")),
    }
    let heard = mcast::exchange(
        &sock,
        group,
        port,
        ctl.token,
        Kind::McClient,
        Kind::McServer,
    )
    .await;
    let server_heard = match ctl
        .recv("the multicast result", Duration::from_secs(10))
        .await?
    {
        Msg::McResult { heard } => heard,
        m => return Err(unexpected(&m, "McResult")),
    };
    let ok = heard > 0 && server_heard > 0;
    let summary = format!(
        "group {group} port {port}: client heard {heard}/{COUNT} from the server, \
         server heard {server_heard}/{COUNT} from the client"
    );
    Ok(Check::new("multicast", ok, summary)
        .with("group", Val::Str(group.to_string()))
        .with("client_heard", Val::Int(u64::from(heard)))
        .with("server_heard", Val::Int(u64::from(server_heard)))
        .with("sent_each", Val::Int(u64::from(COUNT))))
}
