-- Browser sessions that ended (logout, device removal, password change, log
-- out everywhere), kept in this durable store until they would have expired
-- anyway (`until`: creation plus the absolute lifetime). Sessions may live in
-- Redis, which can lose deletions (a restore from an old snapshot, a failover
-- to a lagging replica, a lost AOF tail): every process checks a session
-- against this list, so such a loss can never bring an ended session back.
CREATE TABLE ended_sessions (
    id    TEXT    PRIMARY KEY NOT NULL,
    until INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TRIGGER ended_sessions_inserted_bump_revision AFTER INSERT ON ended_sessions
BEGIN
    UPDATE revision SET value = value + 1 WHERE id = 1;
END;

CREATE TRIGGER ended_sessions_updated_bump_revision AFTER UPDATE ON ended_sessions
BEGIN
    UPDATE revision SET value = value + 1 WHERE id = 1;
END;

-- Revoked families are kept in memory while their last access token could be
-- accepted: loaded by their last issuance, not by the revoker's clock.
CREATE INDEX refresh_families_revoked_by_use ON refresh_families (last_used_at)
    WHERE revoked_at IS NOT NULL;

-- Facts about the deployment every process opening this store must agree
-- on; `sessions` names where browser sessions live ('redis' once a server
-- has run with Redis), so that the CLI never acts on the wrong engine.
CREATE TABLE deployment (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT, WITHOUT ROWID;
