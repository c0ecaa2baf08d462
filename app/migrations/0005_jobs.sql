-- The job queue (app/src/jobs/): one row per job, from enqueue to its end.
--
-- state: available (waiting for run_at), running (claimed; lease_until is the lease),
-- succeeded, dead (out of attempts; last_error says why), cancelled (before it ran).
-- A retry is the same row, available again with a later run_at.
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL,
    payload         TEXT    NOT NULL,                 -- JSON
    state           TEXT    NOT NULL DEFAULT 'available'
                    CHECK (state IN ('available', 'running', 'succeeded', 'dead', 'cancelled')),
    priority        INTEGER NOT NULL DEFAULT 0,       -- higher runs first
    run_at          INTEGER NOT NULL,                 -- Unix ms: not before
    attempt         INTEGER NOT NULL DEFAULT 0,       -- claims so far
    max_attempts    INTEGER NOT NULL CHECK (max_attempts >= 1),
    timeout_ms      INTEGER NOT NULL CHECK (timeout_ms >= 1),
    idempotency_key TEXT    UNIQUE,                   -- same key, same job
    created_by      INTEGER,                          -- the user who enqueued it, if any
    lease_owner     TEXT,                             -- the worker holding it while running
    lease_until     INTEGER,                          -- Unix ms
    last_error      TEXT,
    errors          TEXT    NOT NULL DEFAULT '[]',    -- JSON: [{attempt, at, error}]
    created_at      INTEGER NOT NULL,                 -- Unix ms
    started_at      INTEGER,                          -- Unix ms, the latest claim
    finished_at     INTEGER                           -- Unix ms
);

-- The claim: the due job of the highest priority, oldest first.
CREATE INDEX jobs_due ON jobs (priority DESC, run_at, id) WHERE state = 'available';
-- The rescue: running jobs whose lease ran out.
CREATE INDEX jobs_leases ON jobs (lease_until) WHERE state = 'running';
-- Listings by state, newest first, and retention.
CREATE INDEX jobs_state ON jobs (state, id);
