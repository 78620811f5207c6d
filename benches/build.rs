//! `cargo bench --bench build`: full-build figures for generated sites.
//!
//! Generates sites with 100 components and N incidents (default 100, 1,000 and 10,000; set
//! PHAROS_BENCH_SIZES=100,1000 to choose), then runs the release `pharos build` binary on each:
//! a cold build (new database: every file parsed) and a warm build (nothing changed). Every
//! component gets 90 days of daily uptime rollups, so the bars weigh what they weigh on a real
//! site. Prints wall
//! time, the child's peak RSS, the output size, and the gzip size of index.html plus its CSS.
//! Writes the table as JSON to target/bench-build.json. Figures only: nothing here fails on time.
//! PHAROS_BENCH_DIR=DIR keeps the generated sites in DIR (to profile a build by hand).

#[path = "common/gen.rs"]
mod generator;
#[path = "common/report.rs"]
mod report;

use flate2::Compression;
use flate2::write::GzEncoder;
use generator::{Rng, generate};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

struct Row {
    name: String,
    incidents: usize,
    cold_ms: u128,
    warm_ms: u128,
    peak_rss_mb: f64,
    files: usize,
    output_mb: f64,
    index_css_gzip: usize,
    warm_phases: String,
    weight: Weight,
}

/// index.html and everything a browser loads for it.
#[derive(Default)]
struct Weight {
    requests: usize,
    /// The page and what blocks its first paint (stylesheets, scripts without async/defer).
    blocking: usize,
    raw: usize,
    gzip: usize,
    /// Bytes of JavaScript the page loads or inlines (0: none is needed).
    js: usize,
}

/// The value of `attr="..."` in `tag`.
fn attr<'a>(tag: &'a str, attr: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {attr}=\""))? + attr.len() + 3;
    tag[start..].split('"').next()
}

/// What a first visit to index.html fetches: the page, stylesheets, scripts, images and icons
/// that are not inline `data:` URLs (feeds and links are not fetched).
fn page_weight(out: &Path) -> Weight {
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    let mut w = Weight {
        requests: 1,
        blocking: 1,
        raw: index.len(),
        gzip: gzip_len(index.as_bytes()),
        js: 0,
    };
    for piece in index.split('<').skip(1) {
        let tag = piece.split('>').next().unwrap_or("");
        let url = if tag.starts_with("link ")
            && matches!(
                attr(tag, "rel"),
                Some("stylesheet" | "icon" | "preload" | "modulepreload")
            ) {
            attr(tag, "href")
        } else if tag.starts_with("script") {
            if attr(tag, "src").is_none() {
                w.js += piece.len();
            }
            attr(tag, "src")
        } else if tag.starts_with("img ") {
            attr(tag, "src")
        } else {
            None
        };
        let Some(url) = url.filter(|u| !u.starts_with("data:")) else {
            continue;
        };
        let bytes = std::fs::read(out.join(url)).unwrap_or_default();
        if tag.starts_with("script") {
            w.js += bytes.len();
        }
        if attr(tag, "rel") == Some("stylesheet")
            || (tag.starts_with("script") && !tag.contains(" async") && !tag.contains(" defer"))
        {
            w.blocking += 1;
        }
        w.requests += 1;
        w.raw += bytes.len();
        w.gzip += gzip_len(&bytes);
    }
    w
}

/// What one `pharos build` run took.
struct Run {
    wall_ms: u128,
    peak_rss_mb: f64,
    /// The phases `pharos build` reports: "import+snapshot 3 ms, render 42 ms, write 338 ms".
    phases: String,
}

/// Run `pharos build` and measure it.
// The child is reaped by wait4 (which also reports its peak RSS), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run_build(config: &Path, out: &Path) -> Run {
    let log = tempfile::NamedTempFile::new().unwrap();
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args([
            "-c",
            config.to_str().unwrap(),
            "build",
            "--out",
            out.to_str().unwrap(),
            "--now",
            "2026-11-26T12:00:00Z",
        ])
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    // wait4 gives this child's own resource usage (peak RSS), not the sum of all children.
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for the child we spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are valid for writes for the duration of the call.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall_ms = started.elapsed().as_millis();
    assert_eq!(rc, pid, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "pharos build failed"
    );
    let text = std::fs::read_to_string(log.path()).unwrap_or_default();
    let phases = text
        .split_once(" ms (")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(p, _)| p.to_string())
        .unwrap_or_default();
    Run {
        wall_ms,
        peak_rss_mb: usage.ru_maxrss as f64 / 1024.0,
        phases,
    }
}

/// 90 days of daily rollups for every generated component (`c0`...), a few bad days among them,
/// so uptime bars and charts carry the weight they have on a real site.
fn seed_rollups(db: &Path, seed: usize) {
    use pharos::model::DailyRollup;
    let mut store = pharos::store::Store::open(db).unwrap();
    let mut rng = Rng(0x51ed ^ seed as u64);
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    for c in 0..100 {
        for back in 0..90 {
            let down = if rng.below(20) == 0 {
                rng.below(60) as u32
            } else {
                0
            };
            let degraded = if rng.below(15) == 0 {
                rng.below(100) as u32
            } else {
                0
            };
            let p50 = 60 + rng.below(80) as u32;
            let r = DailyRollup {
                up: 1440 - down - degraded,
                degraded,
                down,
                latency_p50_ms: Some(p50),
                latency_p95_ms: Some(p50 * 3),
                latency_p99_ms: Some(p50 * 5),
            };
            store
                .put_daily_rollup(&format!("c{c}"), today - chrono::Duration::days(back), &r)
                .unwrap();
        }
    }
}

fn gzip_len(bytes: &[u8]) -> usize {
    let mut enc = GzEncoder::new(Vec::new(), Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap().len()
}

fn measure(name: &str, site: &Path, incidents: usize) -> Row {
    let config = site.join("config.yaml");
    let out = site.join("publish");
    let _ = std::fs::remove_file(site.join("pharos.db"));
    seed_rollups(&site.join("pharos.db"), incidents);
    let cold = run_build(&config, &out);
    let warm = run_build(&config, &out);
    let mut files = 0;
    let mut bytes = 0u64;
    let mut css = Vec::new();
    let mut stack = vec![out.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files += 1;
                bytes += p.metadata().unwrap().len();
                if p.extension().is_some_and(|x| x == "css") {
                    css = std::fs::read(&p).unwrap();
                }
            }
        }
    }
    let index = std::fs::read(out.join("index.html")).unwrap();
    Row {
        name: name.to_string(),
        incidents,
        cold_ms: cold.wall_ms,
        warm_ms: warm.wall_ms,
        peak_rss_mb: cold.peak_rss_mb.max(warm.peak_rss_mb),
        warm_phases: warm.phases,
        files,
        output_mb: bytes as f64 / 1_048_576.0,
        index_css_gzip: gzip_len(&index) + gzip_len(&css),
        weight: page_weight(&out),
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing: skip the heavy run there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let sizes: Vec<usize> = std::env::var("PHAROS_BENCH_SIZES")
        .unwrap_or_else(|_| "100,1000,10000,50000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // PHAROS_BENCH_DIR keeps the generated sites (for profiling); by default they are temporary.
    let temp = tempfile::tempdir().unwrap();
    let work_dir = std::env::var_os("PHAROS_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().to_path_buf());
    let mut rows = Vec::new();

    let example = work_dir.join("example");
    std::fs::create_dir_all(&example).unwrap();
    std::fs::copy(
        root.join("config.example.yaml"),
        example.join("config.yaml"),
    )
    .unwrap();
    copy_dir(&root.join("content"), &example.join("content"));
    rows.push(measure("example site", &example, 2));

    for n in sizes {
        let dir = work_dir.join(format!("gen-{n}"));
        let _ = std::fs::remove_dir_all(&dir);
        let t = Instant::now();
        generate(&dir, 100, n);
        eprintln!(
            "generated 100 components / {n} incidents in {} ms",
            t.elapsed().as_millis()
        );
        rows.push(measure(&format!("100 comp / {n} inc"), &dir, n));
    }

    println!(
        "\n{:<24} {:>10} {:>10} {:>10} {:>12} {:>8} {:>10} {:>14}",
        "site",
        "incidents",
        "cold ms",
        "warm ms",
        "peak RSS MB",
        "files",
        "output MB",
        "index+css gz"
    );
    for r in &rows {
        println!(
            "{:<24} {:>10} {:>10} {:>10} {:>12.1} {:>8} {:>10.1} {:>14}",
            r.name,
            r.incidents,
            r.cold_ms,
            r.warm_ms,
            r.peak_rss_mb,
            r.files,
            r.output_mb,
            r.index_css_gzip
        );
    }
    println!("\nwarm build phases (as `pharos build` reports them):");
    for r in &rows {
        println!("  {:<24} {}", r.name, r.warm_phases);
    }
    println!("\npage weight (index.html and what it loads; no JavaScript is needed when js = 0):");
    for r in &rows {
        println!(
            "  {:<24} {} requests ({} before first paint), {:.1} KB raw, {:.1} KB gzip, js {} B",
            r.name,
            r.weight.requests,
            r.weight.blocking,
            r.weight.raw as f64 / 1024.0,
            r.weight.gzip as f64 / 1024.0,
            r.weight.js
        );
    }
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "site": r.name, "incidents": r.incidents, "cold_ms": r.cold_ms, "warm_ms": r.warm_ms,
                "peak_rss_mb": r.peak_rss_mb, "files": r.files, "output_mb": r.output_mb,
                "index_css_gzip_bytes": r.index_css_gzip, "warm_phases": r.warm_phases,
                "page_requests": r.weight.requests, "page_first_paint_requests": r.weight.blocking,
                "page_raw_bytes": r.weight.raw,
                "page_gzip_bytes": r.weight.gzip, "page_js_bytes": r.weight.js,
            })
        })
        .collect();
    report::save(
        "build",
        &serde_json::json!({"machine": report::machine(), "rows": json}),
    );
    println!(
        "(nproc={}, one build at a time)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
