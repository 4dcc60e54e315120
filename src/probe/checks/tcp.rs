//! TCP: connect time, then throughput each way over the control connection.

use super::{unexpected, Ctl};
use crate::decimal::{secs_fixed, Dbl};
use crate::probe::proto::{write_raw, Msg, DATA_CHUNK};
use crate::probe::report::{Check, Val};
use crate::probe::{ms, timeout};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// MiB per second: `bytes` in `nanos` nanoseconds (0 when no time passed).
fn mib_s(bytes: u64, nanos: u128) -> Dbl {
    Dbl::ratio(u128::from(bytes) * 1_000_000_000, nanos << 20)
}

pub async fn run(ctl: &mut Ctl, connect: Duration, time: Duration) -> Result<Check, String> {
    // Client → server: the server times from its first Data to UploadEnd.
    ctl.send(&Msg::Upload).await?;
    let frame = Msg::Data(DATA_CHUNK).encode();
    let start = Instant::now();
    while start.elapsed() < time {
        timeout(WAIT, "the server to read", write_raw(&mut ctl.s, &frame)).await?;
    }
    ctl.send(&Msg::UploadEnd).await?;
    let (up_bytes, up_micros) = match ctl.recv("the upload result", WAIT).await? {
        Msg::UploadResult { bytes, micros } => (bytes, micros),
        m => return Err(unexpected(&m, "UploadResult")),
    };
    let up = mib_s(up_bytes, u128::from(up_micros) * 1000);
    // Server → client: timed here, from the request to DownloadEnd.
    let millis = u32::try_from(time.as_millis()).unwrap_or(u32::MAX);
    ctl.send(&Msg::Download { millis }).await?;
    let start = Instant::now();
    let mut down_bytes = 0u64;
    loop {
        match ctl.recv("download data", WAIT).await? {
            Msg::Data(n) => down_bytes += n as u64,
            Msg::DownloadEnd { bytes } => {
                if bytes != down_bytes {
                    return Err(format!("server sent {bytes} bytes, {down_bytes} arrived"));
                }
                break;
            }
            m => return Err(unexpected(&m, "download data")),
        }
    }
    let down = mib_s(down_bytes, start.elapsed().as_nanos());
    let ok = up_bytes > 0 && down_bytes > 0;
    let summary = format!(
        "connect {} ms, up {} MiB/s, down {} MiB/s ({} s each way)",
        ms(connect).fixed(2),
        up.fixed(1),
        down.fixed(1),
        secs_fixed(time, 1)
    );
    Ok(Check::new("tcp", ok, summary)
        .with("connect_ms", Val::Num(ms(connect)))
        .with("up_mib_s", Val::Num(up))
        .with("down_mib_s", Val::Num(down))
        .with("up_bytes", Val::Int(up_bytes))
        .with("down_bytes", Val::Int(down_bytes))
        .with("seconds", Val::Num(Dbl::secs(time))))
}
