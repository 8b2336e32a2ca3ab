-- A counter every process sharing this database can poll to learn that
-- sessions were deleted or users changed (revocations), so in-process session
-- caches drop what they hold. A single-row table updated by triggers, never a
-- sequence: nextval() is visible to others before the change commits (and
-- even if it rolls back), so a poller could see the new value, reload, and
-- still miss the change. The row update commits with the change or not at all.
CREATE TABLE revision (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT  NOT NULL
);
INSERT INTO revision (id, value) VALUES (1, 0);

-- Bumps the revision once per statement that changed at least one row. The
-- calling trigger names its transition table `changed`. Statement-level
-- rather than per row: a purge of a thousand sessions writes the revision
-- row once, not a thousand times, and a purge that deletes nothing does not
-- move it (which would flush every cache each time the purge ran).
CREATE FUNCTION bump_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed) THEN
        UPDATE revision SET value = value + 1 WHERE id = 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER sessions_deleted_bump_revision AFTER DELETE ON sessions
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_revision();

CREATE TRIGGER users_updated_bump_revision AFTER UPDATE ON users
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_revision();
