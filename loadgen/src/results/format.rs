//! Numbers for people: rates, latencies and byte rates in a few
//! characters, shared by the summary, `compare`, `suite` and the live view
//! so that one figure reads the same everywhere.

/// 1234567 as "1.23M", for rates.
pub fn count(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Microseconds, readably: 850µs, 12.3ms, 1.20s.
pub fn micros(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 10_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

/// Bytes per second, readably.
pub fn bytes(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2} GB", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} MB", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} kB", v / 1e3)
    } else {
        format!("{v:.0} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(micros(850), "850µs");
        assert_eq!(micros(1_234), "1.23ms");
        assert_eq!(micros(12_345), "12.3ms");
        assert_eq!(micros(1_200_000), "1.20s");
        assert_eq!(count(123_456.0), "123.5k");
        assert_eq!(bytes(2_500_000.0), "2.50 MB");
    }
}
