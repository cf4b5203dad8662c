//! EAL memory arguments for the benchmarks: hugepages when the machine has them free (as DPDK runs
//! in production, and without the TLB misses 4 KB pages add to large rte_acl tries), else `--no-huge`.

/// Size of a hugepage the free-page count is taken in (the default 2 MB pages).
const HUGEPAGE_MB: u64 = 2;

/// `--in-memory -m hugepage_mb` when a hugetlbfs is mounted with at least `reserve_mb` of free pages
/// (`reserve_mb` covers every process the caller runs at once), else `--no-huge --no-shconf -m
/// no_huge_mb`.
pub fn args(hugepage_mb: u32, reserve_mb: u32, no_huge_mb: u32) -> Vec<String> {
    if free_hugepages().is_some_and(|free| free * HUGEPAGE_MB >= reserve_mb as u64) {
        vec!["--in-memory".into(), "-m".into(), hugepage_mb.to_string()]
    } else {
        vec![
            "--no-huge".into(),
            "--no-shconf".into(),
            "-m".into(),
            no_huge_mb.to_string(),
        ]
    }
}

/// Free hugepages (`HugePages_Free` in /proc/meminfo) when a hugetlbfs is mounted; `None` without one.
pub fn free_hugepages() -> Option<u64> {
    let mounted = std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .contains(" hugetlbfs ");
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let free = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Free:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    mounted.then_some(free)
}

/// True when `args` (from [`args`]) run the EAL on hugepages.
pub fn on_hugepages(args: &[String]) -> bool {
    !args.iter().any(|a| a == "--no-huge")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_impossible_reserve_falls_back_to_4k_pages() {
        let args = args(512, u32::MAX, 1024);
        assert_eq!(args, ["--no-huge", "--no-shconf", "-m", "1024"]);
        assert!(!on_hugepages(&args));
        assert!(on_hugepages(&["--in-memory".to_string()]));
    }
}
