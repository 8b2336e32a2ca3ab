-- Refresh tokens name their family and generation under a MAC, so a family
-- keeps only its current token's hash, its generation and the moment of its
-- last rotation (microseconds since the Unix epoch): a consumed token is
-- recognised by its generation, and no row per consumed token is kept.
ALTER TABLE refresh_families ADD COLUMN generation INTEGER NOT NULL DEFAULT 0 CHECK (generation >= 0);
ALTER TABLE refresh_families ADD COLUMN current_hash BLOB CHECK (length(current_hash) = 32);
ALTER TABLE refresh_families ADD COLUMN rotated_at INTEGER;

-- Tokens issued before this migration are bare secrets: the one that is
-- current in each family becomes that family's generation 0 ...
UPDATE refresh_families SET current_hash = (
    SELECT t.hash FROM refresh_tokens t
    WHERE t.family_id = refresh_families.id AND t.consumed_at IS NULL
    LIMIT 1
);

-- ... and stays findable by its hash, so that it keeps working (and its
-- reuse after it is rotated is recognised). Nothing is ever added here; the
-- rows go with their families, within one family lifetime.
CREATE TABLE refresh_legacy_tokens (
    hash      BLOB NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
    family_id TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

INSERT INTO refresh_legacy_tokens (hash, family_id)
    SELECT hash, family_id FROM refresh_tokens WHERE consumed_at IS NULL;

CREATE INDEX refresh_legacy_tokens_by_family ON refresh_legacy_tokens (family_id);

-- The consumed tokens are what piled up: dropped whole (cheaper than a
-- DELETE). Replaying one of them is now an unknown token: refused, but not
-- recognised as reuse.
DROP TABLE refresh_tokens;
