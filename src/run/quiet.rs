//! When local input counts as quiet: after a peer's FIN, input that has
//! sent nothing for `--close-grace` no longer keeps the connection open.

use super::shared::Shared;
use crate::router::LocalInput;
use futures_lite::future;
use smol::Timer;
use std::future::Future;
use std::time::{Duration, Instant};

/// Wait for `next` (local input's next event). While it does not come,
/// once input has been silent for the close grace since `last`, the router
/// is told input is quiet.
pub async fn until_quiet<T>(shared: &Shared, last: Instant, next: impl Future<Output = T>) -> T {
    let Some(grace) = shared.cfg.close_grace else {
        return next.await;
    };
    let mut next = std::pin::pin!(next);
    loop {
        let quiet = shared.router.borrow().local_input() == LocalInput::Quiet;
        let wake_at = if quiet {
            // Only a shared -e child's input can become un-quiet without
            // sending (its stdin was closed: it gets the grace to answer);
            // look again now and then.
            let child = shared.router.borrow().quiet_floor().is_some() || shared.cfg.exec.is_some();
            child.then(|| Instant::now() + Duration::from_millis(100))
        } else {
            // A child whose stdin was just closed gets the grace from then.
            let floor = shared.router.borrow().quiet_floor();
            Some(floor.map_or(last, |f| f.max(last)) + grace)
        };
        let first = future::or(async { Some((&mut next).await) }, async {
            match wake_at {
                Some(at) => Timer::at(at).await,
                None => future::pending().await,
            };
            None
        })
        .await;
        if let Some(got) = first {
            return got;
        }
        if !quiet {
            let floor = shared.router.borrow().quiet_floor();
            let due = floor.map_or(last, |f| f.max(last)) + grace;
            if Instant::now() >= due {
                shared.router.borrow_mut().local_quiet(true);
            }
        }
    }
}
