//! A generator of realistic sites for the benchmarks: components in groups, incidents spread
//! over two years with Markdown updates, a few still open, maintenance windows.
#![allow(dead_code)]

use std::path::Path;

/// A small deterministic PRNG (xorshift64*), so every run generates the same site.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const SERVICES: &[&str] = &[
    "API",
    "Dashboard",
    "Webhooks",
    "Search",
    "Billing",
    "Auth",
    "CDN",
    "Email",
    "Storage",
    "Queue",
];
const REGIONS: &[&str] = &["EU", "US East", "US West", "APAC", "Global"];
const PROBLEMS: &[&str] = &[
    "Elevated error rates",
    "Increased latency",
    "Degraded performance",
    "Partial outage",
    "Delayed processing",
];
const EFFECTS: &[&str] = &["degraded_performance", "partial_outage", "major_outage"];

/// Write a site with `components` components and `incidents` incidents spread over two years
/// before 2026-11-26, a few still open, plus a recurring and a one-off maintenance.
pub fn generate(dir: &Path, components: usize, incidents: usize) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ incidents as u64);
    let mut config = String::from(
        "site:\n  title: Bench Status\n  base_url: https://status.bench.test\n  time_zone: Europe/Berlin\ngroups:\n",
    );
    for g in 0..10 {
        config.push_str(&format!("  - id: g{g}\n    name: Region {g}\n"));
    }
    config.push_str("components:\n");
    for c in 0..components {
        config.push_str(&format!(
            "  - id: c{c}\n    name: {} {}\n    description: Component number {c}\n    group: g{}\n",
            SERVICES[c % SERVICES.len()],
            REGIONS[c % REGIONS.len()],
            c % 10
        ));
    }
    std::fs::create_dir_all(dir.join("content/incidents")).unwrap();
    std::fs::create_dir_all(dir.join("content/maintenance")).unwrap();
    std::fs::write(dir.join("config.yaml"), config).unwrap();

    let end = 1_795_700_000i64; // 2026-11-26
    let span = 2 * 365 * 86_400;
    for i in 0..incidents {
        let start = end - span + (rng.below(span as u64) as i64);
        let open = i < 3;
        let n_updates = 2 + rng.below(4) as usize;
        let comp = rng.below(components as u64);
        let mut text = format!(
            "---\ntitle: {} for {} {}\ncomponents:\n  c{comp}: {}\n",
            rng.pick(PROBLEMS),
            SERVICES[comp as usize % SERVICES.len()],
            REGIONS[comp as usize % REGIONS.len()],
            rng.pick(EFFECTS)
        );
        if rng.below(3) == 0 {
            let other = (comp + 1) % components as u64;
            text.push_str(&format!("  c{other}: degraded_performance\n"));
        }
        text.push_str("---\n");
        let statuses = ["investigating", "identified", "monitoring", "resolved"];
        let mut t = start + 60 * (n_updates as i64) * 20;
        for u in (0..n_updates).rev() {
            let status = if u == n_updates - 1 && !open {
                "resolved"
            } else {
                statuses[u.min(2)]
            };
            let when = chrono::DateTime::from_timestamp(t, 0)
                .unwrap()
                .format("%Y-%m-%d %H:%M");
            text.push_str(&format!(
                "## {when} UTC · {status}\nWe are working on it. Details:\n\n- affected requests: about {}%\n- see the [runbook](https://docs.bench.test/runbook/{i})\n\n**Next update** within 30 minutes.\n\n",
                1 + rng.below(40)
            ));
            t -= 60 * (5 + rng.below(30) as i64);
        }
        std::fs::write(dir.join(format!("content/incidents/i{i:06}.md")), text).unwrap();
    }
    std::fs::write(
        dir.join("content/maintenance/weekly.md"),
        "---\ntitle: Weekly maintenance\ncomponents: [c0, c1]\nschedule: \"0 3 * * Sun\"\nduration: 1h\n---\nRoutine work.\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("content/maintenance/2027-01-10-upgrade.md"),
        "---\ntitle: Database upgrade\ncomponents: [c2]\nscheduled_for: 2027-01-10 02:00\nscheduled_until: 2027-01-10 04:00\n---\nUpgrade.\n",
    )
    .unwrap();
}

/// The generated config of `dir` with one more component, `probed`, for a bench's monitor
/// `probe` (no generated incident decides its status), and that monitor (`monitor` holds its
/// settings after `component:`).
#[allow(dead_code)]
pub fn config_with_probe(dir: &Path, monitor: &str) -> String {
    let mut yaml = std::fs::read_to_string(dir.join("config.yaml"))
        .unwrap()
        .replacen(
            "components:\n",
            "components:\n  - id: probed\n    name: Probed service\n",
            1,
        );
    yaml.push_str("monitors:\n  - id: probe\n    component: probed\n");
    yaml.push_str(monitor);
    yaml
}
