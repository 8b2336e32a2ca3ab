-- Accounts. username_key is the lower-cased username (lower-cased by the
-- core, not by a collation): uniqueness is case-insensitive, the same on
-- every backend. Identifiers sort bytewise (COLLATE "C"), as in SQLite,
-- whatever the database's locale.
CREATE TABLE users (
    id            TEXT COLLATE "C" PRIMARY KEY,
    username      TEXT    NOT NULL,
    username_key  TEXT COLLATE "C" NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    scope         TEXT    NOT NULL DEFAULT '',
    created_at    BIGINT  NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE
);

-- Browser sessions. secret_hash is SHA-256 of the cookie secret; the secret
-- itself is never stored. Times are Unix seconds. data is JSON kept as TEXT,
-- not JSONB: the store returns exactly what it was given (JSONB rewrites
-- numbers and refuses the \u0000 escape that serde_json accepts).
CREATE TABLE sessions (
    id           TEXT COLLATE "C" PRIMARY KEY,
    secret_hash  BYTEA  NOT NULL UNIQUE CHECK (octet_length(secret_hash) = 32),
    user_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    user_agent   TEXT,
    ip           TEXT,
    data         TEXT   NOT NULL DEFAULT '{}'
);

CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_last_seen ON sessions (last_seen_at);
CREATE INDEX sessions_by_created ON sessions (created_at);
