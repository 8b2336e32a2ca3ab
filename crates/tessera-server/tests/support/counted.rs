//! Nodes whose password checks are counted (and can be held at a gate):
//! real servers on port 0 over one SQLite file (and Redis), sharing a master
//! key and one count of the passwords they verified. For tests that count
//! work (throttle, claims) instead of timing it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::Method;
use serde_json::json;
use tessera_core::master_key::MasterKey;
use tessera_core::password::{
    Argon2idHasher, HashQueuePolicy, PasswordCheck, PasswordHash, PasswordHasher,
};
use tessera_core::service::TesseraParts;
use tessera_core::throttle::ThrottlePolicy;
use tessera_core::{Duration, ManualClock, OsEntropy, Tessera, TesseraConfig, Timestamp};
use tessera_server::{AppState, ServerConfig};

use super::APP_ORIGIN;

/// The real Argon2id hasher (at a test's cost), counting the passwords it
/// verifies.
#[derive(Debug)]
pub struct Counting {
    argon2: Argon2idHasher,
    verified: Arc<AtomicUsize>,
    /// While set, every verification waits here until released.
    gate: Option<Arc<Gate>>,
}

impl PasswordHasher for Counting {
    fn hash(&self, password: &str, salt: &[u8; 16]) -> tessera_core::error::Result<PasswordHash> {
        self.argon2.hash(password, salt)
    }
    fn verify(&self, password: &str, hash: &PasswordHash) -> PasswordCheck {
        self.verified.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.pass();
        }
        self.argon2.verify(password, hash)
    }
}

/// Holds hashing threads: each announces itself, then waits for release.
#[derive(Debug)]
pub struct Gate {
    entered: std::sync::Mutex<std::sync::mpsc::Sender<()>>,
    open: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
}

impl Gate {
    /// A closed gate, and the channel on which each entering thread announces itself.
    pub fn new() -> (Arc<Self>, std::sync::mpsc::Receiver<()>) {
        let (entered, inside) = std::sync::mpsc::channel();
        let gate = Self {
            entered: std::sync::Mutex::new(entered),
            open: std::sync::Mutex::new(false),
            opened: std::sync::Condvar::new(),
        };
        (Arc::new(gate), inside)
    }
    /// Announces this thread, then waits until the gate opens.
    pub fn pass(&self) {
        self.entered.lock().unwrap().send(()).unwrap();
        let open = self.open.lock().unwrap();
        drop(self.opened.wait_while(open, |open| !*open).unwrap());
    }
    /// Opens the gate for every waiting and later thread.
    pub fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

/// The state the nodes of one test share: a SQLite file, a master key,
/// optionally a Redis prefix, and one hash counter.
pub struct Cluster {
    /// Holds the shared SQLite file.
    pub dir: tempfile::TempDir,
    /// The master key every node shares.
    pub master_key: MasterKey,
    /// A Redis prefix of this test's own (sessions and counters then live in Redis).
    pub redis_prefix: Option<String>,
    verified: Arc<AtomicUsize>,
}

/// One node: a real server on port 0.
pub struct Node {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// A client without a cookie jar.
    pub http: reqwest::Client,
    /// The node's core.
    pub tessera: Arc<Tessera>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// A throttle of 5 failures per 300 s, and a hash queue of `queue`.
pub fn counted_config(queue: usize) -> TesseraConfig {
    TesseraConfig {
        throttle: ThrottlePolicy {
            max_failures: 5,
            window: Duration::seconds(300),
            ..Default::default()
        },
        hash_queue: HashQueuePolicy { capacity: queue },
        ..TesseraConfig::default()
    }
}

impl Cluster {
    /// State for nodes of one test; with `redis`, under a fresh prefix.
    pub fn new(redis: bool) -> Self {
        Self {
            redis_prefix: redis.then(|| tessera_store::testing::fresh_redis_prefix("counted")),
            dir: tempfile::tempdir().unwrap(),
            master_key: MasterKey::generate(&OsEntropy),
            verified: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A node with [`counted_config`] at the default queue and two hash threads.
    pub async fn node(&self) -> Node {
        self.node_with(counted_config(HashQueuePolicy::default().capacity), 2, None).await
    }

    /// A node with `config`, `hash_threads` hashing threads, and `gate`
    /// holding every verification when given.
    pub async fn node_with(
        &self,
        config: TesseraConfig,
        hash_threads: usize,
        gate: Option<Arc<Gate>>,
    ) -> Node {
        let url = format!("sqlite://{}", self.dir.path().join("tessera.db").display());
        let mut stores = tessera_store::open(&url).await.unwrap();
        if let Some(prefix) = &self.redis_prefix {
            let settings = tessera_store::redis::RedisSettings {
                url: tessera_store::testing::redis_url(),
                prefix: prefix.clone(),
                idle_ttl: Duration::seconds(1800),
                absolute_ttl: Duration::seconds(43_200),
            };
            let key = tessera_store::redis::RecordKey::from_master(&self.master_key);
            stores = tessera_store::with_redis(stores, &settings, key).await.unwrap();
        }
        let hasher = Counting {
            argon2: Argon2idHasher::new(256, 1, 1).unwrap(),
            verified: self.verified.clone(),
            gate,
        };
        let tessera = Arc::new(
            Tessera::new(TesseraParts {
                stores,
                clock: Arc::new(ManualClock::new(Timestamp::from_unix(1_790_000_000))),
                entropy: Arc::new(OsEntropy),
                hasher: Arc::new(hasher),
                hash_concurrency: hash_threads,
                master_key: self.master_key.clone(),
                config,
            })
            .await
            .unwrap(),
        );
        let mut config = ServerConfig::new(
            tessera_core::csrf::OriginPolicy::new(["https://app.example.test"]).unwrap(),
        );
        config.trusted_proxies =
            tessera_server::config::TrustedProxies::parse("127.0.0.1").unwrap();
        let state = AppState { tessera: tessera.clone(), config: Arc::new(config) };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(tessera_server::serve(listener, state, async {
            let _ = rx.await;
        }));
        Node { base, http: reqwest::Client::new(), tessera, _shutdown: tx }
    }

    /// Passwords verified so far, on every node.
    pub fn verified(&self) -> usize {
        self.verified.load(Ordering::SeqCst)
    }
}

impl Node {
    /// `POST path` on this node.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.req(Method::POST, path)
    }

    /// A request to `path` on this node.
    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// A login at `path` (JSON) with the application's Origin.
    pub async fn login(&self, path: &str, user: &str, password: &str) -> u16 {
        self.req(Method::POST, path)
            .header("origin", APP_ORIGIN)
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}
