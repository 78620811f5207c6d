-- Pharos store, version 8: several regions (issue 19).

-- What each region saw of each component, by day (site time zone): its checks, how many of
-- them failed, and their total response time (the component page's "response time by region").
CREATE TABLE region_daily (
    component_id    TEXT NOT NULL,
    region          TEXT NOT NULL,
    day             TEXT NOT NULL,
    checks          INTEGER NOT NULL DEFAULT 0,
    down            INTEGER NOT NULL DEFAULT 0,
    latency_sum_ms  INTEGER NOT NULL DEFAULT 0,
    latency_n       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (component_id, day, region)
);

-- The leader's view of the other regions: when each last reported (the leader's clock), and
-- whether it is flagged silent.
CREATE TABLE cluster_regions (
    region    TEXT PRIMARY KEY,
    heard_ms  INTEGER NOT NULL,
    silent    INTEGER NOT NULL DEFAULT 0
);
