//! The YAML config: types, parsing (`Config::parse`, no I/O) and loading (`Config::load`).
//!
//! Every field is documented in `config.example.yaml`, and a test keeps the two in step.
//! Errors name `file:line:column`, the entity and the fix; unknown keys are errors.

mod cluster;
mod env;
mod subscriptions;
mod validate;
mod values;

pub use cluster::Cluster;
pub use env::{Secret, Text};
pub use subscriptions::{Bucket, Subscriptions};
pub use validate::parse_status_spec;
pub use values::{Dur, Size, TimeZoneName};

use crate::diag::{Problem, Problems, too_deep_problem, yaml_problem};
use crate::model::{ComponentStatus, EventKind, Impact, MonitorKind};
use crate::yamlcheck::{About, Doc, Found};
use crate::yamlpos::Spans;
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_CONFIG_FILE: &str = "config.yaml";
pub const DEFAULT_THEME: &str = "default";
pub const DEFAULT_HISTORY_DAYS: u32 = 90;
pub const DEFAULT_RECENT_DAYS: u32 = 7;
pub const DEFAULT_FRESHNESS: &str = "5m";
pub const DEFAULT_STALE_AFTER: &str = "15m";
pub const DEFAULT_FEED_ENTRIES: usize = 50;
pub const DEFAULT_CONTENT_DIR: &str = "content";
pub const DEFAULT_OUTPUT_DIR: &str = "publish";
pub const DEFAULT_DATABASE: &str = "pharos.db";
pub const DEFAULT_RAW_RETENTION: &str = "7d";
pub const DEFAULT_ROLLUP_RETENTION: &str = "400d";
pub const DEFAULT_INTERVAL: &str = "60s";
pub const DEFAULT_TIMEOUT: &str = "10s";
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
pub const DEFAULT_SUCCESS_THRESHOLD: u32 = 2;
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
pub const DEFAULT_DEBOUNCE: &str = "200ms";
pub const DEFAULT_SETTLE: &str = "500ms";
pub const DEFAULT_MAX_CONCURRENT_CHECKS: usize = 512;
pub const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
pub const CACHE_SHORT: &str = "public, max-age=30, stale-while-revalidate=30, stale-if-error=86400";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub site: Site,
    #[serde(default = "default_content_dir")]
    pub content_dir: Text,
    #[serde(default)]
    pub groups: Vec<Group>,
    #[serde(default)]
    pub components: Vec<Component>,
    #[serde(default)]
    pub monitors: Vec<Monitor>,
    #[serde(default)]
    pub publish: Publish,
    #[serde(default)]
    pub notifications: Vec<Notification>,
    #[serde(default)]
    pub schedules: Vec<Schedule>,
    #[serde(default)]
    pub store: Store,
    #[serde(default)]
    pub daemon: Daemon,
    #[serde(default)]
    pub limits: Limits,
    /// Visitors subscribe to updates by email (see [`crate::subscribe`]).
    #[serde(default)]
    pub subscriptions: Option<Subscriptions>,
    /// Checks from several regions and a standby that takes over (see [`crate::cluster`]).
    #[serde(default)]
    pub cluster: Option<Cluster>,
    /// The file this was loaded from (for messages) and its folder (paths resolve from there).
    #[serde(skip)]
    pub file: PathBuf,
    #[serde(skip)]
    pub base_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub title: Text,
    pub base_url: Text,
    #[serde(default)]
    pub description: Option<Text>,
    #[serde(default = "default_tz")]
    pub time_zone: TimeZoneName,
    #[serde(default = "default_theme")]
    pub theme: Text,
    #[serde(default)]
    pub logo: Option<Text>,
    #[serde(default = "default_history_days")]
    pub history_days: u32,
    #[serde(default = "default_recent_days")]
    pub recent_days: u32,
    #[serde(default = "default_freshness")]
    pub freshness: Dur,
    #[serde(default = "default_stale_after")]
    pub stale_after: Dur,
    #[serde(default = "default_feed_entries")]
    pub feed_entries: usize,
    #[serde(default)]
    pub links: Vec<Link>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub title: Text,
    pub url: Text,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub id: Text,
    pub name: Text,
    #[serde(default)]
    pub description: Option<Text>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub id: Text,
    pub name: Text,
    #[serde(default)]
    pub description: Option<Text>,
    #[serde(default)]
    pub group: Option<Text>,
    /// Hide the component while it is operational (Statuspage's `only_show_if_degraded`).
    #[serde(default)]
    pub only_show_if_degraded: bool,
}

/// A monitor. One flat shape for every kind keeps typos detectable (`deny_unknown_fields`);
/// validation checks which fields a kind needs. The daemon issue gives these life.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monitor {
    pub id: Text,
    pub component: Text,
    pub kind: MonitorKind,
    #[serde(default = "default_interval")]
    pub interval: Dur,
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// Results in a row that confirm a worse level (default 3; not for heartbeats, whose
    /// silence past `interval` + `grace` is the confirmed failure).
    #[serde(default)]
    pub failure_threshold: Option<u32>,
    /// Results in a row that confirm a better level (default 2; not for heartbeats: one ping is
    /// the recovery).
    #[serde(default)]
    pub success_threshold: Option<u32>,
    /// What the component becomes when this monitor confirms it down.
    #[serde(default = "default_down_status")]
    pub down_status: ComponentStatus,
    // http
    #[serde(default)]
    pub url: Option<Secret>,
    #[serde(default)]
    pub method: Option<Text>,
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    #[serde(default)]
    pub body: Option<Secret>,
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    #[serde(default)]
    pub verify_tls: Option<bool>,
    #[serde(default)]
    pub expected_status: Vec<Text>,
    #[serde(default)]
    pub degraded_above: Option<Dur>,
    // tcp, tls
    #[serde(default)]
    pub host: Option<Secret>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub send: Option<Secret>,
    #[serde(default)]
    pub expect: Option<Secret>,
    // dns
    #[serde(default)]
    pub name: Option<Secret>,
    #[serde(default)]
    pub record_type: Option<Text>,
    #[serde(default)]
    pub resolvers: Vec<Text>,
    // tls
    #[serde(default)]
    pub warn_days: Option<u32>,
    // heartbeat
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default)]
    pub grace: Option<Dur>,
    /// PEM file of CAs to trust instead of the system's (http, tls).
    #[serde(default)]
    pub ca_file: Option<Text>,
    /// Conditions in Pharos' condition language (see `crate::condition`).
    #[serde(default)]
    pub conditions: Vec<Text>,
    /// Open an automatic incident when this monitor confirms its component down (and resolve it
    /// on recovery).
    #[serde(default = "yes")]
    pub open_incident: bool,
    /// Private: the monitor runs and logs, but nothing public comes from it (no status, no
    /// uptime or latency figure, no automatic incident, no notification, not named anywhere).
    #[serde(default)]
    pub private: bool,
    #[serde(default)]
    pub incident_title: Option<Text>,
    #[serde(default)]
    pub incident_message: Option<Text>,
    #[serde(default)]
    pub recovery_message: Option<Text>,
    /// What recovery does to the automatic incident (see [`AutoResolve`]).
    #[serde(default)]
    pub auto_resolve: AutoResolve,
}

/// Whether a monitor's recovery resolves the automatic incident it opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoResolve {
    /// Resolve it unless an admin has written to it (then post `monitoring` and leave
    /// resolving to them).
    #[default]
    Untouched,
    /// Always resolve it.
    Always,
    /// Never resolve it: post `monitoring`; an admin resolves.
    Never,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    /// The local output folder; `--out` overrides it.
    #[serde(default = "default_output")]
    pub output: Text,
    #[serde(default)]
    pub cache_control: CacheControl,
    #[serde(default)]
    pub targets: Vec<Target>,
}

impl Default for Publish {
    fn default() -> Self {
        Publish {
            output: default_output(),
            cache_control: CacheControl::default(),
            targets: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheControl {
    /// For content-hashed assets.
    #[serde(default = "default_cache_immutable")]
    pub immutable: Text,
    /// For HTML, JSON, feeds, badges and other files whose name stays the same.
    #[serde(default = "default_cache_short")]
    pub short: Text,
}

impl Default for CacheControl {
    fn default() -> Self {
        CacheControl {
            immutable: default_cache_immutable(),
            short: default_cache_short(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    S3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChecksumMode {
    WhenRequired,
    WhenSupported,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: Text,
    pub kind: TargetKind,
    /// A target can be kept in the config but switched off.
    #[serde(default = "yes")]
    pub enabled: bool,
    pub bucket: Text,
    #[serde(default)]
    pub prefix: Option<Text>,
    #[serde(default)]
    pub region: Option<Text>,
    #[serde(default)]
    pub endpoint: Option<Text>,
    #[serde(default)]
    pub path_style: Option<bool>,
    #[serde(default)]
    pub access_key_id: Option<Secret>,
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    #[serde(default)]
    pub checksum: Option<ChecksumMode>,
    /// Time to establish a connection.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Dur,
    /// Time for one attempt of one request (a store that accepts and never answers).
    #[serde(default = "default_attempt_timeout")]
    pub attempt_timeout: Dur,
    /// Time for one request with its retries.
    #[serde(default = "default_operation_timeout")]
    pub operation_timeout: Dur,
    /// How long content-hashed assets stay after no page uses them (CDN-cached pages still load).
    #[serde(default = "default_asset_grace")]
    pub asset_grace: Dur,
    /// Uploads in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Webhook,
    Slack,
    Discord,
    Teams,
    Telegram,
    GoogleChat,
    Mattermost,
    Email,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    Starttls,
    Tls,
    None,
}

/// A notification channel (see [`crate::notify`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    pub id: Text,
    pub kind: ChannelKind,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub url: Option<Secret>,
    /// HMAC key for signed webhooks.
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    // telegram
    #[serde(default)]
    pub bot_token: Option<Secret>,
    #[serde(default)]
    pub chat_id: Option<Text>,
    /// The Bot API's address (default https://api.telegram.org).
    #[serde(default)]
    pub api_url: Option<Text>,
    // email
    #[serde(default)]
    pub smtp_host: Option<Text>,
    #[serde(default)]
    pub smtp_port: Option<u16>,
    /// `starttls` (default; port 587), `tls` (implicit TLS; port 465) or `none` (loopback relays).
    #[serde(default)]
    pub smtp_tls: Option<SmtpTls>,
    #[serde(default)]
    pub smtp_username: Option<Secret>,
    #[serde(default)]
    pub smtp_password: Option<Secret>,
    #[serde(default)]
    pub from: Option<Text>,
    #[serde(default)]
    pub to: Vec<Text>,
    /// One delivery attempt (default 10s).
    #[serde(default)]
    pub timeout: Option<Dur>,
    // filters
    #[serde(default)]
    pub components: Vec<Text>,
    #[serde(default)]
    pub events: Vec<EventKind>,
    #[serde(default)]
    pub min_impact: Option<Impact>,
    /// Also tell this channel what its operators must fix (`content_problem`): a broken
    /// content file, a deleted open incident, a cluster region that fell silent.
    #[serde(default)]
    pub operator: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleAction {
    Publish,
    Verify,
    Rollup,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub id: Text,
    /// Cron expression (5, 6 or 7 fields) in the site time zone.
    pub cron: Text,
    pub action: ScheduleAction,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    #[serde(default = "default_database")]
    pub path: Text,
    #[serde(default = "default_raw_retention")]
    pub raw_retention: Dur,
    #[serde(default = "default_rollup_retention")]
    pub rollup_retention: Dur,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            path: default_database(),
            raw_retention: default_raw_retention(),
            rollup_retention: default_rollup_retention(),
        }
    }
}

/// `pharos run` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Daemon {
    /// Where heartbeat pings are received (`POST /heartbeat/<token>`); loopback by default.
    #[serde(default = "default_listen")]
    pub listen: Text,
    /// Wait this long after a change for more changes before rendering (bursts become one render).
    #[serde(default = "default_debounce")]
    pub debounce: Dur,
    /// Checks running at the same time, at most.
    #[serde(default = "default_max_concurrent_checks")]
    pub max_concurrent_checks: usize,
    /// A content file is published once it has not changed for this long (an editor that
    /// truncates and then writes in parts is never read half way); a deleted one is gone
    /// after this long.
    #[serde(default = "default_settle")]
    pub settle: Dur,
}

impl Default for Daemon {
    fn default() -> Self {
        Daemon {
            listen: default_listen(),
            debounce: default_debounce(),
            max_concurrent_checks: DEFAULT_MAX_CONCURRENT_CHECKS,
            settle: default_settle(),
        }
    }
}

/// Bounds on what one content file may hold: one file cannot stall the pipeline or bloat the
/// pages, feeds and store. A file over a limit is refused with its size (its last good version
/// stays published).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest content file (`256KB`, `1MB`; KB = 1024 bytes).
    #[serde(default = "default_file_size")]
    pub file_size: Size,
    /// Most updates in one incident or maintenance file.
    #[serde(default = "default_updates")]
    pub updates: usize,
}

pub const DEFAULT_FILE_SIZE: u64 = 256 * 1024;
pub const DEFAULT_UPDATES: usize = 200;

fn default_file_size() -> Size {
    Size(DEFAULT_FILE_SIZE)
}
fn default_updates() -> usize {
    DEFAULT_UPDATES
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            file_size: default_file_size(),
            updates: default_updates(),
        }
    }
}

fn default_connect_timeout() -> Dur {
    dur("5s")
}
fn default_attempt_timeout() -> Dur {
    dur("20s")
}
fn default_operation_timeout() -> Dur {
    dur("60s")
}
fn default_asset_grace() -> Dur {
    dur("7d")
}
fn default_concurrency() -> usize {
    16
}
fn default_listen() -> Text {
    Text::from(DEFAULT_LISTEN)
}
fn default_debounce() -> Dur {
    dur(DEFAULT_DEBOUNCE)
}
fn default_settle() -> Dur {
    dur(DEFAULT_SETTLE)
}
fn default_max_concurrent_checks() -> usize {
    DEFAULT_MAX_CONCURRENT_CHECKS
}
fn yes() -> bool {
    true
}
fn default_content_dir() -> Text {
    Text::from(DEFAULT_CONTENT_DIR)
}
fn default_tz() -> TimeZoneName {
    TimeZoneName(Tz::UTC)
}
fn default_theme() -> Text {
    Text::from(DEFAULT_THEME)
}
fn default_history_days() -> u32 {
    DEFAULT_HISTORY_DAYS
}
fn default_recent_days() -> u32 {
    DEFAULT_RECENT_DAYS
}
fn dur(s: &str) -> Dur {
    Dur(crate::time::parse_duration(s).expect("default durations are valid"))
}
fn default_freshness() -> Dur {
    dur(DEFAULT_FRESHNESS)
}
fn default_stale_after() -> Dur {
    dur(DEFAULT_STALE_AFTER)
}
fn default_feed_entries() -> usize {
    DEFAULT_FEED_ENTRIES
}
fn default_interval() -> Dur {
    dur(DEFAULT_INTERVAL)
}
fn default_timeout() -> Dur {
    dur(DEFAULT_TIMEOUT)
}
fn default_down_status() -> ComponentStatus {
    ComponentStatus::MajorOutage
}
fn default_output() -> Text {
    Text::from(DEFAULT_OUTPUT_DIR)
}
fn default_cache_immutable() -> Text {
    Text::from(CACHE_IMMUTABLE)
}
fn default_cache_short() -> Text {
    Text::from(CACHE_SHORT)
}
fn default_database() -> Text {
    Text::from(DEFAULT_DATABASE)
}
fn default_raw_retention() -> Dur {
    dur(DEFAULT_RAW_RETENTION)
}
fn default_rollup_retention() -> Dur {
    dur(DEFAULT_ROLLUP_RETENTION)
}

impl Config {
    /// Parse and validate config text. `file` names it in messages and anchors relative paths.
    pub fn parse(text: &str, file: &Path) -> Result<Config, Problems> {
        match Config::check(text, file) {
            (Some(config), problems) if problems.is_empty() => Ok(config),
            (_, problems) => Err(Problems(problems)),
        }
    }

    /// Every problem of config text, in file order, and the config as far as it could be read
    /// (a node serde refused left out or replaced by a stand-in), so that checks that go on
    /// from it (content against its components) find their problems in the same run.
    pub fn check(text: &str, file: &Path) -> (Option<Config>, Vec<Problem>) {
        if let Some(p) = too_deep_problem(file, text, 0, "config") {
            return (None, vec![p]);
        }
        let read = match crate::yamlcheck::read::<Config>(text, 0) {
            Ok(read) => read,
            Err(errors) => {
                let mut problems: Vec<Problem> = errors
                    .iter()
                    .map(|e| yaml_problem(file, text, e, 0, "config"))
                    .collect();
                problems.sort_by_key(|p| (p.pos.line, p.pos.col));
                return (None, problems);
            }
        };
        let mut problems: Vec<Problem> = read
            .problems
            .iter()
            .map(|f| serde_problem(file, &read.doc, f))
            .collect();
        let config = read.value.map(|mut config| {
            config.file = file.to_path_buf();
            config.base_dir = file
                .parent()
                .map(Path::to_path_buf)
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or_else(|| PathBuf::from("."));
            problems.extend(validate::validate(&config, &read.doc));
            config
        });
        problems.sort_by_key(|p| (p.pos.line, p.pos.col));
        (config, problems)
    }

    /// Read and parse a config file; checks that files it names (the logo) exist.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        match Config::load_checked(path)? {
            (Some(config), problems) if problems.is_empty() => Ok(config),
            (_, problems) => Err(Problems(problems).into()),
        }
    }

    /// [`Config::check`] of a file, with the files it names; `Err` only when it cannot be read.
    pub fn load_checked(path: &Path) -> anyhow::Result<(Option<Config>, Vec<Problem>)> {
        use anyhow::Context;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let (config, mut problems) = Config::check(&text, path);
        if let Some(config) = &config
            && let Some(logo) = &config.site.logo
        {
            let p = config.resolve(logo);
            if !p.is_file() {
                problems.push(Problem {
                    file: path.to_path_buf(),
                    pos: Spans::index(&text).at("site.logo"),
                    entity: "site.logo".into(),
                    message: format!(
                        "file {} does not exist (paths are relative to the config file's folder)",
                        p.display()
                    ),
                });
                problems.sort_by_key(|p| (p.pos.line, p.pos.col));
            }
        }
        Ok((config, problems))
    }

    /// A path from the config, relative to the config file's folder.
    pub fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    pub fn tz(&self) -> Tz {
        self.site.time_zone.0
    }
    /// The cluster settings, when switched on.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref().filter(|c| c.enabled)
    }

    /// The subscription settings, when switched on.
    pub fn subscriptions(&self) -> Option<&Subscriptions> {
        self.subscriptions.as_ref().filter(|s| s.enabled)
    }

    pub fn content_path(&self) -> PathBuf {
        self.resolve(&self.content_dir)
    }
    pub fn output_path(&self) -> PathBuf {
        self.resolve(&self.publish.output)
    }
    pub fn database_path(&self) -> PathBuf {
        self.resolve(&self.store.path)
    }
}

/// Lists whose items are named by a field: (path, noun, field).
const NAMED_LISTS: [(&str, &str, &str); 6] = [
    ("groups", "group", "id"),
    ("components", "component", "id"),
    ("monitors", "monitor", "id"),
    ("notifications", "notification", "id"),
    ("schedules", "schedule", "id"),
    ("publish.targets", "publish target", "name"),
];

/// The entity a config path is about, as validation names it (`monitors[1].url` ->
/// `monitor "api"`, and `url` left to say), or the path itself (`site.time_zone`).
fn entity_of(doc: &Doc, path: &str) -> (String, String) {
    for (list, noun, field) in NAMED_LISTS {
        let Some((index, rest)) = path
            .strip_prefix(list)
            .and_then(|r| r.strip_prefix('['))
            .and_then(|r| r.split_once(']'))
        else {
            continue;
        };
        let item = format!("{list}[{index}]");
        let entity = match doc.text(&format!("{item}.{field}")) {
            Some(id) if !id.contains("${") => format!("{noun} {id:?}"),
            _ => item,
        };
        return (entity, rest.trim_start_matches('.').to_string());
    }
    match path {
        "" => ("config".into(), String::new()),
        p => (p.to_string(), String::new()),
    }
}

/// A problem serde found, named as validation names its problems.
fn serde_problem(file: &Path, doc: &Doc, f: &Found) -> Problem {
    let about = match f.what {
        // An unknown key is a problem of the mapping it is in.
        About::UnknownKey => f.path.rsplit_once('.').map_or("", |(parent, _)| parent),
        About::Value | About::MissingField => f.path.as_str(),
    };
    let (entity, field) = entity_of(doc, about);
    let mut message = if field.is_empty() {
        f.message.clone()
    } else {
        format!("{field}: {}", f.message)
    };
    if f.what == About::UnknownKey && !message.contains("did you mean") {
        message.push_str(" (check the spelling; every field is documented in config.example.yaml)");
    }
    Problem {
        file: file.to_path_buf(),
        pos: f.pos,
        entity,
        message,
    }
}
