//! Redis session records under attack, against real Redis: what someone who
//! can write Tessera's Redis prefix (but has no master key) can do with raw
//! commands, and what the devices listing reads.
//!
//! Forged, altered, moved and pre-tag records are refused (treated as
//! absent, and logged with the key but never the data); the listing never
//! reads a data bag (observed with `MONITOR` on a private server).
#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test reports failure")]

use std::sync::{Arc, Mutex, OnceLock};

use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use tessera_core::Duration;
use tessera_core::secret::Secret;
use tessera_core::session::SessionRecord;
use tessera_core::store::{SessionData, SessionStore};
use tessera_store::contract::{session, user};
use tessera_store::redis::{RedisSettings, RedisStore};
use tessera_store::testing::{fresh_redis_prefix, record_key, redis_url};

const T0: tessera_core::Timestamp = tessera_core::Timestamp::from_unix(1_790_000_000);

/// A store on `url` under a fresh prefix, and a raw connection to the same
/// Redis: the attacker's.
async fn store_and_raw(url: &str) -> (RedisStore, MultiplexedConnection, String) {
    let prefix = fresh_redis_prefix("tessera-records");
    let settings = RedisSettings {
        url: url.to_owned(),
        prefix: prefix.clone(),
        idle_ttl: Duration::seconds(1800),
        absolute_ttl: Duration::seconds(43_200),
    };
    let store = RedisStore::connect(&settings, record_key()).await.unwrap();
    let raw = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
    (store, raw, format!("{{{prefix}}}:"))
}

/// Every log line of this test binary: one global subscriber (a thread-local
/// one can miss events whose callsite another thread cached as disabled).
/// Each test looks only for its own keys, which no other test shares.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn global() -> &'static Self {
        static LOGS: OnceLock<Logs> = OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Self::default();
            let writer = logs.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            logs
        })
    }

    /// The lines that mention `needle`.
    fn mentioning(&self, needle: &str) -> String {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        text.lines().filter(|l| l.contains(needle)).collect::<Vec<_>>().join("\n")
    }
}

/// Writes `fields` as the record of session `id`, indexed under the secret
/// `hash` and the user, exactly as Tessera before record tags did.
async fn write_raw(
    raw: &mut MultiplexedConnection,
    p: &str,
    s: &SessionRecord,
    fields: &[(&str, String)],
) {
    let rec = format!("{p}r:{}", s.id);
    let _: () = raw.hset_multiple(&rec, fields).await.unwrap();
    let _: () =
        raw.set(format!("{p}h:{}", s.secret_hash.to_hex()), s.id.to_string()).await.unwrap();
    let _: () = raw.sadd(format!("{p}u:{}", s.user_id), s.id.to_string()).await.unwrap();
}

/// The fields the old code wrote for `s` (no tags; the data bag inline).
fn untagged_fields(s: &SessionRecord) -> Vec<(&'static str, String)> {
    vec![
        ("u", s.user_id.to_string()),
        ("h", s.secret_hash.to_hex()),
        ("c", s.csrf_token.expose().to_owned()),
        ("t0", s.created_at.unix().to_string()),
        ("ts", s.last_seen_at.unix().to_string()),
        ("d", "{}".to_owned()),
    ]
}

#[tokio::test]
async fn regression_redis_records_carry_no_integrity_forged_session_refused() {
    let (store, mut raw, p) = store_and_raw(&redis_url()).await;
    let logs = Logs::global();
    // The attacker picks a cookie secret and mints a session for the victim.
    let victim = user("victim");
    let secret = Secret::generate(&tessera_core::OsEntropy);
    let forged = SessionRecord { secret_hash: secret.hash(), ..session(&victim, T0) };
    let mut fields = untagged_fields(&forged);
    // Tags of the right shape, made without the key.
    fields.push(("m", "ab".repeat(32)));
    fields.push(("tm", "cd".repeat(32)));
    write_raw(&mut raw, &p, &forged, &fields).await;

    assert_eq!(store.find_session_by_secret(&secret.hash()).await.unwrap(), None);
    assert_eq!(store.list_user_sessions(&victim.id).await.unwrap(), vec![]);
    let text = logs.mentioning(&format!("{p}r:{}", forged.id));
    assert!(text.contains("record tag mismatch"), "refusal logged with the key: {text}");
    assert!(logs.mentioning(secret.expose()).is_empty(), "the secret is never logged");
}

#[tokio::test]
async fn redis_record_written_before_tags_refused_user_logs_in_again() {
    // Decision: records from before record tags are refused, not upgraded
    // (nothing can tell them from forgeries); their users log in again.
    let (store, mut raw, p) = store_and_raw(&redis_url()).await;
    let logs = Logs::global();
    let u = user("olduser");
    let old = session(&u, T0);
    write_raw(&mut raw, &p, &old, &untagged_fields(&old)).await;
    assert_eq!(store.find_session_by_secret(&old.secret_hash).await.unwrap(), None);
    assert_eq!(store.list_user_sessions(&u.id).await.unwrap(), vec![]);
    let text = logs.mentioning(&format!("{p}r:{}", old.id));
    assert!(text.contains("no tag"), "{text}");
    // A new login of the same user works, and log out everywhere still
    // clears the old record with it.
    let fresh = session(&u, T0);
    store.insert_session(&fresh).await.unwrap();
    assert_eq!(store.find_session_by_secret(&fresh.secret_hash).await.unwrap(), Some(fresh));
    assert_eq!(store.delete_user_sessions(&u.id, None).await.unwrap(), 2);
    let left: bool = raw.exists(format!("{p}r:{}", old.id)).await.unwrap();
    assert!(!left);
}

#[tokio::test]
async fn redis_record_any_field_tampered_refused() {
    let (store, mut raw, p) = store_and_raw(&redis_url()).await;
    let (u, other) = (user("owner"), user("thief"));
    let tampered: [(&str, String); 6] = [
        ("u", other.id.to_string()),
        ("t0", (T0.unix() + 40_000).to_string()),
        ("ts", (T0.unix() + 1000).to_string()),
        ("c", "chosen-csrf".to_owned()),
        ("ip", "203.0.113.9".to_owned()),
        ("m", "00".repeat(32)),
    ];
    for (field, value) in tampered {
        let s = session(&u, T0);
        store.insert_session(&s).await.unwrap();
        assert!(store.find_session_by_secret(&s.secret_hash).await.unwrap().is_some());
        let _: () = raw.hset(format!("{p}r:{}", s.id), field, &value).await.unwrap();
        assert_eq!(
            store.find_session_by_secret(&s.secret_hash).await.unwrap(),
            None,
            "{field} tampered"
        );
        assert!(store.list_user_sessions(&u.id).await.unwrap().iter().all(|l| l.id != s.id));
        assert_eq!(store.list_user_sessions(&other.id).await.unwrap(), vec![], "{field}");
    }
}

#[tokio::test]
async fn redis_record_moved_or_reindexed_refused() {
    let (store, mut raw, p) = store_and_raw(&redis_url()).await;
    let (victim, thief) = (user("victim"), user("thief"));
    let s = session(&victim, T0);
    store.insert_session(&s).await.unwrap();
    // The thief's own cookie secret, indexed to the victim's session.
    let secret = Secret::generate(&tessera_core::OsEntropy);
    let _: () =
        raw.set(format!("{p}h:{}", secret.hash().to_hex()), s.id.to_string()).await.unwrap();
    assert_eq!(store.find_session_by_secret(&secret.hash()).await.unwrap(), None);
    // The victim's record copied under another id, indexed for the thief.
    let moved = session(&thief, T0);
    let record: Vec<(String, String)> = raw.hgetall(format!("{p}r:{}", s.id)).await.unwrap();
    let _: () = raw.hset_multiple(format!("{p}r:{}", moved.id), &record).await.unwrap();
    let _: () =
        raw.set(format!("{p}h:{}", s.secret_hash.to_hex()), moved.id.to_string()).await.unwrap();
    let _: () = raw.sadd(format!("{p}u:{}", thief.id), moved.id.to_string()).await.unwrap();
    assert_eq!(store.find_session_by_secret(&s.secret_hash).await.unwrap(), None);
    assert_eq!(store.list_user_sessions(&thief.id).await.unwrap(), vec![]);
    // Listed under a user it does not name: not the thief's to see or end.
    let _: () = raw.sadd(format!("{p}u:{}", thief.id), s.id.to_string()).await.unwrap();
    assert_eq!(store.list_user_sessions(&thief.id).await.unwrap(), vec![]);
}

#[tokio::test]
async fn redis_data_bag_tampered_or_swapped_refused() {
    let (store, mut raw, p) = store_and_raw(&redis_url()).await;
    let logs = Logs::global();
    let u = user("carol");
    let (a, b) = (session(&u, T0), session(&u, T0));
    store.insert_session(&a).await.unwrap();
    store.insert_session(&b).await.unwrap();
    let mut data = SessionData::new();
    data.insert("role".into(), "user".into());
    assert!(store.set_session_data(&a.id, &data).await.unwrap());
    assert_eq!(store.session_data(&a.id).await.unwrap(), Some(data.clone()));
    // Altered in place.
    let key_a = format!("{p}d:{}", a.id);
    let stored: String = raw.get(&key_a).await.unwrap();
    let _: () = raw.set(&key_a, stored.replace("user", "root")).await.unwrap();
    assert_eq!(store.session_data(&a.id).await.unwrap(), None);
    // Another session's valid bag, copied over.
    let _: () = raw.set(&key_a, &stored).await.unwrap();
    let _: () = raw.set(format!("{p}d:{}", b.id), &stored).await.unwrap();
    assert_eq!(store.session_data(&b.id).await.unwrap(), None);
    assert_eq!(store.session_data(&a.id).await.unwrap(), Some(data));
    let text = logs.mentioning(&key_a);
    assert!(text.contains("data bag tag mismatch"), "{text}");
    assert!(!text.contains("root"), "data is never logged: {text}");
}

#[tokio::test(flavor = "current_thread")]
async fn regression_redis_listing_reads_every_data_bag() {
    // 600 sessions with 16 KiB bags made one listing read ~10 MB in one Lua
    // call. Now the bags live under their own keys, and the listing's
    // commands, seen by MONITOR on a private server, touch none of them.
    let server = tessera_store::testing::PrivateRedis::start();
    let (store, mut raw, p) = store_and_raw(&server.url()).await;
    let u = user("hoarder");
    let mut bag = SessionData::new();
    bag.insert("blob".into(), "x".repeat(16 * 1024 - 16).into());
    let mut ids = Vec::new();
    for _ in 0..50 {
        let s = session(&u, T0);
        store.insert_session(&s).await.unwrap();
        assert!(store.set_session_data(&s.id, &bag).await.unwrap());
        ids.push(s.id);
    }
    let monitor = redis::Client::open(server.url()).unwrap().get_async_monitor().await.unwrap();
    let mut lines = monitor.into_on_message::<String>();
    assert_eq!(store.list_user_sessions(&u.id).await.unwrap().len(), 50);
    let _: String = redis::cmd("ECHO").arg("listing-done").query_async(&mut raw).await.unwrap();
    let mut touched = Vec::new();
    while let Some(line) = lines.next().await {
        if line.contains("listing-done") {
            break;
        }
        touched.push(line);
    }
    let reads: Vec<&String> = touched.iter().filter(|l| l.contains("\"HGETALL\"")).collect();
    assert_eq!(reads.len(), 50, "one record read per session: {touched:#?}");
    assert!(!touched.iter().any(|l| l.contains(&format!("{p}d:"))), "a bag was read: {touched:#?}");
    // And what the listing does read holds no bag.
    for id in &ids {
        let bytes: i64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(format!("{p}r:{id}"))
            .query_async(&mut raw)
            .await
            .unwrap();
        assert!(bytes < 2048, "record of {id} is {bytes} bytes");
    }
}
