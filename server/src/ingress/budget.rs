//! One memory budget for the whole process (`--memory-budget`): request bodies, fetched images,
//! decoded pixels and answers being built all reserve their bytes here first. A request that
//! cannot get its share is refused at once with 503 + `Retry-After`, never queued into an
//! out-of-memory kill. Model weights are not counted: they are loaded once at start.
//!
//! Reservations are [`Lease`]s: they grow and shrink as a request moves through its stages and
//! give their bytes back when dropped, on every path (answers, errors, cancelled requests).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::ApiError;

#[derive(Debug)]
pub struct MemoryBudget {
    limit: u64,
    used: AtomicU64,
}

impl MemoryBudget {
    pub fn new(limit: u64) -> Arc<Self> {
        let b = Arc::new(Self {
            limit,
            used: AtomicU64::new(0),
        });
        crate::metrics::METRICS.memory_budget(limit);
        b
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// An empty lease, to grow as the request learns what it needs.
    pub fn lease(self: &Arc<Self>) -> Lease {
        Lease {
            budget: self.clone(),
            bytes: 0,
        }
    }

    fn take(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&n| n <= self.limit)
            })
            .is_ok()
    }

    fn give(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// Bytes reserved from the budget, returned when dropped.
#[derive(Debug)]
pub struct Lease {
    budget: Arc<MemoryBudget>,
    bytes: u64,
}

impl Lease {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Reserves `more` bytes for `what` (`body`, `fetch`, `decode`, `output`), or refuses the
    /// request with 503 + `Retry-After` when the budget cannot hold them now. A request bigger
    /// than the whole budget can never fit: 413, naming the flag.
    pub fn grow(&mut self, more: u64, what: &'static str) -> Result<(), ApiError> {
        if more == 0 {
            return Ok(());
        }
        if self.bytes + more > self.budget.limit {
            crate::metrics::METRICS.memory_refused(what);
            return Err(ApiError::PayloadTooLarge(format!(
                "this request needs {} MiB of memory for its {what}, more than the server's whole budget of {} MiB (--memory-budget)",
                (self.bytes + more) >> 20,
                self.budget.limit >> 20
            )));
        }
        if !self.budget.take(more) {
            crate::metrics::METRICS.memory_refused(what);
            return Err(ApiError::MemoryBusy(format!(
                "the server's memory budget is in use by other requests ({} MiB of {} MiB); retry shortly",
                self.budget.used() >> 20,
                self.budget.limit >> 20
            )));
        }
        self.bytes += more;
        crate::metrics::METRICS.memory_used(self.budget.used());
        Ok(())
    }

    /// Keeps only `bytes` reserved (a stage finished and freed its buffers).
    pub fn shrink_to(&mut self, bytes: u64) {
        if bytes < self.bytes {
            self.budget.give(self.bytes - bytes);
            self.bytes = bytes;
            crate::metrics::METRICS.memory_used(self.budget.used());
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.shrink_to(0);
    }
}

/// The default budget: half of what the process may use (the cgroup's memory limit where one
/// is set, else physical memory), leaving the rest for weights, activations and the runtime.
pub fn default_limit() -> u64 {
    let physical = physical_memory().unwrap_or(4 << 30);
    let ceiling = cgroup_limit().map_or(physical, |c| c.min(physical));
    ceiling / 2
}

fn cgroup_limit() -> Option<u64> {
    // cgroup v2, then v1; "max" (or v1's huge sentinel) means no limit.
    for path in [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ] {
        if let Ok(s) = std::fs::read_to_string(path) {
            if let Ok(v) = s.trim().parse::<u64>() {
                if v < (1 << 60) {
                    return Some(v);
                }
            }
        }
    }
    None
}

fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `512M`, `2G`, `1.5GiB`, `800000000` into bytes.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 512M, 2G)"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1u64,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit '{other}' in '{s}' (use K, M, G)"
            ))
        }
    };
    Ok((n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_take_and_give_back() {
        let b = MemoryBudget::new(100);
        let mut a = b.lease();
        a.grow(60, "body").unwrap();
        let mut c = b.lease();
        let e = c.grow(50, "decode").unwrap_err();
        assert_eq!(e.status(), 503, "busy now, fits later");
        assert_eq!(
            c.grow(101, "decode").unwrap_err().status(),
            413,
            "never fits"
        );
        a.shrink_to(10);
        c.grow(50, "decode").unwrap();
        assert_eq!(b.used(), 60);
        drop(a);
        drop(c);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_bytes("512M").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("2G").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert!(parse_bytes("lots").is_err());
        assert!(default_limit() > 0);
    }
}
