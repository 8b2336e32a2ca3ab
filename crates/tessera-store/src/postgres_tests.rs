//! What the contract suite cannot show about the PostgreSQL store: nodes
//! starting together, outages failing closed and healing, lock order against
//! a purge, and when the revision moves.

use std::net::SocketAddr;
use std::time::Instant;

use serde_json::json;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Executor};
use tessera_core::OsEntropy;
use tessera_core::signing_key::KeyState;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::*;
use crate::contract::{family, key, session, user};
use crate::testing::fresh_postgres_url;

const T0: Timestamp = Timestamp::from_unix(1_790_000_000);

/// Longest a call may take while the server is away: the acquire timeout
/// plus slack for a loaded test machine.
const FAIL_CLOSED_WITHIN: Duration = Duration::from_secs(6);

async fn fresh_store() -> (PostgresStore, String) {
    let url = fresh_postgres_url().await;
    (PostgresStore::open(&url).await.unwrap(), url)
}

fn token() -> SecretHash {
    Secret::generate(&OsEntropy).hash()
}

fn is_unavailable<T>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Unavailable(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn open_racing_first_starts_all_succeed_and_one_bootstraps_keys() {
    let url = fresh_postgres_url().await;
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PostgresStore::open(&url).await })
        })
        .collect();
    let mut nodes = Vec::new();
    for open in opens {
        nodes.push(open.await.unwrap().unwrap());
    }
    let applied = query("SELECT count(*) AS n FROM _sqlx_migrations").fetch_one(&nodes[0].pool);
    let applied: i64 = applied.await.unwrap().get("n");
    assert_eq!(applied, i64::try_from(MIGRATOR.iter().count()).unwrap(), "each migration once");

    // The core's key-ring bootstrap, on every node at once: one writes.
    let bootstraps: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let node = node.clone();
            tokio::spawn(async move {
                let current = key(&format!("c{i}"), KeyState::Current, T0);
                let next = key(&format!("n{i}"), KeyState::Next, T0);
                node.insert_initial_keys(&current, &next).await.unwrap()
            })
        })
        .collect();
    let mut wins = 0;
    for b in bootstraps {
        wins += usize::from(b.await.unwrap());
    }
    assert_eq!(wins, 1);
    assert_eq!(nodes[0].list_keys().await.unwrap().len(), 2);
}

#[tokio::test]
async fn unreachable_server_fails_closed_within_seconds() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("postgres://postgres@127.0.0.1:{closed_port}/tessera");
    let started = Instant::now();
    assert!(PostgresStore::open(&url).await.is_err());
    assert!(started.elapsed() < FAIL_CLOSED_WITHIN, "open took {:?}", started.elapsed());

    let store = PostgresStore { pool: pool_options().connect_lazy(&url).unwrap() };
    let started = Instant::now();
    assert!(is_unavailable(store.ping().await));
    assert!(started.elapsed() < FAIL_CLOSED_WITHIN, "ping took {:?}", started.elapsed());
    let started = Instant::now();
    assert!(is_unavailable(store.find_user(&UserId::generate(&OsEntropy)).await));
    assert!(started.elapsed() < FAIL_CLOSED_WITHIN, "find_user took {:?}", started.elapsed());
}

/// A TCP relay in front of the server that can be cut like an outage: it
/// stops listening and drops every open connection.
struct Relay {
    addr: SocketAddr,
    upstream: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Self {
        let mut relay = Self { addr: "127.0.0.1:0".parse().unwrap(), upstream, task: None };
        relay.restore().await;
        relay
    }

    /// Listens again, on the same port after the first time.
    async fn restore(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.addr = listener.local_addr().unwrap();
        self.task = Some(tokio::spawn(relay(listener, self.upstream)));
    }

    async fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // Awaiting the aborted task makes sure its sockets are closed.
            let _ = task.await;
        }
    }
}

async fn relay(listener: TcpListener, upstream: SocketAddr) {
    // Owned here so that aborting this task drops every connection too.
    let mut connections = JoinSet::new();
    loop {
        let Ok((mut client, _)) = listener.accept().await else { continue };
        connections.spawn(async move {
            if let Ok(mut server) = TcpStream::connect(upstream).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        });
    }
}

async fn server_addr(url: &str) -> SocketAddr {
    let options = PgConnectOptions::from_str(url).unwrap();
    let mut addrs =
        tokio::net::lookup_host((options.get_host(), options.get_port())).await.unwrap();
    addrs.next().expect("the test server has a TCP address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_fails_closed_then_recovers_by_itself() {
    let url = fresh_postgres_url().await;
    PostgresStore::open(&url).await.unwrap();
    let mut relay = Relay::start(server_addr(&url).await).await;
    let via_relay =
        PgConnectOptions::from_str(&url).unwrap().host("127.0.0.1").port(relay.addr.port());
    let store = PostgresStore::open_with(via_relay).await.unwrap();
    let u = user("olga");
    store.insert_user(&u).await.unwrap();

    relay.cut().await;
    let started = Instant::now();
    assert!(is_unavailable(store.ping().await));
    assert!(started.elapsed() < FAIL_CLOSED_WITHIN, "ping took {:?}", started.elapsed());
    let started = Instant::now();
    assert!(is_unavailable(store.find_user(&u.id).await));
    assert!(started.elapsed() < FAIL_CLOSED_WITHIN, "find_user took {:?}", started.elapsed());

    relay.restore().await;
    store.ping().await.unwrap();
    assert_eq!(store.find_user(&u.id).await.unwrap(), Some(u));
}

/// Polls until `n` backends of the store's database wait on a lock.
async fn until_lock_waiters(store: &PostgresStore, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let row = query(
            "SELECT count(*) AS n FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        if row.get::<i64, _>("n") >= n {
            return;
        }
        assert!(Instant::now() < deadline, "no backend came to wait on a lock");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_racing_a_purge_finds_the_family_gone() {
    let (store, url) = fresh_store().await;
    let u = user("pavel");
    store.insert_user(&u).await.unwrap();
    let f = family(&u, T0);
    let t = token();
    store.insert_family(&f, &t).await.unwrap();

    // A purge holding the family's row, as `DELETE FROM refresh_families` does.
    let mut purge = PgConnection::connect(&url).await.unwrap();
    purge.execute("BEGIN").await.unwrap();
    purge.execute("SET LOCAL lock_timeout = '3s'").await.unwrap();
    let lock = query("SELECT id FROM refresh_families WHERE id = $1 FOR UPDATE");
    lock.bind(f.id.to_string()).execute(&mut purge).await.unwrap();
    let presented = TokenRef { family: f.id, generation: 0, hash: t };
    let rotation = tokio::spawn({
        let store = store.clone();
        async move { store.rotate_refresh(&presented, &token(), T0, Moment::from_timestamp(T0)).await }
    });
    // The rotation is one statement on one row: it waits for the purge and
    // then matches nothing (no second lock, so no lock-order deadlock).
    until_lock_waiters(&store, 1).await;
    let delete = query("DELETE FROM refresh_families WHERE id = $1").bind(f.id.to_string());
    delete.execute(&mut purge).await.unwrap();
    purge.execute("COMMIT").await.unwrap();
    assert_eq!(rotation.await.unwrap().unwrap(), Rotation::Unknown);
}

#[tokio::test]
async fn revision_moves_once_per_statement_and_not_for_nothing() {
    let (store, _) = fresh_store().await;
    let u = user("quinn");
    store.insert_user(&u).await.unwrap();
    for _ in 0..3 {
        store.insert_session(&session(&u, T0)).await.unwrap();
    }
    let rev = store.revision().await.unwrap();
    let ghost = UserId::generate(&OsEntropy);
    assert_eq!(store.purge_sessions(T0, T0).await.unwrap(), 0);
    assert!(!store.set_disabled(&ghost, true).await.unwrap());
    assert!(store.revoke_user_families(&u.id, None, T0).await.unwrap().is_empty());
    assert!(!store.revoke_family(&FamilyId::generate(&OsEntropy), T0).await.unwrap());
    assert_eq!(store.delete_retired_keys(T0).await.unwrap(), 0);
    assert_eq!(store.revision().await.unwrap(), rev, "nothing changed, nothing to reload");

    assert_eq!(store.delete_user_sessions(&u.id, None).await.unwrap(), 3);
    assert_eq!(store.revision().await.unwrap(), rev + 1);
}

#[tokio::test]
async fn rotate_keys_onto_a_taken_kid_writes_nothing() {
    let (store, _) = fresh_store().await;
    let (k1, k2) = (key("k1", KeyState::Current, T0), key("k2", KeyState::Next, T0));
    assert!(store.insert_initial_keys(&k1, &k2).await.unwrap());
    let rev = store.revision().await.unwrap();
    let taken = key("k2", KeyState::Next, T0);
    assert!(!store.rotate_keys("k1", &taken, T0).await.unwrap());
    assert_eq!(store.list_keys().await.unwrap(), vec![k1, k2]);
    assert_eq!(store.revision().await.unwrap(), rev, "the revision rolled back with the rest");
}

#[tokio::test]
async fn session_data_keeps_what_jsonb_would_refuse() {
    let (store, _) = fresh_store().await;
    let u = user("rosa");
    store.insert_user(&u).await.unwrap();
    let s = session(&u, T0);
    store.insert_session(&s).await.unwrap();
    let data: SessionData = serde_json::from_value(json!({"nul": "a\u{0}b"})).unwrap();
    assert!(store.set_session_data(&s.id, &data).await.unwrap());
    assert_eq!(store.session_data(&s.id).await.unwrap(), Some(data));
}
