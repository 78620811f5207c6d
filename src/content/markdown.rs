//! Markdown to safe HTML: pulldown-cmark, then ammonia's allowlist (no script, no event handlers,
//! no `javascript:` URLs, no style). Links get `rel="noopener noreferrer nofollow"`.
//!
//! Most incident text has no raw HTML, images, task lists or unusual links. For that text the
//! parser's own output is already safe (it escapes all text and attributes), so it is written
//! directly, with link attributes added here; ammonia (an HTML parse and re-serialization, most
//! of the cost of importing an incident) runs only on text that has one of those.

use pulldown_cmark::{Alignment, CowStr, Event, Options, Parser, Tag, html};
use std::collections::HashSet;
use std::sync::OnceLock;

fn cleaner() -> &'static ammonia::Builder<'static> {
    static CLEANER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    CLEANER.get_or_init(|| {
        let mut b = ammonia::Builder::default();
        b.url_schemes(HashSet::from(["http", "https", "mailto"]))
            .link_rel(Some(LINK_REL))
            .rm_tags(["img"]);
        b
    })
}

/// Render admin Markdown to sanitized HTML. Images are dropped (they would load third-party
/// content into the page); everything else common in incident text is kept.
pub fn render_markdown(md: &str) -> String {
    if md.trim().is_empty() {
        return String::new();
    }
    let opts = OPTS;
    let mut raw = String::with_capacity(md.len() * 3 / 2);
    match plain_events(Parser::new_ext(md, opts)) {
        Some(events) => {
            html::push_html(&mut raw, events.into_iter());
            raw
        }
        None => {
            html::push_html(&mut raw, Parser::new_ext(md, opts));
            if nesting(&raw) > MAX_NESTING {
                // The sanitizer's time grows with the square of the nesting (64 KiB of `>` and
                // an image took 18 s): such text is shown as it was written.
                return format!("<pre>{}</pre>", crate::escape::xml_escape(md));
            }
            cleaner().clean(&raw).to_string()
        }
    }
}

/// How deep elements may nest in HTML given to the sanitizer (far beyond any incident text).
const MAX_NESTING: usize = 256;

/// How deep the elements of `html` nest at most: start tags count one up, end tags one down,
/// void elements (`<br>`, `<img>`, ...) and self-closing tags nothing.
fn nesting(html: &str) -> usize {
    const VOID: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr",
    ];
    let (mut depth, mut max) = (0usize, 0usize);
    let bytes = html.as_bytes();
    let mut i = 0;
    while let Some(off) = html[i..].find('<') {
        i += off + 1;
        if bytes.get(i) == Some(&b'/') {
            depth = depth.saturating_sub(1);
            continue;
        }
        let name_len = bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        if name_len == 0 || !bytes[i].is_ascii_alphabetic() {
            continue;
        }
        let name = html[i..i + name_len].to_ascii_lowercase();
        // The tag ends at the next `>` (a `<` first: an unfinished tag, left as it is).
        let end = bytes[i..]
            .iter()
            .position(|b| *b == b'>' || *b == b'<')
            .map_or(bytes.len(), |e| i + e);
        let self_closing = bytes.get(end) == Some(&b'>') && bytes[end - 1] == b'/';
        if !VOID.contains(&name.as_str()) && !self_closing {
            depth += 1;
            max = max.max(depth);
        }
    }
    max
}

const OPTS: Options = Options::ENABLE_TABLES
    .union(Options::ENABLE_STRIKETHROUGH)
    .union(Options::ENABLE_TASKLISTS);

const LINK_REL: &str = "noopener noreferrer nofollow";

/// The events of Markdown that needs no sanitizing, with links written out (safe URL, `rel`)
/// and table alignment dropped (it would be an inline style); `None` when the text has raw
/// HTML, an image, a task list or a link whose URL is not plainly safe.
fn plain_events<'a>(parser: Parser<'a>) -> Option<Vec<Event<'a>>> {
    let mut events = Vec::new();
    for event in parser {
        events.push(match event {
            Event::Html(_) | Event::InlineHtml(_) | Event::TaskListMarker(_) => return None,
            Event::Start(Tag::Image { .. }) => return None,
            Event::Start(Tag::Table(columns)) => {
                Event::Start(Tag::Table(vec![Alignment::None; columns.len()]))
            }
            Event::Start(Tag::Link {
                dest_url, title, ..
            }) => {
                if !plainly_safe_url(&dest_url) {
                    return None;
                }
                let mut a = format!("<a href=\"{}\"", crate::escape::xml_escape(&dest_url));
                if !title.is_empty() {
                    a.push_str(&format!(" title=\"{}\"", crate::escape::xml_escape(&title)));
                }
                a.push_str(&format!(" rel=\"{LINK_REL}\">"));
                Event::InlineHtml(CowStr::from(a))
            }
            Event::End(pulldown_cmark::TagEnd::Link) => Event::InlineHtml(CowStr::from("</a>")),
            other => other,
        });
    }
    Some(events)
}

/// A URL that cannot run script or carry a hidden scheme: printable ASCII, and either
/// http(s)/mailto or a relative reference without any `:`.
fn plainly_safe_url(url: &str) -> bool {
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return false;
    }
    let lower = url.to_ascii_lowercase();
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|p| lower.starts_with(p))
        || !url.contains(':')
}

#[cfg(test)]
mod tests {
    use super::{MAX_NESTING, OPTS, nesting, render_markdown};

    #[test]
    fn counts_nesting_of_elements_not_void_or_self_closing_ones() {
        assert_eq!(nesting("<p>a<br>b<img src=x><br/></p><p><b>c</b></p>"), 2);
        assert_eq!(nesting("<div><div><span/></div></div>"), 2);
        assert_eq!(nesting("&lt;div&gt; <!-- c --> 1 < 2"), 0);
        assert_eq!(nesting("<div\n<div\n<div"), 3);
    }

    #[test]
    fn text_nested_too_deep_for_the_sanitizer_is_shown_as_written() {
        // 64 KiB of `>` and an image took the sanitizer 18 s.
        let md = format!(
            "{} ![x](https://e.test/x.png) <script>alert(1)</script>",
            ">".repeat(65_000)
        );
        let html = render_markdown(&md);
        assert!(html.starts_with("<pre>&gt;&gt;&gt;"), "{}", &html[..40]);
        assert!(!html.contains("<script") && !html.contains("<img"));
        // Just under the limit: sanitized as usual.
        let md = format!(
            "{} ![x](https://e.test/x.png) *a*",
            ">".repeat(MAX_NESTING - 2)
        );
        let html = render_markdown(&md);
        assert!(html.contains("<blockquote>") && html.contains("<em>a</em>"));
        assert!(!html.contains("<img"));
    }

    #[test]
    fn keeps_formatting_and_drops_danger() {
        let html =
            render_markdown("**Fixed** the [dashboard](https://example.com).\n\n- one\n- two");
        assert!(html.contains("<strong>Fixed</strong>"));
        assert!(html.contains("rel=\"noopener noreferrer nofollow\""));
        assert!(html.contains("<li>one</li>"));
        for bad in [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "[x](javascript:alert(1))",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<svg onload=alert(1)>",
            "<iframe src=https://evil.example></iframe>",
            "<p style=\"background:url(javascript:alert(1))\">x</p>",
            "[x](java&#9;script:alert(1))",
            "[x](JAVASCRIPT:alert(1))",
            "[x](<javascript:alert(1)>)",
            "[x](&#x6A;avascript:alert(1))",
            "[x](data:text/html,<script>alert(1)</script>)",
            "[x](https://ok.example \"t\\\" onmouseover=alert(1) x=\\\"\")",
            "| a |\n|:-:|\n| <b onclick=alert(1)>x</b> |",
            "- [ ] <img src=x onerror=alert(1)>",
        ] {
            let out = render_markdown(bad).to_lowercase();
            assert!(
                !out.contains("<script")
                    && !out.contains("onerror")
                    && !out.contains("javascript:"),
                "{bad} -> {out}"
            );
            assert!(
                !out.contains("<iframe") && !out.contains("onload") && !out.contains("style="),
                "{bad} -> {out}"
            );
            assert!(
                !out.contains("data:") && !out.contains("\" onmouseover") && !out.contains("<b "),
                "{bad} -> {out}"
            );
        }
    }

    #[test]
    fn plain_text_skips_the_sanitizer_and_is_still_safe() {
        let md = "Fixed [the `api`](https://x.example/a?b=1&c=\"2\" \"T <i>\") and [docs](/docs#a).\n\n\
                  | a | b |\n|:--|--:|\n| 1 | 2 |\n\n```rust\nlet x = \"<script>\";\n```";
        assert!(super::plain_events(pulldown_cmark::Parser::new_ext(md, OPTS)).is_some());
        let html = render_markdown(md);
        assert!(
            html.contains(
                "<a href=\"https://x.example/a?b=1&amp;c=&quot;2&quot;\" title=\"T &lt;i&gt;\" rel=\"noopener noreferrer nofollow\">the <code>api</code></a>"
            ),
            "{html}"
        );
        assert!(html.contains("<a href=\"/docs#a\" rel="), "{html}");
        assert!(!html.contains("style="), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        // The same text through the sanitizer keeps the same elements.
        let cleaned = super::cleaner().clean(&html).to_string();
        for tag in ["<a ", "<table>", "<code", "<pre>"] {
            assert_eq!(
                html.matches(tag).count(),
                cleaned.matches(tag).count(),
                "{tag}"
            );
        }
    }
}
