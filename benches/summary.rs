//! `cargo bench --bench summary`: one table of every figure the other benches left in
//! `target/bench/*.json`, each next to its target, also written as `target/bench/report.json`.
//! Run by `benches/run-all.sh` after the others; prints what is missing instead of failing.

#[path = "common/report.rs"]
mod report;

use serde_json::{Value, json};

fn load(name: &str) -> Option<Value> {
    let text = std::fs::read_to_string(report::dir().join(format!("{name}.json"))).ok()?;
    serde_json::from_str(&text).ok()
}

fn rows(v: &Option<Value>) -> Vec<Value> {
    v.as_ref()
        .and_then(|v| v["rows"].as_array().cloned())
        .unwrap_or_default()
}

struct Line {
    area: &'static str,
    workload: String,
    figure: String,
    target: &'static str,
    /// None: no target.
    met: Option<bool>,
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let (build, change, publish, engine) = (
        load("build"),
        load("change"),
        load("publish"),
        load("engine"),
    );
    let mut lines: Vec<Line> = Vec::new();

    for r in rows(&build) {
        let n = r["incidents"].as_u64().unwrap_or(0);
        let (target, limit_ms) = match n {
            10_000 => ("< 1 s, peak RSS < 300 MB", Some(1000.0)),
            50_000 => ("< 5 s, peak RSS < 300 MB", Some(5000.0)),
            _ => ("", None),
        };
        let cold = f(&r["cold_ms"]);
        let rss = f(&r["peak_rss_mb"]);
        lines.push(Line {
            area: "1 full build",
            workload: format!("{} ({n} incidents)", r["site"].as_str().unwrap_or("")),
            figure: format!(
                "cold {:.2} s, warm {:.2} s, peak RSS {rss:.0} MB, {} files, {:.1} MB",
                cold / 1000.0,
                f(&r["warm_ms"]) / 1000.0,
                r["files"],
                f(&r["output_mb"])
            ),
            target,
            met: limit_ms.map(|l| cold < l && rss < 300.0),
        });
    }
    for r in rows(&change) {
        let n = r["incidents"].as_u64().unwrap_or(0);
        lines.push(Line {
            area: "2 change to public",
            workload: format!("{}, {n} incidents", r["change"].as_str().unwrap_or("")),
            figure: format!(
                "publish/ {:.1} ms ({} files), S3 {:.1} ms ({} objects)",
                f(&r["to_folder_ms"]),
                r["files_written"],
                f(&r["to_s3_ms"]),
                r["objects_uploaded"]
            ),
            target: "< 50 ms to publish/, < 150 ms to S3",
            met: Some(f(&r["to_folder_ms"]) < 50.0 && f(&r["to_s3_ms"]) < 150.0),
        });
    }
    for r in rows(&publish) {
        let n = r["incidents"].as_u64().unwrap_or(0);
        lines.push(Line {
            area: "2 change to public",
            workload: format!("`pharos run` transition, {n} incidents"),
            figure: format!(
                "{:.0} ms incl. 50 ms debounce ({} objects)",
                f(&r["daemon_change_ms"]),
                r["daemon_change_uploaded"]
            ),
            target: "< 150 ms to S3",
            met: Some(f(&r["daemon_change_ms"]) < 150.0),
        });
        lines.push(Line {
            area: "2 first publish",
            workload: format!("{n} incidents"),
            figure: format!(
                "{:.1} s; {}",
                f(&r["first_publish_ms"]) / 1000.0,
                r["first_publish"].as_str().unwrap_or("")
            ),
            target: "",
            met: None,
        });
    }
    for r in rows(&engine) {
        let n = r["monitors"].as_u64().unwrap_or(0);
        let interval = r["interval"].as_str().unwrap_or("");
        let target_10k = n == 10_000 && interval == "60s";
        lines.push(Line {
            area: "3 monitor engine",
            workload: format!("{n} monitors @ {interval}"),
            figure: format!(
                "{} checks/s, CPU {}%, RSS {} MB, lateness p50 {} ms / p99 {} ms, {} B/check",
                r["checks_per_sec"],
                r["cpu_percent"],
                r["rss_mb"],
                r["lateness_p50_ms"],
                r["lateness_p99_ms"],
                r["db_bytes_per_check"]
            ),
            target: if target_10k {
                "< 10 % of a core, < 150 MB, p99 < 1 s"
            } else if n == 50_000 {
                "runs"
            } else {
                ""
            },
            met: if target_10k {
                Some(
                    f(&r["cpu_percent"]) < 10.0
                        && f(&r["rss_mb"]) < 150.0
                        && f(&r["lateness_p99_ms"]) < 1000.0,
                )
            } else if n == 50_000 {
                Some(f(&r["checks_per_sec"]) > 0.0)
            } else {
                None
            },
        });
    }
    for r in rows(&build) {
        let gz = f(&r["page_gzip_bytes"]);
        lines.push(Line {
            area: "4 page weight",
            workload: r["site"].as_str().unwrap_or("").to_string(),
            figure: format!(
                "{} requests ({} for first paint), {:.1} KB raw, {:.1} KB gzip, JS {} B",
                r["page_requests"],
                r["page_first_paint_requests"],
                f(&r["page_raw_bytes"]) / 1024.0,
                gz / 1024.0,
                r["page_js_bytes"]
            ),
            target: "< 14 KB gzip, 0 JS, <= 2 requests for first paint",
            met: Some(
                gz < 14.0 * 1024.0
                    && f(&r["page_js_bytes"]) == 0.0
                    && f(&r["page_first_paint_requests"]) <= 2.0,
            ),
        });
    }
    for r in rows(&publish) {
        let n = r["incidents"].as_u64().unwrap_or(0);
        lines.push(Line {
            area: "5 cold start",
            workload: format!("`pharos run` to first publish, {n} incidents"),
            figure: format!("{:.2} s", f(&r["cold_start_ms"]) / 1000.0),
            target: "",
            met: None,
        });
    }
    for r in rows(&load("parse")) {
        lines.push(Line {
            area: "7 hostile input",
            workload: format!(
                "slowest 64 KiB input of {} for {}",
                r["inputs"],
                r["parser"].as_str().unwrap_or("")
            ),
            figure: format!(
                "{:.1} ms ({})",
                f(&r["slowest_ms"]),
                r["slowest_input"].as_str().unwrap_or("")
            ),
            target: "< 50 ms",
            met: Some(f(&r["slowest_ms"]) < 50.0),
        });
    }
    for r in rows(&load("detect")) {
        let target = f(&r["target_s"]);
        lines.push(Line {
            area: "8 detection",
            workload: match r["monitor"].as_str() {
                Some("heartbeat") => "silent heartbeat (interval 20s + grace 5s)".to_string(),
                _ => "failing HTTP target (interval 5s x failure_threshold 3)".to_string(),
            },
            figure: format!(
                "median {:.2} s, max {:.2} s ({} rounds)",
                f(&r["median_s"]),
                f(&r["max_s"]),
                r["rounds"]
            ),
            target: match r["monitor"].as_str() {
                Some("heartbeat") => "= interval + grace (25 s)",
                _ => "<= interval x threshold (15 s)",
            },
            met: Some(f(&r["max_s"]) <= target + 1.0),
        });
    }
    // `cargo bench --bench subscribe`: the figures issue 18 asks for (no targets were set).
    if let Some(r) = load("subscribe") {
        let secs = |k: &str| format!("{:.2} s", f(&r[k]));
        for (workload, figure) in [
            (
                "inbox object to confirmation email",
                format!(
                    "median {} (poll 1s), {} (poll 10s)",
                    secs("confirmation_poll_1s_median_s"),
                    secs("confirmation_poll_10s_median_s")
                ),
            ),
            (
                "incident to 1,000 subscribers (rate 100/s)",
                format!(
                    "first {}, all {}",
                    secs("incident_first_of_1000_s"),
                    secs("incident_all_1000_s")
                ),
            ),
            (
                "10,000 junk inbox objects",
                format!(
                    "{}, peak RSS {:.0} MB",
                    secs("junk_10000_s"),
                    f(&r["junk_10000_peak_rss_kb"]) / 1024.0
                ),
            ),
        ] {
            lines.push(Line {
                area: "7 subscriptions",
                workload: workload.to_string(),
                figure,
                target: "",
                met: None,
            });
        }
    }
    // From `bash benches/lighthouse.sh` (run separately: it needs node and chromium).
    for r in rows(&load("lighthouse")) {
        let score = |k: &str| r[k].as_u64().unwrap_or(0);
        let keys = ["performance", "accessibility", "best-practices", "seo"];
        lines.push(Line {
            area: "6 lighthouse",
            workload: format!("example site, {}", r["page"].as_str().unwrap_or("")),
            figure: keys
                .iter()
                .map(|k| format!("{k} {}", score(k)))
                .collect::<Vec<_>>()
                .join(", "),
            target: "100 each",
            met: Some(keys.iter().all(|k| score(k) == 100)),
        });
    }

    let machine = build
        .as_ref()
        .or(engine.as_ref())
        .map(|v| v["machine"].clone())
        .unwrap_or_else(report::machine);
    println!(
        "\nPharos benchmarks on {} cores, {} GiB ({})\n",
        machine["cores"],
        machine["memory_gib"],
        machine["cpu"].as_str().unwrap_or("")
    );
    println!("| area | workload | figure | target | |");
    println!("|---|---|---|---|---|");
    for l in &lines {
        println!(
            "| {} | {} | {} | {} | {} |",
            l.area,
            l.workload,
            l.figure,
            l.target,
            match l.met {
                Some(true) => "met",
                Some(false) => "missed",
                None => "",
            }
        );
    }
    for (name, v) in [
        ("build", &build),
        ("change", &change),
        ("publish", &publish),
        ("engine", &engine),
    ] {
        if v.is_none() {
            println!("(no figures from `cargo bench --bench {name}` yet)");
        }
    }
    let json: Vec<Value> = lines
        .iter()
        .map(|l| {
            json!({"area": l.area, "workload": l.workload, "figure": l.figure, "target": l.target, "met": l.met})
        })
        .collect();
    report::save(
        "report",
        &json!({"machine": machine, "lines": json, "sources": {"build": build, "change": change, "publish": publish, "engine": engine}}),
    );
}
