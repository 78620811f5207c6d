//! The config's value types that are read from text: sizes (`256KB`), durations (`30s`) and
//! time zone names (`Europe/Berlin`), `${VAR}` expanded.

use super::env;
use chrono_tz::Tz;
use serde::Deserialize;
use std::time::Duration;

/// A size in bytes, written as `262144`, `256KB` or `1MB` (KB = 1024 bytes, MB = 1024 KB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl std::str::FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Size, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (n, unit) = t.split_at(split);
        let factor = match unit.trim().to_ascii_uppercase().as_str() {
            "" | "B" => 1,
            "KB" | "KIB" | "K" => 1024,
            "MB" | "MIB" | "M" => 1024 * 1024,
            _ => 0,
        };
        match n.parse::<u64>() {
            Ok(n) if factor > 0 && n > 0 => Ok(Size(n.saturating_mul(factor))),
            _ => Err(format!(
                "invalid size {s:?}: write a number of bytes, or KB or MB, as in 256KB"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor, so that an error names the value's own path and position
        // (`limits.file_size`), not the mapping around it.
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Size;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a size such as 256KB")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Size, E> {
                match n {
                    0 => Err(E::custom("a size must be more than 0")),
                    n => Ok(Size(n)),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Size, E> {
                u64::try_from(n)
                    .map_err(|_| E::custom("a size must be more than 0"))
                    .and_then(|n| self.visit_u64(n))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Size, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(Visit)
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            n if n >= 1024 * 1024 && n % (1024 * 1024) == 0 => write!(f, "{}MB", n / (1024 * 1024)),
            n if n >= 1024 && n % 1024 == 0 => write!(f, "{}KB", n / 1024),
            n if n >= 1024 * 1024 => write!(f, "{:.1}MB", n as f64 / (1024.0 * 1024.0)),
            n if n >= 1024 => write!(f, "{:.1}KB", n as f64 / 1024.0),
            n => write!(f, "{n} bytes"),
        }
    }
}

/// A duration written as `30s`, `5m`, `1h30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        env::expanded(d, |t| crate::time::parse_duration(&t).map(Dur))
    }
}

/// An IANA time zone name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZoneName(pub Tz);

impl<'de> Deserialize<'de> for TimeZoneName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        env::expanded(d, |t| crate::time::parse_tz(&t).map(TimeZoneName))
    }
}
