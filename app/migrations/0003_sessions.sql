-- Sessions that really end, and user ids that are never reused.
--
-- 1. User ids are never reused. A plain INTEGER PRIMARY KEY hands the highest id out again
--    after that user is deleted, so anything still naming the old id (an access token, a log
--    line) would name the next account to sign up. AUTOINCREMENT never reuses an id; SQLite
--    cannot add it to a table in place, so the table is rebuilt (foreign keys are off while
--    migrations run, and checked before each commits). The per-account lockout columns go
--    with the old table: login throttling is in memory now (src/auth/throttle.rs).
CREATE TABLE users_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT    NOT NULL,
    display_name  TEXT    NOT NULL,
    bio           TEXT    NOT NULL DEFAULT '',
    role          TEXT    NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin')),
    created_at    INTEGER NOT NULL    -- unix seconds
);
INSERT INTO users_new (id, email, password_hash, display_name, bio, role, created_at)
    SELECT id, email, password_hash, display_name, bio, role, created_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;

-- 2. Sessions that ended: at logout, password change, account deletion, refresh-token reuse
--    and an admin's revocation. A session is a refresh-token family, and every access token
--    names its family (`sid`); each process keeps the rows younger than an access token's
--    lifetime in memory and refuses tokens of ended sessions (src/auth/ended.rs). No foreign
--    key: the row must outlive a deleted user. `seq` orders the rows, so a process can read
--    just the ones other processes added since it last looked.
CREATE TABLE ended_sessions (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT    NOT NULL,
    user_id    INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    ended_at   INTEGER NOT NULL    -- unix seconds
);
CREATE INDEX ended_sessions_at ON ended_sessions(ended_at);
