-- OAuth clients. secret_hash is SHA-256 of a 256-bit secret; NULL for public clients.
CREATE TABLE clients (
    id          TEXT    PRIMARY KEY NOT NULL,
    secret_hash BLOB    CHECK (secret_hash IS NULL OR length(secret_hash) = 32),
    scope       TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
) STRICT;

-- The signing key ring. sealed_private is the private key (or HMAC secret)
-- encrypted under the master key, never the key itself.
CREATE TABLE signing_keys (
    kid            TEXT    PRIMARY KEY NOT NULL,
    alg            TEXT    NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    sealed_private BLOB    NOT NULL,
    public_jwk     TEXT,
    created_at     INTEGER NOT NULL,
    activated_at   INTEGER,
    retired_at     INTEGER
) STRICT;

-- At most one current and one next key, enforced by the database.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (state) WHERE state IN ('current', 'next');

-- Revoked access tokens by jti, kept until the token would have expired.
CREATE TABLE revoked_tokens (
    jti        TEXT    PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- "No access token issued at or before this instant is valid" (log out
-- everywhere, disable). A change fires users_updated_bump_revision.
ALTER TABLE users ADD COLUMN tokens_not_before INTEGER;

CREATE TRIGGER revoked_tokens_inserted_bump_revision AFTER INSERT ON revoked_tokens
BEGIN
    UPDATE revision SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER revoked_tokens_updated_bump_revision AFTER UPDATE ON revoked_tokens
BEGIN
    UPDATE revision SET value = value + 1 WHERE id = 1;
END;

-- Other processes reload the key ring when it changes.
CREATE TRIGGER signing_keys_inserted_bump_revision AFTER INSERT ON signing_keys
BEGIN
    UPDATE revision SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER signing_keys_updated_bump_revision AFTER UPDATE ON signing_keys
BEGIN
    UPDATE revision SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER signing_keys_deleted_bump_revision AFTER DELETE ON signing_keys
BEGIN
    UPDATE revision SET value = value + 1 WHERE id = 1;
END;
