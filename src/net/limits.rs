//! Process limits that servers raise at start-up.

/// Raise the soft limit on open descriptors to the hard limit, as servers
/// do, so `-L -m 0` can hold many thousands of connections. Failure is not
/// an error: netcrab then works within the limit it has (and reports
/// EMFILE on accept).
pub fn raise_nofile() {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit with a valid struct.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
    }
}
