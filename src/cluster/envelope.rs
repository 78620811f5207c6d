//! Signed objects: `{"kind": .., "body": .., "mac": hex}` where `mac` is HMAC-SHA256 of the
//! kind, a newline and the body's JSON, keyed with `cluster.secret`. Pure.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::Sha256;

#[derive(Serialize, Deserialize)]
struct Sealed {
    kind: String,
    body: Box<serde_json::value::RawValue>,
    mac: String,
}

/// Why an object was refused. Says nothing of its content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a signed object")]
    Shape,
    #[error("a {0:?} object where a {1:?} was expected")]
    Kind(String, String),
    #[error("its signature does not match (planted, altered, or signed with another secret)")]
    Signature,
    #[error("its body does not read: {0}")]
    Body(String),
}

fn mac(secret: &str, kind: &str, body: &str) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    m.update(kind.as_bytes());
    m.update(b"\n");
    m.update(body.as_bytes());
    m
}

/// `body` as a signed object of `kind`.
pub fn seal<T: Serialize>(secret: &str, kind: &str, body: &T) -> Vec<u8> {
    let json = serde_json::to_string(body).expect("plain data serializes");
    let tag = crate::ids::hex(&mac(secret, kind, &json).finalize().into_bytes());
    let raw = serde_json::value::RawValue::from_string(json).expect("valid JSON");
    serde_json::to_vec(&Sealed {
        kind: kind.to_string(),
        body: raw,
        mac: tag,
    })
    .expect("plain data serializes")
}

/// The body of a signed object of `kind`, if its signature holds.
pub fn open<T: DeserializeOwned>(secret: &str, kind: &str, bytes: &[u8]) -> Result<T, Refused> {
    let sealed: Sealed = serde_json::from_slice(bytes).map_err(|_| Refused::Shape)?;
    if sealed.kind != kind {
        return Err(Refused::Kind(sealed.kind, kind.to_string()));
    }
    let tag = crate::ids::unhex(&sealed.mac).ok_or(Refused::Signature)?;
    mac(secret, &sealed.kind, sealed.body.get())
        .verify_slice(&tag)
        .map_err(|_| Refused::Signature)?;
    serde_json::from_str(sealed.body.get()).map_err(|e| Refused::Body(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Body {
        region: String,
        seq: u64,
    }

    #[test]
    fn a_sealed_object_opens_only_with_its_secret_and_kind_and_untouched() {
        let secret = "0123456789abcdef-cluster";
        let body = Body {
            region: "eu-west".into(),
            seq: 7,
        };
        let bytes = seal(secret, "result", &body);
        assert_eq!(open::<Body>(secret, "result", &bytes), Ok(body));
        assert_eq!(
            open::<Body>("another-secret-of-16+", "result", &bytes),
            Err(Refused::Signature)
        );
        assert!(matches!(
            open::<Body>(secret, "lease", &bytes),
            Err(Refused::Kind(..))
        ));
        let altered = String::from_utf8(bytes.clone())
            .unwrap()
            .replace("\"seq\":7", "\"seq\":8");
        assert_eq!(
            open::<Body>(secret, "result", altered.as_bytes()),
            Err(Refused::Signature)
        );
        assert_eq!(
            open::<Body>(secret, "result", b"{\"region\":\"eu-west\",\"seq\":9}"),
            Err(Refused::Shape)
        );
    }
}
