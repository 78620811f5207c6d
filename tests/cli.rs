//! The binary, run the way a user runs it.

mod common;

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
