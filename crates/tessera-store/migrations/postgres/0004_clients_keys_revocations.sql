-- OAuth clients. secret_hash is SHA-256 of a 256-bit secret; NULL for public clients.
CREATE TABLE clients (
    id          TEXT COLLATE "C" PRIMARY KEY,
    secret_hash BYTEA  CHECK (secret_hash IS NULL OR octet_length(secret_hash) = 32),
    scope       TEXT   NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

-- The signing key ring. sealed_private is the private key (or HMAC secret)
-- encrypted under the master key, never the key itself.
CREATE TABLE signing_keys (
    kid            TEXT COLLATE "C" PRIMARY KEY,
    alg            TEXT   NOT NULL,
    state          TEXT   NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    sealed_private BYTEA  NOT NULL,
    public_jwk     TEXT,
    created_at     BIGINT NOT NULL,
    activated_at   BIGINT,
    retired_at     BIGINT
);

-- At most one current and one next key, enforced by the database.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (state) WHERE state IN ('current', 'next');

-- Revoked access tokens by jti, kept until the token would have expired.
CREATE TABLE revoked_tokens (
    jti        TEXT COLLATE "C" PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

-- "No access token issued at or before this instant is valid" (log out
-- everywhere, disable). A change fires users_updated_bump_revision.
ALTER TABLE users ADD COLUMN tokens_not_before BIGINT;

-- An upsert fires both statement triggers; only the one whose transition
-- table holds a row bumps.
CREATE TRIGGER revoked_tokens_inserted_bump_revision AFTER INSERT ON revoked_tokens
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_revision();

CREATE TRIGGER revoked_tokens_updated_bump_revision AFTER UPDATE ON revoked_tokens
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_revision();

-- Other processes reload the key ring when it changes.
CREATE TRIGGER signing_keys_inserted_bump_revision AFTER INSERT ON signing_keys
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_revision();

CREATE TRIGGER signing_keys_updated_bump_revision AFTER UPDATE ON signing_keys
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_revision();

CREATE TRIGGER signing_keys_deleted_bump_revision AFTER DELETE ON signing_keys
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_revision();
