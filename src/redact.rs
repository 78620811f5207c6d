//! Taking configured secrets out of text that came back from a peer (a receiver's error body, a
//! server's banner, an S3 error) before it is logged or stored: a peer may echo the URL, header
//! or token it was sent.

/// Shorter pieces of a URL are not taken out on their own (they would mangle ordinary words).
const MIN_PIECE: usize = 8;
/// Nor shorter secrets (a method, a port).
const MIN_SECRET: usize = 6;
/// What a secret becomes.
pub const REDACTED: &str = "[redacted]";

/// The secrets of one monitor, channel or target, and the forms a peer may echo them in.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a whole URL goes before its parts.
    needles: Vec<String>,
}

impl Redactor {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Redactor {
        let mut needles = Vec::new();
        // Taken out however short they are (a URL's password).
        let mut keep = Vec::new();
        for s in secrets {
            let s = s.trim();
            if s.is_empty() {
                continue;
            }
            needles.push(s.to_string());
            // A header's credential without its scheme (`Bearer <token>`, `Basic <base64>`).
            if let Some((scheme, credential)) = s.split_once(' ')
                && !scheme.is_empty()
                && scheme.chars().all(|c| c.is_ascii_alphabetic())
            {
                needles.push(credential.trim().to_string());
            }
            // A URL: its path and query, and each long segment or value of them (a Slack or
            // Discord webhook keeps its secret in the path).
            if let Some((_, rest)) = s.split_once("://") {
                let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
                // `user:password@host`: the password whatever its length.
                if let Some((userinfo, _)) = authority.rsplit_once('@') {
                    needles.push(userinfo.to_string());
                    if let Some((_, password)) = userinfo.split_once(':') {
                        keep.push(password.to_string());
                    }
                }
                if let Some(i) = rest.find(['/', '?']) {
                    needles.push(rest[i..].to_string());
                }
                needles.extend(
                    rest.split(['/', '?', '&', '=', '#', '@', ':'])
                        .skip(1)
                        .filter(|p| p.len() >= MIN_PIECE)
                        .map(str::to_string),
                );
            }
            // As JSON writes it (`\/`), HTML (`&amp;`), and percent-encoded (either case).
            for n in needles.clone() {
                needles.push(n.replace('/', "\\/"));
                needles.push(n.replace('&', "&amp;"));
                let encoded: String = n
                    .bytes()
                    .map(|b| match b {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                            (b as char).to_string()
                        }
                        _ => format!("%{b:02X}"),
                    })
                    .collect();
                needles.push(lower_escapes(&encoded));
                needles.push(encoded);
            }
        }
        needles.retain(|n| n.len() >= MIN_SECRET);
        needles.extend(keep.into_iter().filter(|p| !p.is_empty()));
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        needles.dedup();
        Redactor { needles }
    }

    /// `text` with every secret (in any of its forms) replaced by `[redacted]`.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), REDACTED);
            }
        }
        out
    }
}

/// `%2F` written `%2f`, as some encoders do.
fn lower_escapes(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let hex = rest.get(i + 1..i + 3).unwrap_or("");
        out.push('%');
        out.push_str(&hex.to_ascii_lowercase());
        rest = &rest[(i + 1 + hex.len()).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_url_is_taken_out_whole_and_in_parts() {
        let url = "https://hooks.slack.test/services/T0001/B0002/XXsekritXXpathXX";
        let r = Redactor::new([url, "Bearer tok-123456789"]);
        for echoed in [
            format!("404 no such hook: {url}"),
            "not found: /services/T0001/B0002/XXsekritXXpathXX".to_string(),
            r#"{"error":"unknown hook \/services\/T0001\/B0002\/XXsekritXXpathXX"}"#.to_string(),
            "hook XXsekritXXpathXX is disabled".to_string(),
            "bad header Bearer tok-123456789".to_string(),
            "GET /services%2FT0001%2FB0002%2FXXsekritXXpathXX".to_string(),
        ] {
            let out = r.apply(&echoed);
            assert!(!out.contains("XXsekritXXpathXX"), "{out}");
            assert!(!out.contains("tok-123456789"), "{out}");
            assert!(out.contains(REDACTED), "{out}");
        }
        assert_eq!(r.apply("HTTP 500: busy"), "HTTP 500: busy");
        // The token of a header without its scheme, a short URL password, other escapings.
        let r = Redactor::new([
            "Bearer tok-abcdef123456",
            "https://bot:pw1@hooks.test/in?key=a1b2c3d4e5&x=1",
        ]);
        for echoed in [
            "invalid token tok-abcdef123456",
            "login bot:pw1 refused",
            "password pw1 is wrong",
            "bad key a1b2c3d4e5",
            "GET /in%3fkey%3da1b2c3d4e5%26x%3d1",
            "<a href=\"/in?key=a1b2c3d4e5&amp;x=1\">",
        ] {
            let out = r.apply(echoed);
            for secret in ["tok-abcdef123456", "pw1", "a1b2c3d4e5"] {
                assert!(!out.contains(secret), "{echoed} -> {out}");
            }
        }
    }
}
