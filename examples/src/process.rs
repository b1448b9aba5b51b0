//! What a process costs, read from `/proc`: CPU time, resident memory,
//! threads and open descriptors. The load program reads the node's; the
//! node's metrics endpoint and the tests read their own.

use std::time::Duration;

/// One reading of a process's counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// User plus system CPU time since the process started.
    pub cpu: Duration,
    /// Resident set size in bytes.
    pub rss: u64,
    /// Threads.
    pub threads: u64,
    /// Open file descriptors.
    pub fds: u64,
}

/// Reads `pid`'s counters, or `None` once it has exited.
pub fn usage(pid: u32) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields are
    // counted from after its closing parenthesis (field 3 is the state).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i - 3)?.parse::<u64>().ok();
    let (utime, stime) = (ticks(14)?, ticks(15)?);
    // SAFETY: sysconf with a valid name has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let cpu = Duration::from_secs_f64((utime + stime) as f64 / per_second as f64);

    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let rss = field("VmRSS:")? * 1024;
    let threads = field("Threads:")?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Usage {
        cpu,
        rss,
        threads,
        fds,
    })
}

/// This process's own counters.
pub fn own() -> Usage {
    usage(std::process::id()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let before = own();
        assert!(before.rss > 0 && before.threads >= 1 && before.fds >= 3);
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let during = own();
        assert_eq!(during.fds, before.fds + 1);
        drop(file);
        assert!(usage(u32::MAX).is_none());
    }
}
