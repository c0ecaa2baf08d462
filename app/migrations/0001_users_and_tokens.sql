-- Users and their refresh-token families (week 4: auth).
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT    NOT NULL,
    display_name  TEXT    NOT NULL,
    bio           TEXT    NOT NULL DEFAULT '',
    role          TEXT    NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin')),
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER,            -- unix seconds; NULL when not locked
    created_at    INTEGER NOT NULL    -- unix seconds
);

-- Opaque refresh tokens, stored only as SHA-256 hashes. A family is one login's chain of
-- rotated tokens: presenting a used token revokes the whole family (reuse detection).
CREATE TABLE refresh_tokens (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    family_id   TEXT    NOT NULL,
    token_hash  BLOB    NOT NULL UNIQUE,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    revoked_at  INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);
