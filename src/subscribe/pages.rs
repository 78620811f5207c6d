//! The capability pages (the public subscribe pages are in `render::subscribe`).
//!
//! Capability pages (`subscribe/t/<token>/index.html`) are rendered one at a time for the
//! daemon, which writes them beside the site. Pages that hold a form allow exactly the inbox's
//! origin and the site's (where the inbox redirects to) as `form-action`; pages whose address may carry a token or an address (S3 appends
//! `?bucket=&key=&etag=` to the redirect) send no Referer.

use crate::config::Config;
use crate::postform;
use crate::render::subscribe::{FormView, choice, form_action};
use crate::render::{PageRenderer, RenderError, Theme};
use chrono::{DateTime, Utc};
use tera::Context;

/// Which capability page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapabilityKind {
    /// Linked from the confirmation email: one button that confirms.
    Confirm,
    /// Linked from every email and `List-Unsubscribe`: change components, or unsubscribe.
    Manage,
}

/// Where a token's page lives in the site: `subscribe/t/<token>/index.html`.
pub fn capability_path(token: &str) -> String {
    format!("{}/{token}/index.html", crate::subscriber::PAGES_DIR)
}

/// Renders capability pages: the theme and the site read once, for many pages.
pub struct Pages {
    renderer: PageRenderer,
    groups: Vec<crate::snapshot::GroupInfo>,
    components: Vec<crate::snapshot::ComponentInfo>,
}

impl Pages {
    /// Reads the logo named in the config.
    pub fn new(config: &Config, theme: &Theme, now: DateTime<Utc>) -> Result<Pages, PageError> {
        let logo =
            crate::build::read_logo(config).map_err(|e| PageError::Logo(format!("{e:#}")))?;
        let info = crate::snapshot::SiteInfo::from_config(config, logo);
        let css = crate::render::css_path(theme);
        let logo = info
            .logo
            .as_ref()
            .map(|(ext, bytes)| crate::render::logo_path(ext, bytes));
        let site = crate::render::site_view(&info, &css, logo.as_deref(), true);
        let (groups, components) =
            crate::snapshot::structure(config, &std::collections::HashMap::new(), now);
        Ok(Pages {
            renderer: PageRenderer::new(theme, site)?,
            groups,
            components,
        })
    }

    /// The full HTML of `subscribe/t/<token>/index.html`: the confirm page, or the manage page
    /// with the radios pre-set to `following` (empty: all).
    pub fn page(
        &self,
        config: &Config,
        kind: CapabilityKind,
        token: &str,
        following: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, PageError> {
        let subs = config.subscriptions().ok_or(PageError::Off)?;
        if !crate::subscriber::is_token(token) {
            return Err(PageError::Token);
        }
        let base = config.site.base_url.as_str().trim_end_matches('/');
        let mut ctx = Context::new();
        ctx.insert("form_origin", &form_action(&subs.post_url(), base));
        let title = match kind {
            CapabilityKind::Confirm => {
                ctx.insert("kind", "confirm");
                ctx.insert(
                    "confirm",
                    &FormView::from(&postform::confirm_form(subs, base, token, now)),
                );
                "Confirm your subscription"
            }
            CapabilityKind::Manage => {
                let ids: Vec<&str> = self.components.iter().map(|c| c.id.as_str()).collect();
                ctx.insert("kind", "manage");
                ctx.insert(
                    "update",
                    &FormView::from(&postform::update_form(subs, base, token, &ids, now)),
                );
                ctx.insert(
                    "unsubscribe",
                    &FormView::from(&postform::unsubscribe_form(subs, base, token, now)),
                );
                ctx.insert("choice", &choice(&self.groups, &self.components, following));
                "Manage your subscription"
            }
        };
        Ok(self.renderer.page(
            &capability_path(token),
            "subscribe_token.html",
            Some(title),
            ctx,
        )?)
    }
}

/// One capability page (see [`Pages::page`]).
pub fn capability_page(
    config: &Config,
    theme: &Theme,
    kind: CapabilityKind,
    token: &str,
    following: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<u8>, PageError> {
    Pages::new(config, theme, now)?.page(config, kind, token, following, now)
}

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("subscriptions are off in the config")]
    Off,
    #[error("not a capability token")]
    Token,
    #[error("{0}")]
    Logo(String),
    #[error(transparent)]
    Render(#[from] RenderError),
}
