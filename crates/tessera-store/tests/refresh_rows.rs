//! What a refresh family costs on disk, and what happens to refresh tokens
//! issued before the family-and-generation form (migration 0005), on SQLite
//! and on the PostgreSQL named by `TESSERA_TEST_POSTGRES_URL`.
#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

use std::path::Path;
use std::sync::Arc;

use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection, Executor, Row};
use tessera_core::clock::ManualClock;
use tessera_core::master_key::MasterKey;
use tessera_core::password::Argon2idHasher;
use tessera_core::refresh::{Rotation, TokenRef};
use tessera_core::secret::Secret;
use tessera_core::service::TesseraParts;
use tessera_core::store::Stores;
use tessera_core::{Error, Moment, OsEntropy, Tessera, TesseraConfig, Timestamp};
use tessera_store::contract::{family, user};

const T0: Timestamp = Timestamp::from_unix(1_790_000_000);

async fn sqlite_url() -> String {
    let dir = tempfile::tempdir().unwrap().keep();
    format!("sqlite://{}", dir.join("rows.db").display())
}

/// A direct connection to the test database, beside the store's pool.
enum Db {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl Db {
    async fn connect(url: &str) -> Self {
        if url.starts_with("sqlite") {
            let options = SqliteConnectOptions::from_str(url).unwrap().create_if_missing(true);
            Self::Sqlite(options.connect().await.unwrap())
        } else {
            Self::Postgres(PgConnection::connect(url).await.unwrap())
        }
    }

    async fn execute(&mut self, sql: &str) {
        match self {
            Self::Sqlite(c) => drop(c.execute(sql).await.unwrap()),
            Self::Postgres(c) => drop(c.execute(sql).await.unwrap()),
        }
    }

    /// The first column of each row, as text or as a count.
    async fn names(&mut self, sql: &str) -> Vec<String> {
        match self {
            Self::Sqlite(c) => c.fetch_all(sql).await.unwrap().iter().map(|r| r.get(0)).collect(),
            Self::Postgres(c) => c.fetch_all(sql).await.unwrap().iter().map(|r| r.get(0)).collect(),
        }
    }

    async fn count(&mut self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM \"{table}\"");
        match self {
            Self::Sqlite(c) => c.fetch_one(sql.as_str()).await.unwrap().get(0),
            Self::Postgres(c) => c.fetch_one(sql.as_str()).await.unwrap().get(0),
        }
    }
}

/// Rows in every table of the database, by table name.
async fn table_rows(url: &str) -> Vec<(String, i64)> {
    let mut db = Db::connect(url).await;
    let list = match db {
        Db::Sqlite(_) => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        Db::Postgres(_) => {
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
        }
    };
    let mut counts = Vec::new();
    for name in db.names(list).await {
        let n = db.count(&name).await;
        counts.push((name, n));
    }
    counts
}

/// Rotates one family `n` times through the port.
async fn rotate_many(stores: &Stores, n: u64) {
    let u = user("rowan");
    stores.users.insert_user(&u).await.unwrap();
    let f = family(&u, T0);
    let mut current = Secret::generate(&OsEntropy).hash();
    stores.refresh.insert_family(&f, &current).await.unwrap();
    for g in 0..n {
        let next = Secret::generate(&OsEntropy).hash();
        let presented = TokenRef { family: f.id, generation: g, hash: current };
        let r = stores.refresh.rotate_refresh(&presented, &next, T0, Moment::from_timestamp(T0));
        assert!(matches!(r.await.unwrap(), Rotation::Rotated(_)));
        current = next;
    }
}

/// Issue 12, item 17: every rotation left its consumed token's row until
/// the family expired. Rows after 2,000 rotations equal rows after one.
async fn consumed_refresh_rows_pile_up(url_one: String, url_many: String) {
    let (one, many) = (
        tessera_store::open(&url_one).await.unwrap(),
        tessera_store::open(&url_many).await.unwrap(),
    );
    rotate_many(&one, 1).await;
    rotate_many(&many, 2_000).await;
    let after_one = table_rows(&url_one).await;
    let after_many = table_rows(&url_many).await;
    assert_eq!(after_many, after_one, "a family costs the same rows however often it rotates");
    let families = after_many.iter().find(|(t, _)| t == "refresh_families").unwrap();
    assert_eq!(families.1, 1);
}

#[tokio::test]
async fn regression_consumed_refresh_rows_pile_up_sqlite() {
    consumed_refresh_rows_pile_up(sqlite_url().await, sqlite_url().await).await;
}

#[tokio::test]
async fn regression_consumed_refresh_rows_pile_up_postgres() {
    let (a, b) = (
        tessera_store::testing::fresh_postgres_url().await,
        tessera_store::testing::fresh_postgres_url().await,
    );
    consumed_refresh_rows_pile_up(a, b).await;
}

/// A database at migration 0004 with one user and a family whose login
/// token was rotated once: returns (the consumed token, the current token).
async fn pre_upgrade_database(url: &str) -> (Secret, Secret) {
    let backend = if url.starts_with("sqlite") { "sqlite" } else { "postgres" };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    let mut migrator = Migrator::new(dir).await.unwrap();
    let upto_0004: Vec<_> =
        migrator.migrations.iter().filter(|m| m.version <= 4).cloned().collect();
    assert_eq!(upto_0004.len(), 4);
    migrator.migrations = upto_0004.into();
    let mut db = Db::connect(url).await;
    match &mut db {
        Db::Sqlite(c) => migrator.run(c).await.unwrap(),
        Db::Postgres(c) => migrator.run(c).await.unwrap(),
    }
    let (consumed, current) = (Secret::generate(&OsEntropy), Secret::generate(&OsEntropy));
    let disabled = if backend == "sqlite" { "0" } else { "FALSE" };
    let hex = |s: &Secret| s.hash().to_hex();
    let blob = |s: &Secret| {
        if backend == "sqlite" {
            format!("X'{}'", hex(s))
        } else {
            format!("'\\x{}'::bytea", hex(s))
        }
    };
    let script = [
        format!(
            "INSERT INTO users (id, username, username_key, password_hash, scope, created_at, disabled)
             VALUES ('0193a9e0-0000-7000-8000-000000000001', 'olga', 'olga',
                     '$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA', 'read', {T0}, {disabled})",
            T0 = T0.unix()
        ),
        format!(
            "INSERT INTO refresh_families (id, user_id, client_id, scope, kind, created_at,
                 expires_at, last_used_at, user_agent, ip, revoked_at)
             VALUES ('0193a9e0-0000-7000-8000-0000000000f1', '0193a9e0-0000-7000-8000-000000000001',
                     'tessera', 'read', 'token', {t}, {e}, {t}, NULL, NULL, NULL)",
            t = T0.unix(),
            e = T0.unix() + 86_400
        ),
        format!(
            "INSERT INTO refresh_tokens (hash, family_id, created_at, consumed_at)
             VALUES ({}, '0193a9e0-0000-7000-8000-0000000000f1', {t}, {t}),
                    ({}, '0193a9e0-0000-7000-8000-0000000000f1', {t}, NULL)",
            blob(&consumed),
            blob(&current),
            t = T0.unix()
        ),
    ];
    for sql in script {
        db.execute(&sql).await;
    }
    (consumed, current)
}

async fn tessera_over(stores: Stores) -> Tessera {
    Tessera::new(TesseraParts {
        stores,
        clock: Arc::new(ManualClock::new(T0)),
        entropy: Arc::new(OsEntropy),
        hasher: Arc::new(Argon2idHasher::new(64, 1, 1).unwrap()),
        hash_concurrency: 1,
        master_key: MasterKey::generate(&OsEntropy),
        config: TesseraConfig::default(),
    })
    .await
    .unwrap()
}

/// Pre-upgrade refresh tokens: the current one keeps working (once; its
/// successor has the new form) and its replay afterwards is reuse; one
/// consumed before the upgrade is refused as unknown, never taken for reuse.
async fn pre_upgrade_tokens(url: String) {
    let (consumed, current) = pre_upgrade_database(&url).await;
    let stores = tessera_store::open(&url).await.unwrap();
    let t = tessera_over(stores).await;
    let arrival = || t.clock().moment();
    let old = t.rotate_refresh(consumed.expose(), "tessera", None, arrival()).await;
    assert!(matches!(old, Err(Error::InvalidGrant("unknown refresh token"))), "{old:?}");
    let next = t.rotate_refresh(current.expose(), "tessera", None, arrival()).await.unwrap();
    assert_eq!(next.family.generation, 1);
    assert_ne!(next.secret.expose().len(), current.expose().len(), "the new form");
    let after = t.rotate_refresh(next.secret.expose(), "tessera", None, arrival()).await.unwrap();
    assert_eq!(after.family.generation, 2);
    // The legacy token, replayed after its rotation committed: reuse.
    let replay = t.rotate_refresh(current.expose(), "tessera", None, arrival()).await;
    let replay = match replay {
        Err(Error::InvalidGrant(why)) => why,
        other => panic!("{other:?}"),
    };
    assert_eq!(replay, "refresh token reuse");
}

#[tokio::test]
async fn refresh_tokens_from_before_the_upgrade_sqlite() {
    pre_upgrade_tokens(sqlite_url().await).await;
}

#[tokio::test]
async fn refresh_tokens_from_before_the_upgrade_postgres() {
    pre_upgrade_tokens(tessera_store::testing::fresh_postgres_url().await).await;
}
