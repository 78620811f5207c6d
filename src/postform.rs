//! SigV4 browser POST policies for the inbox forms: what a form may post (one bucket, one key or
//! any key, a tiny body, the component choice), signed with the posting key.
//!
//! Pure: `now` is an argument. The signing date is the UTC day of `now` at 00:00:00 and the
//! policy expires three days later, so a page is byte-identical all day and a daily re-render
//! keeps every published form valid with two days to spare.

use crate::config::Subscriptions;
use crate::subscriber::{action, token_key};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The largest body a form may post: the longest action word fits with room to spare.
pub const MAX_BODY: u64 = 32;
/// How long a signed form stays valid after its signing day began.
pub const VALID_DAYS: i64 = 3;
/// The SigV4 algorithm name, as forms and policies spell it.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// A signed form: where it posts and its hidden fields in order, `file` (the action word) last:
/// S3 ignores every field after `file`, so whatever a page shows (the address input, the
/// component radios) goes between the other fields and `file`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Form {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

impl Form {
    /// The hidden fields before the visible inputs (all but `file`).
    pub fn head(&self) -> &[(String, String)] {
        match self.fields.split_last() {
            Some((last, rest)) if last.0 == "file" => rest,
            _ => &self.fields,
        }
    }

    /// The action word posted as the object's body (the `file` field).
    pub fn file(&self) -> &str {
        self.field("file").unwrap_or_default()
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The origin browsers post to (`https://host[:port]`), for the page's CSP `form-action`.
    pub fn origin(&self) -> String {
        origin(&self.action)
    }
}

/// `scheme://host[:port]` of a URL (everything before the path).
pub fn origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            format!("{scheme}://{host}")
        }
        None => url.to_string(),
    }
}

/// The public subscribe form: the visitor's address is the object key (any key may be posted,
/// which is safe only because the inbox holds nothing else), with a radio pair per component.
pub fn subscribe_form(
    subs: &Subscriptions,
    base_url: &str,
    components: &[&str],
    now: DateTime<Utc>,
) -> Form {
    sign_form(
        subs,
        Key::Any,
        &landing(base_url, "sent"),
        components,
        action::SUBSCRIBE,
        now,
    )
}

/// The confirm page's form: posts the token back.
pub fn confirm_form(subs: &Subscriptions, base_url: &str, token: &str, now: DateTime<Utc>) -> Form {
    sign_form(
        subs,
        Key::Token(token),
        &landing(base_url, "confirmed"),
        &[],
        action::CONFIRM,
        now,
    )
}

/// The manage page's form that changes the components followed (radios for `components`).
pub fn update_form(
    subs: &Subscriptions,
    base_url: &str,
    token: &str,
    components: &[&str],
    now: DateTime<Utc>,
) -> Form {
    sign_form(
        subs,
        Key::Token(token),
        &landing(base_url, "updated"),
        components,
        action::UPDATE,
        now,
    )
}

/// The manage page's one-button unsubscribe form.
pub fn unsubscribe_form(
    subs: &Subscriptions,
    base_url: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Form {
    sign_form(
        subs,
        Key::Token(token),
        &landing(base_url, "unsubscribed"),
        &[],
        action::UNSUBSCRIBE,
        now,
    )
}

/// `{base_url}/subscribe/<page>/index.html`: where S3 sends the browser after a post.
fn landing(base_url: &str, page: &str) -> String {
    format!(
        "{}/subscribe/{page}/index.html",
        base_url.trim_end_matches('/')
    )
}

enum Key<'a> {
    /// The visitor types it (the address).
    Any,
    /// `t/<token>`, fixed in the page.
    Token(&'a str),
}

fn sign_form(
    subs: &Subscriptions,
    key: Key,
    redirect: &str,
    components: &[&str],
    word: &str,
    now: DateTime<Utc>,
) -> Form {
    use serde_json::json;
    let day = now.date_naive();
    let signed_at = day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
    let expires = signed_at + Duration::days(VALID_DAYS);
    let date = day.format("%Y%m%d").to_string();
    let amz_date = format!("{date}T000000Z");
    let credential = format!(
        "{}/{date}/{}/s3/aws4_request",
        subs.post_access_key_id.expose(),
        subs.region()
    );
    let key_condition = match &key {
        Key::Any => json!(["starts-with", "$key", ""]),
        Key::Token(t) => json!(["eq", "$key", token_key(t, word)]),
    };
    let mut conditions = vec![
        json!({ "bucket": subs.inbox.bucket.as_str() }),
        key_condition,
        json!({ "success_action_redirect": redirect }),
        json!(["content-length-range", 1, MAX_BODY]),
        json!({ "x-amz-algorithm": ALGORITHM }),
        json!({ "x-amz-credential": credential }),
        json!({ "x-amz-date": amz_date }),
    ];
    for c in components {
        let field = format!("$x-amz-meta-{}", crate::subscriber::component_field(c));
        conditions.push(json!(["starts-with", field, ""]));
    }
    let policy = json!({
        "expiration": expires.format("%Y-%m-%dT%H:%M:%S.000Z").to_string(),
        "conditions": conditions,
    });
    let policy = base64(policy.to_string().as_bytes());
    let signature = sign(
        subs.post_secret_access_key.expose(),
        &date,
        subs.region(),
        &policy,
    );
    let mut fields = Vec::new();
    if let Key::Token(t) = key {
        fields.push(("key".to_string(), token_key(t, word)));
    }
    fields.extend(
        [
            ("x-amz-algorithm", ALGORITHM.to_string()),
            ("x-amz-credential", credential),
            ("x-amz-date", amz_date),
            ("policy", policy),
            ("x-amz-signature", signature),
            ("success_action_redirect", redirect.to_string()),
            ("file", word.to_string()),
        ]
        .map(|(n, v)| (n.to_string(), v)),
    );
    Form {
        action: subs.post_url(),
        fields,
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// The SigV4 signing key of `secret` for one day (`YYYYMMDD`), region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// The SigV4 signature of a POST policy (its base64 text is the string to sign), as hex.
pub fn sign(secret: &str, date: &str, region: &str, policy_b64: &str) -> String {
    let key = signing_key(secret, date, region, "s3");
    crate::ids::hex(&hmac(&key, policy_b64.as_bytes()))
}

/// Standard base64 with padding (RFC 4648): the policy's encoding. Small enough to keep
/// rather than add a dependency.
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    /// The worked example of AWS's "Example: Browser-Based Upload using HTTP POST (Using AWS
    /// Signature Version 4)" (S3 API reference): its policy, exactly as base64, the example
    /// credentials and the signature the page states.
    const AWS_POLICY_B64: &str = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
    const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const AWS_SIGNATURE: &str = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e";

    #[test]
    fn signs_the_aws_post_example() {
        assert_eq!(
            sign(AWS_SECRET, "20151229", "us-east-1", AWS_POLICY_B64),
            AWS_SIGNATURE
        );
        // And our encoder gives the example's exact base64 for its policy text.
        let policy = base64::engine::general_purpose::STANDARD
            .decode(AWS_POLICY_B64)
            .unwrap();
        assert!(policy.starts_with(b"{ \"expiration\": \"2015-12-30T12:00:00.000Z\""));
        assert_eq!(super::base64(&policy), AWS_POLICY_B64);
    }

    #[test]
    fn base64_pads_like_the_rfc() {
        // RFC 4648 section 10.
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(plain.as_bytes()), coded);
        }
    }

    fn subs() -> Subscriptions {
        let yaml = "inbox:\n  bucket: status-inbox\n  region: eu-central-1\npost_access_key_id: AKIDPOST\npost_secret_access_key: postsecret\nsmtp_host: smtp.example.com\nfrom: status@example.com\n";
        serde_yaml::from_str(yaml).unwrap()
    }

    fn policy_of(f: &Form) -> serde_json::Value {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(f.field("policy").unwrap())
            .unwrap();
        serde_json::from_slice(&raw).unwrap()
    }

    #[test]
    fn a_form_is_the_same_all_day_and_names_every_field_it_posts() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let s = subs();
        let morning = subscribe_form(
            &s,
            "https://status.example.com/",
            &["api", "web"],
            at("2026-11-26T00:00:00Z"),
        );
        let night = subscribe_form(
            &s,
            "https://status.example.com/",
            &["api", "web"],
            at("2026-11-26T23:59:59Z"),
        );
        assert_eq!(morning, night);
        let next = subscribe_form(
            &s,
            "https://status.example.com/",
            &["api", "web"],
            at("2026-11-27T00:00:00Z"),
        );
        assert_ne!(morning, next);

        assert_eq!(
            morning.action,
            "https://status-inbox.s3.eu-central-1.amazonaws.com/"
        );
        assert_eq!(
            morning.origin(),
            "https://status-inbox.s3.eu-central-1.amazonaws.com"
        );
        assert_eq!(morning.field("x-amz-date"), Some("20261126T000000Z"));
        assert_eq!(
            morning.field("x-amz-credential"),
            Some("AKIDPOST/20261126/eu-central-1/s3/aws4_request")
        );
        assert_eq!(
            morning.field("success_action_redirect"),
            Some("https://status.example.com/subscribe/sent/index.html")
        );
        assert_eq!(
            morning.fields.last().unwrap(),
            &("file".into(), "subscribe".into())
        );
        assert_eq!(morning.file(), "subscribe");
        assert!(morning.head().iter().all(|(n, _)| n != "file"));
        assert!(
            morning.field("key").is_none(),
            "the address input is the key"
        );

        let p = policy_of(&morning);
        assert_eq!(p["expiration"], "2026-11-29T00:00:00.000Z");
        let conditions = p["conditions"].as_array().unwrap();
        let has = |c: serde_json::Value| conditions.contains(&c);
        assert!(has(serde_json::json!({"bucket": "status-inbox"})));
        assert!(has(serde_json::json!(["starts-with", "$key", ""])));
        assert!(has(serde_json::json!(["content-length-range", 1, 32])));
        assert!(has(serde_json::json!([
            "starts-with",
            "$x-amz-meta-c-api",
            ""
        ])));
        assert!(has(serde_json::json!([
            "starts-with",
            "$x-amz-meta-c-web",
            ""
        ])));
        // Every posted field but the exempt ones (policy, signature, file) has a condition.
        for (name, value) in morning.head() {
            if name == "policy" || name == "x-amz-signature" {
                continue;
            }
            assert!(has(serde_json::json!({ name.as_str(): value })), "{name}");
        }
        // The signature is over the policy text, with the posting key of that day.
        assert_eq!(
            morning.field("x-amz-signature").unwrap(),
            sign(
                "postsecret",
                "20261126",
                "eu-central-1",
                morning.field("policy").unwrap()
            )
        );
    }

    #[test]
    fn token_forms_fix_their_key() {
        let s = subs();
        let now = Utc::now();
        let t = "0123456789abcdef0123456789abcdef01234567";
        for (f, word, page) in [
            (
                confirm_form(&s, "https://x.test", t, now),
                "confirm",
                "confirmed",
            ),
            (
                update_form(&s, "https://x.test", t, &["api"], now),
                "update",
                "updated",
            ),
            (
                unsubscribe_form(&s, "https://x.test", t, now),
                "unsubscribe",
                "unsubscribed",
            ),
        ] {
            assert_eq!(f.fields[0], ("key".into(), format!("t/{t}/{word}")));
            assert_eq!(f.file(), word);
            assert_eq!(
                f.field("success_action_redirect").unwrap(),
                format!("https://x.test/subscribe/{page}/index.html")
            );
            let p = policy_of(&f);
            assert!(
                p["conditions"]
                    .as_array()
                    .unwrap()
                    .contains(&serde_json::json!(["eq", "$key", format!("t/{t}/{word}")]))
            );
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("http://127.0.0.1:9000/inbox/"),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            origin("https://inbox.example.com"),
            "https://inbox.example.com"
        );
    }
}
