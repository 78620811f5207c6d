-- Pharos store, version 4: the notification outbox.

-- Every event channels may be told about, written in the transaction that records the change.
-- `key` is the event's idempotency key: recording the same change again adds nothing.
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    at          INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    payload     TEXT NOT NULL
);
-- The feeds read the newest events of a kind at every render.
CREATE INDEX outbox_kind_at ON outbox(kind, at);

-- Per channel: events up to `cursor` are handled (sent, or not for this channel). A channel
-- seen for the first time starts at the newest event: it is not sent the past.
CREATE TABLE notify_channels (
    channel       TEXT PRIMARY KEY,
    cursor        INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       INTEGER,          -- milliseconds
    last_error    TEXT,
    last_sent_at  INTEGER
);

-- Each message a channel's receiver accepted, with its answer.
CREATE TABLE notify_log (
    channel   TEXT NOT NULL,
    event_id  INTEGER NOT NULL,
    sent_at   INTEGER NOT NULL,
    answer    TEXT NOT NULL,
    PRIMARY KEY (channel, event_id)
);

-- Maintenance starts and ends already turned into events.
CREATE TABLE maintenance_marks (
    maintenance_id  TEXT NOT NULL,
    starts_at       INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    PRIMARY KEY (maintenance_id, starts_at, kind)
);
