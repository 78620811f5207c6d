//! The binary, run the way a user runs it.

use crate::common;

use assert_cmd::Command;
use common::TestSite;

fn pharos() -> Command {
    let mut c = Command::cargo_bin("pharos").unwrap();
    c.env_remove("PHAROS_CONFIG");
    c
}

#[test]
fn build_resolves_paths_from_the_config_folder() {
    let site = TestSite::fixture("basic");
    let elsewhere = tempfile::tempdir().unwrap();
    let out = pharos()
        .current_dir(elsewhere.path())
        .args([
            "--config",
            site.config_path().to_str().unwrap(),
            "build",
            "--now",
            "2026-11-26T13:30:00Z",
        ])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("built "), "{stderr}");
    assert!(
        site.path().join("pharos.db").is_file(),
        "the database is created next to the config"
    );
    assert!(
        site.out().join("index.html").is_file(),
        "publish/ is next to the config"
    );
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "nothing lands in the working directory"
    );
}

#[test]
fn out_overrides_the_output_folder() {
    let site = TestSite::fixture("basic");
    let target = site.path().join("custom/site");
    pharos()
        .args([
            "-c",
            site.config_path().to_str().unwrap(),
            "build",
            "--out",
            target.to_str().unwrap(),
        ])
        .assert()
        .success();
    assert!(target.join("api/v2/summary.json").is_file());
    assert!(!site.out().exists());
}

#[test]
fn broken_content_exits_3_and_names_file_and_line() {
    let site = TestSite::fixture("basic");
    pharos()
        .args(["-c", site.config_path().to_str().unwrap(), "build"])
        .assert()
        .success();
    let before = std::fs::read(site.out().join("index.html")).unwrap();
    site.write(
        "content/incidents/2026-11-26-api-latency.md",
        "---\ntitle: x\nimpact: huge\n---\n",
    );
    let out = pharos()
        .args(["-c", site.config_path().to_str().unwrap(), "build"])
        .assert()
        .code(3);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("2026-11-26-api-latency.md:3:9: incident \"2026-11-26-api-latency\": impact: unknown variant `huge`"), "{stderr}");
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert_eq!(
        std::fs::read(site.out().join("index.html")).unwrap(),
        before
    );
}

/// Whether a folder above `dir` has a config.yaml (then Pharos would rightly use it).
fn config_above(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    dir.ancestors()
        .skip(1)
        .map(|d| d.join("config.yaml"))
        .find(|p| p.is_file())
}

#[test]
fn a_build_with_a_broken_config_names_the_contents_problems_too() {
    let site = TestSite::fixture("basic");
    let config = std::fs::read_to_string(site.config_path()).unwrap();
    site.write(
        "config.yaml",
        &config.replace("  history_days: 30\n", "  history_days: 30\n  titel: x\n"),
    );
    site.write(
        "content/incidents/2026-11-26-api-latency.md",
        "---\ntitle: x\nimpact: huge\n---\n## 2026-11-26 10:00 UTC · investigating\nx\n",
    );
    for cmd in ["build", "publish"] {
        let out = pharos()
            .args(["-c", site.config_path().to_str().unwrap(), cmd])
            .assert()
            .code(3);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(
            stderr.contains("config.yaml:7:3: site: unknown field `titel`"),
            "{cmd}: {stderr}"
        );
        assert!(
            stderr.contains("2026-11-26-api-latency.md:3:9: incident \"2026-11-26-api-latency\": impact: unknown variant `huge`"),
            "{cmd}: {stderr}"
        );
        assert!(
            stderr.contains("error: 2 problems found; nothing was written"),
            "{cmd}: {stderr}"
        );
    }
    assert!(!site.out().exists());
}

#[test]
fn a_missing_config_is_a_clear_error_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    if let Some(p) = config_above(dir.path()) {
        eprintln!("skipped: {} exists above the temp folder", p.display());
        return;
    }
    let out = pharos()
        .current_dir(dir.path())
        .arg("build")
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("error: cannot read config file config.yaml"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\nhint: there is no config.yaml in ")
            && stderr.contains("or any folder above it")
            && stderr.contains("--config FILE")
            && stderr.contains("PHAROS_CONFIG"),
        "{stderr}"
    );
    // A path given that does not exist: the hint says where it came from.
    let out = pharos()
        .current_dir(dir.path())
        .args(["-c", "nope.yaml", "build"])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("hint: --config names nope.yaml"),
        "{stderr}"
    );
    let out = pharos()
        .current_dir(dir.path())
        .env("PHAROS_CONFIG", "nope.yaml")
        .arg("status")
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("hint: PHAROS_CONFIG names nope.yaml"),
        "{stderr}"
    );
}

#[test]
fn the_nearest_config_above_the_current_folder_is_used_and_named() {
    let site = TestSite::fixture("basic");
    let deep = site.path().join("content/incidents");
    let out = pharos()
        .current_dir(&deep)
        .arg("validate")
        .assert()
        .success();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.get_output().stdout).into_owned(),
        String::from_utf8_lossy(&out.get_output().stderr).into_owned(),
    );
    let found = site.config_path();
    assert!(
        stderr.contains(&format!(
            "using {} (the nearest config.yaml above the current folder)",
            found.display()
        )),
        "{stderr}"
    );
    assert!(stdout.contains("content files are valid"), "{stdout}");
    // Paths inside it still resolve from its folder: the build lands next to it.
    pharos()
        .current_dir(&deep)
        .args(["build", "--now", common::NOW])
        .assert()
        .success();
    assert!(site.out().join("index.html").is_file());
    assert!(!deep.join("publish").exists());
    // In the site's folder itself nothing is said.
    let out = pharos()
        .current_dir(site.path())
        .arg("validate")
        .assert()
        .success();
    assert!(out.get_output().stderr.is_empty());
}

#[test]
fn help_has_examples() {
    let out = pharos().args(["build", "--help"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("Examples:") && text.contains("--out"),
        "{text}"
    );
    pharos().arg("frobnicate").assert().code(2);
}

#[test]
fn the_example_site_builds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let site = TestSite::empty();
    std::fs::copy(
        root.join("config.example.yaml"),
        site.path().join("config.yaml"),
    )
    .unwrap();
    common::copy_dir(&root.join("content"), &site.path().join("content"));
    pharos()
        .args(["-c", site.config_path().to_str().unwrap(), "build"])
        .assert()
        .success();
    let index = std::fs::read_to_string(site.out().join("index.html")).unwrap();
    assert!(index.contains("Example Status"));
    assert!(
        std::fs::read_dir(site.out().join("assets"))
            .unwrap()
            .any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("logo."))
    );
}

#[test]
fn check_prints_each_monitor_and_fails_when_one_is_down() {
    let target = common::servers::HttpTarget::start();
    let site = TestSite::empty();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    site.write(
        "config.yaml",
        &format!(
            "site:\n  title: T\n  base_url: https://t.test\ncomponents:\n  - id: a\n    name: A\nmonitors:\n  - id: good\n    component: a\n    kind: http\n    url: {}\n  - id: bad\n    component: a\n    kind: tcp\n    host: 127.0.0.1\n    port: {}\n",
            target.url("/"),
            closed.port()
        ),
    );
    let config = site.config_path();
    let out = pharos()
        .args(["-c", config.to_str().unwrap(), "check"])
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("good") && l.contains(" up ")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("bad") && l.contains("down") && l.contains("cannot connect")),
        "{stdout}"
    );
    pharos()
        .args(["-c", config.to_str().unwrap(), "check", "good"])
        .assert()
        .success();
    let out = pharos()
        .args(["-c", config.to_str().unwrap(), "check", "god"])
        .assert()
        .code(2);
    assert!(
        String::from_utf8_lossy(&out.get_output().stderr)
            .contains("unknown monitor \"god\" (did you mean \"good\"?)")
    );
}

#[test]
fn daemon_logs_carry_no_colour_codes_off_a_terminal() {
    let site = TestSite::empty();
    site.write(
        "config.yaml",
        &format!(
            "site:\n  title: T\n  base_url: https://t.test\ncomponents:\n  - id: a\n    name: A\ndaemon:\n  listen: 127.0.0.1:{}\n",
            common::free_port()
        ),
    );
    let log = site.path().join("daemon.log");
    let mut daemon = common::Running(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("pharos"))
            .arg("run")
            .current_dir(site.path())
            .env_remove("PHAROS_CONFIG")
            .env_remove("NO_COLOR")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    // Evidence first: the daemon logged (levels and fields are what a terminal colours).
    common::wait_until(60, "an info line in the log", || read().contains("INFO"));
    common::stop_daemon(&mut daemon);
    let text = read();
    assert!(
        !text.contains('\u{1b}'),
        "escape codes in a log file:\n{text:?}"
    );
}

/// README's top is the two commands; right after, before any `pharos ...`, it says how to get
/// the `pharos` command.
#[test]
fn readme_says_how_to_install_pharos_before_using_it() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let first_block = readme.split("```sh\n").nth(1).unwrap();
    let first_block = first_block.split("```").next().unwrap();
    assert!(
        first_block.starts_with("cargo run --release -- --config config.example.yaml build")
            && first_block
                .lines()
                .nth(1)
                .unwrap()
                .starts_with("cargo test"),
        "{first_block}"
    );
    let install = readme
        .find("cargo install --locked --path .")
        .expect("README shows cargo install");
    let first_use = ["`pharos ", "\npharos "]
        .iter()
        .filter_map(|p| readme.find(p))
        .min()
        .unwrap();
    assert!(
        install < first_use,
        "`pharos` is used before README says how to install it: {}",
        &readme[first_use..first_use + 40]
    );
}

/// `pharos status | head -1`: the reader stops early, and the command ends quietly (no panic
/// about a broken pipe), as other tools do.
#[test]
fn a_reader_that_stops_early_ends_a_command_quietly() {
    let site = TestSite::fixture("basic");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("pharos"))
        .arg("status")
        .current_dir(site.path())
        .env_remove("PHAROS_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before the command has printed anything.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}
