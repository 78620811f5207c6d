//! Diagnostics shared by the config, content and admin code: a problem located at
//! `file:line:col`, with the entity it is about and the fix, and the conversion of YAML
//! parser errors into such problems. Depends on nothing in the crate but `yamlpos`.

use crate::yamlpos::Pos;
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a config or content file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub pos: Pos,
    /// What the problem is about: `monitor "api"`, `site.base_url`, `incident file`.
    pub entity: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.pos.line,
            self.pos.col,
            self.entity,
            self.message
        )
    }
}

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// serde_yaml appends " at line L column C" to its messages; we print the position ourselves.
/// Positions further on (", while parsing a flow sequence at line 1 column 8") are shifted by
/// `line_offset`, so that they count the file's lines too.
fn strip_and_shift(msg: &str, line_offset: usize) -> String {
    let stripped = strip_position(msg);
    if line_offset == 0 {
        return stripped;
    }
    let mut out = String::with_capacity(stripped.len());
    let mut rest = stripped.as_str();
    while let Some(i) = rest.find(" at line ") {
        let after = &rest[i + " at line ".len()..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        out.push_str(&rest[..i + " at line ".len()]);
        match after[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + line_offset).to_string()),
            Err(_) => out.push_str(&after[..digits]),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

fn strip_position(msg: &str) -> String {
    let Some(at) = msg.find(" at line ") else {
        return msg.to_string();
    };
    let rest = &msg[at + " at line ".len()..];
    let end = rest
        .find(" column ")
        .map(|i| {
            let after = &rest[i + " column ".len()..];
            i + " column ".len()
                + after
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(after.len())
        })
        .unwrap_or(0);
    format!("{}{}", &msg[..at], &rest[end..])
}

/// serde_yaml places errors raised inside a value's own `Deserialize` (a bad time zone, a missing
/// environment variable) at the enclosing mapping. When the message quotes the offending text,
/// point at its first occurrence from there on instead.
fn refine(text: &str, pos: Pos, message: &str) -> Pos {
    let needle = match (message.find("${"), message.find('"')) {
        (Some(i), _) => message[i..].split_inclusive('}').next(),
        (None, Some(i)) => message[i + 1..].split('"').next(),
        _ => None,
    };
    let Some(needle) = needle.filter(|n| !n.is_empty()) else {
        return pos;
    };
    let start: usize = text
        .split_inclusive('\n')
        .take(pos.line.saturating_sub(1))
        .map(str::len)
        .sum();
    let Some(found) = text
        .get(start..)
        .and_then(|rest| rest.find(needle))
        .map(|i| start + i)
    else {
        return pos;
    };
    let line = text[..found].matches('\n').count() + 1;
    let col = text[..found].rfind('\n').map_or(found, |nl| found - nl - 1) + 1;
    Pos { line, col }
}

/// The problem with YAML nested deeper than [`crate::yamlpos::MAX_FLOW_DEPTH`], if it is.
pub fn too_deep_problem(
    file: &Path,
    text: &str,
    line_offset: usize,
    entity: &str,
) -> Option<Problem> {
    let pos = crate::yamlpos::too_deep(text)?;
    Some(Problem {
        file: file.to_path_buf(),
        pos: Pos {
            line: pos.line + line_offset,
            col: pos.col,
        },
        entity: entity.to_string(),
        message: format!(
            "brackets nested more than {} deep: YAML this deep is refused",
            crate::yamlpos::MAX_FLOW_DEPTH
        ),
    })
}

/// Turn a serde_yaml error on `text` into a located problem. serde_yaml prefixes the path
/// (`components[1]: unknown field ...`); we keep it as the entity.
pub fn yaml_problem(
    file: &Path,
    text: &str,
    err: &serde_yaml::Error,
    line_offset: usize,
    fallback: &str,
) -> Problem {
    let pos = err
        .location()
        .map(|l| Pos {
            line: l.line(),
            col: l.column(),
        })
        .unwrap_or(Pos { line: 1, col: 1 });
    let msg = strip_and_shift(&err.to_string(), line_offset);
    let pos = refine(text, pos, &msg);
    let pos = Pos {
        line: pos.line + line_offset,
        col: pos.col,
    };
    let (entity, message) = match msg.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') && !path.is_empty() => {
            (path.to_string(), rest.to_string())
        }
        _ => (fallback.to_string(), msg),
    };
    let message = if message.starts_with("unknown field") {
        format!("{message} (check the spelling; every field is documented in config.example.yaml)")
    } else {
        message
    };
    Problem {
        file: file.to_path_buf(),
        pos,
        entity,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_serde_yaml_positions() {
        assert_eq!(
            strip_position("invalid type: string at line 3 column 7"),
            "invalid type: string"
        );
        assert_eq!(
            strip_position(
                "did not find expected key at line 3 column 7, while parsing a block mapping"
            ),
            "did not find expected key, while parsing a block mapping"
        );
        assert_eq!(strip_position("no position"), "no position");
        assert_eq!(
            strip_and_shift(
                "did not find expected ',' or ']' at line 2 column 1, while parsing a flow sequence at line 1 column 8",
                1
            ),
            "did not find expected ',' or ']', while parsing a flow sequence at line 2 column 8"
        );
    }
}
