//! Subscribers and what visitors ask for through the inbox: addresses (validated, masked for
//! logs), capability tokens, and the requests a form can post. Depends only on `ids`.

use serde::{Deserialize, Serialize};

/// Longest address we accept (RFC 5321's path limit).
pub const MAX_ADDRESS: usize = 254;
/// Random bytes in a capability token (160 bits; URLs carry 40 hex characters).
pub const TOKEN_BYTES: usize = 20;
/// Where capability pages live in the site (`subscribe/t/<token>/`): never in a manifest.
pub const PAGES_DIR: &str = "subscribe/t";
/// Where the inbox keys of forms that post a token back start (`t/<token>/<action>`).
pub const TOKEN_KEY_PREFIX: &str = "t/";

/// The inbox key a token form posts to: one per token and action, so a manage page's
/// "save" and "unsubscribe" never overwrite each other in the inbox.
pub fn token_key(token: &str, action: &str) -> String {
    format!("{TOKEN_KEY_PREFIX}{token}/{action}")
}

/// An address as we store it: trimmed, domain lowercased; `Err` says what is wrong (never
/// quoting the address, which may end up in a log).
pub fn normalize_address(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    if s.len() > MAX_ADDRESS {
        return Err("address too long");
    }
    if s.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err("address holds spaces or control characters");
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return Err("address has no @");
    };
    if local.is_empty() || local.len() > 64 {
        return Err("address has an empty or too long local part");
    }
    let local_ok = local
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+=?^_`{|}~.-".contains(&b) || b >= 0x80)
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if !local_ok {
        return Err("address has characters we do not accept before the @");
    }
    let domain = domain.to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b >= 0x80)
        });
    if !domain_ok {
        return Err("address has an invalid domain");
    }
    Ok(format!("{local}@{domain}"))
}

/// An address as logs show it: `j***@example.com`.
pub fn mask(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// A fresh capability token: [`TOKEN_BYTES`] from the system's random source, as hex.
pub fn new_token() -> String {
    use ring::rand::SecureRandom;
    let mut buf = [0u8; TOKEN_BYTES];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .expect("the system random source works");
    crate::ids::hex(&buf)
}

/// Whether `s` looks like one of our tokens (so nothing else is ever looked up or put in a path).
pub fn is_token(s: &str) -> bool {
    s.len() == TOKEN_BYTES * 2
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A stable digest of an address for rate limits and the inbox's done list (no address kept).
pub fn address_hash(address: &str) -> String {
    use sha2::Digest;
    crate::ids::hex(&sha2::Sha256::digest(address.to_lowercase().as_bytes()))
}

/// What one inbox object asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A visitor's address (the object key) and the components chosen (`None`: all).
    Subscribe {
        address: String,
        components: Option<Vec<String>>,
    },
    /// The confirm page's form.
    Confirm { token: String },
    /// The manage page's form: follow these components (`None`: all).
    Update {
        token: String,
        components: Option<Vec<String>>,
    },
    /// The manage page's unsubscribe button.
    Unsubscribe { token: String },
}

/// The body each form posts (its `file` field), naming the action.
pub mod action {
    pub const SUBSCRIBE: &str = "subscribe";
    pub const CONFIRM: &str = "confirm";
    pub const UPDATE: &str = "update";
    pub const UNSUBSCRIBE: &str = "unsubscribe";
}

/// The metadata field a form's component choice is posted in: `x-amz-meta-c-<id>` with `1`
/// (follow) or `0`. S3 hands metadata back without its `x-amz-meta-` prefix.
pub fn component_field(id: &str) -> String {
    format!("c-{id}")
}

/// Read an inbox object: its key, body and metadata. `components` are the config's ids (a
/// choice of an unknown component is ignored; none chosen means all). `Err` says why the
/// object is junk, without quoting it.
pub fn parse_request(
    key: &str,
    body: &[u8],
    metadata: &std::collections::HashMap<String, String>,
    components: &[&str],
) -> Result<Request, &'static str> {
    let body = std::str::from_utf8(body)
        .map_err(|_| "body is not text")?
        .trim();
    let chosen = || -> Result<Option<Vec<String>>, &'static str> {
        let picked: Vec<String> = components
            .iter()
            .filter(|c| metadata.get(&component_field(c)).map(|v| v.trim()) == Some("1"))
            .map(|c| c.to_string())
            .collect();
        let offered = components
            .iter()
            .any(|c| metadata.contains_key(&component_field(c)));
        if offered && picked.is_empty() {
            // "Skip" on every component is no subscription at all (not "everything").
            return Err("no component chosen");
        }
        // Every component chosen, or no choice on the form: all, now and later.
        Ok((!picked.is_empty() && picked.len() < components.len()).then_some(picked))
    };
    if let Some(rest) = key.strip_prefix(TOKEN_KEY_PREFIX) {
        let (token, word) = rest.split_once('/').ok_or("key names no action")?;
        if !is_token(token) {
            return Err("key is not a token");
        }
        if word != body {
            return Err("key and body name different actions");
        }
        let token = token.to_string();
        return match body {
            action::CONFIRM => Ok(Request::Confirm { token }),
            action::UPDATE => Ok(Request::Update {
                token,
                components: chosen()?,
            }),
            action::UNSUBSCRIBE => Ok(Request::Unsubscribe { token }),
            _ => Err("unknown action for a token"),
        };
    }
    if body != action::SUBSCRIBE {
        return Err("unknown action");
    }
    let address = normalize_address(key)?;
    Ok(Request::Subscribe {
        address,
        components: chosen()?,
    })
}

/// One subscriber, as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscriber {
    pub id: i64,
    pub address: String,
    /// Empty: every component.
    pub components: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub confirmed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub confirm_token: Option<String>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub manage_token: String,
    /// form | admin | import
    pub source: String,
}

impl Subscriber {
    /// Whether an event about `components` (none: the whole site) reaches this subscriber.
    pub fn follows(&self, components: &[&str]) -> bool {
        self.components.is_empty()
            || components.is_empty()
            || components
                .iter()
                .any(|c| self.components.iter().any(|x| x == c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn addresses_are_checked_and_masked() {
        assert_eq!(
            normalize_address(" Jane.Doe+x@Example.COM ").as_deref(),
            Ok("Jane.Doe+x@example.com")
        );
        for bad in [
            "",
            "no-at",
            "@example.com",
            "a@b",
            "a b@example.com",
            "a@example.com\r\nBcc: x@evil.com",
            "a\n@example.com",
            "a..b@example.com",
            "a@-x.com",
            "a/b@example.com",
        ] {
            assert!(normalize_address(bad).is_err(), "{bad:?}");
        }
        assert!(normalize_address(&format!("{}@example.com", "a".repeat(250))).is_err());
        assert_eq!(mask("jane@example.com"), "j***@example.com");
        assert_eq!(mask("garbage"), "***");
    }

    #[test]
    fn tokens_are_long_random_hex() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(is_token(&a) && a.len() * 4 >= 128);
        assert!(!is_token("../../etc/passwd") && !is_token(&a.to_uppercase()));
    }

    #[test]
    fn requests_read_from_key_body_and_metadata() {
        let comps = ["api", "web", "db"];
        let mut meta = HashMap::new();
        meta.insert("c-api".to_string(), "1".to_string());
        meta.insert("c-web".to_string(), "0".to_string());
        meta.insert("c-db".to_string(), "0".to_string());
        assert_eq!(
            parse_request("j@example.com", b"subscribe", &meta, &comps),
            Ok(Request::Subscribe {
                address: "j@example.com".into(),
                components: Some(vec!["api".into()])
            })
        );
        let all: HashMap<String, String> = comps
            .iter()
            .map(|c| (component_field(c), "1".to_string()))
            .collect();
        assert_eq!(
            parse_request("j@example.com", b"subscribe", &all, &comps),
            Ok(Request::Subscribe {
                address: "j@example.com".into(),
                components: None
            })
        );
        let t = new_token();
        assert_eq!(
            parse_request(
                &token_key(&t, "unsubscribe"),
                b"unsubscribe",
                &HashMap::new(),
                &comps
            ),
            Ok(Request::Unsubscribe { token: t.clone() })
        );
        let none: HashMap<String, String> = comps
            .iter()
            .map(|c| (component_field(c), "0".to_string()))
            .collect();
        assert_eq!(
            parse_request("j@example.com", b"subscribe", &none, &comps),
            Err("no component chosen"),
            "skipping everything is not everything"
        );
        assert!(parse_request("t/short/confirm", b"confirm", &meta, &comps).is_err());
        assert!(parse_request(&token_key(&t, "confirm"), b"unsubscribe", &meta, &comps).is_err());
        assert!(parse_request(&format!("t/{t}"), b"confirm", &meta, &comps).is_err());
        assert!(parse_request("j@example.com", b"confirm", &meta, &comps).is_err());
        assert!(parse_request("j@example.com", &[0xff, 0xfe], &meta, &comps).is_err());
    }
}
