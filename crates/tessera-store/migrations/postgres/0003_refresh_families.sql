-- Refresh-token families (token and hybrid mode). id is the `sid` of the
-- family's access tokens. Times are Unix seconds.
CREATE TABLE refresh_families (
    id           TEXT COLLATE "C" PRIMARY KEY,
    user_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id    TEXT   NOT NULL,
    scope        TEXT   NOT NULL,
    kind         TEXT   NOT NULL CHECK (kind IN ('token', 'hybrid')),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    user_agent   TEXT,
    ip           TEXT,
    revoked_at   BIGINT
);

CREATE INDEX refresh_families_by_user ON refresh_families (user_id);
CREATE INDEX refresh_families_by_expiry ON refresh_families (expires_at);

-- Every refresh token ever issued in a live family, by SHA-256. A consumed
-- token stays (consumed_at set) so that its reuse is recognised.
CREATE TABLE refresh_tokens (
    hash        BYTEA  PRIMARY KEY CHECK (octet_length(hash) = 32),
    family_id   TEXT COLLATE "C" NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    consumed_at BIGINT
);

CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

-- A revoked family is a revocation other processes must learn of. A trigger
-- with transition tables cannot be limited to `UPDATE OF revoked_at`, so it
-- compares old and new rows: a rotation's last_used_at update does not move
-- the revision.
CREATE FUNCTION bump_revision_on_family_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_families o JOIN new_families n ON n.id = o.id
               WHERE n.revoked_at IS DISTINCT FROM o.revoked_at) THEN
        UPDATE revision SET value = value + 1 WHERE id = 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER refresh_family_revoked_bump_revision AFTER UPDATE ON refresh_families
    REFERENCING OLD TABLE AS old_families NEW TABLE AS new_families
    FOR EACH STATEMENT EXECUTE FUNCTION bump_revision_on_family_revoked();
