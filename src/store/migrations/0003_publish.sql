-- Pharos store, version 3: what each publish target holds.

-- One row per object a target has (as far as we know): the hashes of the bytes we stored there
-- (sha256 for our diff, md5 for comparing with S3 ETags), and when it stopped being rendered
-- (hashed assets are kept for a grace period so CDN-cached old pages still load).
CREATE TABLE publish_objects (
    target       TEXT NOT NULL,
    path         TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    md5          TEXT NOT NULL,
    orphaned_at  INTEGER,
    PRIMARY KEY (target, path)
);

-- Per target: the last attempt's result, for backoff across restarts and for `pharos status`.
CREATE TABLE publish_state (
    target           TEXT PRIMARY KEY,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    last_attempt_at  INTEGER,
    last_success_at  INTEGER
);
