use super::*;

fn ctx() -> ParseContext {
    ParseContext {
        tz: "Europe/Berlin".parse().unwrap(),
        components: ["api", "web", "database"]
            .into_iter()
            .map(String::from)
            .collect(),
        limits: Default::default(),
    }
}

fn src(kind: Kind, text: &str) -> SourceFile {
    SourceFile {
        kind,
        id: "2026-11-20-api".into(),
        path: PathBuf::from("content/incidents/2026-11-20-api.md"),
        text: text.into(),
        hash: String::new(),
        loaded: true,
    }
}

/// Parsed, with unknown components as errors (as for an open incident or a window to come).
fn strict<T>(r: Result<Parsed<T>, Vec<Problem>>) -> Result<T, Vec<Problem>> {
    let p = r?;
    if p.unknown_components.is_empty() {
        Ok(p.item)
    } else {
        Err(p.unknown_components)
    }
}

fn incident(text: &str) -> Result<Incident, Vec<Problem>> {
    strict(parse_incident(&src(Kind::Incident, text), &ctx()))
}

/// The first problem as `line: message`.
fn first_error(r: Result<impl std::fmt::Debug, Vec<Problem>>) -> String {
    let p = r.expect_err("should fail");
    format!("{}: {}", p[0].pos.line, p[0].message)
}

#[test]
fn parses_a_full_incident() {
    let i = incident(
        "---\ntitle: Elevated API errors\ncomponents:\n  api: partial_outage\n  web: degraded_performance\n---\n\
         ## 2026-11-20 15:10 UTC · resolved\nBack to **normal**.\n\n\
         ## 2026-11-20 14:02 · investigating\nWe are looking into it.\n",
    )
    .unwrap();
    assert_eq!(i.title, "Elevated API errors");
    assert_eq!(i.status(), IncidentStatus::Resolved);
    assert_eq!(
        i.impact,
        Impact::Major,
        "derived from the worst component effect"
    );
    assert_eq!(
        i.components[0],
        ("api".to_string(), ComponentStatus::PartialOutage)
    );
    assert_eq!(
        crate::time::iso(i.created_at()),
        "2026-11-20T13:02:00Z",
        "site time zone applies"
    );
    assert_eq!(
        i.updates[0].body_html,
        "<p>Back to <strong>normal</strong>.</p>\n"
    );
    assert_eq!(
        crate::time::iso(i.resolved_at().unwrap()),
        "2026-11-20T15:10:00Z"
    );
}

#[test]
fn updates_are_sorted_newest_first_whatever_the_file_order() {
    let i = incident(
        "---\ntitle: T\n---\n## 2026-11-20 10:00 UTC | investigating\nA\n## 2026-11-20 11:00 UTC - monitoring\nB\n",
    )
    .unwrap();
    assert_eq!(i.status(), IncidentStatus::Monitoring);
    assert_eq!(i.impact, Impact::None);
}

#[test]
fn headings_in_code_fences_are_text() {
    let i = incident(
        "---\ntitle: T\n---\n## 2026-11-20 10:00 UTC · identified\n```\n## not a heading\n```\n",
    )
    .unwrap();
    assert_eq!(i.updates.len(), 1);
}

#[test]
fn broken_incidents_name_line_and_fix() {
    let cases: &[(&str, &str)] = &[
        ("title: x\n", "1: the file must start with front matter"),
        ("---\ntitle: x\n", "1: front matter is not closed"),
        (
            "---\ntitle: x\nimpakt: major\n---\n## 2026-11-20 10:00 UTC · investigating\nx\n",
            "3: unknown field `impakt`",
        ),
        (
            "---\ntitle: x\nimpact: huge\n---\n## 2026-11-20 10:00 UTC · investigating\nx\n",
            "3: impact: unknown variant `huge`",
        ),
        (
            "---\ntitle: x\ncomponents:\n  apj: major_outage\n---\n## 2026-11-20 10:00 UTC · investigating\nx\n",
            "4: unknown component \"apj\" (did you mean \"api\"?)",
        ),
        (
            "---\ntitle: x\ncomponents:\n  api: down\n---\n## 2026-11-20 10:00 UTC · investigating\nx\n",
            "4: component \"api\": unknown component status \"down\"",
        ),
        (
            "---\ntitle: x\n---\n## 2026-11-20 10:00 UTC · fixing\nx\n",
            "4: unknown incident status \"fixing\"",
        ),
        (
            "---\ntitle: x\n---\n## yesterday · investigating\nx\n",
            "4: invalid time \"yesterday\"",
        ),
        (
            "---\ntitle: x\n---\n## 2026-11-20 10:00 UTC\nx\n",
            "4: update heading \"2026-11-20 10:00 UTC\" needs a time and a status",
        ),
        (
            "---\ntitle: x\n---\nHello\n## 2026-11-20 10:00 UTC · investigating\nx\n",
            "4: text before the first update",
        ),
        (
            "---\ntitle: x\n---\n",
            "4: an incident needs at least one update",
        ),
        (
            "---\ntitle: x\n---\n\n## 2026-11-20 10:00 UTC · investigating\n\n",
            "5: update has no text",
        ),
        (
            "---\ntitle: [x\n---\n",
            "3: did not find expected ',' or ']', while parsing a flow sequence at line 2 column 8",
        ),
    ];
    for (text, want) in cases {
        let got = first_error(incident(text));
        assert!(
            got.starts_with(want),
            "for {text:?}\n got: {got}\nwant: {want}"
        );
    }
}

#[test]
fn maintenance_once_and_recurring() {
    let m = parse_maintenance(
        &src(
            Kind::Maintenance,
            "---\ntitle: DB upgrade\ncomponents: [database]\nscheduled_for: 2026-12-01 02:00\nscheduled_until: 2026-12-01 04:00\n---\nWe upgrade the **database**.\n\n## 2026-12-01 02:05 · in_progress\nStarted.\n",
        ),
        &ctx(),
    )
    .unwrap()
    .item;
    assert_eq!(
        m.description_html,
        "<p>We upgrade the <strong>database</strong>.</p>\n"
    );
    assert!(matches!(m.window, Window::Once { .. }));
    assert_eq!(m.updates.len(), 1);

    let r = parse_maintenance(
        &src(Kind::Maintenance, "---\ntitle: Weekly\ncomponents: [web]\nschedule: \"0 3 * * Sun\"\nduration: 30m\n---\n"),
        &ctx(),
    )
    .unwrap()
    .item;
    assert_eq!(
        r.window,
        Window::Recurring {
            schedule: "0 3 * * Sun".into(),
            duration_secs: 1800
        }
    );
}

#[test]
fn broken_maintenance_is_located() {
    let m = |t: &str| {
        first_error(strict(parse_maintenance(
            &src(Kind::Maintenance, t),
            &ctx(),
        )))
    };
    assert!(m("---\ntitle: x\nscheduled_for: 2026-12-01 04:00\nscheduled_until: 2026-12-01 02:00\n---\n").starts_with("4: scheduled_until must be after"));
    assert!(
        m("---\ntitle: x\nschedule: \"bogus\"\nduration: 1h\n---\n")
            .starts_with("3: cron expression \"bogus\" has 1 fields")
    );
    assert!(
        m("---\ntitle: x\ncomponents: [web, nope]\nschedule: \"0 3 * * *\"\nduration: 1h\n---\n")
            .starts_with("3: unknown component \"nope\"")
    );
    assert!(m("---\ntitle: x\n---\n").starts_with("2: set either scheduled_for"));
}

#[test]
fn a_cached_scan_reads_only_files_whose_metadata_changed() {
    let dir = tempfile::tempdir().unwrap();
    let incidents = dir.path().join(super::INCIDENTS_DIR);
    std::fs::create_dir_all(&incidents).unwrap();
    let past = |secs: u64| std::time::SystemTime::now() - std::time::Duration::from_secs(secs);
    let write = |name: &str, text: &str, age: u64| {
        let path = incidents.join(name);
        std::fs::write(&path, text).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(past(age)).unwrap();
    };
    write("a.md", "aaaa", 60);
    write("b.md", "bbbb", 60);
    let ctx = ParseContext {
        tz: chrono_tz::UTC,
        components: Default::default(),
        limits: Default::default(),
    };
    let mut cache = super::ScanCache::default();
    let first = super::scan(dir.path(), &ctx, &mut cache, None).files;
    assert!(first.iter().all(|f| f.loaded));
    let second = super::scan(dir.path(), &ctx, &mut cache, None).files;
    assert!(second.iter().all(|f| !f.loaded && f.text.is_empty()));
    assert_eq!(
        first.iter().map(|f| &f.hash).collect::<Vec<_>>(),
        second.iter().map(|f| &f.hash).collect::<Vec<_>>()
    );
    assert_eq!(second[0].read().unwrap().text, "aaaa", "read on demand");

    // Same size, new bytes, an older time: the metadata still differs (ctime), so it is read.
    write("b.md", "BBBB", 120);
    let third = super::scan(dir.path(), &ctx, &mut cache, None).files;
    assert!(!third[0].loaded);
    assert!(third[1].loaded && third[1].text == "BBBB");
    assert_ne!(third[1].hash, first[1].hash);

    // A file written just now is read again next time (a second edit could share its time).
    write("c.md", "cccc", 0);
    super::scan(dir.path(), &ctx, &mut cache, None);
    let fourth = super::scan(dir.path(), &ctx, &mut cache, None).files;
    assert!(fourth[2].loaded);
}

#[test]
fn every_problem_of_an_incident_is_reported_at_once() {
    // Five mistakes, in the front matter and in the updates: one run names them all.
    let p = incident(
        "---\ntitle: x\nimpakt: major\nimpact: huge\ncomponents:\n  api: partial\n---\n\
         ## 2026-11-20 25:00 UTC · investigating\nx\n\
         ## 2026-11-20 10:00 UTC · fixing\nx\n",
    )
    .unwrap_err();
    let got: Vec<String> = p
        .iter()
        .map(|p| format!("{}: {}", p.pos.line, p.message))
        .collect();
    assert_eq!(got.len(), 5, "{got:#?}");
    assert!(
        got[0].starts_with("3: unknown field `impakt` (did you mean \"impact\"?)"),
        "{got:#?}"
    );
    assert!(
        got[1].starts_with("4: impact: unknown variant `huge`"),
        "{got:#?}"
    );
    assert!(
        got[2].starts_with("6: component \"api\": unknown component status \"partial\" (did you mean \"partial_outage\"?"),
        "{got:#?}"
    );
    assert!(
        got[3].starts_with("8: invalid time \"2026-11-20 25:00 UTC\""),
        "{got:#?}"
    );
    assert!(
        got[4].starts_with("10: unknown incident status \"fixing\""),
        "{got:#?}"
    );
}

#[test]
fn a_broken_front_matter_field_still_lets_the_rest_be_checked() {
    // A required field of the wrong type gets a stand-in: nothing more is said about it, and
    // the other fields and the updates are still checked.
    let p = strict(parse_maintenance(
        &src(
            Kind::Maintenance,
            "---\ntitle: [x]\ncomponents: [web, {a: 1}, nope]\nscheduled_for: 2026-12-01 02:00\nscheduled_until: 2026-12-01 01:00\n---\n## 2026-12-01 02:05 · in_progres\nx\n",
        ),
        &ctx(),
    ))
    .unwrap_err();
    let got: Vec<String> = p
        .iter()
        .map(|p| format!("{}:{}: {}", p.pos.line, p.pos.col, p.message))
        .collect();
    assert_eq!(got.len(), 5, "{got:#?}");
    assert!(
        got[0].starts_with("2:8: title: invalid type: sequence, expected a string"),
        "{got:#?}"
    );
    assert!(
        got[1].starts_with("3:19: components[1]: invalid type: map"),
        "{got:#?}"
    );
    assert!(
        got[2].starts_with("3:27: unknown component \"nope\""),
        "{got:#?}"
    );
    assert!(
        got[3].starts_with("5:18: scheduled_until must be after scheduled_for"),
        "{got:#?}"
    );
    assert!(
        got[4].starts_with(
            "7:1: unknown maintenance status \"in_progres\" (did you mean \"in_progress\"?"
        ),
        "{got:#?}"
    );
}
