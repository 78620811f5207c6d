//! Cron expressions (the `cron` crate) evaluated in the site time zone.
//!
//! Admins write the classic 5 fields (`min hour dom mon dow`); the crate wants seconds first,
//! so 5-field expressions get `0 ` in front. 6 and 7 fields are passed through.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::str::FromStr;

pub fn parse_cron(expr: &str) -> Result<cron::Schedule, String> {
    let fields = expr.split_whitespace().count();
    let full = match fields {
        5 => format!("0 {}", expr.trim()),
        6 | 7 => expr.trim().to_string(),
        n => {
            return Err(format!(
                "cron expression {expr:?} has {n} fields; write 5 (\"min hour day month weekday\", e.g. \"0 2 * * Sun\") or 6-7 with seconds first"
            ));
        }
    };
    cron::Schedule::from_str(&full).map_err(|e| {
        // The crate's message repeats the expression with a caret line; its last line says why.
        let e = e.to_string();
        let why = e
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        format!("invalid cron expression {expr:?}: {why}")
    })
}

/// Start times of `schedule` in `tz`, the first one strictly after `after`.
pub fn occurrences_after(
    schedule: &cron::Schedule,
    tz: Tz,
    after: DateTime<Utc>,
) -> impl Iterator<Item = DateTime<Utc>> + '_ {
    schedule
        .after(&after.with_timezone(&tz))
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_fields_mean_minutes_first() {
        let s = parse_cron("0 2 * * Sun").unwrap();
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let after = DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let next: Vec<_> = occurrences_after(&s, tz, after).take(2).collect();
        // Sunday 2026-11-29 02:00 in Berlin is 01:00 UTC.
        assert_eq!(crate::time::iso(next[0]), "2026-11-29T01:00:00Z");
        assert_eq!(crate::time::iso(next[1]), "2026-12-06T01:00:00Z");
        assert!(parse_cron("* * *").unwrap_err().contains("3 fields"));
        assert!(parse_cron("61 * * * *").is_err());
    }
}
