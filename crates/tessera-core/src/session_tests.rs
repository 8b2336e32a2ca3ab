//! Unit tests of the session use cases on the memory store with a manual clock.

use std::sync::Arc;

use super::*;
use crate::clock::ManualClock;
use crate::device::CurrentLogin;
use crate::memory::MemoryStore;
use crate::password::Argon2idHasher;
use crate::service::{TesseraConfig, TesseraParts};
use crate::store::Stores;
use crate::{Clock, OsEntropy};

const T0: Timestamp = Timestamp::from_unix(1_790_000_000);

async fn tessera(clock: Arc<ManualClock>) -> Tessera {
    let store = Arc::new(MemoryStore::new());
    Tessera::new(TesseraParts {
        stores: Stores::single(store),
        clock,
        entropy: Arc::new(OsEntropy),
        hasher: Arc::new(Argon2idHasher::new(64, 1, 1).unwrap()),
        hash_concurrency: 2,
        master_key: crate::master_key::MasterKey::generate(&OsEntropy),
        config: TesseraConfig {
            session: SessionPolicy {
                idle_ttl: Duration::seconds(100),
                absolute_ttl: Duration::seconds(1000),
                data_limit: 64,
            },
            ..TesseraConfig::default()
        },
    })
    .await
    .unwrap()
}

async fn setup() -> (Arc<ManualClock>, Tessera, User) {
    let clock = Arc::new(ManualClock::new(T0));
    let t = tessera(clock.clone()).await;
    let user = t.create_user("alice", "correct horse battery", "").await.unwrap();
    (clock, t, user)
}

#[tokio::test]
async fn session_resume_with_issued_secret_succeeds() {
    let (_, t, user) = setup().await;
    let s = t.start_session(&user, ClientInfo::default(), None).await.unwrap();
    let active = t.resume_session(s.secret.expose()).await.unwrap();
    assert_eq!(active.user().id, user.id);
    assert_ne!(s.record.id.to_string(), s.secret.expose());
}

#[tokio::test]
async fn session_idle_timeout_expires_and_deletes() {
    let (clock, t, user) = setup().await;
    let s = t.start_session(&user, ClientInfo::default(), None).await.unwrap();
    clock.advance(Duration::seconds(99));
    assert!(t.resume_session(s.secret.expose()).await.is_ok());
    // The resume at +99 s touched the session, so idle runs from there.
    clock.advance(Duration::seconds(99));
    assert!(t.resume_session(s.secret.expose()).await.is_ok());
    clock.advance(Duration::seconds(100));
    assert!(matches!(t.resume_session(s.secret.expose()).await, Err(Error::Unauthorized(_))));
    assert!(t.stores.sessions.find_session_by_secret(&s.secret.hash()).await.unwrap().is_none());
}

#[tokio::test]
async fn session_absolute_lifetime_expires_despite_activity() {
    let (clock, t, user) = setup().await;
    let s = t.start_session(&user, ClientInfo::default(), None).await.unwrap();
    for _ in 0..19 {
        clock.advance(Duration::seconds(50));
        assert!(t.resume_session(s.secret.expose()).await.is_ok());
    }
    clock.advance(Duration::seconds(50));
    assert!(t.resume_session(s.secret.expose()).await.is_err());
}

#[tokio::test]
async fn session_touch_written_at_most_once_per_interval() {
    let (clock, t, user) = setup().await;
    let s = t.start_session(&user, ClientInfo::default(), None).await.unwrap();
    // idle 100 s → touch interval 25 s.
    clock.advance(Duration::seconds(24));
    assert_eq!(t.resume_session(s.secret.expose()).await.unwrap().record().last_seen_at, T0);
    clock.advance(Duration::seconds(1));
    let seen = t.resume_session(s.secret.expose()).await.unwrap().record().last_seen_at;
    assert_eq!(seen, T0.plus(Duration::seconds(25)));
}

#[tokio::test]
async fn session_touch_interval_caps_at_one_minute() {
    let p = SessionPolicy::default();
    assert_eq!(p.touch_interval(), Duration::seconds(60));
    let short = SessionPolicy { idle_ttl: Duration::seconds(2), ..p };
    assert_eq!(short.touch_interval(), Duration::seconds(1));
}

#[tokio::test]
async fn session_login_destroys_carried_session() {
    let (_, t, user) = setup().await;
    let first = t.start_session(&user, ClientInfo::default(), None).await.unwrap();
    let second =
        t.start_session(&user, ClientInfo::default(), Some(first.secret.expose())).await.unwrap();
    assert!(t.resume_session(first.secret.expose()).await.is_err());
    assert!(t.resume_session(second.secret.expose()).await.is_ok());
}

#[tokio::test]
async fn session_attacker_chosen_secret_never_adopted() {
    let (_, t, user) = setup().await;
    let chosen = "A".repeat(crate::secret::ENCODED_LEN);
    let s = t.start_session(&user, ClientInfo::default(), Some(&chosen)).await.unwrap();
    assert_ne!(s.secret.expose(), chosen);
    assert!(t.resume_session(&chosen).await.is_err());
}

#[tokio::test]
async fn session_disabled_user_is_unauthorized() {
    let (_, t, user) = setup().await;
    let s = t.start_session(&user, ClientInfo::default(), None).await.unwrap();
    t.set_user_disabled("alice", true).await.unwrap();
    assert!(t.resume_session(s.secret.expose()).await.is_err());
    assert!(matches!(
        t.authenticate("alice", "correct horse battery", &ClientInfo::default()).await,
        Err(Error::InvalidCredentials(_))
    ));
}

#[tokio::test]
async fn session_data_bounded_and_gone_after_logout() {
    let (_, t, user) = setup().await;
    let s = t.start_session(&user, ClientInfo::default(), None).await.unwrap();
    let a = t.resume_session(s.secret.expose()).await.unwrap();
    let csrf = || a.verify_csrf(Some(a.record().csrf_token.expose())).unwrap();
    let small: SessionData = serde_json::from_str(r#"{"k":"v"}"#).unwrap();
    t.replace_session_data(&a, small.clone(), csrf()).await.unwrap();
    assert_eq!(t.session_data(&a).await.unwrap(), small);
    let big: SessionData =
        serde_json::from_value(serde_json::json!({"k": "x".repeat(64)})).unwrap();
    assert!(matches!(
        t.replace_session_data(&a, big, csrf()).await,
        Err(Error::PayloadTooLarge(_))
    ));
    t.end_session(&a, csrf()).await.unwrap();
    // A late write after logout must not resurrect the session.
    assert!(t.replace_session_data(&a, small, csrf()).await.is_err());
    assert!(t.resume_session(s.secret.expose()).await.is_err());
}

#[tokio::test]
async fn session_purge_removes_only_expired() {
    let (clock, t, user) = setup().await;
    let old = t.start_session(&user, ClientInfo::default(), None).await.unwrap();
    clock.advance(Duration::seconds(60));
    let fresh = t.start_session(&user, ClientInfo::default(), None).await.unwrap();
    clock.advance(Duration::seconds(50));
    assert_eq!(t.purge_expired_sessions().await.unwrap(), 1);
    assert!(t.resume_session(old.secret.expose()).await.is_err());
    assert!(t.resume_session(fresh.secret.expose()).await.is_ok());
    assert_eq!(clock.now(), T0.plus(Duration::seconds(110)));
}

#[tokio::test]
async fn change_password_ends_other_sessions_keeps_callers() {
    let (_, t, user) = setup().await;
    let mine = t.start_session(&user, ClientInfo::default(), None).await.unwrap();
    let other = t.start_session(&user, ClientInfo::default(), None).await.unwrap();
    let wrong = t.change_password(
        &user,
        "nope nope nope",
        "new password 123",
        CurrentLogin::Session(mine.record.id),
    );
    assert!(matches!(wrong.await, Err(Error::InvalidCredentials(_))));
    t.change_password(
        &user,
        "correct horse battery",
        "new password 123",
        CurrentLogin::Session(mine.record.id),
    )
    .await
    .unwrap();
    assert!(t.resume_session(mine.secret.expose()).await.is_ok());
    assert!(t.resume_session(other.secret.expose()).await.is_err());
    assert!(t.authenticate("alice", "new password 123", &ClientInfo::default()).await.is_ok());
    assert!(
        t.authenticate("alice", "correct horse battery", &ClientInfo::default()).await.is_err()
    );
}

#[tokio::test]
async fn authenticate_failures_are_one_error() {
    let (_, t, _) = setup().await;
    for (u, p) in [("alice", "wrong password!"), ("nobody", "whatever pass"), ("bad name", "x")] {
        assert!(
            matches!(
                t.authenticate(u, p, &ClientInfo::default()).await,
                Err(Error::InvalidCredentials(_))
            ),
            "{u}"
        );
    }
    assert!(t.authenticate("ALICE", "correct horse battery", &ClientInfo::default()).await.is_ok());
}

#[tokio::test]
async fn register_duplicate_case_insensitive_conflicts() {
    let (_, t, _) = setup().await;
    assert!(matches!(t.register("Alice", "another good pass").await, Err(Error::Conflict(_))));
}

/// What a Redis restored from an old snapshot does: the deleted record is
/// back in the session store.
async fn restore(t: &Tessera, record: &SessionRecord) {
    t.stores.sessions.insert_session(record).await.unwrap();
}

#[tokio::test]
async fn regression_redis_restore_resurrects_ended_session_logout() {
    let (_, t, user) = setup().await;
    let s = t.start_session(&user, ClientInfo::default(), None).await.unwrap();
    let active = t.resume_session(s.secret.expose()).await.unwrap();
    let csrf = active.verify_csrf(Some(s.record.csrf_token.expose())).unwrap();
    t.end_session(&active, csrf).await.unwrap();
    restore(&t, &s.record).await;
    assert!(matches!(t.resume_session(s.secret.expose()).await, Err(Error::Unauthorized(_))));
    let devices = t.list_devices(&user.id, CurrentLogin::None).await.unwrap();
    assert!(devices.is_empty(), "a revived record is not listed: {devices:?}");
}

#[tokio::test]
async fn regression_redis_restore_resurrects_ended_session_every_kind_of_end() {
    let (_, t, user) = setup().await;
    let start = || t.start_session(&user, ClientInfo::default(), None);
    let (kept, other, device) =
        (start().await.unwrap(), start().await.unwrap(), start().await.unwrap());
    t.end_device(&user.id, &device.record.id.to_string()).await.unwrap();
    t.change_password(
        &user,
        "correct horse battery",
        "another horse battery",
        CurrentLogin::Session(kept.record.id),
    )
    .await
    .unwrap();
    for ended in [&other, &device] {
        restore(&t, &ended.record).await;
        assert!(t.resume_session(ended.secret.expose()).await.is_err(), "revived after its end");
    }
    assert!(t.resume_session(kept.secret.expose()).await.is_ok(), "the caller's own survives");
    t.log_out_everywhere(&user.id).await.unwrap();
    restore(&t, &kept.record).await;
    assert!(t.resume_session(kept.secret.expose()).await.is_err(), "revived after logout-all");
    let fresh = start().await.unwrap();
    assert!(t.resume_session(fresh.secret.expose()).await.is_ok(), "a later login works");
}

#[tokio::test]
async fn session_ends_survive_a_restart_and_are_forgotten_only_after_expiry() {
    let clock = Arc::new(ManualClock::new(T0));
    let store = Arc::new(MemoryStore::new());
    let master = crate::master_key::MasterKey::generate(&OsEntropy);
    let build = || async {
        Tessera::new(TesseraParts {
            stores: Stores::single(store.clone()),
            clock: clock.clone(),
            entropy: Arc::new(OsEntropy),
            hasher: Arc::new(Argon2idHasher::new(64, 1, 1).unwrap()),
            hash_concurrency: 1,
            master_key: master.clone(),
            config: TesseraConfig::default(),
        })
        .await
        .unwrap()
    };
    let t = build().await;
    let user = t.create_user("alice", "correct horse battery", "").await.unwrap();
    let s = t.start_session(&user, ClientInfo::default(), None).await.unwrap();
    t.end_device(&user.id, &s.record.id.to_string()).await.unwrap();
    let restarted = build().await;
    restore(&restarted, &s.record).await;
    assert!(restarted.resume_session(s.secret.expose()).await.is_err());
    let set = restarted
        .stores
        .revocations
        .load_revocations(&restarted.revocation_window().cutoffs_at(clock.now()))
        .await
        .unwrap();
    assert_eq!(set.sessions.len(), 1);
    // Past the session's own absolute expiry (and the margin), the end can go.
    let absolute = restarted.config.session.absolute_ttl;
    clock.advance(Duration::seconds(absolute.as_secs() + 361));
    let cutoffs = restarted.revocation_window().cutoffs_at(clock.now());
    assert_eq!(restarted.stores.revocations.purge_revocations(&cutoffs).await.unwrap(), 1);
}
