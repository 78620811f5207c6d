//! Checks serde cannot express: references between entities, ranges, per-kind fields.
//! Every problem is collected (not just the first) and located with [`Doc`]; a node whose
//! problem serde already reported (removed, or a stand-in) is not judged again.

use super::*;
use crate::ids::check_id;
use std::collections::HashSet;

pub(super) struct Check<'a> {
    file: &'a Path,
    doc: &'a Doc,
    problems: Vec<Problem>,
}

impl Check<'_> {
    pub(super) fn add(
        &mut self,
        path: &str,
        entity: impl Into<String>,
        message: impl Into<String>,
    ) {
        if self.doc.touched(path) {
            return;
        }
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            pos: self.doc.at(path),
            entity: entity.into(),
            message: message.into(),
        });
    }

    /// A problem of the entity at `path` about its `fields` (one is missing, or they clash):
    /// said only when none of them had a problem of its own already.
    fn about(
        &mut self,
        path: &str,
        fields: &[&str],
        entity: impl Into<String>,
        message: impl Into<String>,
    ) {
        if !fields
            .iter()
            .any(|f| self.doc.touched(&format!("{path}.{f}")))
        {
            self.add(path, entity, message);
        }
    }

    /// "did you mean" among `known`, for an unknown reference.
    fn hint(word: &str, known: &HashSet<&str>) -> String {
        let mut known: Vec<&str> = known.iter().copied().collect();
        known.sort_unstable();
        crate::suggest::hint(word, &known)
    }

    /// Check an id's syntax and that it is unique within `seen`.
    fn id(&mut self, path: &str, entity: &str, id: &str, seen: &mut HashSet<String>) {
        if let Err(e) = check_id(id) {
            self.add(path, entity, e);
        } else if !seen.insert(id.to_string()) {
            self.add(
                path,
                entity,
                format!(
                    "duplicate id {id:?}; every {} id must be unique",
                    entity.split(' ').next().unwrap_or("")
                ),
            );
        }
    }

    /// A required private http(s) URL: the message never repeats the value.
    fn secret_url(&mut self, path: &str, entity: &str, url: Option<&super::Secret>, missing: &str) {
        match url {
            None => self.about(path, &["url"], entity, missing),
            Some(u)
                if !(u.expose().starts_with("http://") || u.expose().starts_with("https://")) =>
            {
                self.add(
                    &format!("{path}.url"),
                    entity,
                    "url must start with http:// or https://",
                );
            }
            Some(_) => {}
        }
    }

    pub(super) fn url(&mut self, path: &str, entity: &str, url: &str, schemes: &[&str]) {
        let ok = schemes.iter().any(|s| {
            url.strip_prefix(s)
                .and_then(|r| r.strip_prefix(':'))
                .is_some_and(|r| r.len() > 2 || *s == "mailto")
        });
        if !ok || url.chars().any(char::is_whitespace) {
            self.add(
                path,
                entity,
                format!(
                    "invalid URL {url:?}: it must start with {}",
                    schemes
                        .iter()
                        .map(|s| format!("{s}:"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            );
        }
    }
}

pub(super) fn validate(c: &Config, doc: &Doc) -> Vec<Problem> {
    let mut k = Check {
        file: &c.file,
        doc,
        problems: Vec::new(),
    };
    site(&mut k, &c.site);

    let mut ids = HashSet::new();
    for (i, g) in c.groups.iter().enumerate() {
        let p = format!("groups[{i}]");
        k.id(
            &format!("{p}.id"),
            &format!("group {:?}", g.id.as_str()),
            &g.id,
            &mut ids,
        );
        if g.name.trim().is_empty() {
            k.add(
                &format!("{p}.name"),
                format!("group {:?}", g.id.as_str()),
                "name is empty; give the group a name visitors understand",
            );
        }
    }
    let groups: HashSet<&str> = c.groups.iter().map(|g| g.id.as_str()).collect();
    for (i, comp) in c.components.iter().enumerate() {
        let p = format!("components[{i}]");
        let entity = format!("component {:?}", comp.id.as_str());
        k.id(&format!("{p}.id"), &entity, &comp.id, &mut ids);
        if comp.name.trim().is_empty() {
            k.add(
                &format!("{p}.name"),
                &entity,
                "name is empty; give the component a name visitors understand",
            );
        }
        if let Some(g) = &comp.group
            && !groups.contains(g.as_str())
        {
            k.add(
                &format!("{p}.group"),
                &entity,
                format!(
                    "unknown group {:?}{}; define it under `groups:` or remove `group:`",
                    g.as_str(),
                    Check::hint(g, &groups)
                ),
            );
        }
    }
    let components: HashSet<&str> = c.components.iter().map(|x| x.id.as_str()).collect();

    let mut monitor_ids = HashSet::new();
    for (i, m) in c.monitors.iter().enumerate() {
        monitor(&mut k, i, m, &components, &mut monitor_ids);
    }

    let p = &c.publish;
    if p.output.trim().is_empty() {
        k.add(
            "publish.output",
            "publish.output",
            "output folder is empty; the default is \"publish\"",
        );
    }
    for (field, v) in [
        ("immutable", &p.cache_control.immutable),
        ("short", &p.cache_control.short),
    ] {
        if v.trim().is_empty() || v.contains(['\r', '\n']) {
            k.add(
                &format!("publish.cache_control.{field}"),
                "publish.cache_control",
                "must be a single-line Cache-Control value",
            );
        }
    }
    let mut target_ids = HashSet::new();
    for (i, t) in p.targets.iter().enumerate() {
        let path = format!("publish.targets[{i}]");
        let entity = format!("publish target {:?}", t.name.as_str());
        k.id(&format!("{path}.name"), &entity, &t.name, &mut target_ids);
        if t.bucket.trim().is_empty() {
            k.add(&format!("{path}.bucket"), &entity, "bucket is empty");
        }
        if let Some(e) = &t.endpoint {
            k.url(&format!("{path}.endpoint"), &entity, e, &["http", "https"]);
        }
        if t.concurrency == 0 {
            k.add(
                &format!("{path}.concurrency"),
                &entity,
                "must be at least 1",
            );
        }
        if t.attempt_timeout.0 > t.operation_timeout.0 {
            k.add(
                &format!("{path}.attempt_timeout"),
                &entity,
                "attempt_timeout must not be longer than operation_timeout",
            );
        }
        if t.access_key_id.is_some() != t.secret_access_key.is_some() {
            k.about(&path, &["access_key_id", "secret_access_key"], &entity, "set both access_key_id and secret_access_key, or neither (to use the standard AWS credential chain)");
        }
        if let Some(prefix) = &t.prefix
            && (prefix.starts_with('/') || prefix.split('/').any(|s| s == ".." || s == "."))
        {
            k.add(
                &format!("{path}.prefix"),
                &entity,
                format!(
                    "invalid key prefix {:?}: no leading '/', no '.' or '..' segments",
                    prefix.as_str()
                ),
            );
        }
    }

    let mut channel_ids = HashSet::new();
    for (i, n) in c.notifications.iter().enumerate() {
        notification(&mut k, i, n, &components, &mut channel_ids);
    }

    let mut schedule_ids = HashSet::new();
    for (i, s) in c.schedules.iter().enumerate() {
        let path = format!("schedules[{i}]");
        let entity = format!("schedule {:?}", s.id.as_str());
        k.id(&format!("{path}.id"), &entity, &s.id, &mut schedule_ids);
        if let Err(e) = crate::schedule::parse_cron(&s.cron) {
            k.add(&format!("{path}.cron"), &entity, e);
        }
    }

    if c.store.path.trim().is_empty() {
        k.add(
            "store.path",
            "store.path",
            "database path is empty; the default is \"pharos.db\"",
        );
    }
    if c.store.raw_retention.0 < Duration::from_secs(3600) {
        k.add(
            "store.raw_retention",
            "store.raw_retention",
            "keep raw check results for at least 1h (rollups are built from them)",
        );
    }
    if c.site.history_days <= 365
        && c.store.rollup_retention.0 < Duration::from_secs(86_400 * u64::from(c.site.history_days))
    {
        k.add(
            "store.rollup_retention",
            "store.rollup_retention",
            format!(
                "must cover site.history_days ({} days), or the uptime bars lose data",
                c.site.history_days
            ),
        );
    }
    if c.daemon.listen.parse::<std::net::SocketAddr>().is_err() {
        k.add(
            "daemon.listen",
            "daemon.listen",
            format!(
                "{:?} is not an address like 127.0.0.1:8787",
                c.daemon.listen.as_str()
            ),
        );
    }
    if c.daemon.max_concurrent_checks == 0 {
        k.add(
            "daemon.max_concurrent_checks",
            "daemon.max_concurrent_checks",
            "must be at least 1",
        );
    }
    if c.content_dir.trim().is_empty() {
        k.add(
            "content_dir",
            "content_dir",
            "content folder is empty; the default is \"content\"",
        );
    }
    if let Some(s) = &c.subscriptions {
        super::subscriptions::validate(&mut k, s);
    }
    if let Some(cl) = &c.cluster {
        super::cluster::validate(&mut k, cl, &c.publish.targets);
    }
    k.problems.sort_by_key(|p| (p.pos.line, p.pos.col));
    k.problems
}

fn site(k: &mut Check, s: &Site) {
    if s.title.trim().is_empty() {
        k.add(
            "site.title",
            "site.title",
            "title is empty; it is the page heading, e.g. \"Example Status\"",
        );
    }
    k.url(
        "site.base_url",
        "site.base_url",
        &s.base_url,
        &["http", "https"],
    );
    if let Err(e) = check_id(&s.theme) {
        k.add(
            "site.theme",
            "site.theme",
            format!("theme names a folder under themes/: {e}"),
        );
    }
    if let Some(logo) = &s.logo {
        let ext = Path::new(logo.as_str())
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("");
        if !["svg", "png", "jpg", "jpeg", "webp", "gif"]
            .contains(&ext.to_ascii_lowercase().as_str())
        {
            k.add(
                "site.logo",
                "site.logo",
                format!(
                    "logo {:?} must be an .svg, .png, .jpg, .webp or .gif file",
                    logo.as_str()
                ),
            );
        }
    }
    if !(1..=365).contains(&s.history_days) {
        k.add(
            "site.history_days",
            "site.history_days",
            format!("must be between 1 and 365 (got {})", s.history_days),
        );
    }
    if s.recent_days > 90 {
        k.add(
            "site.recent_days",
            "site.recent_days",
            format!("must be at most 90 (got {})", s.recent_days),
        );
    }
    if s.freshness.0 < Duration::from_secs(60) {
        k.add(
            "site.freshness",
            "site.freshness",
            format!(
                "must be at least 1m (got {:?}); every tick rewrites the index and summary",
                crate::time::format_duration(s.freshness.0)
            ),
        );
    }
    if s.stale_after.0 <= s.freshness.0 {
        k.add(
            "site.stale_after",
            "site.stale_after",
            "must be longer than site.freshness, or every embed shows stale data",
        );
    }
    if s.feed_entries == 0 {
        k.add(
            "site.feed_entries",
            "site.feed_entries",
            "must be at least 1",
        );
    }
    for (i, l) in s.links.iter().enumerate() {
        let p = format!("site.links[{i}]");
        if l.title.trim().is_empty() {
            k.add(&format!("{p}.title"), "site.links", "link title is empty");
        }
        k.url(
            &format!("{p}.url"),
            "site.links",
            &l.url,
            &["http", "https", "mailto"],
        );
    }
}

/// Fields a monitor kind may use besides the common ones.
fn allowed_fields(kind: MonitorKind) -> &'static [&'static str] {
    match kind {
        MonitorKind::Http => &[
            "url",
            "method",
            "headers",
            "body",
            "follow_redirects",
            "verify_tls",
            "expected_status",
            "degraded_above",
            "conditions",
        ],
        MonitorKind::Tcp => &[
            "host",
            "port",
            "send",
            "expect",
            "degraded_above",
            "conditions",
        ],
        MonitorKind::Dns => &[
            "name",
            "record_type",
            "resolvers",
            "degraded_above",
            "conditions",
        ],
        MonitorKind::Tls => &["host", "port", "url", "warn_days", "conditions"],
        MonitorKind::Heartbeat => &["token", "grace"],
    }
}

fn monitor(
    k: &mut Check,
    i: usize,
    m: &Monitor,
    components: &HashSet<&str>,
    seen: &mut HashSet<String>,
) {
    let p = format!("monitors[{i}]");
    let entity = format!("monitor {:?}", m.id.as_str());
    k.id(&format!("{p}.id"), &entity, &m.id, seen);
    if !components.contains(m.component.as_str()) {
        k.add(
            &format!("{p}.component"),
            &entity,
            format!(
                "unknown component {:?}{}; it must be the id of an entry under `components:`",
                m.component.as_str(),
                Check::hint(&m.component, components)
            ),
        );
    }
    if m.interval.0 < Duration::from_secs(1) {
        k.add(
            &format!("{p}.interval"),
            &entity,
            format!(
                "interval must be at least 1s (got {:?})",
                crate::time::format_duration(m.interval.0)
            ),
        );
    }
    if m.down_status == ComponentStatus::Operational {
        k.add(&format!("{p}.down_status"), &entity, "down_status cannot be operational; use degraded_performance, partial_outage or major_outage");
    }
    if let Some(method) = &m.method
        && !["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].contains(&method.as_str())
    {
        k.add(
            &format!("{p}.method"),
            &entity,
            format!(
                "unknown method {:?} (use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS)",
                method.as_str()
            ),
        );
    }
    for (j, s) in m.expected_status.iter().enumerate() {
        if let Err(e) = parse_status_spec(s) {
            k.add(&format!("{p}.expected_status[{j}]"), &entity, e);
        }
    }
    // What follows depends on the kind: with a kind serde refused (a stand-in now), it would
    // judge the wrong one.
    if k.doc.touched(&format!("{p}.kind")) {
        return;
    }
    let interval_ok = m.interval.0 >= Duration::from_secs(1);
    if m.timeout.0.is_zero()
        || (interval_ok
            && !k.doc.touched(&format!("{p}.interval"))
            && m.kind != MonitorKind::Heartbeat
            && m.timeout.0 > m.interval.0)
    {
        k.add(
            &format!("{p}.timeout"),
            &entity,
            "timeout must be above 0 and at most the interval",
        );
    }
    for (field, v) in [
        ("failure_threshold", m.failure_threshold),
        ("success_threshold", m.success_threshold),
    ] {
        match v {
            Some(_) if m.kind == MonitorKind::Heartbeat => k.add(
                &format!("{p}.{field}"),
                &entity,
                format!("{field} does not apply to heartbeats: silence past interval + grace is the confirmed failure, and one ping the recovery; remove the line"),
            ),
            Some(0) => k.add(
                &format!("{p}.{field}"),
                &entity,
                format!("{field} must be at least 1"),
            ),
            _ => {}
        }
    }

    let set: [(&str, bool); 18] = [
        ("url", m.url.is_some()),
        ("method", m.method.is_some()),
        ("headers", !m.headers.is_empty()),
        ("body", m.body.is_some()),
        ("follow_redirects", m.follow_redirects.is_some()),
        ("verify_tls", m.verify_tls.is_some()),
        ("expected_status", !m.expected_status.is_empty()),
        ("degraded_above", m.degraded_above.is_some()),
        ("host", m.host.is_some()),
        ("port", m.port.is_some()),
        ("send", m.send.is_some()),
        ("expect", m.expect.is_some()),
        ("name", m.name.is_some()),
        ("record_type", m.record_type.is_some()),
        ("resolvers", !m.resolvers.is_empty()),
        ("warn_days", m.warn_days.is_some()),
        ("token", m.token.is_some()),
        ("grace", m.grace.is_some()),
    ];
    let allowed = allowed_fields(m.kind);
    let kind = format!("{:?}", m.kind).to_lowercase();
    for (field, is_set) in set {
        if is_set && !allowed.contains(&field) {
            k.add(
                &format!("{p}.{field}"),
                &entity,
                format!("`{field}` does not apply to {kind} monitors; remove it"),
            );
        }
    }
    if m.ca_file.is_some() && !matches!(m.kind, MonitorKind::Http | MonitorKind::Tls) {
        k.add(
            &format!("{p}.ca_file"),
            &entity,
            format!("`ca_file` does not apply to {kind} monitors; remove it"),
        );
    }
    let fields = crate::condition::fields_for(m.kind);
    for (j, text) in m.conditions.iter().enumerate() {
        match crate::condition::parse(text) {
            Err(e) => k.add(
                &format!("{p}.conditions[{j}]"),
                &entity,
                format!("condition {:?}: {e}", text.as_str()),
            ),
            Ok(c) => {
                if let Some(f) = c.field()
                    && !fields.contains(&f)
                {
                    k.add(
                        &format!("{p}.conditions[{j}]"),
                        &entity,
                        format!(
                            "condition {:?}: {kind} monitors do not observe `{}`",
                            text.as_str(),
                            text.split_whitespace().next().unwrap_or("")
                        ),
                    );
                }
            }
        }
    }
    if !m.conditions.is_empty() && !allowed.contains(&"conditions") {
        k.add(
            &format!("{p}.conditions"),
            &entity,
            format!("`conditions` do not apply to {kind} monitors; remove them"),
        );
    }

    match m.kind {
        MonitorKind::Http => k.secret_url(
            &p,
            &entity,
            m.url.as_ref(),
            "http monitors need `url` (e.g. url: ${API_HEALTH_URL})",
        ),
        MonitorKind::Tcp => {
            if m.host.is_none() || m.port.is_none() {
                k.about(
                    &p,
                    &["host", "port"],
                    &entity,
                    "tcp monitors need `host` and `port`",
                );
            }
        }
        MonitorKind::Dns => {
            if m.name.is_none() {
                k.about(
                    &p,
                    &["name"],
                    &entity,
                    "dns monitors need `name` (the name to resolve)",
                );
            }
            if let Some(rt) = &m.record_type
                && ![
                    "A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "SRV", "CAA", "PTR",
                ]
                .contains(&rt.as_str())
            {
                k.add(&format!("{p}.record_type"), &entity, format!("unknown record type {:?} (use A, AAAA, CNAME, MX, TXT, NS, SOA, SRV, CAA or PTR)", rt.as_str()));
            }
            for (j, r) in m.resolvers.iter().enumerate() {
                let ok = r.parse::<std::net::SocketAddr>().is_ok()
                    || r.parse::<std::net::IpAddr>().is_ok();
                if !ok {
                    k.add(
                        &format!("{p}.resolvers[{j}]"),
                        &entity,
                        format!(
                            "resolver {:?} must be an IP address, optionally with :port",
                            r.as_str()
                        ),
                    );
                }
            }
        }
        MonitorKind::Tls => {
            if m.host.is_none() && m.url.is_none() {
                k.about(
                    &p,
                    &["host", "url"],
                    &entity,
                    "tls monitors need `host` (and optionally `port`, default 443) or `url`",
                );
            }
        }
        MonitorKind::Heartbeat => {
            match &m.token {
                None => k.about(&p, &["token"], &entity, "heartbeat monitors need `token` (a secret, e.g. token: ${BACKUP_HEARTBEAT_TOKEN}); it is part of the ping URL"),
                Some(t) if !token_ok(t.expose()) => k.add(
                    &format!("{p}.token"),
                    &entity,
                    format!(
                        "`token` must be {}-{} characters of letters, digits, `-`, `_`, `.` or `~`: it is part of the ping URL (a space, `?`, `#` or `/` could never be pinged). Make one with `openssl rand -hex 16`",
                        TOKEN_LEN.start(),
                        TOKEN_LEN.end()
                    ),
                ),
                Some(_) => {}
            }
        }
    }
}

/// `200`, `2xx`, or `200-299`.
pub fn parse_status_spec(s: &str) -> Result<(u16, u16), String> {
    let bad =
        || format!("invalid status {s:?}: write a code (200), a class (2xx) or a range (200-299)");
    let code = |t: &str| t.parse::<u16>().ok().filter(|c| (100..=599).contains(c));
    if let Some(class) = s.strip_suffix("xx") {
        let d = code(&format!("{class}00")).ok_or_else(bad)?;
        return Ok((d, d + 99));
    }
    if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (
            code(a.trim()).ok_or_else(bad)?,
            code(b.trim()).ok_or_else(bad)?,
        );
        return if a <= b { Ok((a, b)) } else { Err(bad()) };
    }
    code(s).map(|c| (c, c)).ok_or_else(bad)
}

fn notification(
    k: &mut Check,
    i: usize,
    n: &Notification,
    components: &HashSet<&str>,
    seen: &mut HashSet<String>,
) {
    let p = format!("notifications[{i}]");
    let entity = format!("notification {:?}", n.id.as_str());
    k.id(&format!("{p}.id"), &entity, &n.id, seen);
    let kind_known = !k.doc.touched(&format!("{p}.kind"));
    match n.kind {
        _ if !kind_known => {}
        ChannelKind::Webhook
        | ChannelKind::Slack
        | ChannelKind::Discord
        | ChannelKind::Teams
        | ChannelKind::GoogleChat
        | ChannelKind::Mattermost => k.secret_url(
            &p,
            &entity,
            n.url.as_ref(),
            "this channel needs `url` (e.g. url: ${SLACK_WEBHOOK_URL})",
        ),
        ChannelKind::Telegram => {
            if n.bot_token.is_none() || n.chat_id.is_none() {
                k.about(
                    &p,
                    &["bot_token", "chat_id"],
                    &entity,
                    "telegram channels need `bot_token` and `chat_id`",
                );
            }
        }
        ChannelKind::Email => {
            if n.smtp_host.is_none() || n.from.is_none() || n.to.is_empty() {
                k.about(
                    &p,
                    &["smtp_host", "from", "to"],
                    &entity,
                    "email channels need `smtp_host`, `from` and at least one address in `to`",
                );
            }
            for (j, a) in n.to.iter().enumerate() {
                if !a.contains('@') {
                    k.add(
                        &format!("{p}.to[{j}]"),
                        &entity,
                        format!("{:?} is not an email address", a.as_str()),
                    );
                }
            }
        }
    }
    for (j, c) in n.components.iter().enumerate() {
        if !components.contains(c.as_str()) {
            k.add(
                &format!("{p}.components[{j}]"),
                &entity,
                format!(
                    "unknown component {:?}{}",
                    c.as_str(),
                    Check::hint(c, components)
                ),
            );
        }
    }
    for (j, e) in n.events.iter().enumerate() {
        if e.is_operator() && !n.operator {
            k.add(
                &format!("{p}.events[{j}]"),
                &entity,
                format!(
                    "{} goes only to operator channels: add `operator: true` to this channel",
                    e.as_str()
                ),
            );
        }
    }
}

/// How long a heartbeat token may be: long enough not to be guessed, short enough for a URL.
const TOKEN_LEN: std::ops::RangeInclusive<usize> = 16..=256;

/// Whether `token` can be pinged as it is (URL-safe, unreserved characters only) and is long
/// enough to be a secret.
fn token_ok(token: &str) -> bool {
    TOKEN_LEN.contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::parse_status_spec;

    #[test]
    fn status_specs() {
        assert_eq!(parse_status_spec("200"), Ok((200, 200)));
        assert_eq!(parse_status_spec("2xx"), Ok((200, 299)));
        assert_eq!(parse_status_spec("200-204"), Ok((200, 204)));
        for bad in ["20", "7xx", "300-200", "abc", "600"] {
            assert!(parse_status_spec(bad).is_err(), "{bad}");
        }
    }
}
