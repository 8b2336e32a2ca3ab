//! Fresh PostgreSQL databases and private Redis servers for tests, this
//! crate's and other crates'.
//!
//! Not part of the store API (hidden from the docs). Each call creates an
//! empty database (about 8 MB on disk); nothing can drop it when the test
//! ends, as the test's pool may still hold connections. Instead each process
//! first sweeps the databases earlier runs left behind. The creation time is
//! in the name, read from the server's clock, so machines with skewed clocks
//! sharing one server agree on what is old.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection, Row};
use tessera_core::OsEntropy;

/// The environment variable naming the PostgreSQL admin URL tests use.
pub const ADMIN_URL_VAR: &str = "TESSERA_TEST_POSTGRES_URL";

/// The admin URL when [`ADMIN_URL_VAR`] is unset.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Every test database's name starts with this.
const PREFIX: &str = "tessera_test_";

/// A test database older than this, with nobody connected, is abandoned.
/// `DROP DATABASE` refuses one that has a connection, and a live test's pool
/// keeps one (for up to its 10-minute idle timeout), so the age only guards
/// a database between its creation and a first connection. Short, because
/// a run of this crate's tests alone leaves some 200 MB.
const ABANDONED_AFTER_SECS: i64 = 600;

/// Whether this process has swept abandoned databases yet.
static SWEPT: AtomicBool = AtomicBool::new(false);

/// Creates an empty database named `tessera_test_<unix seconds>_<random hex>`
/// on the server named by [`ADMIN_URL_VAR`] and returns a URL to it.
///
/// Panics, naming the variable, if the server cannot be reached: a test
/// that needs PostgreSQL fails rather than skips.
pub async fn fresh_postgres_url() -> String {
    let admin = std::env::var(ADMIN_URL_VAR).unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
    let mut conn = connect_admin(&admin).await;
    if !SWEPT.swap(true, Ordering::SeqCst) {
        drop_abandoned(&mut conn).await;
    }
    let now = server_now(&mut conn).await;
    let random: [u8; 8] = tessera_core::entropy::bytes(&OsEntropy);
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("{PREFIX}{now}_{hex}");
    if let Err(e) = conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str()).await {
        panic!("cannot create test database {name} via {ADMIN_URL_VAR}: {e}");
    }
    let _ = conn.close().await;
    with_database(&admin, &name)
}

async fn connect_admin(admin: &str) -> PgConnection {
    // Bounded: an unroutable host would otherwise hang the test for minutes.
    let attempt = tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(admin));
    match attempt.await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => panic!(
            "cannot connect to PostgreSQL for tests: {e}. Set {ADMIN_URL_VAR} to an admin URL \
             (default {DEFAULT_ADMIN_URL})"
        ),
        Err(_) => panic!(
            "timed out connecting to PostgreSQL for tests. Set {ADMIN_URL_VAR} to an admin URL \
             (default {DEFAULT_ADMIN_URL})"
        ),
    }
}

async fn server_now(conn: &mut PgConnection) -> i64 {
    let row = sqlx::query("SELECT extract(epoch FROM now())::bigint AS now").fetch_one(conn).await;
    match row.and_then(|r| r.try_get::<i64, _>("now")) {
        Ok(now) => now,
        Err(e) => panic!("cannot read the time of the server named by {ADMIN_URL_VAR}: {e}"),
    }
}

/// Drops test databases created more than [`ABANDONED_AFTER_SECS`] ago.
/// Best effort: one still in use (not `WITH (FORCE)`: never pull a database
/// from under a running test), or dropped meanwhile by another process's
/// sweep, is left for the next.
async fn drop_abandoned(conn: &mut PgConnection) {
    let now = server_now(conn).await;
    let rows =
        sqlx::query(r"SELECT datname FROM pg_database WHERE datname LIKE 'tessera\_test\_%'")
            .fetch_all(&mut *conn)
            .await;
    let Ok(rows) = rows else { return };
    for row in rows {
        let Ok(name) = row.try_get::<String, _>("datname") else { continue };
        let created = created_at(&name);
        if created.is_some_and(|t| now - t > ABANDONED_AFTER_SECS) {
            let _ = conn.execute(format!(r#"DROP DATABASE IF EXISTS "{name}""#).as_str()).await;
        }
    }
}

/// The creation time in a test database's name; `None` for a name this
/// module did not make.
fn created_at(name: &str) -> Option<i64> {
    let (secs, hex) = name.strip_prefix(PREFIX)?.split_once('_')?;
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    secs.parse().ok()
}

/// `url` with its database (the path) replaced by `name`; the query string,
/// if any, is kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, params) = match url.split_once('?') {
        Some((base, params)) => (base, Some(params)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{name}", &base[..path]);
    if let Some(params) = params {
        out.push('?');
        out.push_str(params);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_the_path_and_keeps_the_query() {
        let cases = [
            ("postgres://u@h:5432/postgres", "postgres://u@h:5432/t"),
            ("postgres://u:p@h/postgres?sslmode=disable", "postgres://u:p@h/t?sslmode=disable"),
            ("postgresql://h", "postgresql://h/t"),
            ("postgres:///db?host=/run/postgresql", "postgres:///t?host=/run/postgresql"),
        ];
        for (admin, want) in cases {
            assert_eq!(with_database(admin, "t"), want, "{admin}");
        }
    }

    #[test]
    fn created_at_reads_only_names_this_module_makes() {
        assert_eq!(created_at("tessera_test_1790000000_00ff"), Some(1_790_000_000));
        assert_eq!(created_at("tessera_test_1790000000_"), None);
        assert_eq!(created_at("tessera_test_abc_00ff"), None);
        assert_eq!(created_at("tessera_test_1790000000_xyz"), None);
        assert_eq!(created_at("tessera_prod"), None);
    }
}

/// A `redis-server` of a test's own, on a free port, keeping nothing on
/// disk; killed and restarted on the same port to simulate an outage.
/// Killed when dropped.
#[derive(Debug)]
pub struct PrivateRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    /// Starts one. Panics, naming the package, if `redis-server` is missing.
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("its address").port();
        drop(listener);
        let mut r = Self { port, child: None };
        r.restart();
        r
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server again on the same port (after [`kill`](Self::kill)),
    /// empty, and waits until it accepts connections.
    pub fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on PATH (Debian package redis-server)");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("private redis-server did not start on port {}", self.port);
    }

    /// Kills the server (SIGKILL: an outage, not a shutdown).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The environment variable naming the Redis tests use.
pub const REDIS_URL_VAR: &str = "TESSERA_TEST_REDIS_URL";

/// The Redis URL tests use: [`REDIS_URL_VAR`], else the local server.
pub fn redis_url() -> String {
    std::env::var(REDIS_URL_VAR).unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A Redis record key from a fresh random master key: what one deployment's
/// nodes share, and no other's.
pub fn record_key() -> crate::redis::RecordKey {
    let master = tessera_core::master_key::MasterKey::generate(&OsEntropy);
    crate::redis::RecordKey::from_master(&master)
}

/// A key prefix no other test or run uses: `LABEL-<16 random hex>`. Redis is
/// shared, so each test works under its own prefix and never flushes.
pub fn fresh_redis_prefix(label: &str) -> String {
    let hex = tessera_core::secret::Secret::generate(&OsEntropy).hash().to_hex();
    format!("{label}-{}", &hex[..16])
}
