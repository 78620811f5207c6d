//! Durations (`90s`, `1h30m`), timestamps as admins write them, and times as visitors read them.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::time::Duration;

/// Parse `500ms`, `30s`, `5m`, `1h30m`, `2d`, `1w`. A bare number is rejected: units are required.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(pharos::time::parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
/// assert!(pharos::time::parse_duration("30").unwrap_err().contains("missing unit"));
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration (write e.g. \"30s\", \"5m\", \"1h30m\")".into());
    }
    let mut total_ms: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "invalid duration {text:?}: expected a number before {rest:?} (write e.g. \"30s\", \"5m\", \"1h30m\")"
            ));
        }
        let n: u128 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let ms = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "" => {
                return Err(format!(
                    "invalid duration {text:?}: missing unit (ms, s, m, h, d or w), e.g. \"{n}s\""
                ));
            }
            other => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {other:?} (use ms, s, m, h, d or w)"
                ));
            }
        };
        total_ms = total_ms
            .checked_add(n.saturating_mul(ms))
            .ok_or_else(|| format!("invalid duration {text:?}: too large"))?;
    }
    u64::try_from(total_ms)
        .map(Duration::from_millis)
        .map_err(|_| format!("invalid duration {text:?}: too large"))
}

/// The shortest exact spelling of a duration: `90s` -> `1m30s`.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// Parse a timestamp as admins write it. Accepted:
/// `2026-11-20T14:02:00Z` (RFC 3339), `2026-11-20 14:02`, `2026-11-20 14:02:30`, each optionally
/// followed by a zone: `UTC`, `Z`, `+02:00`, or an IANA name (`Europe/Berlin`). Without a zone the
/// site's time zone applies.
pub fn parse_timestamp(text: &str, site_tz: Tz) -> Result<DateTime<Utc>, String> {
    let s = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let hint = "write e.g. \"2026-11-20 14:02 UTC\", \"2026-11-20 14:02\" (site time zone) or \"2026-11-20T14:02:00Z\"";
    let (date_time, zone) = split_zone(s);
    let naive = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(date_time, f).ok())
    .ok_or_else(|| format!("invalid time {s:?}: {hint}"))?;
    match zone {
        None => local_to_utc(naive, site_tz, s),
        Some("UTC" | "Z" | "GMT") => Ok(Utc.from_utc_datetime(&naive)),
        Some(z) if z.starts_with(['+', '-']) => {
            let t = DateTime::parse_from_str(
                &format!("{date_time} {z}"),
                &format!("{} %:z", fmt_of(date_time)),
            )
            .or_else(|_| {
                DateTime::parse_from_str(
                    &format!("{date_time} {z}"),
                    &format!("{} %z", fmt_of(date_time)),
                )
            })
            .map_err(|_| format!("invalid time zone offset {z:?} in {s:?}: {hint}"))?;
            Ok(t.with_timezone(&Utc))
        }
        Some(z) => {
            let tz: Tz = z.parse().map_err(|_| {
                format!(
                    "unknown time zone {z:?} in {s:?}{}: use UTC, an offset like +02:00 or an IANA name like Europe/Berlin",
                    tz_hint(z)
                )
            })?;
            local_to_utc(naive, tz, s)
        }
    }
}

/// An IANA time zone name (`Europe/Berlin`); an unknown one gets a "did you mean".
///
/// ```
/// assert!(pharos::time::parse_tz("Europe/Berln").unwrap_err().contains("did you mean \"Europe/Berlin\"?"));
/// ```
pub fn parse_tz(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        format!(
            "unknown time zone {name:?}{}: use an IANA name such as \"UTC\" or \"Europe/Berlin\"",
            tz_hint(name)
        )
    })
}

/// ` (did you mean "Europe/Berlin"?)` for a misspelt zone name, or nothing.
fn tz_hint(name: &str) -> String {
    // A misspelt name is letters, `/`, `_`, `-` and `+` (not `ET02:30:00+01:00`), and begins as
    // the name it means: far fewer names to compare it with, for every heading of a long file.
    let looks_like_a_name = name
        .chars()
        .all(|c| c.is_ascii_alphabetic() || "/_-+".contains(c));
    let Some(first) = name.chars().next().filter(|_| looks_like_a_name) else {
        return String::new();
    };
    static NAMES: std::sync::OnceLock<Vec<&str>> = std::sync::OnceLock::new();
    let all = NAMES.get_or_init(|| chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()).collect());
    let names: Vec<&str> = all
        .iter()
        .copied()
        .filter(|n| n.starts_with(|c: char| c.eq_ignore_ascii_case(&first)))
        .collect();
    // Typos are judged by the city: every name in a region shares the rest.
    let city = name.rsplit('/').next().unwrap_or(name).chars().count();
    crate::suggest::closest_within(name, &names, (city / 3).max(1))
        .map(|s| format!(" (did you mean {s:?}?)"))
        .unwrap_or_default()
}

fn fmt_of(date_time: &str) -> &'static str {
    match (date_time.contains('T'), date_time.matches(':').count()) {
        (true, 2) => "%Y-%m-%dT%H:%M:%S",
        (true, _) => "%Y-%m-%dT%H:%M",
        (false, 2) => "%Y-%m-%d %H:%M:%S",
        (false, _) => "%Y-%m-%d %H:%M",
    }
}

/// Split `2026-11-20 14:02 Europe/Berlin` into the date-time and the zone, if any.
fn split_zone(s: &str) -> (&str, Option<&str>) {
    // The date-time itself has at most one space (between date and time).
    let parts: Vec<&str> = s.split_whitespace().collect();
    match parts.as_slice() {
        [_, _, zone] => {
            let end = s.rfind(zone).unwrap_or(s.len());
            (s[..end].trim_end(), Some(zone))
        }
        [dt, zone] if dt.contains('T') => (dt, Some(zone)),
        [_date, time] if time.len() > 8 && time[5..].contains(['+', '-']) => {
            // "2026-11-20 14:02+02:00"
            let i = s.rfind(['+', '-']).unwrap_or(s.len());
            (&s[..i], Some(&s[i..]))
        }
        _ => (s, None),
    }
}

fn local_to_utc(naive: NaiveDateTime, tz: Tz, original: &str) -> Result<DateTime<Utc>, String> {
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        // A wall-clock time that happens twice (DST ends): take the first, as people mean it.
        chrono::LocalResult::Ambiguous(first, _) => Ok(first.with_timezone(&Utc)),
        chrono::LocalResult::None => Err(format!(
            "time {original:?} does not exist in {tz} (skipped by a daylight-saving change); add an explicit offset"
        )),
    }
}

/// A time as admins type it: `now`, `+30m` / `-2h` (from now), or anything
/// [`parse_timestamp`] takes (ISO 8601, `2026-12-01 02:00` in the site time zone).
///
/// ```
/// use chrono::{DateTime, Utc};
/// let now: DateTime<Utc> = "2026-11-26T12:00:00Z".parse().unwrap();
/// let tz = chrono_tz::Europe::Berlin;
/// assert_eq!(pharos::time::parse_when("+30m", now, tz).unwrap().to_rfc3339(), "2026-11-26T12:30:00+00:00");
/// assert_eq!(pharos::time::parse_when("2026-12-01 02:00", now, tz).unwrap().to_rfc3339(), "2026-12-01T01:00:00+00:00");
/// ```
pub fn parse_when(text: &str, now: DateTime<Utc>, site_tz: Tz) -> Result<DateTime<Utc>, String> {
    let s = text.trim();
    if s.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Some((sign, rest)) = s
        .strip_prefix('+')
        .map(|r| (1, r))
        .or_else(|| s.strip_prefix('-').map(|r| (-1, r)))
    {
        let d = parse_duration(rest).map_err(|e| format!("invalid relative time {s:?}: {e}"))?;
        let d = chrono::Duration::from_std(d).map_err(|_| format!("{s:?} is too far away"))?;
        return Ok(if sign > 0 { now + d } else { now - d });
    }
    parse_timestamp(s, site_tz).map_err(|e| format!("{e}, \"now\" or \"+30m\""))
}

/// `20 Nov 2026, 15:10 CET`: how visitors read a time on the page.
pub fn human(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .format("%-d %b %Y, %H:%M %Z")
        .to_string()
}

/// `20 Nov 2026`
pub fn human_date(d: NaiveDate) -> String {
    d.format("%-d %b %Y").to_string()
}

/// RFC 3339 with seconds and `Z`, as the API files and `<time datetime>` use.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The calendar day of `t` in the site's time zone.
pub fn local_day(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// When the local calendar day `day` starts in `tz` (at the first valid local time when
/// midnight falls in a DST gap).
pub fn day_start(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    use chrono::TimeZone;
    (0..=2)
        .find_map(|h| {
            tz.from_local_datetime(&day.and_hms_opt(h, 0, 0)?)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        })
        .unwrap_or_else(|| Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default()))
}

/// Round `now` down to a multiple of `cadence` since the epoch (the freshness stamp).
pub fn floor_to(now: DateTime<Utc>, cadence: Duration) -> DateTime<Utc> {
    let step = cadence.as_secs().max(1) as i64;
    let secs = now.timestamp().div_euclid(step) * step;
    DateTime::from_timestamp(secs, 0).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (text, ms) in [
            ("500ms", 500),
            ("30s", 30_000),
            ("1h30m", 5_400_000),
            ("2d", 172_800_000),
            ("1w", 604_800_000),
        ] {
            assert_eq!(
                parse_duration(text).unwrap(),
                Duration::from_millis(ms),
                "{text}"
            );
        }
        for bad in ["", "30", "s", "5 minutes", "3y", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(parse_duration("1d2h").unwrap()), "1d2h");
    }

    #[test]
    fn timestamps_in_every_accepted_form() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let cases = [
            ("2026-11-20T14:02:00Z", "2026-11-20T14:02:00Z"),
            ("2026-11-20 14:02 UTC", "2026-11-20T14:02:00Z"),
            ("2026-11-20 14:02", "2026-11-20T13:02:00Z"),
            ("2026-11-20 14:02:30", "2026-11-20T13:02:30Z"),
            ("2026-11-20 14:02 +05:00", "2026-11-20T09:02:00Z"),
            ("2026-11-20 14:02+05:00", "2026-11-20T09:02:00Z"),
            ("2026-11-20 14:02 America/New_York", "2026-11-20T19:02:00Z"),
            ("2026-07-01 12:00", "2026-07-01T10:00:00Z"),
        ];
        for (text, want) in cases {
            assert_eq!(parse_timestamp(text, berlin), Ok(utc(want)), "{text}");
        }
        for bad in [
            "yesterday",
            "2026-13-01 10:00",
            "2026-11-20 14:02 Mars/Base",
            "2026-03-29 02:30",
        ] {
            assert!(
                parse_timestamp(bad, berlin).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn human_times_name_the_zone() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let t = parse_timestamp("2026-11-20 14:10 UTC", berlin).unwrap();
        assert_eq!(human(t, berlin), "20 Nov 2026, 15:10 CET");
        assert_eq!(iso(t), "2026-11-20T14:10:00Z");
    }
}
