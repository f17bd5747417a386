//! Value parsers that clap calls for flags of several commands (and for
//! `suite`'s TOML keys, which are `run` flags): durations, scenario names,
//! rates, fractions, reply modes; and the check of an output file. Each
//! refusal is one line naming the value, which clap prefixes with the flag.

use std::path::Path;
use std::time::Duration;

use crate::engine::protocol::ReplyMode;
use crate::error::Error;

/// `10s`, `500ms`, `1m30s`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return if (0.0..1e9).contains(&secs) {
            Ok(Duration::from_secs_f64(secs))
        } else {
            Err(format!("{s:?} is not a duration"))
        };
    }
    match humantime::parse_duration(s) {
        // The same bound as a number of seconds: in nanoseconds, the run's
        // clock adds such spans up without overflow.
        Ok(d) if d.as_secs_f64() < 1e9 => Ok(d),
        Ok(_) => Err(format!("{s:?} is too long a duration (at most 1e9 s)")),
        Err(e) => Err(format!("{s:?} is not a duration ({e}); try 10s, 500ms or 1m")),
    }
}

/// Scenario names become file names (`suite` writes `<name>.json`): letters,
/// digits, `-`, `_` and `.`, not starting with `.`, at most 64.
pub fn scenario_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?} is not a scenario name: use 1-64 letters, digits, '-', '_' or '.', not starting with '.'"))
    }
}

/// A finite number above 0 (rates).
pub fn positive_f64(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}

/// A number from 0 to 1 (error rates).
pub fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a fraction from 0 to 1")),
    }
}

/// A reply mode by name (`FromStr`, whose error lists the valid names):
/// the engine's `ReplyMode` is a plain type, not a clap `ValueEnum`.
pub fn reply_mode(s: &str) -> Result<ReplyMode, String> {
    s.parse()
}

/// Refuses an output file that a command could not write at its end: its
/// directory missing, or the file not creatable. A file that did not exist
/// is created and removed again; one that did is opened, not truncated.
pub fn check_writable(flag: &str, path: &Path) -> Result<(), Error> {
    let refuse = |why: String| Error::usage(format!("{flag} {}: {why}", path.display()));
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(refuse(format!("no directory {}", dir.display())));
    }
    if path.is_dir() {
        return Err(refuse("is a directory".into()));
    }
    let existed = path.exists();
    let opened = std::fs::OpenOptions::new().append(true).create(true).open(path);
    match opened {
        Ok(_) if !existed => std::fs::remove_file(path).map_err(|e| refuse(format!("cannot write it: {e}"))),
        Ok(_) => Ok(()),
        Err(e) => Err(refuse(format!("cannot write it: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("99999999999s").is_err());
        assert!(parse_duration("1000000000").is_err());
        assert_eq!(parse_duration("1000h").unwrap(), Duration::from_secs(3_600_000));
    }

    #[test]
    fn scenario_names() {
        assert!(scenario_name("small-closed_1.x").is_ok());
        for bad in ["", ".hidden", "a/b", "a b", &"x".repeat(65)] {
            assert!(scenario_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reply_modes_by_name() {
        assert_eq!(reply_mode("json"), Ok(ReplyMode::Json));
        let e = reply_mode("loud").unwrap_err();
        for name in ["reply", "echo", "json", "stream"] {
            assert!(e.contains(name), "{e}");
        }
    }
}
