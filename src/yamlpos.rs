//! Where things are in a YAML document, for error messages.
//!
//! serde gives us typed values but no positions, so semantic errors ("unknown component") would
//! lose their line. This walks the same text with a marked event parser and records, for every
//! node, the line and column where it starts, keyed by its path (`components[2].id`).

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Line and column, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// How deep flow collections (`[`, `{`) may nest. The YAML parser takes time growing with the
/// square of the nesting (64 KiB of `[` took 2 s), and refuses more than 128 levels anyway, so
/// deeper text is refused before it is parsed.
pub const MAX_FLOW_DEPTH: usize = 128;

/// Where flow nesting first goes deeper than [`MAX_FLOW_DEPTH`], counting every bracket (also
/// in strings and comments: a document needs more than 128 unclosed ones there to be refused).
pub fn too_deep(text: &str) -> Option<Pos> {
    let mut depth = 0usize;
    let (mut line, mut col) = (1, 0);
    for c in text.chars() {
        col += 1;
        match c {
            '\n' => (line, col) = (line + 1, 0),
            '[' | '{' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Some(Pos { line, col });
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Positions of nodes (values) and of mapping keys by path.
#[derive(Debug, Default)]
pub struct Spans {
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
    /// Added to every line: front matter starts below the `---` line of a Markdown file.
    line_offset: usize,
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

struct Recorder {
    stack: Vec<Frame>,
    spans: Spans,
}

fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Recorder {
    /// Path of the node that starts now, or `None` when the event is a mapping key.
    fn place(&mut self, scalar: Option<&str>, pos: Pos) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                Some(p)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                Some(k) => Some(child(path, &k)),
                None => {
                    // A key. Complex (non-scalar) keys are not used by Pharos; record them as "?".
                    let k = scalar.unwrap_or("?").to_string();
                    self.spans.keys.insert(child(path, &k), pos);
                    // A block mapping's start event is marked after its first key; point at the key.
                    if let Some(start) = self.spans.values.get_mut(path.as_str())
                        && (start.line, start.col) > (pos.line, pos.col)
                    {
                        *start = pos;
                    }
                    *key = Some(k);
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Recorder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos {
            line: mark.line(),
            // yaml-rust2 columns are 0-based in practice (its docs say 1-based).
            col: mark.col() + 1,
        };
        match ev {
            Event::Scalar(value, ..) => {
                if let Some(path) = self.place(Some(&value), pos) {
                    self.spans.values.entry(path).or_insert(pos);
                }
            }
            Event::Alias(_) => {
                if let Some(path) = self.place(None, pos) {
                    self.spans.values.entry(path).or_insert(pos);
                }
            }
            Event::MappingStart(..) => {
                let path = self.place(None, pos).unwrap_or_default();
                self.spans.values.entry(path.clone()).or_insert(pos);
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.place(None, pos).unwrap_or_default();
                self.spans.values.entry(path.clone()).or_insert(pos);
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

impl Spans {
    /// Index `text`. Invalid YAML gives an empty index (serde reports the syntax error itself).
    pub fn index(text: &str) -> Spans {
        let mut rec = Recorder {
            stack: Vec::new(),
            spans: Spans::default(),
        };
        let _ = Parser::new_from_str(text).load(&mut rec, false);
        rec.spans
    }

    pub fn with_line_offset(mut self, offset: usize) -> Spans {
        self.line_offset = offset;
        self
    }

    fn shift(&self, p: Pos) -> Pos {
        Pos {
            line: p.line + self.line_offset,
            col: p.col,
        }
    }

    /// Where the value at `path` starts; falls back to its key, then to the nearest ancestor,
    /// then to the top of the document.
    pub fn at(&self, path: &str) -> Pos {
        let mut p = path;
        loop {
            if let Some(pos) = self.values.get(p).or_else(|| self.keys.get(p)) {
                return self.shift(*pos);
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None if !p.is_empty() => p = "",
                None => {
                    return self.shift(Pos { line: 1, col: 1 });
                }
            }
        }
    }

    /// Where the key of `path` is written (`interval:`), falling back like [`Spans::at`].
    pub fn key(&self, path: &str) -> Pos {
        match self.keys.get(path) {
            Some(pos) => self.shift(*pos),
            None => self.at(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_flow_nesting_deeper_than_the_limit() {
        assert_eq!(too_deep("a: [1, {b: [2]}]\n"), None);
        let ok = format!(
            "a: {}{}\n",
            "[".repeat(MAX_FLOW_DEPTH),
            "]".repeat(MAX_FLOW_DEPTH)
        );
        assert_eq!(too_deep(&ok), None);
        let deep = format!("a: 1\nb: {}\n", "[".repeat(40_000));
        assert_eq!(
            too_deep(&deep),
            Some(Pos {
                line: 2,
                col: 4 + MAX_FLOW_DEPTH
            })
        );
        // Closing brackets never go below zero.
        assert_eq!(too_deep(&format!("{}[[", "]".repeat(1000))), None);
    }

    #[test]
    fn paths_map_to_lines_and_columns() {
        let text = "site:\n  title: Hi\ncomponents:\n  - id: api\n    name: API\n  - id: web\n    name: \"Web\"\n";
        let s = Spans::index(text);
        assert_eq!(s.at("site.title"), Pos { line: 2, col: 10 });
        assert_eq!(s.key("site.title"), Pos { line: 2, col: 3 });
        assert_eq!(s.at("components[1].name"), Pos { line: 7, col: 11 });
        assert_eq!(s.at("components[1]"), Pos { line: 6, col: 5 });
        // Missing paths fall back to the closest ancestor that exists.
        assert_eq!(s.at("components[1].group"), Pos { line: 6, col: 5 });
        assert_eq!(s.at("nothing.here"), Pos { line: 1, col: 1 });
    }

    #[test]
    fn flow_style_and_offsets() {
        let s = Spans::index("a: {b: [1, 2, {c: 3}]}\n").with_line_offset(1);
        assert_eq!(s.at("a.b[2].c"), Pos { line: 2, col: 19 });
    }
}
