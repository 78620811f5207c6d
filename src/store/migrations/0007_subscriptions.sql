-- Pharos store, version 7: email subscriptions (see src/subscribe).

-- One row per address, pending (confirmed_at NULL) or confirmed. An unsubscribe deletes the row.
-- `components` is a JSON array of component ids; empty means every component.
CREATE TABLE subscribers (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    email          TEXT NOT NULL UNIQUE COLLATE NOCASE,
    components     TEXT NOT NULL DEFAULT '[]',
    created_at     INTEGER NOT NULL,
    confirmed_at   INTEGER,
    -- While pending: the confirm page's token and when the request is forgotten.
    confirm_token  TEXT UNIQUE,
    expires_at     INTEGER,
    manage_token   TEXT NOT NULL UNIQUE,
    -- Events after this outbox id reach the subscriber (nothing from before they subscribed).
    from_event     INTEGER NOT NULL DEFAULT 0,
    source         TEXT NOT NULL
);

-- Inbox objects already recorded (hash of the key, its ETag and time): an object read again
-- after a crash before its DELETE is only deleted.
CREATE TABLE inbox_done (
    key_hash  TEXT NOT NULL,
    etag      TEXT NOT NULL,
    modified  INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (key_hash, etag, modified)
);

-- Emails to subscribers, durable and retried. `key` is the idempotency key (the Message-ID).
-- kind: confirm | welcome | already | event | reminder.
CREATE TABLE mail_outbox (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    subscriber_id  INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    key            TEXT NOT NULL UNIQUE,
    event_id       INTEGER,
    payload        TEXT,
    priority       INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    next_at        INTEGER NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    sent_at        INTEGER
);
CREATE INDEX mail_due ON mail_outbox(sent_at, priority, next_at);
CREATE INDEX mail_sent ON mail_outbox(sent_at) WHERE sent_at IS NOT NULL;

-- Confirmation emails per address (a hash of it) and time, for the per-day limit.
CREATE TABLE confirm_sends (
    email_hash  TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX confirm_sends_by ON confirm_sends(email_hash, at);

-- Maintenance windows whose reminder went out.
CREATE TABLE reminder_marks (
    maintenance_id  TEXT NOT NULL,
    starts_at       INTEGER NOT NULL,
    PRIMARY KEY (maintenance_id, starts_at)
);

-- Capability pages (confirm and manage) on each target: path and the SHA-256 of what is there.
CREATE TABLE capability_pages (
    target  TEXT NOT NULL,
    path    TEXT NOT NULL,
    sha256  TEXT NOT NULL,
    PRIMARY KEY (target, path)
);

-- The subscription worker's cursor into the outbox, its counters and the last poll.
CREATE TABLE subscription_state (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
);
