-- Pharos store, version 2: what the monitor engine needs.

-- Confirmation state per monitor (see monitor/state.rs): the confirmed level, the level recent
-- results point to and how many in a row, and the automatic incident it has open, if any.
ALTER TABLE monitor_state DROP COLUMN consecutive_failures;
ALTER TABLE monitor_state DROP COLUMN consecutive_successes;
ALTER TABLE monitor_state ADD COLUMN level TEXT NOT NULL DEFAULT 'up';
ALTER TABLE monitor_state ADD COLUMN candidate TEXT NOT NULL DEFAULT 'up';
ALTER TABLE monitor_state ADD COLUMN streak INTEGER NOT NULL DEFAULT 0;
ALTER TABLE monitor_state ADD COLUMN open_incident TEXT;

-- Results during a maintenance window of the component do not count against uptime.
ALTER TABLE check_results ADD COLUMN component_id TEXT NOT NULL DEFAULT '';
ALTER TABLE check_results ADD COLUMN in_maintenance INTEGER NOT NULL DEFAULT 0;
CREATE INDEX check_results_at ON check_results(at_ms);

-- Which hours have been rolled up completely (percentiles computed), so a restart neither
-- skips nor repeats one.
CREATE TABLE rollup_progress (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
);
