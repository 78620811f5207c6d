//! `pharos subscribers ...` and the subscriptions line of `pharos status`, run as the admin runs
//! them, on a site whose config has a `subscriptions:` section.

use crate::common::{self, TestSite};
use pharos::store::Store;
use serde_json::Value;
use std::process::Output;

const SUBSCRIPTIONS: &str = "
subscriptions:
  inbox:
    bucket: status-inbox
    region: eu-central-1
    endpoint: http://127.0.0.1:9
  post_access_key_id: AKIAPOSTONLY
  post_secret_access_key: post-secret
  poll: 10s
  smtp_host: 127.0.0.1
  smtp_port: 2525
  from: status@acme.test
";

/// The basic fixture, with subscriptions on unless `off`.
fn site(on: bool) -> TestSite {
    let site = TestSite::fixture("basic");
    if on {
        let config = std::fs::read_to_string(site.config_path()).unwrap();
        site.write("config.yaml", &format!("{config}{SUBSCRIPTIONS}"));
    }
    site
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `pharos ARGS` that succeeds; its stdout.
fn ok(site: &TestSite, args: &[&str]) -> String {
    let out = common::pharos(site, args);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "pharos {args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

/// `pharos ARGS` that fails; (exit code, stdout, stderr).
fn fails(site: &TestSite, args: &[&str]) -> (i32, String, String) {
    let out = common::pharos(site, args);
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "pharos {args:?} should fail:\n{stdout}"
    );
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// (address, state, components) of each subscriber, as `list --json` shows them.
fn listed(site: &TestSite) -> Vec<(String, String, Vec<String>)> {
    json(&ok(site, &["subscribers", "list", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["address"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
                s["components"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// Confirmation emails queued in the store.
fn confirmations(site: &TestSite) -> i64 {
    common::db(site)
        .query_row(
            "SELECT COUNT(*) FROM mail_outbox WHERE kind = 'confirm' AND sent_at IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn add_list_and_remove_subscribers_with_or_without_opt_in() {
    let site = site(true);
    let out = ok(&site, &["subscribers", "add", "Jane@Example.COM"]);
    assert!(
        out.contains("pending: a confirmation email goes out when the daemon runs"),
        "{out}"
    );
    assert_eq!(confirmations(&site), 1, "the double opt-in email is queued");
    let out = ok(
        &site,
        &[
            "subscribers",
            "add",
            "ops@example.com",
            "--component",
            "api",
            "-C",
            "db",
            "--confirmed",
        ],
    );
    assert!(
        out.contains("subscribed ops@example.com to api, db"),
        "{out}"
    );
    assert_eq!(confirmations(&site), 1, "--confirmed skips the opt-in");

    // Again: nothing changes, and it says so (exit 0: adding is idempotent).
    let out = ok(
        &site,
        &["subscribers", "add", "jane@example.com", "--confirmed"],
    );
    assert!(out.contains("is there already (pending since"), "{out}");
    assert_eq!(confirmations(&site), 1);

    let (code, _, err) = fails(
        &site,
        &["subscribers", "add", "x@example.com", "-C", "apii"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("unknown component \"apii\": did you mean \"api\"? known components: api, web, db, search"),
        "{err}"
    );
    let (code, _, err) = fails(&site, &["subscribers", "add", "a@b"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not an email address"), "{err}");

    assert_eq!(
        listed(&site),
        [
            ("Jane@example.com".into(), "pending".into(), vec![]),
            (
                "ops@example.com".into(),
                "confirmed".into(),
                vec!["api".into(), "db".into()]
            ),
        ]
    );
    let list = ok(&site, &["subscribers", "list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert!(
        lines[0].starts_with("ADDRESS") && lines[0].contains("SINCE"),
        "{list}"
    );
    assert!(
        lines[1].starts_with("Jane@example.com")
            && lines[1].contains("pending")
            && lines[1].contains(" all ")
            && lines[1].contains("expires"),
        "{list}"
    );
    assert!(
        lines[2].contains("confirmed") && lines[2].contains("api, db"),
        "{list}"
    );
    assert!(
        list.contains("2 subscribers: 1 confirmed, 1 pending"),
        "{list}"
    );
    let pending = json(&ok(&site, &["subscribers", "list", "--json", "--pending"]));
    assert_eq!(pending.as_array().unwrap().len(), 1);
    assert_eq!(pending[0]["source"], "admin");
    let all = ok(&site, &["subscribers", "list", "--json"]);
    assert!(!all.contains("token"), "tokens are capabilities: {all}");

    let out = ok(&site, &["subscribers", "remove", "jane@EXAMPLE.com"]);
    assert!(out.contains("removed jane@example.com"), "{out}");
    assert_eq!(confirmations(&site), 0, "its queued email went with it");
    let (code, _, err) = fails(&site, &["subscribers", "remove", "jane@example.com"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no subscriber has the address j***@example.com"),
        "{err}"
    );
    assert_eq!(listed(&site).len(), 1);
}

#[test]
fn an_export_imports_into_a_fresh_site_as_it_was() {
    let from = site(true);
    ok(
        &from,
        &["subscribers", "add", "a@example.com", "--confirmed"],
    );
    ok(&from, &["subscribers", "add", "b@example.com", "-C", "web"]);
    ok(
        &from,
        &[
            "subscribers",
            "add",
            "o'neil+status@example.com",
            "-C",
            "api",
            "-C",
            "db",
            "--confirmed",
        ],
    );
    let csv = ok(&from, &["subscribers", "export"]);
    assert!(csv.starts_with("email,state,components,"), "{csv}");
    let into = site(true);
    into.write("backup.csv", &csv);
    let out = ok(
        &into,
        &[
            "subscribers",
            "import",
            "--csv",
            "backup.csv",
            "--confirmed",
        ],
    );
    assert!(
        out.contains("backup.csv: added 3 (2 confirmed, 1 pending"),
        "a pending row stays pending, even with --confirmed: {out}"
    );
    assert_eq!(listed(&into), listed(&from));
    assert_eq!(confirmations(&into), 1);
    // Importing again changes nothing.
    let out = ok(&into, &["subscribers", "import", "--csv", "backup.csv"]);
    assert!(
        out.contains("added 0 (0 confirmed, 0 pending: no confirmation email), 3 already there"),
        "{out}"
    );
    assert_eq!(listed(&into), listed(&from));
}

#[test]
fn a_statuspage_csv_imports_its_good_lines_and_names_each_bad_one() {
    let site = site(true);
    site.write(
        "statuspage.csv",
        "Type,Email Address,Skip Confirmation Notification,Components\r\n\
         email,jane@example.com,yes,API\r\n\
         sms,5551234567,,\r\n\
         email,jane.example.com,,\r\n\
         email,bob@example.com,,\"API, Website\"\r\n\
         email,carol@example.com,,Billing\r\n\
         email,JANE@example.com,,\r\n\
         webhook,https://hooks.example.com/x,,\r\n",
    );
    let (code, out, err) = fails(&site, &["subscribers", "import", "--csv", "statuspage.csv"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("2 invalid lines not imported"), "{err}");
    for expected in [
        "statuspage.csv: added 2 (0 confirmed, 2 pending: their confirmation emails go out when the daemon runs), 0 already there (left as they are), 3 skipped, 2 invalid",
        "statuspage.csv:3: skipped: sms",
        "statuspage.csv:4: invalid: not an email address: address has no @",
        "statuspage.csv:6: invalid: unknown component \"Billing\" (known: api, web, db, search)",
        "statuspage.csv:7: skipped: the same address as line 2",
        "statuspage.csv:8: skipped: webhook",
        "the valid lines were imported",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(
        !out.contains("carol") && !err.contains("carol"),
        "bad lines are named by number"
    );
    assert_eq!(
        listed(&site),
        [
            (
                "jane@example.com".into(),
                "pending".into(),
                vec!["api".into()]
            ),
            (
                "bob@example.com".into(),
                "pending".into(),
                vec!["api".into(), "web".into()]
            ),
        ],
        "without --confirmed imported addresses must confirm"
    );
    assert_eq!(confirmations(&site), 2);

    site.write("names.csv", "name,phone\nJane,555\n");
    let (code, _, err) = fails(&site, &["subscribers", "import", "--csv", "names.csv"]);
    assert_eq!(code, 1);
    assert!(err.contains("names.csv: line 1: no email column"), "{err}");
}

#[test]
fn stats_and_status_show_the_subscribers_and_the_last_poll() {
    let site = site(true);
    ok(
        &site,
        &["subscribers", "add", "a@example.com", "--confirmed"],
    );
    ok(&site, &["subscribers", "add", "b@example.com"]);
    let out = ok(&site, &["status"]);
    assert!(
        out.contains(
            "subscriptions: 1 confirmed, 1 pending; inbox: not polled yet; 1 email queued"
        ),
        "{out}"
    );
    assert!(
        out.contains("INBOX NOT POLLED: the inbox has never been polled"),
        "{out}"
    );

    // A poll as the daemon notes it.
    let now = chrono::Utc::now();
    let mut store = Store::open(&site.config().database_path()).unwrap();
    store
        .note_poll(now - chrono::Duration::seconds(3), Some(2))
        .unwrap();
    let out = ok(&site, &["status"]);
    let line = out
        .lines()
        .find(|l| l.starts_with("subscriptions:"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.starts_with(
            "subscriptions: 1 confirmed, 1 pending; inbox: 2 requests waiting at the last poll "
        ) && line.ends_with(" s ago; 1 email queued"),
        "{line}"
    );
    assert!(!out.contains("INBOX NOT POLLED"), "{out}");
    let status = json(&ok(&site, &["status", "--json"]));
    assert_eq!(status["subscriptions"]["confirmed"], 1);
    assert_eq!(status["subscriptions"]["inbox_pending"], 2);
    assert_eq!(status["subscriptions"]["poll_alarm"], Value::Null);

    let stats = json(&ok(&site, &["subscribers", "stats", "--json"]));
    assert_eq!(stats["pending"], 1);
    assert_eq!(stats["mail_queued"], 1);
    assert_eq!(stats["last_poll_error"], false);
    let text = ok(&site, &["subscribers", "stats"]);
    assert!(
        text.contains("subscribers:  1 confirmed, 1 pending"),
        "{text}"
    );
    assert!(text.contains("2 objects waiting then; every 10s"), "{text}");

    // Three poll intervals without a poll, then a failed one: said loudly.
    store
        .note_poll(now - chrono::Duration::seconds(45), Some(0))
        .unwrap();
    let out = ok(&site, &["status"]);
    assert!(
        out.contains("INBOX NOT POLLED: the inbox was last polled 4")
            && out.contains("subscriptions.poll is 10s"),
        "{out}"
    );
    store.note_poll(now, None).unwrap();
    let out = ok(&site, &["status"]);
    assert!(
        out.contains("INBOX NOT POLLED: the last poll of the inbox failed"),
        "{out}"
    );
    assert!(ok(&site, &["subscribers", "stats"]).contains("FAILED"));
}

#[test]
fn without_subscriptions_the_commands_say_how_to_configure_them() {
    let site = site(false);
    site.write("a.csv", "email\na@example.com\n");
    for args in [
        &["subscribers", "add", "a@example.com"][..],
        &["subscribers", "import", "--csv", "a.csv"],
        &["subscribers", "stats"],
    ] {
        let (code, _, err) = fails(&site, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("subscriptions are not configured (add a subscriptions: section, see config.example.yaml)"),
            "{args:?}: {err}"
        );
    }
    // What the store holds can still be seen, saved and deleted.
    let out = common::pharos(&site, &["subscribers", "list"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("No subscribers."), "{stdout}");
    assert!(
        stderr.contains("subscriptions are not configured"),
        "{stderr}"
    );
    assert_eq!(ok(&site, &["subscribers", "export"]).lines().count(), 1);
    let status = ok(&site, &["status"]);
    assert!(!status.contains("subscriptions:"), "{status}");
    assert_eq!(
        json(&ok(&site, &["status", "--json"]))["subscriptions"],
        Value::Null
    );
}
