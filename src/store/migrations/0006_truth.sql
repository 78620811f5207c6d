-- Heartbeats: the last accepted ping survives a restart, so a restart is never taken for a ping
-- and a silent job stays down.
ALTER TABLE monitor_state ADD COLUMN last_ping_ms INTEGER;

-- An incident's impact, unless its file says one, is the worst its component effects reached:
-- lowering a component on the way to recovery does not make the incident smaller after the fact.
ALTER TABLE incidents ADD COLUMN explicit_impact INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN peak_impact TEXT;

-- Incident files renamed with their opening update unchanged: the old id's page redirects to
-- the new one, and the move notifies nobody.
CREATE TABLE incident_moves (
    old_id  TEXT PRIMARY KEY,
    new_id  TEXT NOT NULL,
    at      INTEGER NOT NULL
);

-- When each monitor was first configured, and when a daemon was last alive: silence of a
-- heartbeat counts only while a daemon listened, so restarts neither reset nor stretch it.
ALTER TABLE monitor_state ADD COLUMN created_ms INTEGER;
CREATE TABLE daemon_state (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
);
