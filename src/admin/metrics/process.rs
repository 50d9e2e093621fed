//! This process's memory, CPU and file descriptors, from `/proc/self`
//! (the `process_*` families every Prometheus exporter has).

/// This process, from `/proc/self` (Linux).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    /// User plus system CPU time.
    pub cpu_seconds: f64,
    /// Unix time the process started.
    pub start_time: f64,
    pub open_fds: u64,
    pub max_fds: Option<u64>,
}

/// The kernel's clock ticks per second in `/proc/*/stat` (USER_HZ): 100 on
/// every architecture a village router runs (x86, arm, arm64, mips, riscv).
const USER_HZ: f64 = 100.0;

impl ProcessStats {
    /// Read `/proc/self`; `None` when it is not there (not Linux, no procfs).
    pub fn read() -> Option<ProcessStats> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let mut p = ProcessStats::parse(&stat, &status, &boot)?;
        p.open_fds = std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count() as u64)
            .unwrap_or(0);
        p.max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|l| parse_max_fds(&l));
        Some(p)
    }

    /// From the texts of `/proc/self/stat`, `/proc/self/status` and `/proc/stat`.
    fn parse(stat: &str, status: &str, proc_stat: &str) -> Option<ProcessStats> {
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses,
        // so count fields from the last ')'. Field 3 (state) is index 0.
        let fields: Vec<&str> = stat
            .get(stat.rfind(')')? + 1..)?
            .split_whitespace()
            .collect();
        let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
        let (utime, stime, starttime, vsize) = (field(14)?, field(15)?, field(22)?, field(23)?);
        let btime: u64 = proc_stat
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        // VmRSS is in kB whatever the page size (arm64 routers may use 64 KiB pages).
        let rss_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(ProcessStats {
            resident_bytes: rss_kb * 1024,
            virtual_bytes: vsize,
            cpu_seconds: (utime + stime) as f64 / USER_HZ,
            start_time: btime as f64 + starttime as f64 / USER_HZ,
            open_fds: 0,
            max_fds: None,
        })
    }
}

/// The soft limit on open files from `/proc/self/limits`.
fn parse_max_fds(limits: &str) -> Option<u64> {
    let rest = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    rest.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_stats_parse_from_proc_texts() {
        let stat = "4242 (desa wifi (x)) S 1 4242 4242 0 -1 4194560 2000 0 0 0 250 125 0 0 20 0 9 0 12345 67108864 2048 18446744073709551615";
        let status = "Name:\tdesawifi\nVmPeak:\t  70000 kB\nVmRSS:\t    8192 kB\nThreads:\t9\n";
        let proc_stat = "cpu  1 2 3\nbtime 1764190000\nprocesses 99\n";
        let p = ProcessStats::parse(stat, status, proc_stat).unwrap();
        assert_eq!(p.resident_bytes, 8192 * 1024);
        assert_eq!(p.virtual_bytes, 67_108_864);
        assert_eq!(p.cpu_seconds, 3.75);
        assert_eq!(p.start_time, 1_764_190_000.0 + 123.45);
        assert_eq!(parse_max_fds("Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n"), Some(1024));
        // This very process, for real.
        let me = ProcessStats::read().expect("/proc/self");
        assert!(
            me.resident_bytes > 0 && me.open_fds > 0 && me.start_time > 1_600_000_000.0,
            "{me:?}"
        );
    }
}
