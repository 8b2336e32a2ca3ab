//! The Redis change feed and outage behaviour, against real Redis servers:
//! the machine's (`TESSERA_TEST_REDIS_URL`) for delivery, and a private
//! `redis-server` process this test starts, kills and restarts for outages.
#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

use std::time::Duration as StdDuration;

use tessera_core::Duration;
use tessera_core::change::{Change, FeedEvent};
use tessera_core::store::{Backend, SessionStore, StoreError};
use tessera_store::contract::{session, user};
use tessera_store::redis::{RedisSettings, RedisStore};
use tokio::sync::mpsc::Receiver;

fn settings(url: &str, prefix: &str) -> RedisSettings {
    RedisSettings {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
        idle_ttl: Duration::seconds(1800),
        absolute_ttl: Duration::seconds(43_200),
    }
}

async fn next_event(rx: &mut Receiver<FeedEvent>) -> FeedEvent {
    tokio::time::timeout(StdDuration::from_secs(10), rx.recv())
        .await
        .expect("a feed event within 10 s")
        .expect("the feed keeps running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_delivers_changes_published_by_another_connection() {
    let prefix = tessera_store::testing::fresh_redis_prefix("tessera-feed");
    let key = tessera_store::testing::record_key;
    let a = RedisStore::connect(&settings(&tessera_store::testing::redis_url(), &prefix), key())
        .await
        .unwrap();
    let b = RedisStore::connect(&settings(&tessera_store::testing::redis_url(), &prefix), key())
        .await
        .unwrap();
    let other = RedisStore::connect(
        &settings(
            &tessera_store::testing::redis_url(),
            &tessera_store::testing::fresh_redis_prefix("tessera-feed"),
        ),
        key(),
    )
    .await
    .unwrap();
    let mut rx = tessera_core::change::ChangeFeed::subscribe(&a).unwrap();
    assert_eq!(next_event(&mut rx).await, FeedEvent::Connected);
    let change = Change::TokenRevoked {
        jti: "j-1".into(),
        expires_at: tessera_core::Timestamp::from_unix(5),
    };
    tessera_core::change::ChangeFeed::publish(&other, &Change::KeysChanged).await.unwrap();
    tessera_core::change::ChangeFeed::publish(&b, &change).await.unwrap();
    assert_eq!(next_event(&mut rx).await, FeedEvent::Change(change), "another prefix is not heard");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_fails_closed_fast_and_recovers_without_old_sessions() {
    let mut server = tessera_store::testing::PrivateRedis::start();
    let store = RedisStore::connect(
        &settings(&server.url(), "tessera"),
        tessera_store::testing::record_key(),
    )
    .await
    .unwrap();
    let mut rx = tessera_core::change::ChangeFeed::subscribe(&store).unwrap();
    assert_eq!(next_event(&mut rx).await, FeedEvent::Connected);
    let u = user("rita");
    let s = session(&u, tessera_core::Timestamp::from_unix(1_790_000_000));
    store.insert_session(&s).await.unwrap();

    server.kill();
    assert_eq!(next_event(&mut rx).await, FeedEvent::Lost);
    let started = std::time::Instant::now();
    let down = store.find_session_by_secret(&s.secret_hash).await;
    assert!(matches!(down, Err(StoreError::Unavailable(_))), "{down:?}");
    assert!(store.ping().await.is_err());
    assert!(started.elapsed() < StdDuration::from_secs(10), "fails fast, never hangs");

    server.restart();
    assert_eq!(next_event(&mut rx).await, FeedEvent::Connected, "resubscribes by itself");
    let mut back = false;
    for _ in 0..100 {
        if store.ping().await.is_ok() {
            back = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert!(back, "commands work again without a restart of the store");
    // This Redis kept nothing: the session is gone, so its owner logs in again.
    assert_eq!(store.find_session_by_secret(&s.secret_hash).await.unwrap(), None);
}
