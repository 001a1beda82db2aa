//! How many connections the process can hold: the open-file limit is raised to the hard limit
//! at start, and the connection budget leaves a reserve of descriptors for the store, so that a
//! flood of connections can never make a store write (or the inbox's next segment) fail.

/// Descriptors kept out of the connection budget: the storage's files (the embedded store's,
/// the inbox's segments: the open one, its spare and those still pending) or a database's
/// pooled connections, the listener, the runtime's epoll and eventfds, stdio, and the worker's
/// outgoing Jira connections.
pub const RESERVE: u64 = 256;

/// Raises the soft open-file limit to the hard limit (logged when it cannot) and returns how
/// many connections to serve at once: `requested`, lowered with a warning when the limit
/// cannot hold it plus [`RESERVE`].
pub fn connection_budget(requested: u64) -> u64 {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => soft,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            match rlimit::getrlimit(rlimit::Resource::NOFILE) {
                Ok((soft, _)) => soft,
                // Nothing known: trust the setting.
                Err(_) => return requested,
            }
        }
    };
    budget(requested, limit)
}

fn budget(requested: u64, open_file_limit: u64) -> u64 {
    let room = open_file_limit.saturating_sub(RESERVE).max(1);
    if requested > room {
        tracing::warn!(
            requested,
            serving = room,
            open_file_limit,
            reserve = RESERVE,
            "--max-connections lowered to what the open-file limit holds with a reserve for the \
             store; raise the hard limit (ulimit -Hn, LimitNOFILE= in systemd) to serve more"
        );
        room
    } else {
        requested
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_leaves_the_reserve() {
        assert_eq!(budget(10_000, 1_048_576), 10_000);
        assert_eq!(budget(10_000, 1024), 1024 - RESERVE);
        assert_eq!(budget(10_000, 10_000 + RESERVE), 10_000);
        assert_eq!(budget(10, 100), 1, "never zero");
    }
}
