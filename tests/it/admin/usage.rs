//! Exit codes: an argument that names nothing or cannot be read is a usage error (2) in every
//! command, as clap's own, and changes nothing.

use super::*;

#[test]
fn a_bad_argument_is_a_usage_error_in_every_command() {
    let site = init_site("Europe/Berlin");
    let dir = site.path();
    let incident = created(
        dir,
        &["incident", "new", "Outage", "-C", "api", "-m", "Down."],
    );
    let maintenance = created(
        dir,
        &[
            "maintenance",
            "new",
            "Upgrade",
            "-C",
            "api",
            "--from",
            "+1d",
            "--until",
            "+25h",
            "-m",
            "x",
        ],
    );
    let content = |dir: &Path| {
        let mut files: Vec<(PathBuf, String)> = ["content/incidents", "content/maintenance"]
            .iter()
            .flat_map(|d| std::fs::read_dir(dir.join(d)).unwrap())
            .map(|e| e.unwrap().path())
            .map(|p| (p.clone(), std::fs::read_to_string(&p).unwrap()))
            .collect();
        files.sort();
        files
    };
    let before = content(dir);
    let typo = incident.replace("outage", "outgae");
    let m_typo = maintenance.replace("upgrade", "upgarde");
    let cases: &[(&[&str], &str)] = &[
        (
            &["incident", "new", "T", "-C", "apii", "-m", "x"],
            "unknown component \"apii\": did you mean \"api\"?",
        ),
        (
            &["incident", "new", "T", "-C", "api=partial", "-m", "x"],
            "unknown component status \"partial\" (did you mean \"partial_outage\"?",
        ),
        (
            &[
                "incident",
                "new",
                "T",
                "--status",
                "investigatng",
                "-m",
                "x",
            ],
            "did you mean \"investigating\"?",
        ),
        (
            &["incident", "new", " ", "-C", "api", "-m", "x"],
            "the title is empty",
        ),
        (
            &[
                "incident",
                "new",
                "T",
                "-C",
                "api",
                "--at",
                "yesterday",
                "-m",
                "x",
            ],
            "--at: invalid time \"yesterday\"",
        ),
        (
            &[
                "incident",
                "new",
                "T",
                "-C",
                "api",
                "--at",
                "2026-11-20 14:02 Europe/Berln",
                "-m",
                "x",
            ],
            "unknown time zone \"Europe/Berln\" in \"2026-11-20 14:02 Europe/Berln\" (did you mean \"Europe/Berlin\"?)",
        ),
        (
            &[
                "incident",
                "update",
                &typo,
                "--status",
                "identified",
                "-m",
                "x",
            ],
            "did you mean",
        ),
        (
            &[
                "incident",
                "update",
                &incident,
                "--status",
                "identified",
                "-C",
                "api=down",
                "-m",
                "x",
            ],
            "unknown component status \"down\"",
        ),
        (
            &["incident", "update", &incident, "--status", "identified"],
            "--message",
        ),
        (&["incident", "resolve", &typo], "did you mean"),
        (
            &["incident", "postmortem", &typo, "-m", "x"],
            "did you mean",
        ),
        (&["incident", "show", &typo], "did you mean"),
        (
            &[
                "maintenance",
                "new",
                "T",
                "-C",
                "websit",
                "--from",
                "+1h",
                "--until",
                "+2h",
                "-m",
                "x",
            ],
            "did you mean \"website\"?",
        ),
        (
            &[
                "maintenance",
                "new",
                "T",
                "-C",
                "api",
                "--from",
                "+2h",
                "--until",
                "+1h",
                "-m",
                "x",
            ],
            "--until must be after --from",
        ),
        (
            &[
                "maintenance",
                "new",
                "T",
                "-C",
                "api",
                "--from",
                "soon",
                "--until",
                "+1h",
                "-m",
                "x",
            ],
            "--from: invalid",
        ),
        (
            &[
                "maintenance",
                "new",
                "T",
                "-C",
                "api",
                "--cron",
                "bogus",
                "--duration",
                "30m",
                "-m",
                "x",
            ],
            "--cron: cron expression \"bogus\"",
        ),
        (
            &[
                "maintenance",
                "new",
                "T",
                "-C",
                "api",
                "--cron",
                "0 3 * * *",
                "--duration",
                "30",
                "-m",
                "x",
            ],
            "--duration: invalid duration \"30\"",
        ),
        (
            &["maintenance", "update", &m_typo, "-m", "x"],
            "did you mean",
        ),
        (
            &[
                "maintenance",
                "update",
                &maintenance,
                "--status",
                "in_progres",
                "-m",
                "x",
            ],
            "did you mean \"in_progress\"?",
        ),
        (&["maintenance", "cancel", &m_typo], "did you mean"),
        (&["check", "websit-http"], "unknown monitor \"websit-http\""),
        (
            &["notify", "test", "slack"],
            "no notification channel \"slack\"",
        ),
        (&["build", "--now", "yesterday"], "--now: invalid time"),
        (&["publish", "--now", "yesterday"], "--now: invalid time"),
        (&["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, want) in cases {
        let out = pharos(dir).args(*args).write_stdin("").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "pharos {args:?}: {err}");
        assert!(
            err.contains(want),
            "pharos {args:?}: want {want:?} in\n{err}"
        );
        assert!(err.contains("try '--help'"), "pharos {args:?}: {err}");
    }
    assert_eq!(content(dir), before, "nothing was written");
    assert!(!dir.join("publish").exists(), "nothing was built");
    // What is wrong with the state, not with the arguments, is a failure (1).
    let (code, err) = fails(dir, &["incident", "postmortem", &incident, "-m", "x"]);
    assert_eq!(code, 1, "{err}");
}
