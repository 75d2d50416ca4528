//! `--max-rate`: one bandwidth budget that every blob copy in flight draws from.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub(super) struct Rate {
    bytes_per_second: f64,
    /// When the bytes granted so far have been paid for.
    paid_until: Mutex<Instant>,
}

impl Rate {
    pub(super) fn new(bytes_per_second: u64) -> Self {
        Self {
            bytes_per_second: bytes_per_second.max(1) as f64,
            paid_until: Mutex::new(Instant::now()),
        }
    }

    /// Waits until `n` more bytes fit in the budget.
    pub(super) async fn take(&self, n: usize) {
        let until = {
            let mut paid = self.paid_until.lock().unwrap_or_else(|p| p.into_inner());
            // Time not used is not saved up: a pause does not buy a burst.
            let start = (*paid).max(Instant::now());
            *paid = start + Duration::from_secs_f64(n as f64 / self.bytes_per_second);
            *paid
        };
        tokio::time::sleep_until(until).await;
    }
}

/// `--max-rate` as an operator writes it: bytes per second, with an optional
/// `K`, `M`, `G` (powers of 1000) or `Ki`, `Mi`, `Gi` (powers of 1024) and an optional `B` or `B/s`.
pub fn parse(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let unit_start = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(unit_start);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a rate (e.g. 50MiB, 200M, 1048576)"))?;
    let unit = unit.trim();
    let unit = unit.strip_suffix("/s").unwrap_or(unit);
    let unit = unit.strip_suffix('B').unwrap_or(unit);
    let scale: f64 = match unit {
        "" => 1.0,
        "K" | "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{unit}` (K, M, G, Ki, Mi, Gi)"
            ))
        }
    };
    let rate = (number * scale).round();
    if rate < 1.0 {
        return Err(format!(
            "`{text}`: a rate must be at least 1 byte per second"
        ));
    }
    Ok(rate as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_operators_write_them() {
        assert_eq!(parse("1048576").unwrap(), 1 << 20);
        assert_eq!(parse("50MiB").unwrap(), 50 << 20);
        assert_eq!(parse("50MiB/s").unwrap(), 50 << 20);
        assert_eq!(parse("200M").unwrap(), 200_000_000);
        assert_eq!(parse("1.5Gi").unwrap(), 3 << 29);
        assert!(parse("fast").unwrap_err().contains("not a rate"));
        assert!(parse("10 parsecs").unwrap_err().contains("unknown unit"));
        assert!(parse("0").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_paces_every_copy_together() {
        let rate = Rate::new(1000);
        let start = Instant::now();
        // Two copies of 1000 bytes each at 1000 B/s take two seconds between them.
        tokio::join!(rate.take(1000), rate.take(1000));
        assert_eq!(start.elapsed().as_secs(), 2);
    }
}
