//! Notifications end to end: real receivers on loopback (an HTTP server recording requests, an
//! SMTP sink), the daemon detecting an outage, the outbox surviving failures and restarts.

use crate::common;
use crate::common::receivers;

use assert_cmd::Command;
use common::{Daemon, TestSite, free_port, servers, wait_until};
use pharos::config::Config;
use receivers::{HttpReceiver, Request, SmtpSink};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

fn pharos(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("pharos").unwrap();
    c.env_remove("PHAROS_CONFIG")
        .env_remove("PHAROS_FAILPOINT")
        .env("WEBHOOK_SECRET", "whsec-CANARY-1")
        .current_dir(dir);
    c
}

fn run(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = pharos(dir).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `pharos ARGS` in `dir`, which must succeed; its stdout.
fn run_ok(dir: &Path, args: &[&str]) -> String {
    let (ok, stdout, stderr) = run(dir, args);
    assert!(ok, "pharos {args:?}: {stderr}");
    stdout
}

/// The idempotency keys of `requests`, in order.
fn keys(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .map(|r| r.headers["idempotency-key"].clone())
        .collect()
}

/// `t=..,v1=..` checked against the body, as a receiver would.
fn verify_signature(secret: &str, r: &Request) {
    let header = &r.headers["x-pharos-signature"];
    let t: i64 = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (chrono::Utc::now().timestamp() - t).abs() < 120,
        "the timestamp is fresh (replays can be refused)"
    );
    assert_eq!(
        header,
        &pharos::notify::channels::signature(secret, t, &r.body)
    );
    // And independently of Pharos' own function: HMAC-SHA256 over "<t>.<body>".
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&r.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(header.ends_with(&format!("v1={expected}")), "{header}");
}

fn site_yaml(extra: &str) -> String {
    format!(
        "site:\n  title: Notify Test\n  base_url: https://status.notify.test\n  time_zone: UTC\ncomponents:\n  - id: api\n    name: Public API\n  - id: web\n    name: Website\n{extra}"
    )
}

#[test]
fn an_outage_reaches_a_webhook_slack_and_an_inbox_exactly_once() {
    let target = servers::HttpTarget::start();
    let hooks = HttpReceiver::start();
    let smtp = SmtpSink::start();
    let site = TestSite::empty();
    let port = free_port();
    site.write(
        "config.yaml",
        &site_yaml(&format!(
            "monitors:
  - id: api-http
    component: api
    kind: http
    url: {}
    interval: 1s
    timeout: 500ms
    failure_threshold: 2
    success_threshold: 2
    incident_title: API is down
    incident_message: We see errors.
    recovery_message: All good again.
notifications:
  - id: ops-webhook
    kind: webhook
    url: {}
    secret: whsec-CANARY-1
    headers:
      X-Team: ops
  - id: ops-slack
    kind: slack
    url: {}
  - id: ops-mail
    kind: email
    smtp_host: 127.0.0.1
    smtp_port: {}
    smtp_tls: none
    from: status@notify.test
    to: [oncall@notify.test, boss@notify.test]
daemon:
  listen: 127.0.0.1:{port}
  debounce: 50ms
",
            target.url("/health"),
            hooks.url("/hook"),
            hooks.url("/slack/T000/B000/XXXX"),
            smtp.addr.port()
        )),
    );
    let daemon = Daemon::start(&site);
    wait_until(20, "first render", || {
        site.out().join("index.html").exists()
    });
    // Evidence: the daemon checked (and found it healthy) a few times; nothing is in the outbox.
    common::wait_for_results(&site, "api-http", 2);
    let events: i64 = common::db(&site)
        .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(events, 0, "no event from a healthy start");
    assert!(
        hooks.requests().is_empty() && smtp.mails().is_empty(),
        "a healthy start notifies nobody"
    );

    target.set(|a| a.status = 503);
    let by = |path: &str| -> Vec<Request> {
        hooks
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with(path))
            .collect()
    };
    wait_until(30, "the outage reaches every channel", || {
        by("/hook").len() >= 2 && by("/slack").len() >= 2 && smtp.mails().len() >= 2
    });
    // Let any duplicate arrive before counting.
    // Let any duplicate arrive before counting: every channel has handled every event.
    wait_until(10, "the outbox handled", || {
        common::outbox_drained(&site, &["ops-webhook", "ops-slack", "ops-mail"])
    });
    let webhook = by("/hook");
    let kinds: Vec<String> = webhook
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        ["component_status", "incident_opened"],
        "exactly once each, in order"
    );
    let component = webhook[0].json();
    assert_eq!(component["version"], 1);
    assert_eq!(component["component"]["id"], "api");
    assert_eq!(component["component"]["name"], "Public API");
    assert_eq!(component["component"]["old_status"], "operational");
    assert_eq!(component["component"]["new_status"], "major_outage");
    assert_eq!(component["page"]["url"], "https://status.notify.test/");
    assert_eq!(
        component["url"],
        "https://status.notify.test/components/api/index.html"
    );
    let incident = webhook[1].json();
    assert_eq!(incident["incident"]["title"], "API is down");
    assert_eq!(incident["incident"]["status"], "investigating");
    assert_eq!(incident["incident"]["update"], "We see errors.");
    assert!(
        incident["url"]
            .as_str()
            .unwrap()
            .starts_with("https://status.notify.test/incidents/")
    );
    for r in &webhook {
        verify_signature("whsec-CANARY-1", r);
        assert_eq!(r.headers["x-team"], "ops");
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["x-pharos-delivery"], r.headers["idempotency-key"]);
        assert_eq!(r.json()["id"], r.headers["idempotency-key"].as_str());
    }
    let ks = keys(&webhook);
    assert_ne!(ks[0], ks[1]);

    let slack = by("/slack");
    assert_eq!(slack.len(), 2);
    assert_eq!(
        keys(&slack),
        ks,
        "one key per event, the same on every channel"
    );
    let first = slack[0].json();
    assert_eq!(first["blocks"][0]["type"], "header");
    assert_eq!(
        first["blocks"][0]["text"]["text"],
        "Public API: Major outage"
    );
    assert!(
        first["text"]
            .as_str()
            .unwrap()
            .contains("Public API: Major outage")
    );

    let mails = smtp.mails();
    assert_eq!(mails.len(), 2);
    for m in &mails {
        assert_eq!(m.to, ["<oncall@notify.test>", "<boss@notify.test>"]);
        assert!(
            m.data.contains("multipart/alternative"),
            "plain text and HTML"
        );
        assert!(m.data.contains("text/html"));
    }
    assert!(
        mails[0]
            .data
            .contains("Subject: [Notify Test] Public API: Major outage")
    );
    assert!(
        mails[0]
            .data
            .contains(&format!("Message-ID: <{}@pharos>", ks[0]))
    );
    assert!(
        mails[1]
            .data
            .contains("https://status.notify.test/incidents/"),
        "the incident link"
    );

    // Recovery: the all-clear and the resolved incident, once each.
    target.set(|a| a.status = 200);
    wait_until(30, "recovery reaches the webhook", || {
        by("/hook").len() >= 4
    });
    wait_until(10, "the outbox handled", || {
        common::outbox_drained(&site, &["ops-webhook", "ops-slack", "ops-mail"])
    });
    let kinds: Vec<String> = by("/hook")
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "component_status",
            "incident_opened",
            "component_status",
            "incident_resolved"
        ]
    );
    wait_until(10, "recovery mails", || smtp.mails().len() == 4);
    daemon.stop();

    // The feeds carry the same events.
    let atom = site.read("history.atom");
    assert!(atom.contains("Public API: Major outage"), "{atom}");
    assert!(atom.contains("Public API: Operational"));
    assert!(atom.contains("API is down"));
    // No secret in anything published.
    for (path, bytes) in site.files() {
        let text = String::from_utf8_lossy(&bytes);
        for secret in ["whsec-CANARY-1", "/slack/T000/B000/XXXX", "/hook"] {
            assert!(!text.contains(secret), "{path} leaks {secret}");
        }
    }
}

/// A site with one incident opened through the CLI (an event in the outbox) and `channels`.
fn site_with_event(channels: &str) -> TestSite {
    let site = TestSite::empty();
    site.write(
        "config.yaml",
        &site_yaml(&format!("notifications:\n{channels}")),
    );
    // Channels start at the newest event: register them before the event exists.
    let (ok, _, stderr) = run(site.path(), &["notify", "send"]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(
        site.path(),
        &[
            "incident",
            "new",
            "Checkout errors",
            "--component",
            "api=partial_outage",
            "-m",
            "We are **looking** into it. <script>x</script>",
        ],
    );
    assert!(ok, "{stderr}");
    site
}

#[test]
fn each_chat_channel_gets_a_message_in_its_own_format() {
    let hooks = HttpReceiver::start();
    let mut channels = String::new();
    for kind in ["slack", "discord", "teams", "google_chat", "mattermost"] {
        channels.push_str(&format!(
            "  - id: {kind}\n    kind: {kind}\n    url: {}\n",
            hooks.url(&format!("/{kind}"))
        ));
    }
    channels.push_str(&format!(
        "  - id: tg\n    kind: telegram\n    bot_token: 123:TOKEN-CANARY\n    chat_id: \"-10042\"\n    api_url: {}\n",
        hooks.url("/tg")
    ));
    let site = site_with_event(&channels);
    let (ok, _, stderr) = run(site.path(), &["notify", "send"]);
    assert!(ok, "{stderr}");
    let got: BTreeMap<String, serde_json::Value> = hooks
        .requests()
        .into_iter()
        .map(|r| (r.path.clone(), r.json()))
        .collect();
    assert_eq!(got.len(), 6, "{:?}", got.keys());
    let title = "New incident: Checkout errors";
    let url = |v: &serde_json::Value| {
        v.to_string()
            .contains("https://status.notify.test/incidents/")
    };

    let slack = &got["/slack"];
    assert_eq!(slack["blocks"][0]["text"]["text"], title);
    assert!(
        slack["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("&lt;script&gt;"),
        "mrkdwn control characters are escaped"
    );
    let discord = &got["/discord"];
    assert_eq!(discord["embeds"][0]["title"], title);
    assert_eq!(
        discord["embeds"][0]["color"], 0xfb8f44,
        "partial outage orange"
    );
    assert_eq!(discord["allowed_mentions"]["parse"], serde_json::json!([]));
    let teams = &got["/teams"];
    assert_eq!(
        teams["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(teams["attachments"][0]["content"]["body"][0]["text"], title);
    assert!(
        got["/google_chat"]["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!("*{title}*"))
    );
    assert!(
        got["/mattermost"]["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!("#### {title}"))
    );
    let tg = &got["/tg/bot123:TOKEN-CANARY/sendMessage"];
    assert_eq!(tg["chat_id"], "-10042");
    assert_eq!(tg["parse_mode"], "HTML");
    assert!(
        tg["text"].as_str().unwrap().contains("&lt;script&gt;"),
        "HTML is escaped"
    );
    for (path, v) in &got {
        assert!(url(v), "{path} links to the incident");
        assert!(
            v.to_string().contains("Public API"),
            "{path} names the component"
        );
    }

    // Sent once: another run sends nothing.
    let (ok, _, _) = run(site.path(), &["notify", "send"]);
    assert!(ok);
    assert_eq!(hooks.requests().len(), 6);
}

#[test]
fn filters_pick_components_kinds_and_impact() {
    let hooks = HttpReceiver::start();
    let site = TestSite::empty();
    let channel = |id: &str, filter: &str| {
        format!(
            "  - id: {id}\n    kind: webhook\n    url: {}\n{filter}",
            hooks.url(&format!("/{id}"))
        )
    };
    let channels = [
        channel("all", "    secret: ${WEBHOOK_SECRET}\n"),
        channel("web-only", "    components: [web]\n"),
        channel("resolved-only", "    events: [incident_resolved]\n"),
        channel("critical-only", "    min_impact: critical\n"),
    ]
    .concat();
    site.write(
        "config.yaml",
        &site_yaml(&format!("notifications:\n{channels}")),
    );
    assert!(run(site.path(), &["notify", "send"]).0);
    let (ok, _, stderr) = run(
        site.path(),
        &[
            "incident",
            "new",
            "API errors",
            "--component",
            "api=partial_outage",
            "-m",
            "Looking.",
        ],
    );
    assert!(ok, "{stderr}");
    let id = std::fs::read_dir(site.path().join("content/incidents"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let (ok, _, stderr) = run(site.path(), &["incident", "resolve", &id, "-m", "Fixed."]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(site.path(), &["notify", "send"]);
    assert!(ok, "{stderr}");
    let count = |path: &str| {
        hooks
            .requests()
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.json()["event"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(count("/all"), ["incident_opened", "incident_resolved"]);
    for r in hooks.requests().iter().filter(|r| r.path == "/all") {
        verify_signature("whsec-CANARY-1", r);
    }
    assert!(count("/web-only").is_empty(), "the incident names only api");
    assert_eq!(count("/resolved-only"), ["incident_resolved"]);
    assert!(
        count("/critical-only").is_empty(),
        "partial outage is a major impact"
    );
}

#[test]
fn notify_test_prints_the_answer_and_errors_leak_no_secret() {
    let hooks = HttpReceiver::start();
    let closed = free_port();
    let site = TestSite::empty();
    site.write(
        "config.yaml",
        &site_yaml(&format!(
            "notifications:
  - id: good
    kind: discord
    url: {}
  - id: down
    kind: slack
    url: http://127.0.0.1:{closed}/services/SECRET-PATH-CANARY
  - id: refused
    kind: webhook
    url: {}
",
            hooks.url("/discord"),
            hooks.url("/refuse")
        )),
    );
    let (ok, stdout, stderr) = run(site.path(), &["notify", "test", "good"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("good: HTTP 200: ok"), "{stdout}");
    let r = &hooks.requests()[0];
    assert!(
        r.json()["embeds"][0]["title"]
            .as_str()
            .unwrap()
            .contains("Test notification")
    );

    let (ok, _, stderr) = run(site.path(), &["notify", "test", "down"]);
    assert!(!ok);
    assert!(stderr.contains("down:"), "{stderr}");
    assert!(!stderr.contains("SECRET-PATH-CANARY"), "{stderr}");

    hooks.fail_next(1);
    let (ok, _, stderr) = run(site.path(), &["notify", "test", "refused"]);
    assert!(!ok);
    assert!(stderr.contains("HTTP 500: try again"), "{stderr}");

    let (ok, _, stderr) = run(site.path(), &["notify", "test", "goood"]);
    assert!(!ok);
    assert!(stderr.contains("did you mean \"good\""), "{stderr}");

    // A pending event to the closed port: the error is stored and printed without the URL.
    let _ = run(site.path(), &["notify", "send"]);
    let (ok, _, stderr) = run(
        site.path(),
        &[
            "incident",
            "new",
            "X",
            "--component",
            "api=degraded_performance",
            "-m",
            "x",
        ],
    );
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(site.path(), &["notify", "send"]);
    assert!(!ok, "a failing channel fails the run");
    assert!(stderr.contains("down"), "{stderr}");
    assert!(!stderr.contains("SECRET-PATH-CANARY"), "{stderr}");
    let config = Config::load(&site.config_path()).unwrap();
    let mut store = pharos::store::Store::open(&config.database_path()).unwrap();
    let state = store.channel_state("down").unwrap();
    assert!(!state.last_error.unwrap().contains("SECRET-PATH-CANARY"));
}

#[test]
fn maintenance_windows_announce_their_schedule_and_start() {
    let hooks = HttpReceiver::start();
    let site = TestSite::empty();
    let port = free_port();
    site.write(
        "config.yaml",
        &site_yaml(&format!(
            "notifications:\n  - id: hook\n    kind: webhook\n    url: {}\n    events: [maintenance_scheduled, maintenance_started, maintenance_completed]\ndaemon:\n  listen: 127.0.0.1:{port}\n  debounce: 50ms\n",
            hooks.url("/")
        )),
    );
    assert!(
        run(site.path(), &["notify", "send"]).0,
        "register the channel"
    );
    let minute = |m: i64| {
        let t = chrono::Utc::now() + chrono::Duration::minutes(m);
        t.format("%Y-%m-%d %H:%M").to_string()
    };
    let (ok, _, stderr) = run(
        site.path(),
        &[
            "maintenance",
            "new",
            "Running now",
            "--component",
            "web",
            "--from",
            &minute(-1),
            "--until",
            &minute(30),
            "-m",
            "Now.",
        ],
    );
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(
        site.path(),
        &[
            "maintenance",
            "new",
            "Next week",
            "--component",
            "api",
            "--from",
            &minute(7 * 1440),
            "--until",
            &minute(7 * 1440 + 60),
            "-m",
            "Later.",
        ],
    );
    assert!(ok, "{stderr}");
    let daemon = Daemon::start(&site);
    wait_until(20, "two maintenance events", || hooks.requests().len() >= 2);
    wait_until(10, "the outbox handled", || {
        common::outbox_drained(&site, &["hook"])
    });
    daemon.stop();
    let mut got: Vec<(String, String)> = hooks
        .requests()
        .iter()
        .map(|r| {
            let v = r.json();
            (
                v["event"].as_str().unwrap().to_string(),
                v["maintenance"]["title"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("maintenance_scheduled".to_string(), "Next week".to_string()),
            ("maintenance_started".to_string(), "Running now".to_string())
        ]
    );
}

mod delivery;
