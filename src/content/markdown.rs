//! Markdown to safe HTML: pulldown-cmark, then ammonia's allowlist (no script, no event handlers,
//! no `javascript:` URLs, no style). Links get `rel="noopener noreferrer nofollow"`.

use pulldown_cmark::{Options, Parser, html};
use std::collections::HashSet;
use std::sync::OnceLock;

fn cleaner() -> &'static ammonia::Builder<'static> {
    static CLEANER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    CLEANER.get_or_init(|| {
        let mut b = ammonia::Builder::default();
        b.url_schemes(HashSet::from(["http", "https", "mailto"]))
            .link_rel(Some("noopener noreferrer nofollow"))
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
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut raw = String::with_capacity(md.len() * 3 / 2);
    html::push_html(&mut raw, Parser::new_ext(md, opts));
    cleaner().clean(&raw).to_string()
}

#[cfg(test)]
mod tests {
    use super::render_markdown;

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
        }
    }
}
