//! Typed YAML that reports every problem serde finds, not only the first.
//!
//! serde stops at the first error. To go on, the document is read as a `serde_yaml::Value` and
//! each error's node is repaired: an unknown key or a bad value is removed (its field falls back
//! to its default), a required field or a list item gets a stand-in, and the typed read is tried
//! again until it succeeds. What was repaired is remembered ([`Doc::touched`]) so that the checks
//! that follow say nothing more about it. Imports only `yamlpos` and `suggest`.

use crate::yamlpos::{Pos, Spans};
use serde::de::DeserializeOwned;
use serde_yaml::Value;
use std::collections::{HashMap, HashSet};

/// Rounds of repair at most: far more than a hand-written file has problems.
const MAX_ROUNDS: usize = 500;

/// How serde begins the messages that name a word to correct.
const UNKNOWN_FIELD: &str = "unknown field `";
const UNKNOWN_VARIANT: &str = "unknown variant `";

/// Bytes read over all rounds at most, the first two reads (typed, then as a value) included:
/// each round writes the whole document out and reads it again (about 150 ns a byte), so a big
/// one gets fewer rounds (a 10 KB config 25, a hostile 64 KiB file 2), and a document whose
/// aliases grow it when written out again stops early.
const MAX_REREAD: usize = 256 << 10;

/// One problem serde found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The node it is about: `monitors[1].interval`; for an unknown key the key's own path
    /// (`site.titel`), for a missing field the mapping's (`site`).
    pub path: String,
    /// What it is about: a value, an unknown key, or a field missing from a mapping.
    pub what: About,
    pub pos: Pos,
    /// serde's message, with a "did you mean" where a near name exists.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum About {
    Value,
    UnknownKey,
    MissingField,
}

/// Positions of a document's nodes, the document as written, and the nodes whose problems were
/// already reported.
#[derive(Debug, Default)]
pub struct Doc {
    spans: Spans,
    value: Value,
    touched: HashSet<String>,
}

impl Doc {
    /// Where the value at `path` starts (see [`Spans::at`]).
    pub fn at(&self, path: &str) -> Pos {
        self.spans.at(path)
    }

    /// Where the key of `path` is written (see [`Spans::key`]).
    pub fn key(&self, path: &str) -> Pos {
        self.spans.key(path)
    }

    /// Whether the node at `path`, or one around it, had a problem already reported (it was
    /// removed or replaced by a stand-in): later checks of it would only repeat it, or judge
    /// the stand-in.
    pub fn touched(&self, path: &str) -> bool {
        let mut p = path;
        loop {
            if self.touched.contains(p) {
                return true;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return false,
            }
        }
    }

    /// The string written at `path`, if it is one (to name an entity by its id).
    pub fn text(&self, path: &str) -> Option<&str> {
        node(&self.value, &segments(path)?)?.as_str()
    }
}

/// What [`read`] found.
pub struct Read<T> {
    /// The document as far as it could be read: `None` when no repair made it readable.
    pub value: Option<T>,
    /// In the order found; callers sort by position.
    pub problems: Vec<Found>,
    pub doc: Doc,
}

/// Read `text` as a `T`, with every problem. `Err` is a syntax error, nothing can be read: with
/// the typed read's first error when it came before (serde_yaml reads as it parses, so it can
/// meet an unknown key before a broken line further down). Line numbers are shifted by
/// `line_offset` (front matter starts below a `---` line).
pub fn read<T: DeserializeOwned>(
    text: &str,
    line_offset: usize,
) -> Result<Read<T>, Vec<serde_yaml::Error>> {
    // Positions are indexed only once serde_yaml has read the document (as a `T` or a value):
    // its depth limit then holds, and the indexer's recursion stays shallow.
    let spans = || Spans::index(text).with_line_offset(line_offset);
    // The usual case, a good document, costs one typed read.
    let first = match serde_yaml::from_str::<T>(text) {
        Ok(value) => {
            return Ok(Read {
                value: Some(value),
                problems: Vec::new(),
                doc: Doc {
                    spans: spans(),
                    ..Doc::default()
                },
            });
        }
        Err(e) => e,
    };
    let root: Value = match serde_yaml::from_str(text) {
        // A list or a text where a mapping belongs: nothing to repair.
        Ok(v) if !matches!(v, Value::Mapping(_)) => return Err(vec![first]),
        Ok(v) => v,
        // A syntax error, a document nested too deep, or one serde cannot hold as a value at
        // all (duplicate keys).
        Err(syntax) if before(&first, &syntax) => return Err(vec![first, syntax]),
        Err(syntax) => return Err(vec![syntax]),
    };
    let mut repair = Repair {
        doc: Doc {
            spans: spans(),
            value: root.clone(),
            touched: HashSet::new(),
        },
        current: root,
        problems: Vec::new(),
        stand_ins: HashMap::new(),
        tries: HashMap::new(),
    };
    let value = repair.run::<T>(2 * text.len());
    Ok(Read {
        value,
        problems: repair.problems,
        doc: repair.doc,
    })
}

/// Whether the typed read's error `first` is a problem of its own before the syntax error: it is
/// above where the parser failed, and not about the node that is broken (a `[` never closed is
/// "invalid type: sequence" to the typed read).
fn before(first: &serde_yaml::Error, syntax: &serde_yaml::Error) -> bool {
    let Some(at) = first.location().map(|l| (l.line(), l.column())) else {
        return false;
    };
    // libyaml names the failure's mark, then the mark of what it was parsing.
    let text = syntax.to_string();
    let marks: Vec<(usize, usize)> = text
        .match_indices("line ")
        .filter_map(|(i, _)| {
            let rest = &text[i + 5..];
            let (line, rest) = rest.split_once(" column ")?;
            let col: String = rest.chars().take_while(char::is_ascii_digit).collect();
            Some((line.parse().ok()?, col.parse().ok()?))
        })
        .collect();
    marks.first().is_some_and(|m| at < *m) && !marks.contains(&at)
}

struct Repair {
    doc: Doc,
    /// The document with the repairs so far.
    current: Value,
    problems: Vec<Found>,
    /// For a removed value: what to put there if its field turns out to be required.
    stand_ins: HashMap<String, Value>,
    /// Stand-ins tried per path, to give up on one that never fits.
    tries: HashMap<String, usize>,
}

impl Repair {
    fn run<T: DeserializeOwned>(&mut self, read_already: usize) -> Option<T> {
        let mut reread = read_already;
        for round in 0..MAX_ROUNDS {
            // Read from text, not from the value: serde_yaml names the path only there.
            let text = serde_yaml::to_string(&self.current).ok()?;
            reread += text.len();
            if round > 0 && reread > MAX_REREAD {
                break;
            }
            let err = match serde_yaml::from_str::<T>(&text) {
                Ok(v) => return Some(v),
                Err(e) => e,
            };
            let (path, message) = split(&err, &self.current);
            if !self.step(path, message) {
                return None;
            }
        }
        let n = self.problems.len();
        self.report(
            "",
            About::Value,
            format!("stopped looking after {n} problems: fix them, and check again for more"),
        );
        None
    }

    fn report(&mut self, path: &str, what: About, message: String) {
        let pos = match what {
            About::UnknownKey => self.doc.key(path),
            About::Value | About::MissingField => self.doc.at(path),
        };
        self.problems.push(Found {
            path: path.to_string(),
            what,
            pos,
            message,
        });
    }

    /// Record and repair one error; false when it cannot be repaired.
    fn step(&mut self, path: String, message: String) -> bool {
        if let Some(field) = quoted(&message, UNKNOWN_FIELD) {
            let at = child(&path, field);
            if !self.doc.touched(&at) {
                let hinted = with_hint(&message, UNKNOWN_FIELD, field);
                self.report(&at, About::UnknownKey, hinted);
                // `titel` for `title`: the missing `title` is the same problem, said already.
                if let Some(meant) = crate::suggest::closest(field, &expected(&message)) {
                    let meant = child(&path, meant);
                    if segments(&meant).is_some_and(|s| node(&self.current, &s).is_none()) {
                        self.doc.touched.insert(meant);
                    }
                }
            }
            self.doc.touched.insert(at.clone());
            return remove(&mut self.current, &at);
        }
        if let Some(field) = quoted(&message, "missing field `") {
            let at = child(&path, field);
            if !self.doc.touched(&at) {
                self.report(&path, About::MissingField, message.clone());
                self.doc.touched.insert(at.clone());
            }
            let stand_in = self
                .stand_ins
                .remove(&at)
                .unwrap_or_else(|| Value::String(String::new()));
            return self.stand_in(&at, stand_in);
        }
        if path.is_empty() {
            // The whole document is of the wrong kind (a list where a mapping belongs).
            if !self.doc.touched("") {
                self.report("", About::Value, message);
            }
            return false;
        }
        let touched = self.doc.touched(&path);
        if !touched {
            let message = match quoted(&message, UNKNOWN_VARIANT) {
                Some(v) => with_hint(&message, UNKNOWN_VARIANT, v),
                None => message.clone(),
            };
            self.report(&path, About::Value, message);
            self.doc.touched.insert(path.clone());
        }
        let stand_in = stand_in_for(&message);
        let segs = segments(&path).unwrap_or_default();
        let in_list = matches!(segs.last(), Some(Seg::Index(_)));
        if in_list || touched {
            // A list item cannot go (the items after it would move), and a stand-in that does
            // not fit gets another one.
            self.stand_in(
                &path,
                stand_in.unwrap_or_else(|| Value::String(String::new())),
            )
        } else {
            if let Some(s) = stand_in {
                self.stand_ins.insert(path.clone(), s);
            }
            remove(&mut self.current, &path)
        }
    }

    fn stand_in(&mut self, path: &str, value: Value) -> bool {
        let tries = self.tries.entry(path.to_string()).or_default();
        *tries += 1;
        *tries <= 3 && set(&mut self.current, path, value)
    }
}

/// (path, message) of a serde_yaml error on the repaired document: serde_yaml writes
/// `path: message at line L column C`; the position is of the repaired text, so it goes.
fn split(err: &serde_yaml::Error, doc: &Value) -> (String, String) {
    let mut msg = err.to_string();
    if let Some(loc) = err.location() {
        let suffix = format!(" at line {} column {}", loc.line(), loc.column());
        if let Some(i) = msg.rfind(&suffix) {
            msg.replace_range(i..i + suffix.len(), "");
        }
    }
    // The path is the longest prefix before ": " that names a node of the document.
    let mut best = None;
    for (i, _) in msg.match_indices(": ") {
        let p = &msg[..i];
        if segments(p).is_some_and(|s| node(doc, &s).is_some()) {
            best = Some(i);
        }
    }
    match best {
        Some(i) => (msg[..i].to_string(), msg[i + 2..].to_string()),
        None => (String::new(), msg),
    }
}

/// The text between `prefix` and the next backtick, if `msg` starts with `prefix`.
fn quoted<'a>(msg: &'a str, prefix: &str) -> Option<&'a str> {
    msg.strip_prefix(prefix)?.split('`').next()
}

/// The backticked names after "expected" in a serde message: `expected one of `a`, `b``.
fn expected(msg: &str) -> Vec<&str> {
    match msg.find("expected") {
        Some(i) => msg[i..].split('`').skip(1).step_by(2).collect(),
        None => Vec::new(),
    }
}

/// serde's "unknown field `x`, expected one of ..." (`prefix` and then `word`) with a "did you
/// mean" after the name.
fn with_hint(msg: &str, prefix: &str, word: &str) -> String {
    let name_end = prefix.len() + word.len() + 1;
    if word.is_empty() || !msg.is_char_boundary(name_end) {
        return msg.to_string();
    }
    match crate::suggest::closest(word, &expected(msg)) {
        Some(s) => format!(
            "{} (did you mean {s:?}?){}",
            &msg[..name_end],
            &msg[name_end..]
        ),
        None => msg.to_string(),
    }
}

/// A value of the type a message says was expected, when it says.
fn stand_in_for(msg: &str) -> Option<Value> {
    if msg.starts_with(UNKNOWN_VARIANT) {
        return expected(msg).first().map(|v| Value::String(v.to_string()));
    }
    let (_, want) = msg.rsplit_once(", expected ")?;
    let v = if want.contains("string") {
        Value::String(String::new())
    } else if want.contains("struct") || want.contains("map") {
        Value::Mapping(Default::default())
    } else if want.contains("sequence") {
        Value::Sequence(Vec::new())
    } else if want.contains("bool") {
        Value::Bool(false)
    } else if want.contains("f32") || want.contains("f64") || want.contains("float") {
        Value::Number(0.0.into())
    } else if want.contains("integer")
        || want
            .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
            .starts_with(['u', 'i'])
    {
        Value::Number(0.into())
    } else {
        return None;
    };
    Some(v)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// `monitors[1].headers.x` -> [monitors, 1, headers, x]; the root is "".
fn segments(path: &str) -> Option<Vec<Seg>> {
    let mut out = Vec::new();
    if path.is_empty() {
        return Some(out);
    }
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key.to_string()));
        } else if out.is_empty() && rest.is_empty() {
            return None;
        }
        while let Some(r) = rest.strip_prefix('[') {
            let (n, after) = r.split_once(']')?;
            out.push(Seg::Index(n.parse().ok()?));
            rest = after;
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// A mapping key as serde_yaml names it in a path.
fn key_is(k: &Value, name: &str) -> bool {
    match k {
        Value::String(s) => s == name,
        Value::Number(n) => n.to_string() == name,
        Value::Bool(b) => b.to_string() == name,
        _ => false,
    }
}

fn node<'a>(mut v: &'a Value, segs: &[Seg]) -> Option<&'a Value> {
    for s in segs {
        v = match (s, v) {
            (Seg::Key(k), Value::Mapping(m)) => m.iter().find(|(key, _)| key_is(key, k))?.1,
            (Seg::Index(i), Value::Sequence(items)) => items.get(*i)?,
            (_, Value::Tagged(t)) => node(&t.value, std::slice::from_ref(s))?,
            _ => return None,
        };
    }
    Some(v)
}

fn node_mut<'a>(mut v: &'a mut Value, segs: &[Seg]) -> Option<&'a mut Value> {
    for s in segs {
        if let Value::Tagged(t) = v {
            v = &mut t.value;
        }
        v = match (s, v) {
            (Seg::Key(k), Value::Mapping(m)) => m.iter_mut().find(|(key, _)| key_is(key, k))?.1,
            (Seg::Index(i), Value::Sequence(items)) => items.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Remove the mapping entry at `path`; false if there is none.
fn remove(doc: &mut Value, path: &str) -> bool {
    let Some(segs) = segments(path) else {
        return false;
    };
    let Some((Seg::Key(k), parent)) = segs.split_last() else {
        return false;
    };
    match node_mut(doc, parent) {
        Some(Value::Mapping(m)) => {
            let before = m.len();
            m.retain(|key, _| !key_is(key, k));
            m.len() < before
        }
        _ => false,
    }
}

/// Put `value` at `path` (a list item, or a mapping entry, added if missing).
fn set(doc: &mut Value, path: &str, value: Value) -> bool {
    let Some(segs) = segments(path) else {
        return false;
    };
    let Some((last, parent)) = segs.split_last() else {
        return false;
    };
    match (last, node_mut(doc, parent)) {
        (Seg::Index(i), Some(Value::Sequence(items))) if *i < items.len() => {
            items[*i] = value;
            true
        }
        (Seg::Key(k), Some(Value::Mapping(m))) => {
            match m.iter_mut().find(|(key, _)| key_is(key, k)) {
                Some((_, v)) => *v = value,
                None => {
                    m.insert(Value::String(k.clone()), value);
                }
            }
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Top {
        name: String,
        #[serde(default)]
        count: u32,
        #[serde(default)]
        items: Vec<Item>,
        #[serde(default)]
        tags: Vec<Kind>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        id: String,
        kind: Kind,
        #[serde(default)]
        flag: bool,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Http,
        Tcp,
    }

    fn problems(text: &str) -> (bool, Vec<String>) {
        let r = read::<Top>(text, 0).unwrap();
        let mut p: Vec<_> = r.problems.clone();
        p.sort_by_key(|f| (f.pos.line, f.pos.col));
        (
            r.value.is_some(),
            p.iter()
                .map(|f| format!("{}:{} {}: {}", f.pos.line, f.pos.col, f.path, f.message))
                .collect(),
        )
    }

    #[test]
    fn every_problem_is_found_and_the_rest_is_read() {
        let (ok, p) = problems(
            "name: x\nnmae: y\ncount: lots\nitems:\n  - id: a\n    kind: htp\n    flag: maybe\n  - id: b\n    kind: tcp\n    extra: 1\ntags: [http, udp]\n",
        );
        assert!(ok, "{p:?}");
        assert_eq!(p.len(), 6, "{p:#?}");
        assert!(
            p[0].starts_with(
                "2:1 nmae: unknown field `nmae` (did you mean \"name\"?), expected one of `name`"
            ),
            "{p:?}"
        );
        assert!(
            p[1].starts_with("3:8 count: invalid type: string \"lots\", expected u32"),
            "{p:?}"
        );
        assert!(p[2].starts_with("6:11 items[0].kind: unknown variant `htp` (did you mean \"http\"?), expected `http` or `tcp`"), "{p:?}");
        assert!(
            p[3].starts_with(
                "7:11 items[0].flag: invalid type: string \"maybe\", expected a boolean"
            ),
            "{p:?}"
        );
        assert!(
            p[4].starts_with("10:5 items[1].extra: unknown field `extra`"),
            "{p:?}"
        );
        assert!(
            p[5].starts_with("11:14 tags[1]: unknown variant `udp`"),
            "{p:?}"
        );
    }

    #[test]
    fn required_fields_get_stand_ins_and_later_checks_skip_them() {
        let r = read::<Top>("count: 3\nitems:\n  - kind: nope\n  - 7\n", 1).unwrap();
        assert!(r.value.is_some());
        let msgs: Vec<_> = r
            .problems
            .iter()
            .map(|f| (f.path.as_str(), f.pos.line, f.message.as_str()))
            .collect();
        assert!(msgs.contains(&("", 2, "missing field `name`")), "{msgs:?}");
        assert!(
            msgs.iter()
                .any(|(p, l, m)| *p == "items[0]" && *l == 4 && m.contains("missing field `id`")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|(p, _, m)| *p == "items[0].kind" && m.contains("unknown variant `nope`")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|(p, _, m)| *p == "items[1]" && m.contains("invalid type: integer `7`")),
            "{msgs:?}"
        );
        assert_eq!(r.problems.len(), 4, "stand-ins are not reported: {msgs:?}");
        assert!(r.doc.touched("name") && r.doc.touched("items[1].id") && !r.doc.touched("count"));
        assert_eq!(r.doc.text("items[0].kind"), Some("nope"));
    }

    #[test]
    fn a_misspelt_required_field_is_one_problem() {
        let (ok, p) = problems("naem: x\n");
        assert!(ok);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("(did you mean \"name\"?)"), "{p:?}");
    }

    #[test]
    fn syntax_errors_stay_errors_and_good_documents_cost_one_read() {
        let e = read::<Top>("name: [x\n", 0).err().unwrap();
        assert_eq!(e.len(), 1, "{e:?}");
        // An unknown key before a broken line: both are said.
        let e = read::<Top>("name: x\nnmae: y\ncount: [1\n", 0)
            .err()
            .unwrap();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].to_string().starts_with("unknown field `nmae`"),
            "{e:?}"
        );
        let r = read::<Top>("name: x\n", 0).unwrap();
        assert!(r.value.is_some() && r.problems.is_empty());
        // A list where a mapping belongs: serde's one error.
        assert_eq!(read::<Top>("- a\n", 0).err().map(|e| e.len()), Some(1));
    }

    #[test]
    fn a_document_with_endless_problems_stops_and_says_so() {
        let items: String = (0..600)
            .map(|i| format!("  - {{id: a{i}, kind: x}}\n"))
            .collect();
        let r = read::<Top>(&format!("name: x\nitems:\n{items}"), 0).unwrap();
        assert!(r.value.is_none());
        let last = r.problems.last().unwrap();
        assert!(
            last.message.starts_with("stopped looking after"),
            "{last:?}"
        );
        assert!(r.problems.len() > 5, "{}", r.problems.len());
    }

    #[test]
    fn deep_block_nesting_is_an_error_not_a_stack_overflow() {
        // Brackets are counted before parsing (yamlpos::too_deep); block nesting is not.
        let deep = format!("name: x\nitems:\n{}\n", "- ".repeat(20_000));
        let e = read::<Top>(&deep, 0).err().unwrap();
        assert!(
            e.iter().any(|e| e.to_string().contains("recursion limit")),
            "{e:?}"
        );
    }

    #[test]
    fn paths_parse() {
        assert_eq!(
            segments("a[1].b"),
            Some(vec![
                Seg::Key("a".into()),
                Seg::Index(1),
                Seg::Key("b".into())
            ])
        );
        assert_eq!(segments(""), Some(vec![]));
        assert_eq!(segments("a[x]"), None);
    }
}
