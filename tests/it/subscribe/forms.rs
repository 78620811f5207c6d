//! The signed forms against a real S3 server: what the policy allows lands in the inbox as
//! the daemon expects it (key, body, metadata), and what it does not is refused.

use super::{Posted, form_of, inbox_get, inbox_keys, post, site_with_inbox};
use crate::common::browser::{browser, serve};
use crate::common::{s3::S3Server, wait_until};
use pharos::subscribe::pages::{CapabilityKind, capability_page, capability_path};
use pharos::subscriber::{Request, parse_request};

const COMPONENTS: [&str; 4] = ["api", "web", "db", "search"];

fn built(server: &S3Server) -> crate::common::TestSite {
    let site = site_with_inbox(server, "https://status.acme.test/");
    site.build_at(chrono::Utc::now())
        .unwrap_or_else(|e| panic!("{e:#}"));
    site
}

fn subscribe_form(site: &crate::common::TestSite, address: &str) -> Posted {
    form_of(&site.read("subscribe/index.html"), 0, Some(address))
}

fn request_of(server: &S3Server, key: &str) -> Request {
    let (body, meta) = inbox_get(server, key).unwrap_or_else(|| panic!("no inbox object {key}"));
    parse_request(key, &body, &meta, &COMPONENTS).unwrap()
}

#[test]
fn the_subscribe_form_posts_an_address_with_its_choice_into_the_inbox() {
    let server = S3Server::with_inbox();
    let site = built(&server);
    let mut form = subscribe_form(&site, "jane.doe+status@example.com");
    assert_eq!(form.action, format!("{}/status-inbox/", server.endpoint()));
    assert_eq!(
        form.fields.last().unwrap(),
        &("file".into(), "subscribe".into())
    );
    // The default: every component followed.
    for c in COMPONENTS {
        assert!(
            form.fields
                .contains(&(format!("x-amz-meta-c-{c}"), "1".into())),
            "{c}"
        );
    }
    form.set("x-amz-meta-c-web", "0");
    form.set("x-amz-meta-c-search", "0");
    let answer = post(&form.action, &form.fields);
    assert_eq!(answer.status, 303, "{answer:?}");
    let location = answer.location.unwrap();
    assert!(
        location.starts_with(
            "https://status.acme.test/subscribe/sent/index.html?bucket=status-inbox&key=jane.doe"
        ),
        "{location}"
    );
    let (body, meta) = inbox_get(&server, "jane.doe+status@example.com").unwrap();
    assert_eq!(body, b"subscribe");
    assert_eq!(meta.get("c-api").map(String::as_str), Some("1"));
    assert_eq!(meta.get("c-web").map(String::as_str), Some("0"));
    assert_eq!(
        request_of(&server, "jane.doe+status@example.com"),
        Request::Subscribe {
            address: "jane.doe+status@example.com".into(),
            components: Some(vec!["api".into(), "db".into()]),
        }
    );
    // Untouched, the form asks for everything (the poller reads that as "all").
    let form = subscribe_form(&site, "all@example.com");
    assert_eq!(post(&form.action, &form.fields).status, 303);
    assert_eq!(
        request_of(&server, "all@example.com"),
        Request::Subscribe {
            address: "all@example.com".into(),
            components: None
        }
    );
}

#[test]
fn the_inbox_refuses_what_the_policy_does_not_allow() {
    let server = S3Server::with_inbox();
    let site = built(&server);
    let good = || subscribe_form(&site, "mallory@example.com");
    let refused = |what: &str, form: Posted, url: Option<&str>| {
        let answer = post(url.unwrap_or(&form.action), &form.fields);
        assert!(
            (400..500).contains(&answer.status),
            "{what}: accepted ({answer:?})"
        );
        answer.body
    };
    // Evidence first: the untouched form is accepted (then removed, so the inbox is empty).
    let form = good();
    assert_eq!(post(&form.action, &form.fields).status, 303);
    assert_eq!(inbox_keys(&server), ["mallory@example.com"]);
    std::fs::remove_file(server.root.path().join("status-inbox/mallory@example.com")).unwrap();

    let mut big = good();
    big.set("file", &"x".repeat(33));
    assert!(refused("a body over 32 bytes", big, None).contains("EntityTooLarge"));

    let other = format!("{}/{}/", server.endpoint(), crate::common::s3::BUCKET);
    refused("another bucket", good(), Some(&other));

    let mut redirect = good();
    redirect.set("success_action_redirect", "https://evil.example/phish");
    refused("another redirect", redirect, None);

    let mut extra = good();
    extra.insert("x-amz-meta-admin", "1");
    refused("a field the policy does not name", extra, None);

    let mut signature = good();
    signature.set("x-amz-signature", &"0".repeat(64));
    assert!(refused("a wrong signature", signature, None).contains("SignatureDoesNotMatch"));

    let mut policy = good();
    let p = policy
        .fields
        .iter()
        .find(|(n, _)| n == "policy")
        .unwrap()
        .1
        .clone();
    let mut decoded = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &p).unwrap(),
    )
    .unwrap();
    decoded = decoded.replace(
        "[\"content-length-range\",1,32]",
        "[\"content-length-range\",1,999999]",
    );
    policy.set("policy", &pharos::postform::base64(decoded.as_bytes()));
    refused("a policy changed after signing", policy, None);

    // A page rendered three days and an hour ago: its policy has expired.
    let old = site_with_inbox(&server, "https://status.acme.test/");
    old.build_at(chrono::Utc::now() - chrono::Duration::hours(73))
        .unwrap();
    let stale = form_of(
        &old.read("subscribe/index.html"),
        0,
        Some("late@example.com"),
    );
    assert!(refused("an expired policy", stale, None).contains("expired"));

    assert!(inbox_keys(&server).is_empty(), "{:?}", inbox_keys(&server));
}

#[test]
fn capability_pages_post_their_token_back() {
    let server = S3Server::with_inbox();
    let site = site_with_inbox(&server, "https://status.acme.test/");
    let config = site.config();
    let theme = pharos::theme::load(&config).unwrap();
    let token = pharos::subscriber::new_token();
    let now = chrono::Utc::now();
    assert_eq!(
        capability_path(&token),
        format!("subscribe/t/{token}/index.html")
    );

    let confirm = String::from_utf8(
        capability_page(&config, &theme, CapabilityKind::Confirm, &token, &[], now).unwrap(),
    )
    .unwrap();
    for must in [
        "<meta name=\"robots\" content=\"noindex, nofollow\">",
        "<meta name=\"referrer\" content=\"no-referrer\">",
        &format!(
            "form-action {} https://status.acme.test\"",
            server.endpoint()
        ),
        "href=\"../../../index.html\"",
    ] {
        assert!(confirm.contains(must), "{must}\n{confirm}");
    }
    let form = form_of(&confirm, 0, None);
    assert_eq!(post(&form.action, &form.fields).status, 303);
    assert_eq!(
        request_of(&server, &format!("t/{token}/confirm")),
        Request::Confirm {
            token: token.clone()
        }
    );

    let manage = String::from_utf8(
        capability_page(
            &config,
            &theme,
            CapabilityKind::Manage,
            &token,
            &["api".into()],
            now,
        )
        .unwrap(),
    )
    .unwrap();
    // The radios start at the subscriber's choice.
    let mut update = form_of(&manage, 0, None);
    assert!(
        update
            .fields
            .contains(&("x-amz-meta-c-api".into(), "1".into()))
    );
    assert!(
        update
            .fields
            .contains(&("x-amz-meta-c-db".into(), "0".into()))
    );
    update.set("x-amz-meta-c-db", "1");
    let answer = post(&update.action, &update.fields);
    assert_eq!(answer.status, 303);
    assert!(
        answer
            .location
            .unwrap()
            .starts_with("https://status.acme.test/subscribe/updated/index.html?")
    );
    assert_eq!(
        request_of(&server, &format!("t/{token}/update")),
        Request::Update {
            token: token.clone(),
            components: Some(vec!["api".into(), "db".into()])
        }
    );
    let unsubscribe = form_of(&manage, 1, None);
    assert_eq!(post(&unsubscribe.action, &unsubscribe.fields).status, 303);
    assert_eq!(
        request_of(&server, &format!("t/{token}/unsubscribe")),
        Request::Unsubscribe {
            token: token.clone()
        }
    );

    // A token's form writes its own key only: not an address, not another token.
    let mut other = form_of(&manage, 1, None);
    other.set("key", "victim@example.com");
    assert!((400..500).contains(&post(&other.action, &other.fields).status));
    assert!(inbox_get(&server, "victim@example.com").is_none());
}

#[test]
fn the_public_pages_exist_only_with_subscriptions_on() {
    let server = S3Server::with_inbox();
    let site = built(&server);
    let index = site.read("index.html");
    assert!(
        index.contains(
            "<a class=\"subscribe\" href=\"subscribe/index.html\">Subscribe to updates</a>"
        )
    );
    assert!(
        site.read("incidents/2026-11-24-website-down/index.html")
            .contains("href=\"../../subscribe/index.html\"")
    );
    // Pages without a form still post nowhere.
    assert!(index.contains("form-action 'none'"));
    let page = site.read("subscribe/index.html");
    // The inbox, and the site it redirects back to (a form's redirect must pass form-action).
    assert!(
        page.contains(&format!(
            "form-action {} https://status.acme.test\"",
            server.endpoint()
        )),
        "{page}"
    );
    assert!(page.contains("<meta name=\"referrer\" content=\"no-referrer\">"));
    assert!(page.contains("<legend>Core platform</legend>"));
    for (landing, words) in [
        ("sent", "expires in 48 hours"),
        ("confirmed", "within a minute"),
        ("updated", "within a minute"),
        ("unsubscribed", "within a minute"),
    ] {
        let html = site.read(&format!("subscribe/{landing}/index.html"));
        assert!(html.contains(words), "{landing}");
        assert!(
            html.contains("<meta name=\"referrer\" content=\"no-referrer\">"),
            "{landing}"
        );
    }

    assert!(
        site.read("robots.txt")
            .contains("Disallow: /subscribe/t/\n"),
        "crawlers skip the capability pages"
    );

    let off = crate::common::TestSite::fixture("basic");
    off.build();
    assert!(!off.out().join("subscribe").exists());
    assert!(!off.read("robots.txt").contains("Disallow"));
    assert!(!off.read("index.html").contains("subscribe"));
}

/// Visitors post at the same moment: each address is its own object, nobody overwrites anybody.
#[test]
fn visitors_posting_at_once_all_reach_the_inbox() {
    let server = S3Server::with_inbox();
    let site = built(&server);
    let html = site.read("subscribe/index.html");
    let n = 16;
    let start = std::sync::Arc::new(std::sync::Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let form = form_of(&html, 0, Some(&format!("visitor{i}@example.com")));
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                post(&form.action, &form.fields).status
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 303);
    }
    let expected: Vec<String> = {
        let mut v: Vec<String> = (0..n).map(|i| format!("visitor{i}@example.com")).collect();
        v.sort();
        v
    };
    assert_eq!(inbox_keys(&server), expected);
    for k in &expected {
        assert_eq!(inbox_get(&server, k).unwrap().0, b"subscribe");
    }
}

/// Chromium with JavaScript off: a visitor types an address into the built page, submits, lands
/// on the "check your inbox" page, and the request is in the inbox; a second visitor in another
/// tab at the same time too. One screenshot of the page for a human to look at.
#[test]
#[cfg_attr(
    pharos_no_chromium,
    ignore = "no chromium on PATH: install Debian's chromium (.ci/run does) or set PHAROS_CHROMIUM"
)]
fn a_visitor_subscribes_with_javascript_off() {
    let server = S3Server::with_inbox();
    let out = tempfile::tempdir().unwrap();
    let base = serve(out.path().to_path_buf());
    let site = site_with_inbox(&server, &format!("{base}/"));
    pharos::build::build(&site.config(), Some(out.path()), chrono::Utc::now()).unwrap();
    let (mut chrome, _watchdog) = browser();
    let tabs = [chrome.tab(false), chrome.tab(false)];
    for tab in &tabs {
        chrome.call(Some(tab), "Log.enable", serde_json::json!({}));
    }
    let addresses = ["first@example.com", "second@example.com"];
    for (tab, address) in tabs.iter().zip(addresses) {
        chrome.open(tab, &format!("{base}/subscribe/index.html"));
        chrome.focus(tab, "#email");
        chrome.call(
            Some(tab),
            "Input.insertText",
            serde_json::json!({"text": address}),
        );
    }
    if let Ok(dir) = std::env::var("PHAROS_SCREENSHOTS") {
        chrome.color_scheme(&tabs[0], false);
        let png = chrome.screenshot(&tabs[0]);
        std::fs::write(std::path::Path::new(&dir).join("subscribe-light.png"), png).unwrap();
        // And with the component choice open (a click on the summary; no script needed).
        let tab = chrome.tab(false);
        chrome.open(&tab, &format!("{base}/subscribe/index.html"));
        let details = chrome.node(&tab, "details");
        chrome.call(
            Some(&tab),
            "DOM.setAttributeValue",
            serde_json::json!({"nodeId": details, "name": "open", "value": ""}),
        );
        let png = chrome.screenshot(&tab);
        std::fs::write(
            std::path::Path::new(&dir).join("subscribe-components.png"),
            png,
        )
        .unwrap();
    }
    // Both visitors press Enter (implicit submission: no script) before either page loads.
    for tab in &tabs {
        chrome.press_enter(tab);
    }
    for tab in &tabs {
        let loaded = chrome.next_load(tab, std::time::Duration::from_secs(20));
        assert!(
            loaded,
            "no page after submit; inbox {:?}; {:?}",
            inbox_keys(&server),
            chrome
                .events
                .iter()
                .filter(|e| e["method"] == "Log.entryAdded")
                .collect::<Vec<_>>()
        );
        let dom = scraper::Html::parse_document(&chrome.dom(tab));
        assert_eq!(
            crate::common::browser::text_of(&dom, "h1"),
            ["Check your inbox"]
        );
    }
    wait_until(10, "both requests in the inbox", || {
        inbox_keys(&server) == addresses
    });
    for a in addresses {
        assert_eq!(inbox_get(&server, a).unwrap().0, b"subscribe");
    }
}
