//! The public subscribe pages, rendered with the site: `subscribe/index.html` (the form) and the
//! landing pages S3 redirects to after a post (`subscribe/{sent,confirmed,updated,unsubscribed}/`),
//! and the pieces the capability pages share with them (forms, the component choice). Pages that
//! hold a form allow exactly the inbox's origin and the site's (where the inbox redirects to) as
//! `form-action`; pages whose address may carry a token or an address (S3 appends
//! `?bucket=&key=&etag=` to the redirect) send no Referer.

use crate::postform::{self, Form};
use crate::snapshot::{ComponentInfo, GroupInfo, Snapshot, SubscribeInfo};
use serde::Serialize;
use tera::Context;

/// A form as templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct FormView {
    pub action: String,
    /// Hidden fields before the visible inputs.
    pub hidden: Vec<FieldView>,
    /// The action word, posted last as `file`.
    pub file: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldView {
    pub name: String,
    pub value: String,
}

impl From<&Form> for FormView {
    fn from(f: &Form) -> FormView {
        FormView {
            action: f.action.clone(),
            hidden: f
                .head()
                .iter()
                .map(|(name, value)| FieldView {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            file: f.file().to_string(),
        }
    }
}

/// The components of one group, as a fieldset of radio pairs.
#[derive(Debug, Clone, Serialize)]
pub struct ChoiceGroup {
    pub name: String,
    pub components: Vec<Choice>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    pub id: String,
    pub name: String,
    /// The radio pair's name: `x-amz-meta-c-<id>`.
    pub field: String,
    /// Pre-set to follow.
    pub follow: bool,
}

/// The components by group, in config order (a group where its first component is; the
/// ungrouped together). `following` empty: all.
pub fn choice<'a>(
    groups: &[GroupInfo],
    components: impl IntoIterator<Item = &'a ComponentInfo>,
    following: &[String],
) -> Vec<ChoiceGroup> {
    let mut out: Vec<(Option<&str>, ChoiceGroup)> = Vec::new();
    for c in components {
        let key = c.group.as_deref();
        let pick = Choice {
            id: c.id.clone(),
            name: c.name.clone(),
            field: format!("x-amz-meta-{}", crate::subscriber::component_field(&c.id)),
            follow: following.is_empty() || following.contains(&c.id),
        };
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.components.push(pick),
            None => {
                let name = key
                    .and_then(|k| groups.iter().find(|g| g.id == k))
                    .map(|g| g.name.clone())
                    .unwrap_or_default();
                out.push((
                    key,
                    ChoiceGroup {
                        name,
                        components: vec![pick],
                    },
                ));
            }
        }
    }
    let grouped = out.iter().any(|(k, _)| k.is_some());
    out.into_iter()
        .map(|(k, mut g)| {
            if k.is_none() {
                g.name = if grouped {
                    "Other components"
                } else {
                    "Components"
                }
                .into();
            }
            g
        })
        .collect()
}

/// One public page to render with the site.
pub struct PublicPage {
    pub path: String,
    pub template: &'static str,
    pub title: &'static str,
    pub ctx: Context,
}

/// What each landing page says (after S3 took the post; the daemon polls the inbox).
const LANDINGS: &[(&str, &str, &str)] = &[
    (
        "sent",
        "Check your inbox",
        "We are sending you an email with a link to confirm your subscription. The link expires in {expire}; nothing else reaches you until you follow it.",
    ),
    (
        "confirmed",
        "Subscription confirmed",
        "You will get an email when something changes. This takes effect within a minute.",
    ),
    (
        "updated",
        "Choice saved",
        "You will get emails about the components you chose. This takes effect within a minute.",
    ),
    (
        "unsubscribed",
        "Unsubscribed",
        "You will get no more emails from us. This takes effect within a minute.",
    ),
];

/// The subscribe page and its landing pages, for the site render.
pub fn public(snap: &Snapshot, sub: &SubscribeInfo) -> Vec<PublicPage> {
    let form = &sub.form;
    let mut ctx = Context::new();
    ctx.insert("form", &FormView::from(form));
    ctx.insert(
        "form_origin",
        &form_action(&form.action, &snap.site.base_url),
    );
    ctx.insert(
        "choice",
        &choice(&snap.groups, snap.components.iter().map(|c| &c.info), &[]),
    );
    let mut pages = vec![PublicPage {
        path: "subscribe/index.html".into(),
        template: "subscribe.html",
        title: "Subscribe to updates",
        ctx,
    }];
    let expire = hours(sub.expire);
    for (page, title, text) in LANDINGS {
        let mut ctx = Context::new();
        ctx.insert("heading", title);
        ctx.insert("text", &text.replace("{expire}", &expire));
        ctx.insert("page", page);
        pages.push(PublicPage {
            path: format!("subscribe/{page}/index.html"),
            template: "subscribe_done.html",
            title,
            ctx,
        });
    }
    pages
}

/// The CSP `form-action` sources of a page with a form: the inbox it posts to, and the site the
/// inbox redirects back to (browsers check a form's redirects against `form-action` too).
pub fn form_action(post_url: &str, base_url: &str) -> String {
    let (post, site) = (postform::origin(post_url), postform::origin(base_url));
    if post == site {
        post
    } else {
        format!("{post} {site}")
    }
}

/// `48 hours`, `90 minutes`: how long a visitor has to confirm, for people.
fn hours(d: std::time::Duration) -> String {
    let m = d.as_secs() / 60;
    match (m % 60, m / 60) {
        (0, 1) => "1 hour".into(),
        (0, h) => format!("{h} hours"),
        _ => format!("{m} minutes"),
    }
}
