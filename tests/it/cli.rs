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

#[test]
fn a_missing_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = pharos()
        .current_dir(dir.path())
        .arg("build")
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("cannot read config file config.yaml"),
        "{stderr}"
    );
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
        .code(1);
    assert!(
        String::from_utf8_lossy(&out.get_output().stderr)
            .contains("unknown monitor \"god\" (did you mean \"good\"?)")
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
