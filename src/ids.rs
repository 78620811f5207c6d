//! Ids and digests that every layer shares: what an id may look like (it becomes a file name
//! and a URL), hex, and the idempotency key of an event. Depends on nothing in the crate.

use sha2::Digest;

/// Ids become file names and URL segments, so they are restricted to what is safe everywhere:
/// lowercase ASCII letters, digits, `-` and `_`, starting with a letter or digit, at most 100
/// characters. Nothing that could climb out of a folder (`..`, `/`, `%2f`, NUL) gets through.
pub fn check_id(id: &str) -> Result<(), String> {
    let ok_start = id
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok_chars = id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if id.is_empty() {
        Err("id is empty; use lowercase letters, digits, '-' and '_', e.g. \"api\"".into())
    } else if id.len() > 100 {
        Err(format!(
            "id is {} characters long; keep it at most 100",
            id.len()
        ))
    } else if !ok_start || !ok_chars {
        let suggestion = slugify(id);
        Err(format!(
            "invalid id {id:?}: use lowercase letters, digits, '-' and '_', starting with a letter or digit{}",
            if suggestion.is_empty() {
                String::new()
            } else {
                format!(" (e.g. {suggestion:?})")
            }
        ))
    } else {
        Ok(())
    }
}

/// A best-effort id from free text.
///
/// ```
/// assert_eq!(pharos::ids::slugify("API Gateway (EU)"), "api-gateway-eu");
/// assert_eq!(pharos::ids::check_id("../etc").is_err(), true);
/// ```
pub fn slugify(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    out.chars()
        .take(100)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

/// Lower-case hex of `bytes`.
/// The bytes `s` spells in hex (either case), if it is hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// The idempotency key receivers see: stable for an event across retries and restarts.
pub fn delivery_id(key: &str) -> String {
    format!("evt_{}", &hex(&sha2::Sha256::digest(key.as_bytes()))[..24])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_everything_that_could_escape_a_folder() {
        for ok in ["api", "2026-11-20-db", "a_b", "x"] {
            assert_eq!(check_id(ok), Ok(()), "{ok}");
        }
        let long = "a".repeat(300);
        for bad in [
            "", "..", "../etc", "a/b", "a%2fb", "a\0b", "/abs", "API", "-lead", "аpi", &long,
            "a b", ".hidden",
        ] {
            assert!(check_id(bad).is_err(), "{bad:?} must be rejected");
        }
        assert_eq!(slugify("API Gateway (EU)"), "api-gateway-eu");
    }
}
