//! Tells the integration tests what this machine lacks, so a test that cannot run here shows
//! as ignored (with the reason) instead of passing: `pharos_no_chromium` when no Chromium is
//! found, `pharos_no_root` when not running as root (the disk-full tests mount tmpfs volumes).
//! Under `CI=true` neither is set: CI must run every test, and a missing piece fails it.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(pharos_no_chromium)");
    println!("cargo::rustc-check-cfg=cfg(pharos_no_root)");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PHAROS_CHROMIUM");
    println!("cargo::rerun-if-env-changed=PATH");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<_> = std::env::split_paths(&path).collect();
    for dir in &dirs {
        // Installing Chromium adds a file here: look again then.
        if dir.is_dir() {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        return;
    }
    let chromium = std::env::var_os("PHAROS_CHROMIUM").is_some()
        || dirs.iter().any(|d| {
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .any(|n| d.join(n).is_file())
        });
    if !chromium {
        println!("cargo::rustc-cfg=pharos_no_chromium");
    }
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false);
    if !root {
        println!("cargo::rustc-cfg=pharos_no_root");
    }
}
