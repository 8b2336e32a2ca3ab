-- Refresh-token families (token and hybrid mode). id is the `sid` of the
-- family's access tokens. Times are Unix seconds.
CREATE TABLE refresh_families (
    id           TEXT    PRIMARY KEY NOT NULL,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id    TEXT    NOT NULL,
    scope        TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('token', 'hybrid')),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    user_agent   TEXT,
    ip           TEXT,
    revoked_at   INTEGER
) STRICT;

CREATE INDEX refresh_families_by_user ON refresh_families (user_id);
CREATE INDEX refresh_families_by_expiry ON refresh_families (expires_at);

-- Every refresh token ever issued in a live family, by SHA-256. A consumed
-- token stays (consumed_at set) so that its reuse is recognised.
CREATE TABLE refresh_tokens (
    hash        BLOB    PRIMARY KEY NOT NULL CHECK (length(hash) = 32),
    family_id   TEXT    NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    consumed_at INTEGER
) STRICT, WITHOUT ROWID;

CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

-- A revoked family is a revocation other processes must learn of.
CREATE TRIGGER refresh_family_revoked_bump_revision AFTER UPDATE OF revoked_at ON refresh_families
BEGIN
    UPDATE revision SET value = value + 1 WHERE id = 1;
END;
