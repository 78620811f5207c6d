-- Heartbeats: the last accepted ping survives a restart, so a restart is never taken for a ping
-- and a silent job stays down.
ALTER TABLE monitor_state ADD COLUMN last_ping_ms INTEGER;
