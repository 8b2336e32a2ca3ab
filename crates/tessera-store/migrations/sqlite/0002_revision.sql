-- A counter every process sharing this file can poll to learn that sessions
-- were deleted or users changed (revocations), so in-process session caches
-- drop what they hold. Triggers keep it in the same transaction as the change.
CREATE TABLE revision (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
) STRICT;
INSERT INTO revision (id, value) VALUES (1, 0);

CREATE TRIGGER sessions_deleted_bump_revision AFTER DELETE ON sessions
BEGIN
    UPDATE revision SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER users_updated_bump_revision AFTER UPDATE ON users
BEGIN
    UPDATE revision SET value = value + 1 WHERE id = 1;
END;
