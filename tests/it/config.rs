//! The config: the example documents every field and loads; bad configs name file:line:col, the
//! entity and the fix.

use crate::common;

use common::{TestSite, fixtures};
use pharos::config::Config;
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn example_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.yaml")
}

#[test]
fn the_example_config_loads() {
    let c = Config::load(&example_path()).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(c.site.title.as_str(), "Example Status");
    assert_eq!(c.tz().name(), "Europe/Berlin");
    assert!(c.components.len() >= 4 && !c.monitors.is_empty());
    assert!(
        c.publish.targets.iter().all(|t| !t.enabled),
        "the example publishes nowhere by default"
    );
}

/// Normalized path of a node: list indices become `[]`.
fn walk(
    v: &Value,
    path: &mut Vec<String>,
    keys: &mut BTreeMap<String, BTreeSet<String>>,
    maps: &mut Vec<Vec<Value>>,
    trail: &mut Vec<Value>,
) {
    match v {
        Value::Mapping(m) => {
            let norm = path.join(".");
            let set = keys.entry(norm).or_default();
            for k in m.keys() {
                set.insert(k.as_str().unwrap_or_default().to_string());
            }
            maps.push(trail.clone());
            for (k, child) in m {
                path.push(k.as_str().unwrap_or_default().to_string());
                trail.push(k.clone());
                walk(child, path, keys, maps, trail);
                trail.pop();
                path.pop();
            }
        }
        Value::Sequence(s) => {
            for (i, child) in s.iter().enumerate() {
                path.push("[]".into());
                trail.push(Value::Number(i.into()));
                walk(child, path, keys, maps, trail);
                trail.pop();
                path.pop();
            }
        }
        _ => {}
    }
}

fn node_mut<'a>(root: &'a mut Value, trail: &[Value]) -> &'a mut Value {
    let mut cur = root;
    for step in trail {
        cur = match step {
            Value::Number(n) => &mut cur.as_sequence_mut().unwrap()[n.as_u64().unwrap() as usize],
            k => cur.as_mapping_mut().unwrap().get_mut(k).unwrap(),
        };
    }
    cur
}

/// Ask serde which fields a struct has: add an unknown key and read "expected one of `a`, `b`".
fn expected_fields(root: &Value, trail: &[Value]) -> Option<BTreeSet<String>> {
    let mut doc = root.clone();
    node_mut(&mut doc, trail)
        .as_mapping_mut()?
        .insert(Value::String("zz_probe".into()), Value::String("x".into()));
    let text = serde_yaml::to_string(&doc).unwrap();
    let err = Config::parse(&text, Path::new("probe.yaml"))
        .err()?
        .to_string();
    let msg = err.split("unknown field `zz_probe`").nth(1)?;
    Some(
        msg.split('`')
            .skip(1)
            .step_by(2)
            .map(String::from)
            .collect(),
    )
}

/// lychee's trick: a field in the config structs that the example does not show is a failure.
#[test]
fn the_example_documents_every_config_field() {
    let text = std::fs::read_to_string(example_path()).unwrap();
    let root: Value = serde_yaml::from_str(&text).unwrap();
    let (mut keys, mut maps) = (BTreeMap::new(), Vec::new());
    walk(
        &root,
        &mut Vec::new(),
        &mut keys,
        &mut maps,
        &mut Vec::new(),
    );
    let mut checked = 0;
    let mut missing = Vec::new();
    let mut seen = BTreeSet::new();
    for trail in &maps {
        let norm: Vec<String> = trail
            .iter()
            .map(|s| {
                if s.is_number() {
                    "[]".to_string()
                } else {
                    s.as_str().unwrap().to_string()
                }
            })
            .collect();
        let norm = norm.join(".");
        if !seen.insert(norm.clone()) {
            continue;
        }
        // Maps with free keys (headers) accept the probe: nothing to check there.
        let Some(fields) = expected_fields(&root, trail) else {
            continue;
        };
        checked += 1;
        for f in fields {
            if !keys[&norm].contains(&f) {
                missing.push(format!(
                    "{}{f}",
                    if norm.is_empty() {
                        String::new()
                    } else {
                        format!("{norm}.")
                    }
                ));
            }
        }
    }
    assert!(
        checked >= 8,
        "the probe found only {checked} structs; is the error format still the same?"
    );
    assert!(
        missing.is_empty(),
        "config.example.yaml does not document: {missing:?}"
    );
}

/// Each `tests/fixtures/invalid/<case>/` holds a config.yaml (and maybe content) and
/// `expected.txt`: lines that must all appear in the error output, with `FILE` standing for
/// the fixture's config path.
#[test]
fn invalid_fixtures_fail_with_the_expected_messages() {
    let root = fixtures().join("invalid");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 8, "expected the invalid fixtures");
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let site = TestSite::empty();
        common::copy_dir(&case, site.path());
        let err = match Config::load(&site.config_path()) {
            Err(e) => format!("{e:#}"),
            Ok(c) => match pharos::build::build(&c, None, common::now()) {
                Err(e) => format!("{e:#}"),
                Ok(_) => panic!("{name}: expected a failure"),
            },
        };
        let expected = std::fs::read_to_string(case.join("expected.txt")).unwrap();
        let dir = site.path().to_string_lossy().into_owned();
        for line in expected.lines().filter(|l| !l.trim().is_empty()) {
            let want = line.replace("DIR", &dir);
            assert!(
                err.contains(&want),
                "{name}: error does not contain\n  {want}\ngot:\n  {err}"
            );
        }
        assert!(
            !site.path().join("publish").exists(),
            "{name}: nothing may be written"
        );
    }
}

#[test]
fn environment_references_expand_and_missing_ones_are_named() {
    // SAFETY: the variable name is unique to this test; no other thread reads it.
    unsafe { std::env::set_var("PHAROS_TEST_TITLE_7F3A", "From the environment") };
    let ok = "site:\n  title: ${PHAROS_TEST_TITLE_7F3A}\n  base_url: https://s.test\n";
    let c = Config::parse(ok, Path::new("c.yaml")).unwrap();
    assert_eq!(c.site.title.as_str(), "From the environment");
    let bad = "site:\n  title: x\n  base_url: https://s.test\ncomponents:\n  - id: a\n    name: ${PHAROS_TEST_UNSET_9C1B}\n";
    let err = Config::parse(bad, Path::new("c.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "c.yaml:6:11: component \"a\": name: environment variable PHAROS_TEST_UNSET_9C1B is not set"
        ),
        "{err}"
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let text = "site:\n  title: ''\n  base_url: ftp://x\n  history_days: 900\ncomponents:\n  - id: API\n    name: Api\n  - id: web\n    name: Web\n    group: nope\n";
    let err = Config::parse(text, Path::new("c.yaml")).unwrap_err();
    let lines: Vec<String> = err.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "c.yaml:2:10: site.title: title is empty; it is the page heading, e.g. \"Example Status\"",
            "c.yaml:3:13: site.base_url: invalid URL \"ftp://x\": it must start with http: or https:",
            "c.yaml:4:17: site.history_days: must be between 1 and 365 (got 900)",
            "c.yaml:6:9: component \"API\": invalid id \"API\": use lowercase letters, digits, '-' and '_', starting with a letter or digit (e.g. \"api\")",
            "c.yaml:10:12: component \"web\": unknown group \"nope\"; define it under `groups:` or remove `group:`",
        ]
    );
}

fn pharos() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("pharos").unwrap();
    c.env_remove("PHAROS_CONFIG");
    c
}

/// `pharos validate` in `site`: (exit code, stderr).
fn validate(site: &TestSite) -> (Option<i32>, String) {
    let out = pharos()
        .args(["-c", site.config_path().to_str().unwrap(), "validate"])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every line of `want` is in `got` (`DIR` is the site's folder).
fn assert_lines(site: &TestSite, got: &str, want: &[&str]) {
    let dir = site.path().to_string_lossy().into_owned();
    for line in want {
        let line = line.replace("DIR", &dir);
        assert!(got.contains(&line), "missing\n  {line}\nin\n{got}");
    }
}

#[test]
fn validate_reports_every_problem_of_every_file_in_one_run() {
    let site = TestSite::empty();
    site.write(
        "config.yaml",
        "site:\n  titel: Acme\n  base_url: https://status.acme.test\n  time_zone: Europe/Berln\ncomponents:\n  - id: website\n    name: Website\n  - id: api\n    name: API\nmonitors:\n  - id: web\n    component: websit\n    kind: http\n    url: https://acme.test\n    interval: 60\n  - id: api\n    component: api\n    kind: htp\n    url: https://api.acme.test\n",
    );
    // Five mistakes in one incident.
    site.write(
        "content/incidents/2026-11-20-api.md",
        "---\ntitle: API down\nimpakt: major\ncomponents:\n  api: partial\n  websit: major_outage\n---\n## 2026-11-20 14:02 UTC · investigatng\nWe look.\n\n## 2026-11-20 25:00 UTC · resolved\nFixed.\n## 2026-11-20 15:00 Europe/Berln · monitoring\nx\n",
    );
    // A bad file name hides neither its own text's problems nor other files'.
    site.write(
        "content/incidents/API_Down.md",
        "---\ntitle: x\nimpact: huge\n---\n## 2026-11-20 14:02 UTC · investigating\nx\n",
    );
    site.write(
        "content/maintenance/upgrade.md",
        "---\ntitle: Upgrade\ncomponents: [websit]\nscheduled_for: 2030-12-01 02:00\nscheduled_until: tomorrow\n---\nx\n",
    );
    let (code, err) = validate(&site);
    assert_eq!(code, Some(3), "{err}");
    assert_lines(
        &site,
        &err,
        &[
            "DIR/config.yaml:2:3: site: unknown field `titel` (did you mean \"title\"?), expected one of `title`, `base_url`",
            "DIR/config.yaml:4:14: site.time_zone: unknown time zone \"Europe/Berln\" (did you mean \"Europe/Berlin\"?)",
            "DIR/config.yaml:12:16: monitor \"web\": unknown component \"websit\" (did you mean \"website\"?)",
            "DIR/config.yaml:15:15: monitor \"web\": interval: invalid duration \"60\": missing unit (ms, s, m, h, d or w), e.g. \"60s\"",
            "DIR/config.yaml:18:11: monitor \"api\": kind: unknown variant `htp` (did you mean \"http\"?), expected one of `http`, `tcp`",
            "DIR/content/incidents/2026-11-20-api.md:3:1: incident \"2026-11-20-api\": unknown field `impakt` (did you mean \"impact\"?)",
            "DIR/content/incidents/2026-11-20-api.md:5:8: incident \"2026-11-20-api\": component \"api\": unknown component status \"partial\" (did you mean \"partial_outage\"?",
            "DIR/content/incidents/2026-11-20-api.md:6:3: incident \"2026-11-20-api\": unknown component \"websit\" (did you mean \"website\"?)",
            "DIR/content/incidents/2026-11-20-api.md:8:1: incident \"2026-11-20-api\": unknown incident status \"investigatng\" (did you mean \"investigating\"?",
            "DIR/content/incidents/2026-11-20-api.md:11:1: incident \"2026-11-20-api\": invalid time \"2026-11-20 25:00 UTC\"",
            "DIR/content/incidents/2026-11-20-api.md:13:1: incident \"2026-11-20-api\": unknown time zone \"Europe/Berln\" in \"2026-11-20 15:00 Europe/Berln\" (did you mean \"Europe/Berlin\"?)",
            "DIR/content/incidents/API_Down.md:1:1: file name: invalid id \"API_Down\"",
            "DIR/content/incidents/API_Down.md:3:9: incident \"API_Down\": impact: unknown variant `huge`",
            "DIR/content/maintenance/upgrade.md:3:14: maintenance \"upgrade\": unknown component \"websit\" (did you mean \"website\"?)",
            "DIR/content/maintenance/upgrade.md:5:18: maintenance \"upgrade\": scheduled_until: invalid time \"tomorrow\"",
            "error: 15 problems found",
        ],
    );
    // Nothing but what is wrong: no "missing field `title`" for `titel`, nothing about the
    // stand-in kind of monitor "api".
    assert!(!err.contains("missing field"), "{err}");
    assert!(!err.contains("does not apply"), "{err}");
}

#[test]
fn a_missing_environment_variable_names_the_monitor() {
    let text = "site:\n  title: x\n  base_url: https://s.test\ncomponents:\n  - id: a\n    name: A\nmonitors:\n  - id: web\n    component: a\n    kind: http\n    url: https://a.test\n  - id: api\n    component: a\n    kind: http\n    url: ${PHAROS_TEST_UNSET_4D2E}/health\n    headers:\n      Authorization: Bearer ${PHAROS_TEST_UNSET_4D2E}\n";
    let err = Config::parse(text, Path::new("c.yaml")).unwrap_err();
    let lines: Vec<String> = err.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "c.yaml:15:10: monitor \"api\": url: environment variable PHAROS_TEST_UNSET_4D2E is not set (referenced as ${PHAROS_TEST_UNSET_4D2E}); export it or remove the reference",
            "c.yaml:17:22: monitor \"api\": headers.Authorization: environment variable PHAROS_TEST_UNSET_4D2E is not set (referenced as ${PHAROS_TEST_UNSET_4D2E}); export it or remove the reference",
        ],
        "named by id, each reference at its own place, and no \"http monitors need `url`\" after it"
    );
}

#[test]
fn a_bad_size_is_named_at_its_own_line() {
    let text =
        "site:\n  title: x\n  base_url: https://s.test\nlimits:\n  file_size: 0\n  updates: many\n";
    let err = Config::parse(text, Path::new("c.yaml")).unwrap_err();
    let lines: Vec<String> = err.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "c.yaml:5:14: limits.file_size: a size must be more than 0",
            "c.yaml:6:12: limits.updates: invalid type: string \"many\", expected usize",
        ]
    );
    for (good, bytes) in [("262144", 262_144), ("256KB", 262_144), ("1MB", 1 << 20)] {
        let c = Config::parse(
            &text.replace("0\n  updates: many", &format!("{good}\n  updates: 5")),
            Path::new("c.yaml"),
        )
        .unwrap_or_else(|e| panic!("{good}: {e}"));
        assert_eq!(c.limits.file_size.0, bytes, "{good}");
    }
}
