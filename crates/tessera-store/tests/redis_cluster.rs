//! The Redis store on a real Redis Cluster: three `redis-server` processes in
//! cluster mode, started once for this test binary on free ports and joined
//! with `redis-cli --cluster create`. The whole store contract runs on it
//! (sessions and login counters in the cluster, the rest in memory), plus the
//! change feed, which must reach a subscriber on one node when published
//! through another.
#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration as StdDuration;

use tessera_core::Duration;
use tessera_core::change::{Change, ChangeFeed, FeedEvent};
use tessera_store::redis::{RedisSettings, RedisStore};

/// The seeds of the test cluster, started on first use. Each server runs
/// under a shell that kills it when this process's end of its stdin closes,
/// so no server outlives the test binary, however it ends.
fn cluster_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(start_cluster)
}

fn start_cluster() -> String {
    let dir = tempfile::tempdir().unwrap().keep();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    for port in &ports {
        let script = format!(
            "redis-server --port {port} --bind 127.0.0.1 --cluster-enabled yes \
             --cluster-config-file nodes-{port}.conf --dir {dir} --save '' --appendonly no \
             --logfile {dir}/redis-{port}.log & pid=$!; read _; kill $pid",
            dir = dir.display()
        );
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .spawn()
            .expect("sh and redis-server (Debian package redis-server)");
        // Leaked on purpose: dropping it at process exit closes the pipe.
        std::mem::forget(child.stdin.take());
        std::mem::forget(child);
    }
    for port in &ports {
        wait_for(|| std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok(), "redis up");
    }
    let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let out = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&nodes)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("redis-cli");
    assert!(out.status.success(), "cluster create: {}", String::from_utf8_lossy(&out.stdout));
    for port in &ports {
        wait_for(
            || {
                let info = Command::new("redis-cli")
                    .args(["-p", &port.to_string(), "cluster", "info"])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok")
            },
            "cluster_state:ok",
        );
    }
    let _ = std::io::stderr().write_all(format!("test cluster on {nodes:?}\n").as_bytes());
    format!("redis+cluster://{}", nodes.join(","))
}

fn free_port() -> u16 {
    // The cluster bus uses port + 10000: keep both in range.
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if port < 55_000 {
            return port;
        }
    }
}

fn wait_for(mut ready: impl FnMut() -> bool, what: &str) {
    for _ in 0..200 {
        if ready() {
            return;
        }
        std::thread::sleep(StdDuration::from_millis(50));
    }
    panic!("test Redis Cluster: timed out waiting for {what}");
}

fn settings(prefix: &str) -> RedisSettings {
    RedisSettings {
        url: cluster_url().to_owned(),
        prefix: prefix.to_owned(),
        idle_ttl: Duration::seconds(1800),
        absolute_ttl: Duration::seconds(43_200),
    }
}

mod contract {
    async fn fresh() -> tessera_core::store::Stores {
        let memory = tessera_store::open("memory").await.unwrap();
        tessera_store::with_redis(
            memory,
            &super::settings(&tessera_store::testing::fresh_redis_prefix("cluster")),
            tessera_store::testing::record_key(),
        )
        .await
        .unwrap()
    }

    tessera_store::store_contract_suite!(fresh());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_feed_reaches_subscribers_across_nodes() {
    let prefix = tessera_store::testing::fresh_redis_prefix("cluster");
    let key = tessera_store::testing::record_key();
    let listener = RedisStore::connect(&settings(&prefix), key.clone()).await.unwrap();
    let publisher = RedisStore::connect(&settings(&prefix), key).await.unwrap();
    let mut rx = listener.subscribe().unwrap();
    let next = async |rx: &mut tokio::sync::mpsc::Receiver<FeedEvent>| {
        tokio::time::timeout(StdDuration::from_secs(10), rx.recv()).await.unwrap().unwrap()
    };
    assert_eq!(next(&mut rx).await, FeedEvent::Connected);
    // Published many times: the cluster routes each PUBLISH to some node and
    // the bus carries it to the subscriber's.
    for i in 0..20 {
        let change = Change::TokenRevoked {
            jti: format!("jti-{i}"),
            expires_at: tessera_core::Timestamp::from_unix(i),
        };
        publisher.publish(&change).await.unwrap();
        assert_eq!(next(&mut rx).await, FeedEvent::Change(change));
    }
}
