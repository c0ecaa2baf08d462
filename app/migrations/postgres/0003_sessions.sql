-- Sessions that ended (src/auth/ended.rs), on PostgreSQL. `seq` orders the rows, so a
-- process reads just the ones other processes added since it last looked. (SQLite's
-- version 3 also rebuilt `users` to stop id reuse; identity columns never reuse ids.)
CREATE TABLE ended_sessions (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id TEXT   NOT NULL,
    user_id    BIGINT NOT NULL,
    reason     TEXT   NOT NULL,
    ended_at   BIGINT NOT NULL    -- unix seconds
);
CREATE INDEX ended_sessions_at ON ended_sessions (ended_at);
