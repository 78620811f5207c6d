-- Pharos store, version 1.
-- Times are Unix seconds (UTC) unless the column name says otherwise.

-- Components as configured; created_at is when Pharos first saw each one (Statuspage's created_at).
CREATE TABLE components (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    removed_at  INTEGER
);

-- Incidents imported from content/incidents/*.md (monitor-opened ones are written as files too).
CREATE TABLE incidents (
    id            TEXT PRIMARY KEY,
    title         TEXT NOT NULL,
    impact        TEXT NOT NULL CHECK (impact IN ('none','minor','major','critical')),
    automatic     INTEGER NOT NULL DEFAULT 0,
    source_path   TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE incident_components (
    incident_id   TEXT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    component_id  TEXT NOT NULL,
    status        TEXT NOT NULL,
    PRIMARY KEY (incident_id, component_id)
);

CREATE TABLE incident_updates (
    incident_id  TEXT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,          -- 0 = newest
    at           INTEGER NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('investigating','identified','monitoring','resolved','postmortem')),
    body_md      TEXT NOT NULL,
    body_html    TEXT NOT NULL,
    PRIMARY KEY (incident_id, seq)
);
CREATE INDEX incident_updates_at ON incident_updates(at);

CREATE TABLE maintenances (
    id                TEXT PRIMARY KEY,
    title             TEXT NOT NULL,
    source_path       TEXT NOT NULL,
    content_hash      TEXT NOT NULL,
    scheduled_for     INTEGER,              -- one-off window ...
    scheduled_until   INTEGER,
    schedule          TEXT,                 -- ... or a cron expression and a duration
    duration_secs     INTEGER,
    cancelled         INTEGER NOT NULL DEFAULT 0,
    first_seen        INTEGER NOT NULL,     -- when Pharos first imported it (Statuspage created_at)
    description_md    TEXT NOT NULL,
    description_html  TEXT NOT NULL,
    CHECK ((scheduled_for IS NOT NULL AND scheduled_until IS NOT NULL) OR (schedule IS NOT NULL AND duration_secs IS NOT NULL))
);

CREATE TABLE maintenance_components (
    maintenance_id  TEXT NOT NULL REFERENCES maintenances(id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    component_id    TEXT NOT NULL,
    PRIMARY KEY (maintenance_id, component_id)
);

CREATE TABLE maintenance_updates (
    maintenance_id  TEXT NOT NULL REFERENCES maintenances(id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    at              INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('scheduled','in_progress','verifying','completed')),
    body_md         TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    PRIMARY KEY (maintenance_id, seq)
);

-- Monitor engine (filled by the daemon). Raw results are private: reason may hold error text.
CREATE TABLE monitor_state (
    monitor_id            TEXT PRIMARY KEY,
    component_id          TEXT NOT NULL,
    status                TEXT NOT NULL,       -- a component status the monitor has confirmed
    since                 INTEGER NOT NULL,
    consecutive_failures  INTEGER NOT NULL DEFAULT 0,
    consecutive_successes INTEGER NOT NULL DEFAULT 0,
    last_check_at         INTEGER
);

CREATE TABLE check_results (
    id          INTEGER PRIMARY KEY,
    monitor_id  TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('up','degraded','down','inconclusive')),
    latency_ms  INTEGER,
    reason      TEXT
);
CREATE INDEX check_results_monitor_at ON check_results(monitor_id, at_ms);

-- Rollups are public-safe aggregates, kept long term (store.rollup_retention).
CREATE TABLE hourly_rollups (
    monitor_id      TEXT NOT NULL,
    component_id    TEXT NOT NULL,
    hour            INTEGER NOT NULL,           -- start of the hour, Unix seconds
    up              INTEGER NOT NULL DEFAULT 0,
    degraded        INTEGER NOT NULL DEFAULT 0,
    down            INTEGER NOT NULL DEFAULT 0,
    latency_p50_ms  INTEGER,
    latency_p95_ms  INTEGER,
    latency_p99_ms  INTEGER,
    PRIMARY KEY (monitor_id, hour)
);

CREATE TABLE daily_rollups (
    component_id    TEXT NOT NULL,
    day             TEXT NOT NULL,              -- YYYY-MM-DD in the site time zone
    up              INTEGER NOT NULL DEFAULT 0,
    degraded        INTEGER NOT NULL DEFAULT 0,
    down            INTEGER NOT NULL DEFAULT 0,
    latency_p50_ms  INTEGER,
    latency_p95_ms  INTEGER,
    latency_p99_ms  INTEGER,
    PRIMARY KEY (component_id, day)
);
