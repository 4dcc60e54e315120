//! Reverse: the client listens on an ephemeral port of its control-connection
//! address; the server connects back and sends "NCPR-REV" and the token.

use super::{unexpected, Ctl};
use crate::error::describe;
use crate::net::sockopt::SockOpts;
use crate::probe::proto::Msg;
use crate::probe::report::{Check, Val};
use crate::probe::timeout;
use futures_lite::io::AsyncReadExt;
use std::net::SocketAddr;
use std::time::Duration;

pub async fn run(ctl: &mut Ctl) -> Result<Check, String> {
    let bind = SocketAddr::new(ctl.local.ip(), 0);
    let l = match crate::net::tcp::listen(bind, &SockOpts::default()) {
        Ok(l) => l,
        Err(e) => {
            return Ok(Check::failed(
                "reverse",
                &format!("listening on {bind}: {}", describe(&e)),
            ))
        }
    };
    let at = l
        .local_addr()
        .map_err(|e| format!("listener: {}", describe(&e)))?;
    ctl.send(&Msg::Reverse { port: at.port() }).await?;
    // The server connects and writes before it replies, so by the reply
    // the connection waits in our backlog with its data.
    let (server_ok, detail) = match ctl
        .recv("the reverse result", Duration::from_secs(15))
        .await?
    {
        Msg::ReverseResult { ok, detail } => (ok, detail),
        m => return Err(unexpected(&m, "ReverseResult")),
    };
    let check = |ok: bool, summary: String| {
        Check::new("reverse", ok, summary)
            .with("port", Val::Int(u64::from(at.port())))
            .with("server_says", Val::Str(detail.clone()))
    };
    if !server_ok {
        return Ok(check(
            false,
            format!("inbound TCP to {at} does not arrive ({detail})"),
        ));
    }
    let token = ctl.token;
    let got = timeout(Duration::from_secs(3), "the server's connection", async {
        let (mut c, from) = l.accept().await.map_err(|e| describe(&e))?;
        let mut hello = [0u8; 16];
        c.read_exact(&mut hello).await.map_err(|e| describe(&e))?;
        if &hello[..8] != b"NCPR-REV" || hello[8..] != token.to_be_bytes() {
            return Err(format!("a connection from {from} that is not the server's"));
        }
        Ok(from)
    })
    .await;
    Ok(match got {
        Ok(from) => check(true, format!("inbound TCP to {at} arrived from {from}")),
        Err(e) => check(false, format!("server connected, but: {e}")),
    })
}
