//! Bytes per live session in each store, measured by filling it:
//! - memory store: resident set size before and after 1,000,000 sessions;
//! - SQLite: file size (after a checkpoint) over N sessions;
//! - Redis: `INFO memory` `used_memory` before and after N sessions under a
//!   fresh prefix, plus `MEMORY USAGE` of one session's own keys.
//!
//! Usage: `cargo run --release -p tessera-store --example session_memory [N]`
//! (N, default 100000, is for SQLite and Redis; Redis from
//! `TESSERA_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`). Prints a
//! Markdown table.
#![allow(clippy::unwrap_used, reason = "a measuring tool: a panic names what broke")]

use std::sync::Arc;

use tessera_core::store::{SessionStore, Stores};
use tessera_core::{Duration, Timestamp};
use tessera_store::contract::{session, user};
use tessera_store::redis::RedisSettings;

const T0: Timestamp = Timestamp::from_unix(1_790_000_000);

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Inserts `n` sessions spread over `n / 4` users (a few devices each); the
/// users go to `stores.users` (SQLite checks the foreign key).
async fn fill(stores: &Stores, n: usize) {
    let users: Vec<_> = (0..(n / 4).max(1)).map(|i| user(&format!("u{i}"))).collect();
    for u in &users {
        stores.users.insert_user(u).await.unwrap();
    }
    let sessions: &Arc<dyn SessionStore> = &stores.sessions;
    let mut batch = Vec::new();
    for i in 0..n {
        let s = session(&users[i % users.len()], T0);
        let store = Arc::clone(sessions);
        batch.push(tokio::spawn(async move { store.insert_session(&s).await.unwrap() }));
        if batch.len() == 256 {
            for t in batch.drain(..) {
                t.await.unwrap();
            }
        }
    }
    for t in batch {
        t.await.unwrap();
    }
}

async fn memory_store() -> f64 {
    let n = 1_000_000;
    let stores = tessera_store::open("memory").await.unwrap();
    let before = rss_bytes();
    fill(&stores, n).await;
    (rss_bytes() - before) as f64 / n as f64
}

async fn sqlite(n: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let stores = tessera_store::open(&format!("sqlite://{}", path.display())).await.unwrap();
    let empty = std::fs::metadata(&path).unwrap().len();
    fill(&stores, n).await;
    drop(stores);
    // Closing the pool checkpoints the WAL into the main file.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let full = std::fs::metadata(&path).unwrap().len();
    (full - empty) as f64 / n as f64
}

async fn redis_used_memory(url: &str) -> u64 {
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO").arg("memory").query_async(&mut c).await.unwrap();
    info.lines().find_map(|l| l.strip_prefix("used_memory:")).unwrap().trim().parse().unwrap()
}

async fn redis(n: usize) -> (f64, u64) {
    let url = tessera_store::testing::redis_url();
    let prefix = tessera_store::testing::fresh_redis_prefix("memory");
    let settings = RedisSettings {
        url: url.clone(),
        prefix: prefix.clone(),
        idle_ttl: Duration::seconds(1800),
        absolute_ttl: Duration::seconds(43_200),
    };
    let memory = tessera_store::open("memory").await.unwrap();
    let stores: Stores =
        tessera_store::with_redis(memory, &settings, tessera_store::testing::record_key())
            .await
            .unwrap();
    let before = redis_used_memory(&url).await;
    fill(&stores, n).await;
    let per_session = (redis_used_memory(&url).await - before) as f64 / n as f64;
    // One more session, on its own user, and its own keys' MEMORY USAGE.
    let u = user("single");
    let s = session(&u, T0);
    stores.sessions.insert_session(&s).await.unwrap();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let mut own = 0u64;
    for key in [
        format!("{{{prefix}}}:r:{}", s.id),
        format!("{{{prefix}}}:d:{}", s.id),
        format!("{{{prefix}}}:h:{}", s.secret_hash.to_hex()),
        format!("{{{prefix}}}:u:{}", u.id),
    ] {
        let bytes: Option<u64> =
            redis::cmd("MEMORY").arg("USAGE").arg(&key).query_async(&mut c).await.unwrap();
        own += bytes.unwrap_or(0);
    }
    // Clean up this run's keys.
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{{{prefix}}}:*")).query_async(&mut c).await.unwrap();
    for chunk in keys.chunks(1000) {
        let _: () = redis::cmd("DEL").arg(chunk).query_async(&mut c).await.unwrap();
    }
    (per_session, own)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).map_or(100_000, |a| a.parse().unwrap());
    let mem = memory_store().await;
    let lite = sqlite(n).await;
    let (red, own) = redis(n).await;
    println!("| store | sessions | bytes per session | how |");
    println!("|---|---:|---:|---|");
    println!("| memory | 1000000 | {mem:.0} | RSS growth |");
    println!("| SQLite | {n} | {lite:.0} | file growth after checkpoint |");
    println!("| Redis | {n} | {red:.0} | `used_memory` growth (all indexes) |");
    println!(
        "| Redis, one session's own keys | 1 | {own} | `MEMORY USAGE` of record + data bag + secret index + user set |"
    );
}
