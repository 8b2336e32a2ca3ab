-- Refresh tokens name their family and generation under a MAC, so a family
-- keeps only its current token's hash, its generation and the moment of its
-- last rotation (microseconds since the Unix epoch): a consumed token is
-- recognised by its generation, and no row per consumed token is kept.
ALTER TABLE refresh_families
    ADD COLUMN generation   BIGINT NOT NULL DEFAULT 0 CHECK (generation >= 0),
    ADD COLUMN current_hash BYTEA CHECK (octet_length(current_hash) = 32),
    ADD COLUMN rotated_at   BIGINT;

-- Tokens issued before this migration are bare secrets: the one that is
-- current in each family becomes that family's generation 0 (revoked_at is
-- untouched, so the revision trigger does not fire) ...
UPDATE refresh_families f SET current_hash = t.hash
    FROM refresh_tokens t
    WHERE t.family_id = f.id AND t.consumed_at IS NULL;

-- ... and stays findable by its hash, so that it keeps working (and its
-- reuse after it is rotated is recognised). Nothing is ever added here; the
-- rows go with their families, within one family lifetime.
CREATE TABLE refresh_legacy_tokens (
    hash      BYTEA PRIMARY KEY CHECK (octet_length(hash) = 32),
    family_id TEXT COLLATE "C" NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE
);

INSERT INTO refresh_legacy_tokens (hash, family_id)
    SELECT hash, family_id FROM refresh_tokens WHERE consumed_at IS NULL;

CREATE INDEX refresh_legacy_tokens_by_family ON refresh_legacy_tokens (family_id);

-- The consumed tokens are what piled up: dropped whole (cheaper than a
-- DELETE). Replaying one of them is now an unknown token: refused, but not
-- recognised as reuse.
DROP TABLE refresh_tokens;
