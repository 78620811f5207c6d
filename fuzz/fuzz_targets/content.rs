//! Incident and maintenance files: front matter split, YAML front matter, `## time · status`
//! sections, and the Markdown-to-HTML rendering of each update.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos::content::{
    Kind, ParseContext, SourceFile, parse_incident, parse_maintenance, render_markdown,
};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;

fn ctx() -> &'static ParseContext {
    static CTX: OnceLock<ParseContext> = OnceLock::new();
    CTX.get_or_init(|| ParseContext {
        // A zone with DST, so local times can be skipped or ambiguous.
        tz: chrono_tz::Europe::Berlin,
        components: ["platform", "api", "dashboard", "database", "website"]
            .into_iter()
            .map(String::from)
            .collect::<HashSet<_>>(),
        // The limits as shipped: a file over them is a problem, as in the daemon.
        limits: Default::default(),
    })
}

fn source(kind: Kind, text: &str) -> SourceFile {
    SourceFile {
        kind,
        id: "fuzz".to_string(),
        path: PathBuf::from(format!("content/{}/fuzz.md", kind.dir())),
        text: text.to_string(),
        loaded: true,
        hash: String::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_incident(&source(Kind::Incident, text), ctx());
    let _ = parse_maintenance(&source(Kind::Maintenance, text), ctx());
    // The renderer on its own too, so Markdown is exercised even when the front matter is wrong.
    let body = text.find("\n---").map_or(text, |i| &text[i + 4..]);
    let _ = render_markdown(body);
});
