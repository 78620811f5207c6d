//! Strings from the config with `${VAR}` replaced by the environment variable `VAR`.
//!
//! Expansion happens per string value after YAML parsing, so a secret containing `#`, `:` or quotes
//! cannot change the YAML structure. `$${` writes a literal `${`. A missing variable is an error.
//! [`Secret`] is the same but never shows its value in `Debug` output, logs or errors.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::ops::Deref;

pub fn expand(s: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix("${") {
            out.push_str("${");
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = inner.find('}').ok_or_else(|| {
                format!("unclosed \"${{\" in {s:?}: write ${{NAME}}, or $${{ for a literal \"${{\"")
            })?;
            let name = &inner[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "invalid environment variable name {name:?}: use letters, digits and _ as in ${{API_TOKEN}}"
                ));
            }
            let value = lookup(name).ok_or_else(|| {
                format!("environment variable {name} is not set (referenced as ${{{name}}}); export it or remove the reference")
            })?;
            out.push_str(&value);
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn expand_env(s: &str) -> Result<String, String> {
    expand(s, |name| std::env::var(name).ok())
}

/// Deserialize a string with `${VAR}` expanded, then `then` applied. The work happens inside the
/// deserializer's visit, so an error names the value's own path and position
/// (`monitors[1].url`), not the mapping around it.
pub(super) fn expanded<'de, D, T>(
    d: D,
    then: impl FnOnce(String) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct Visit<F>(F);
    impl<'de, T, F: FnOnce(String) -> Result<T, String>> serde::de::Visitor<'de> for Visit<F> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
            expand_env(v).and_then(self.0).map_err(E::custom)
        }
    }
    d.deserialize_str(Visit(then))
}

/// A config string, environment references expanded.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Text(String);

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(s.to_string())
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        expanded(d, |s| Ok(Text(s)))
    }
}

/// A private config string (monitor URLs, headers, tokens, passwords). No `Display`: code that
/// needs the value calls [`Secret::expose`], which is easy to grep for.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The error text of a failed expansion names the variable, never a value.
        expanded(d, |s| Ok(Secret(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cr#t: \"x\"".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_and_escapes() {
        assert_eq!(
            expand("Bearer ${TOKEN}", env).unwrap(),
            "Bearer s3cr#t: \"x\""
        );
        assert_eq!(expand("a${EMPTY}b", env).unwrap(), "ab");
        assert_eq!(
            expand("cost $5 and $${literal}", env).unwrap(),
            "cost $5 and ${literal}"
        );
        assert_eq!(expand("plain", env).unwrap(), "plain");
    }

    #[test]
    fn errors_name_the_variable() {
        let e = expand("${MISSING}", env).unwrap_err();
        assert!(e.contains("MISSING is not set"), "{e}");
        assert!(expand("${oops", env).unwrap_err().contains("unclosed"));
        assert!(
            expand("${A-B}", env)
                .unwrap_err()
                .contains("invalid environment variable name")
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret("hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }
}
