//! Subscriptions end to end through the bucket: requests wait in a private inbox bucket on an
//! in-process S3 server, the real daemon reads them, mails an SMTP sink on loopback, and keeps
//! capability pages in the site bucket.

use super::inbox_keys;
use crate::common;

use common::receivers::{Mail, SmtpSink};
use common::s3::{INBOX, KEY, POST_KEY, POST_SECRET, S3Server, SECRET, target_yaml};
use common::{Running, TestSite, free_port, pharos, start_daemon_env, wait_until};
use std::time::Duration;

/// Quoted-printable soft breaks and escapes undone (enough to read links and headers).
pub fn decoded(data: &str) -> String {
    let s = data.replace("=\r\n", "").replace("=\n", "");
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    let mut bytes = Vec::new();
    while i < b.len() {
        if b[i] == b'='
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            bytes.push(v);
            i += 3;
            continue;
        }
        bytes.push(b[i]);
        i += 1;
    }
    out.push_str(&String::from_utf8_lossy(&bytes));
    out
}

/// The capability page links in a mail: `(token, url)`.
pub fn page_links(mail: &Mail) -> Vec<String> {
    let text = decoded(&mail.data);
    let mut out = Vec::new();
    let marker = "/subscribe/t/";
    let mut rest = text.as_str();
    while let Some(i) = rest.find(marker) {
        let token: String = rest[i + marker.len()..]
            .chars()
            .take_while(|c| c.is_ascii_hexdigit())
            .collect();
        if token.len() == 40 && !out.contains(&token) {
            out.push(token);
        }
        rest = &rest[i + marker.len()..];
    }
    out
}

pub fn header<'a>(mail: &'a Mail, name: &str) -> Option<&'a str> {
    mail.data
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
}

pub fn to(mails: &[Mail], address: &str) -> Vec<Mail> {
    mails
        .iter()
        .filter(|m| m.to.iter().any(|t| t.contains(address)))
        .cloned()
        .collect()
}

/// A site with two components, the S3 server as its target and inbox, and the sink as SMTP.
pub fn site_with(s3: &S3Server, smtp: &SmtpSink, extra: &str) -> TestSite {
    site_at(s3, smtp, "https://status.sub.test", true, extra)
}

/// The same at `base_url`, publishing to the S3 server's site bucket or only to `publish/`.
pub fn site_at(
    s3: &S3Server,
    smtp: &SmtpSink,
    base_url: &str,
    to_s3: bool,
    extra: &str,
) -> TestSite {
    let site = TestSite::empty();
    let endpoint = s3.endpoint();
    site.write(
        "config.yaml",
        &format!(
            "site:
  title: Sub Test
  base_url: {base_url}
  time_zone: UTC
components:
  - id: api
    name: Public API
  - id: web
    name: Website
{}
subscriptions:
  inbox:
    bucket: {INBOX}
    endpoint: {endpoint}
    path_style: true
    region: us-east-1
    access_key_id: {KEY}
    secret_access_key: {SECRET}
  post_access_key_id: {POST_KEY}
  post_secret_access_key: {POST_SECRET}
  poll: 1s
  smtp_host: 127.0.0.1
  smtp_port: {}
  smtp_tls: none
  from: status@sub.test
{extra}daemon:
  listen: 127.0.0.1:{}
  debounce: 50ms
",
            if to_s3 {
                target_yaml(&endpoint, "")
            } else {
                String::new()
            },
            smtp.addr.port(),
            free_port()
        ),
    );
    site
}

/// Put a request into the inbox as the forms do (object key, body; no metadata), behind the
/// server's back (the forms' real posts are tested in `forms`).
pub fn put_request(s3: &S3Server, key: &str, body: &str) {
    let path = s3.root.path().join(INBOX).join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

fn page(s3: &S3Server, token: &str) -> Option<String> {
    s3.object(&format!("subscribe/t/{token}/index.html"))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The subscription worker's cursor has passed every outbox event (evidence that an event was
/// considered for email).
fn fanned_out(site: &TestSite) -> bool {
    let db = common::db(site);
    let newest: i64 = db
        .query_row("SELECT COALESCE(MAX(id), 0) FROM outbox", [], |r| r.get(0))
        .unwrap();
    let cursor: Option<i64> = db
        .query_row(
            "SELECT value FROM subscription_state WHERE name = 'cursor'",
            [],
            |r| r.get(0),
        )
        .ok();
    cursor.is_some_and(|c| c >= newest)
}

/// `pharos incident new TITLE --component C -m TEXT`, which must succeed.
fn new_incident(site: &TestSite, title: &str, component: &str, text: &str) {
    let out = pharos(
        site,
        &[
            "incident",
            "new",
            title,
            "--component",
            component,
            "-m",
            text,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn daemon(site: &TestSite, log: &std::path::Path) -> Running {
    start_daemon_env(site, log, &[])
}

#[test]
fn a_visitor_subscribes_confirms_hears_of_an_incident_and_unsubscribes() {
    let s3 = S3Server::with_inbox();
    let smtp = SmtpSink::start();
    let site = site_with(&s3, &smtp, "");
    let log = site.path().join("daemon.log");
    // Posted while no daemon runs: it waits in the bucket.
    put_request(&s3, "Jane.Doe@Example.com", "subscribe");
    let _d = daemon(&site, &log);

    wait_until(30, "the confirmation email", || {
        !to(&smtp.mails(), "Jane.Doe@example.com").is_empty()
    });
    let confirm_mail = to(&smtp.mails(), "Jane.Doe@example.com").remove(0);
    assert!(
        header(&confirm_mail, "Subject")
            .unwrap()
            .contains("Confirm"),
        "{}",
        confirm_mail.data
    );
    let confirm = page_links(&confirm_mail);
    assert_eq!(confirm.len(), 1, "{}", decoded(&confirm_mail.data));
    wait_until(10, "the confirm page in the bucket", || {
        page(&s3, &confirm[0]).is_some()
    });
    wait_until(10, "the inbox emptied", || inbox_keys(&s3).is_empty());

    put_request(&s3, &format!("t/{}/confirm", confirm[0]), "confirm");
    wait_until(20, "the welcome email", || {
        to(&smtp.mails(), "Jane.Doe@example.com").len() == 2
    });
    let welcome = to(&smtp.mails(), "Jane.Doe@example.com").remove(1);
    let manage = page_links(&welcome);
    assert_eq!(manage.len(), 1, "{}", decoded(&welcome.data));
    assert_ne!(manage, confirm);
    wait_until(10, "the manage page up, the used confirm page gone", || {
        page(&s3, &manage[0]).is_some() && page(&s3, &confirm[0]).is_none()
    });

    new_incident(
        &site,
        "API errors",
        "api=partial_outage",
        "Looking into it.",
    );
    wait_until(20, "the incident email", || {
        to(&smtp.mails(), "Jane.Doe@example.com").len() == 3
    });
    let news = to(&smtp.mails(), "Jane.Doe@example.com").remove(2);
    assert!(
        header(&news, "Subject").unwrap().contains("API errors"),
        "{}",
        news.data
    );
    let unsubscribe = header(&news, "List-Unsubscribe").expect("List-Unsubscribe");
    assert_eq!(
        unsubscribe,
        format!(
            "<https://status.sub.test/subscribe/t/{}/index.html>",
            manage[0]
        )
    );
    let body = decoded(&news.data);
    assert!(
        body.contains("text/plain") && body.contains("text/html"),
        "{body}"
    );
    assert!(
        body.contains("https://status.sub.test/incidents/"),
        "{body}"
    );
    assert!(body.contains("Unsubscribe"), "{body}");

    put_request(&s3, &format!("t/{}/unsubscribe", manage[0]), "unsubscribe");
    wait_until(20, "the manage page removed", || {
        page(&s3, &manage[0]).is_none()
    });
    let id = std::fs::read_dir(site.path().join("content/incidents"))
        .unwrap()
        .flatten()
        .map(|e| {
            e.file_name()
                .to_string_lossy()
                .trim_end_matches(".md")
                .to_string()
        })
        .next()
        .unwrap();
    let out = pharos(
        &site,
        &[
            "incident", "update", &id, "--status", "resolved", "-m", "Fixed.",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(20, "the update considered for email", || {
        fanned_out(&site)
            && common::db(&site)
                .query_row(
                    "SELECT COUNT(*) FROM outbox WHERE kind = 'incident_resolved'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap()
                == 1
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        to(&smtp.mails(), "Jane.Doe@example.com").len(),
        3,
        "no email after unsubscribing"
    );

    // The address is in no published object, no manifest and no log line (masked there).
    for key in s3.keys() {
        let bytes = s3.object(&key).unwrap();
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        assert!(!text.contains("jane.doe@"), "{key} holds the address");
    }
    for f in [".pharos-manifest.json", ".pharos-manifest-history.json"] {
        let m = std::fs::read_to_string(site.out().join(f)).unwrap_or_default();
        assert!(!m.contains("subscribe/t/"), "{f} lists a capability page");
    }
    let logs = std::fs::read_to_string(&log).unwrap().to_lowercase();
    assert!(!logs.contains("jane.doe@"), "a log line holds the address");
    assert!(logs.contains("j***@example.com"), "logs show it masked");
    assert!(
        logs.contains("subscriptions on"),
        "the start says subscriptions are on"
    );
    for t in confirm.iter().chain(&manage) {
        assert!(!logs.contains(t.as_str()), "a log line holds a token");
    }
}

fn confirmed_subscriber(site: &TestSite, address: &str) {
    let config = site.config();
    let mut store = pharos::store::Store::open(&config.database_path()).unwrap();
    let added = store
        .subscriber_add(
            address,
            &[],
            true,
            "admin",
            config.subscriptions().unwrap(),
            chrono::Utc::now(),
        )
        .unwrap();
    assert_eq!(added, pharos::store::Added::Confirmed);
}

#[test]
fn a_crash_after_reading_the_inbox_loses_no_request_and_a_crash_after_sending_repeats_one_email() {
    let s3 = S3Server::with_inbox();
    let smtp = SmtpSink::start();
    let site = site_with(&s3, &smtp, "");
    let log = site.path().join("daemon.log");
    put_request(&s3, "crash@example.com", "subscribe");
    let mut d = start_daemon_env(&site, &log, &[("PHAROS_FAILPOINT", "inbox-after-read")]);
    wait_until(30, "the daemon aborting after it read the request", || {
        d.try_wait().unwrap().is_some()
    });
    assert!(smtp.mails().is_empty());
    assert_eq!(
        inbox_keys(&s3).len(),
        1,
        "the request is still in the inbox"
    );

    // Now it records the request and sends, then dies before marking the email sent.
    let mut d = start_daemon_env(&site, &log, &[("PHAROS_FAILPOINT", "mail-after-send")]);
    wait_until(
        30,
        "the daemon aborting after the SMTP server took the email",
        || d.try_wait().unwrap().is_some(),
    );
    assert_eq!(to(&smtp.mails(), "crash@example.com").len(), 1);
    assert!(
        inbox_keys(&s3).is_empty(),
        "recorded and deleted before the crash"
    );

    let _d = daemon(&site, &log);
    wait_until(30, "the one repeat", || {
        to(&smtp.mails(), "crash@example.com").len() == 2
    });
    wait_until(10, "the email marked sent", || {
        common::db(&site)
            .query_row(
                "SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
            == 0
    });
    let mails = to(&smtp.mails(), "crash@example.com");
    assert_eq!(mails.len(), 2, "at most one duplicate");
    assert_eq!(
        header(&mails[0], "Message-ID"),
        header(&mails[1], "Message-ID")
    );
    assert_eq!(
        page_links(&mails[0]),
        page_links(&mails[1]),
        "the same confirm link"
    );
}

#[test]
fn rate_limits_junk_and_unknown_tokens_send_nothing_unbounded() {
    let s3 = S3Server::with_inbox();
    let smtp = SmtpSink::start();
    let site = site_with(&s3, &smtp, "");
    let log = site.path().join("daemon.log");
    let _d = daemon(&site, &log);
    // The same address five times (one after the other: the key is the address, so posts at
    // once would overwrite each other): three confirmations a day.
    for _ in 0..5 {
        put_request(&s3, "again@example.com", "subscribe");
        wait_until(20, "the inbox read", || inbox_keys(&s3).is_empty());
    }
    // Junk: not an address, an unknown action, a big object, a token nobody has, a bad token.
    put_request(&s3, "not-an-address", "subscribe");
    put_request(&s3, "who@example.com", "SECRET-CONTENT please");
    put_request(&s3, "big@example.com", &"x".repeat(4096));
    put_request(&s3, &format!("t/{}/confirm", "ab".repeat(20)), "confirm");
    put_request(&s3, "t/NOT-a-token/confirm", "confirm");
    wait_until(20, "the junk read and deleted", || {
        inbox_keys(&s3).is_empty()
    });
    wait_until(20, "three confirmations", || {
        to(&smtp.mails(), "again@example.com").len() == 3
    });
    let stats = common::db(&site)
        .query_row(
            "SELECT (SELECT value FROM subscription_state WHERE name = 'malformed'),
                    (SELECT value FROM subscription_state WHERE name = 'refused'),
                    (SELECT value FROM subscription_state WHERE name = 'limited')",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(stats, (4, 1, 2), "(malformed, refused, limited)");
    std::thread::sleep(Duration::from_millis(1500));
    let mails = smtp.mails();
    assert_eq!(
        mails.len(),
        3,
        "nothing to the junk: {:?}",
        mails.iter().map(|m| &m.to).collect::<Vec<_>>()
    );
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logs.contains("SECRET-CONTENT"),
        "a log line quotes an object"
    );
    assert!(!logs.contains("again@example.com") && !logs.contains("not-an-address"));
    assert!(logs.contains("a malformed object"), "junk is logged");
}

#[test]
fn subscribers_hear_of_scheduled_maintenance_and_get_a_reminder_before_it_starts() {
    let s3 = S3Server::with_inbox();
    let smtp = SmtpSink::start();
    let site = site_with(&s3, &smtp, "  reminder: 1h\n");
    let log = site.path().join("daemon.log");
    confirmed_subscriber(&site, "ops@example.com");
    let _d = daemon(&site, &log);
    wait_until(20, "the first site", || s3.object("index.html").is_some());
    // Starts in 1 h 4 s: announced now, reminded 4 s from now.
    let from = chrono::Utc::now() + chrono::Duration::seconds(3604);
    let until = from + chrono::Duration::hours(1);
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    site.write(
        "content/maintenance/db-upgrade.md",
        &format!(
            "---\ntitle: Database upgrade\ncomponents: [api]\nscheduled_for: {}\nscheduled_until: {}\n---\nA short pause in writes.\n",
            fmt(from),
            fmt(until)
        ),
    );
    wait_until(20, "the scheduled email", || {
        to(&smtp.mails(), "ops@example.com").len() == 1
    });
    let scheduled = to(&smtp.mails(), "ops@example.com").remove(0);
    assert!(
        header(&scheduled, "Subject")
            .unwrap()
            .contains("Maintenance scheduled"),
        "{}",
        scheduled.data
    );
    wait_until(20, "the reminder", || {
        to(&smtp.mails(), "ops@example.com").len() == 2
    });
    let reminder = to(&smtp.mails(), "ops@example.com").remove(1);
    assert!(
        header(&reminder, "Subject")
            .unwrap()
            .contains("Reminder: Database upgrade"),
        "{}",
        reminder.data
    );
    assert!(header(&reminder, "List-Unsubscribe").is_some());
}

/// Focus what `selector` finds in `tab` and press Enter.
fn press_enter(chrome: &mut common::browser::Browser, tab: &str, selector: &str) {
    chrome.focus(tab, selector);
    chrome.press_enter(tab);
}

/// With `PHAROS_SCREENSHOTS=DIR`, a screenshot of the page in `tab` as `DIR/<name>.png`.
fn shot(chrome: &mut common::browser::Browser, tab: &str, name: &str) {
    if let Ok(dir) = std::env::var("PHAROS_SCREENSHOTS") {
        let png = chrome.screenshot(tab);
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

fn heading(chrome: &mut common::browser::Browser, tab: &str) -> Vec<String> {
    let dom = scraper::Html::parse_document(&chrome.dom(tab));
    common::browser::text_of(&dom, "h1")
}

#[test]
#[cfg_attr(
    pharos_no_chromium,
    ignore = "no chromium on PATH: install Debian's chromium (.ci/run does) or set PHAROS_CHROMIUM"
)]
fn with_javascript_off_a_visitor_subscribes_confirms_hears_news_and_unsubscribes() {
    use common::browser::{browser, serve};
    let s3 = S3Server::with_inbox();
    let smtp = SmtpSink::start();
    // The CDN: a static server over the daemon's publish/ folder (capability pages included).
    let out = tempfile::tempdir().unwrap();
    let publish = out.path().join("publish");
    let base = serve(publish.clone());
    let site = site_at(&s3, &smtp, &format!("{base}/"), false, "");
    let config = std::fs::read_to_string(site.config_path()).unwrap();
    site.write(
        "config.yaml",
        &format!("{config}publish:\n  output: {}\n", publish.display()),
    );
    let log = site.path().join("daemon.log");
    let _d = daemon(&site, &log);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !publish.join("subscribe/index.html").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no subscribe page: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let (mut chrome, _watchdog) = browser();
    let tab = chrome.tab(false);
    let started = std::time::Instant::now();
    chrome.open(&tab, &format!("{base}/subscribe/index.html"));
    press_enter(&mut chrome, &tab, "#email");
    chrome.call(
        Some(&tab),
        "Input.insertText",
        serde_json::json!({"text": "reader@example.com"}),
    );
    press_enter(&mut chrome, &tab, "#email");
    assert!(
        chrome.next_load(&tab, Duration::from_secs(20)),
        "no page after subscribing"
    );
    assert_eq!(heading(&mut chrome, &tab), ["Check your inbox"]);

    wait_until(30, "the confirmation email", || {
        !to(&smtp.mails(), "reader@example.com").is_empty()
    });
    eprintln!("form submit to confirmation email: {:?}", started.elapsed());
    let link = page_links(&to(&smtp.mails(), "reader@example.com")[0]);
    chrome.open(&tab, &format!("{base}/subscribe/t/{}/index.html", link[0]));
    assert_eq!(heading(&mut chrome, &tab), ["Confirm your subscription"]);
    shot(&mut chrome, &tab, "confirm-page");
    press_enter(&mut chrome, &tab, "form button");
    assert!(
        chrome.next_load(&tab, Duration::from_secs(20)),
        "no page after confirming"
    );
    assert!(
        heading(&mut chrome, &tab)[0].contains("onfirm"),
        "{:?}",
        heading(&mut chrome, &tab)
    );

    wait_until(30, "the welcome email", || {
        to(&smtp.mails(), "reader@example.com").len() == 2
    });
    let manage = page_links(&to(&smtp.mails(), "reader@example.com")[1]);
    new_incident(
        &site,
        "Website slow",
        "web=degraded_performance",
        "Looking.",
    );
    wait_until(30, "the incident email", || {
        to(&smtp.mails(), "reader@example.com").len() == 3
    });
    assert!(
        header(&to(&smtp.mails(), "reader@example.com")[2], "Subject")
            .unwrap()
            .contains("Website slow")
    );

    chrome.open(
        &tab,
        &format!("{base}/subscribe/t/{}/index.html", manage[0]),
    );
    assert_eq!(heading(&mut chrome, &tab), ["Manage your subscription"]);
    shot(&mut chrome, &tab, "manage-page");
    press_enter(&mut chrome, &tab, "button.quiet");
    assert!(
        chrome.next_load(&tab, Duration::from_secs(20)),
        "no page after unsubscribing"
    );
    assert!(
        heading(&mut chrome, &tab)[0]
            .to_lowercase()
            .contains("unsubscribed"),
        "{:?}",
        heading(&mut chrome, &tab)
    );
    wait_until(30, "the manage page gone", || {
        !publish
            .join(format!("subscribe/t/{}/index.html", manage[0]))
            .exists()
    });
    assert!(
        common::db(&site)
            .query_row("SELECT COUNT(*) FROM subscribers", [], |r| r
                .get::<_, i64>(0))
            .unwrap()
            == 0
    );
}

/// The `n`th form of the page at `path` in the site bucket, as a browser posts it.
fn bucket_form(s3: &S3Server, path: &str, n: usize, address: Option<&str>) -> super::Posted {
    let html = String::from_utf8(s3.object(path).unwrap_or_else(|| panic!("no {path}"))).unwrap();
    super::form_of(&html, n, address)
}

#[test]
fn real_form_posts_two_visitors_at_once_a_choice_of_components_and_a_used_token() {
    let s3 = S3Server::with_inbox();
    let smtp = SmtpSink::start();
    let site = site_with(&s3, &smtp, "");
    let log = site.path().join("daemon.log");
    let _d = daemon(&site, &log);
    wait_until(30, "the subscribe page in the bucket", || {
        s3.object("subscribe/index.html").is_some()
    });

    // Two visitors press "Subscribe" at the same moment.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let posts: Vec<_> = ["ann@example.com", "bob@example.com"]
        .into_iter()
        .map(|a| {
            let form = bucket_form(&s3, "subscribe/index.html", 0, Some(a));
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                super::post(&form.action, &form.fields).status
            })
        })
        .collect();
    for p in posts {
        assert_eq!(p.join().unwrap(), 303);
    }
    wait_until(30, "both confirmations", || {
        to(&smtp.mails(), "ann@example.com").len() == 1
            && to(&smtp.mails(), "bob@example.com").len() == 1
    });

    // Ann confirms through her confirm page's form, then follows only the API.
    let token = page_links(&to(&smtp.mails(), "ann@example.com")[0]).remove(0);
    let confirm_page = format!("subscribe/t/{token}/index.html");
    wait_until(20, "the confirm page", || {
        s3.object(&confirm_page).is_some()
    });
    let confirm = bucket_form(&s3, &confirm_page, 0, None);
    assert_eq!(super::post(&confirm.action, &confirm.fields).status, 303);
    wait_until(20, "the welcome email", || {
        to(&smtp.mails(), "ann@example.com").len() == 2
    });
    let manage = page_links(&to(&smtp.mails(), "ann@example.com")[1]).remove(0);
    let manage_page = format!("subscribe/t/{manage}/index.html");
    wait_until(20, "the manage page", || s3.object(&manage_page).is_some());
    let mut update = bucket_form(&s3, &manage_page, 0, None);
    update.set("x-amz-meta-c-web", "0");
    assert_eq!(super::post(&update.action, &update.fields).status, 303);
    wait_until(20, "the choice recorded", || {
        common::db(&site)
            .query_row(
                "SELECT components FROM subscribers WHERE email = 'ann@example.com'",
                [],
                |r| r.get::<_, String>(0),
            )
            .unwrap()
            == r#"["api"]"#
    });

    // The used confirm form again: refused quietly, nothing sent.
    assert_eq!(super::post(&confirm.action, &confirm.fields).status, 303);
    wait_until(20, "the used token refused", || {
        common::db(&site)
            .query_row(
                "SELECT value FROM subscription_state WHERE name = 'refused'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_or(0)
            == 1
    });

    // News about the website does not reach her; news about the API does.
    for (title, component) in [
        ("Website down", "web=major_outage"),
        ("API slow", "api=degraded_performance"),
    ] {
        new_incident(&site, title, component, "Looking.");
    }
    wait_until(20, "the API email", || {
        to(&smtp.mails(), "ann@example.com").len() == 3
    });
    wait_until(20, "both incidents considered", || fanned_out(&site));
    std::thread::sleep(Duration::from_millis(500));
    let ann = to(&smtp.mails(), "ann@example.com");
    assert_eq!(ann.len(), 3, "only the API incident");
    assert!(header(&ann[2], "Subject").unwrap().contains("API slow"));
    // Bob never confirmed: he hears nothing.
    assert_eq!(to(&smtp.mails(), "bob@example.com").len(), 1);
}

#[test]
fn a_flood_that_sorts_first_does_not_hold_up_unsubscribes_or_later_sign_ups() {
    let s3 = S3Server::with_inbox();
    let smtp = SmtpSink::start();
    let site = site_with(&s3, &smtp, "  per_poll: 4\n");
    confirmed_subscriber(&site, "leaving@example.com");
    let token: String = common::db(&site)
        .query_row("SELECT manage_token FROM subscribers", [], |r| r.get(0))
        .unwrap();
    for i in 0..24 {
        put_request(&s3, &format!("{i:03}@flood.example"), "nope");
    }
    put_request(&s3, &format!("t/{token}/unsubscribe"), "unsubscribe");
    put_request(&s3, "zz@example.com", "subscribe");
    let log = site.path().join("daemon.log");
    let _d = daemon(&site, &log);
    // Token forms come first: the first poll already handles the unsubscribe.
    wait_until(3, "the unsubscribe", || {
        common::db(&site)
            .query_row(
                "SELECT COUNT(*) FROM subscribers WHERE email = 'leaving@example.com'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
            == 0
    });
    // The listing goes on where it stopped: the sign-up behind the flood is reached.
    wait_until(30, "the confirmation behind the flood", || {
        !to(&smtp.mails(), "zz@example.com").is_empty()
    });
    wait_until(30, "the flood deleted", || inbox_keys(&s3).is_empty());
}
