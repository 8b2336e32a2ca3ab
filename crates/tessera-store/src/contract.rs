//! The store contract: behaviour every backend must show, run against each.
//!
//! Use [`store_contract_suite!`](crate::store_contract_suite) in a test file
//! with an async expression that yields fresh, empty [`Stores`]; it expands to
//! one `#[tokio::test]` per check so a failure names the rule it broke.

#![allow(clippy::unwrap_used, reason = "a test suite: a panic is how a rule reports failure")]

use std::sync::Arc;

use serde_json::json;
use tessera_core::client::Client;
use tessera_core::password::PasswordHash;
use tessera_core::refresh::{FamilyId, FamilyKind, RefreshFamily, Rotation, TokenRef};
use tessera_core::revocation::{RevocationCutoffs, RevocationSet};
use tessera_core::secret::{Secret, SecretHash};
use tessera_core::session::{ClientInfo, SessionId, SessionRecord};
use tessera_core::signing_key::{KeyState, StoredKey};
use tessera_core::store::{SessionData, StoreError, Stores};
use tessera_core::throttle::Attempts;
use tessera_core::user::{User, UserId, Username};
use tessera_core::{Duration, Moment, OsEntropy, Timestamp};

const T0: Timestamp = Timestamp::from_unix(1_790_000_000);

/// A user record for tests.
pub fn user(name: &str) -> User {
    User {
        id: UserId::generate(&OsEntropy),
        username: Username::parse(name).expect("valid test username"),
        password_hash: PasswordHash::from_phc("$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA".into()),
        scope: "read".into(),
        created_at: T0,
        disabled: false,
    }
}

/// A session record for `user`, created at `at`.
pub fn session(user: &User, at: Timestamp) -> SessionRecord {
    SessionRecord {
        id: SessionId::generate(&OsEntropy),
        secret_hash: Secret::generate(&OsEntropy).hash(),
        user_id: user.id,
        csrf_token: Secret::generate(&OsEntropy),
        created_at: at,
        last_seen_at: at,
        client: ClientInfo { user_agent: Some("contract/1".into()), ip: Some("192.0.2.1".into()) },
    }
}

async fn with_user(stores: &Stores, name: &str) -> User {
    let u = user(name);
    stores.users.insert_user(&u).await.expect("insert user");
    u
}

/// Users round-trip every field; lookups by name are case-insensitive.
pub async fn users_roundtrip(stores: Stores) {
    let u = with_user(&stores, "Alice").await;
    assert_eq!(stores.users.find_user(&u.id).await.unwrap(), Some(u.clone()));
    let by_name = stores.users.find_user_by_name(&Username::parse("aLICE").unwrap()).await;
    assert_eq!(by_name.unwrap(), Some(u.clone()));
    assert_eq!(stores.users.find_user(&UserId::generate(&OsEntropy)).await.unwrap(), None);
    assert_eq!(stores.users.list_users().await.unwrap(), vec![u]);
}

/// Username (case-insensitively) and id are unique.
pub async fn users_collisions_conflict(stores: Stores) {
    let u = with_user(&stores, "bob").await;
    let same_name = user("BOB");
    assert!(matches!(stores.users.insert_user(&same_name).await, Err(StoreError::Conflict(_))));
    let same_id = User { username: Username::parse("carol").unwrap(), ..u.clone() };
    assert!(matches!(stores.users.insert_user(&same_id).await, Err(StoreError::Conflict(_))));
    assert_eq!(stores.users.list_users().await.unwrap().len(), 1);
}

/// Password and disabled updates apply to existing users only.
pub async fn users_updates_never_create(stores: Stores) {
    let u = with_user(&stores, "dave").await;
    let h = PasswordHash::from_phc("$argon2id$new".into());
    assert!(stores.users.set_password_hash(&u.id, &h).await.unwrap());
    assert!(stores.users.set_disabled(&u.id, true).await.unwrap());
    let got = stores.users.find_user(&u.id).await.unwrap().unwrap();
    assert_eq!((got.password_hash, got.disabled), (h.clone(), true));
    let ghost = UserId::generate(&OsEntropy);
    assert!(!stores.users.set_password_hash(&ghost, &h).await.unwrap());
    assert!(!stores.users.set_disabled(&ghost, true).await.unwrap());
    assert_eq!(stores.users.find_user(&ghost).await.unwrap(), None);
}

/// Sessions round-trip and are found only by the hash of their secret.
pub async fn sessions_roundtrip(stores: Stores) {
    let u = with_user(&stores, "erin").await;
    let s = session(&u, T0);
    stores.sessions.insert_session(&s).await.unwrap();
    assert_eq!(
        stores.sessions.find_session_by_secret(&s.secret_hash).await.unwrap(),
        Some(s.clone())
    );
    let other = Secret::generate(&OsEntropy).hash();
    assert_eq!(stores.sessions.find_session_by_secret(&other).await.unwrap(), None);
    assert_eq!(stores.sessions.session_data(&s.id).await.unwrap(), Some(SessionData::new()));
    assert_eq!(stores.sessions.list_user_sessions(&u.id).await.unwrap(), vec![s]);
}

/// A second session with the same id or the same secret hash is refused.
pub async fn sessions_collisions_conflict(stores: Stores) {
    let u = with_user(&stores, "frank").await;
    let s = session(&u, T0);
    stores.sessions.insert_session(&s).await.unwrap();
    let same_id = SessionRecord { secret_hash: Secret::generate(&OsEntropy).hash(), ..s.clone() };
    let same_secret = SessionRecord { id: SessionId::generate(&OsEntropy), ..s.clone() };
    for dup in [same_id, same_secret] {
        assert!(matches!(stores.sessions.insert_session(&dup).await, Err(StoreError::Conflict(_))));
    }
    assert_eq!(stores.sessions.list_user_sessions(&u.id).await.unwrap().len(), 1);
}

/// After a delete, late touches and data writes report `false` and the
/// session stays deleted (no resurrection).
pub async fn sessions_no_resurrection_after_delete(stores: Stores) {
    let u = with_user(&stores, "grace").await;
    let s = session(&u, T0);
    stores.sessions.insert_session(&s).await.unwrap();
    assert!(stores.sessions.delete_session(&s.id).await.unwrap());
    assert!(!stores.sessions.delete_session(&s.id).await.unwrap());
    assert!(!stores.sessions.touch_session(&s.id, T0.plus(Duration::seconds(5))).await.unwrap());
    let data: SessionData = serde_json::from_value(json!({"cart": 3})).unwrap();
    assert!(!stores.sessions.set_session_data(&s.id, &data).await.unwrap());
    assert_eq!(stores.sessions.find_session_by_secret(&s.secret_hash).await.unwrap(), None);
    assert_eq!(stores.sessions.session_data(&s.id).await.unwrap(), None);
}

/// Data replaces wholesale; touch moves `last_seen_at` and never back.
pub async fn sessions_data_and_touch(stores: Stores) {
    let u = with_user(&stores, "heidi").await;
    let s = session(&u, T0);
    stores.sessions.insert_session(&s).await.unwrap();
    let data: SessionData =
        serde_json::from_value(json!({"theme": "dark", "n": [1, 2.5, null], "ü": {"x": true}}))
            .unwrap();
    assert!(stores.sessions.set_session_data(&s.id, &data).await.unwrap());
    assert_eq!(stores.sessions.session_data(&s.id).await.unwrap(), Some(data));
    let later = T0.plus(Duration::seconds(90));
    assert!(stores.sessions.touch_session(&s.id, later).await.unwrap());
    let got = stores.sessions.find_session_by_secret(&s.secret_hash).await.unwrap().unwrap();
    assert_eq!(got.last_seen_at, later);
}

/// Purge deletes sessions idle past the idle cutoff or older than the
/// absolute cutoff, and nothing else.
pub async fn sessions_purge_expired(stores: Stores) {
    let u = with_user(&stores, "ivan").await;
    let idle = session(&u, T0);
    let old_but_active = session(&u, T0);
    let fresh = session(&u, T0.plus(Duration::seconds(500)));
    for s in [&idle, &old_but_active, &fresh] {
        stores.sessions.insert_session(s).await.unwrap();
    }
    let busy_at = T0.plus(Duration::seconds(450));
    stores.sessions.touch_session(&old_but_active.id, busy_at).await.unwrap();
    // idle cutoff T0+100: `idle` goes; absolute cutoff T0+1: `old_but_active` goes.
    let n = stores
        .sessions
        .purge_sessions(T0.plus(Duration::seconds(100)), T0.plus(Duration::seconds(1)));
    assert_eq!(n.await.unwrap(), 2);
    assert_eq!(stores.sessions.list_user_sessions(&u.id).await.unwrap(), vec![fresh]);
}

/// Deleting a user's sessions spares the kept one and other users'.
pub async fn sessions_delete_for_user_keeps_one(stores: Stores) {
    let u = with_user(&stores, "judy").await;
    let v = with_user(&stores, "mallory").await;
    let keep = session(&u, T0);
    let s2 = session(&u, T0);
    let theirs = session(&v, T0);
    for s in [&keep, &s2, &theirs] {
        stores.sessions.insert_session(s).await.unwrap();
    }
    assert_eq!(stores.sessions.delete_user_sessions(&u.id, Some(&keep.id)).await.unwrap(), 1);
    assert_eq!(stores.sessions.list_user_sessions(&u.id).await.unwrap(), vec![keep]);
    assert_eq!(stores.sessions.delete_user_sessions(&u.id, None).await.unwrap(), 1);
    assert_eq!(stores.sessions.list_user_sessions(&v.id).await.unwrap().len(), 1);
}

/// Many concurrent writers: every insert lands once, concurrent touches and
/// deletes leave no half-state, concurrent same-name inserts admit one.
pub async fn concurrent_writers(stores: Stores) {
    let u = with_user(&stores, "niaj").await;
    let stores = Arc::new(stores);
    let mut tasks = Vec::new();
    for i in 0..32 {
        let (stores, u) = (Arc::clone(&stores), u.clone());
        tasks.push(tokio::spawn(async move {
            let s = session(&u, T0);
            stores.sessions.insert_session(&s).await.unwrap();
            stores.sessions.touch_session(&s.id, T0.plus(Duration::seconds(i))).await.unwrap();
            if i % 2 == 0 {
                assert!(stores.sessions.delete_session(&s.id).await.unwrap());
            }
        }));
    }
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let stores = Arc::clone(&stores);
            tokio::spawn(async move { stores.users.insert_user(&user("olivia")).await.is_ok() })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let mut winners = 0;
    for r in racers {
        winners += usize::from(r.await.unwrap());
    }
    assert_eq!(winners, 1);
    assert_eq!(stores.sessions.list_user_sessions(&u.id).await.unwrap().len(), 16);
}

/// The revision moves on every session delete and user update, so caches in
/// other processes learn of revocations.
pub async fn revision_moves_on_revocations(stores: Stores) {
    let u = with_user(&stores, "peggy").await;
    let s1 = session(&u, T0);
    let s2 = session(&u, T0);
    stores.sessions.insert_session(&s1).await.unwrap();
    stores.sessions.insert_session(&s2).await.unwrap();
    let mut last = stores.revision().await.unwrap();
    let mut moved = |r: u64, what: &str| {
        assert_ne!(r, last, "revision did not move on {what}");
        last = r;
    };
    stores.sessions.delete_session(&s1.id).await.unwrap();
    moved(stores.revision().await.unwrap(), "delete_session");
    stores.sessions.delete_user_sessions(&u.id, None).await.unwrap();
    moved(stores.revision().await.unwrap(), "delete_user_sessions");
    stores.users.set_disabled(&u.id, true).await.unwrap();
    moved(stores.revision().await.unwrap(), "set_disabled");
    let h = PasswordHash::from_phc("$argon2id$x".into());
    stores.users.set_password_hash(&u.id, &h).await.unwrap();
    moved(stores.revision().await.unwrap(), "set_password_hash");
    stores.sessions.insert_session(&session(&u, T0)).await.unwrap();
    let before_purge = stores.revision().await.unwrap();
    stores.sessions.purge_sessions(T0.plus(Duration::seconds(1)), T0).await.unwrap();
    assert_ne!(stores.revision().await.unwrap(), before_purge, "purge");
}

/// A token-mode family for `user`, created at `at`, living 1000 s.
pub fn family(user: &User, at: Timestamp) -> RefreshFamily {
    RefreshFamily {
        id: FamilyId::generate(&OsEntropy),
        user_id: user.id,
        client_id: "tessera".into(),
        scope: "read write".into(),
        kind: FamilyKind::Token,
        created_at: at,
        expires_at: at.plus(Duration::seconds(1000)),
        last_used_at: at,
        client: ClientInfo { user_agent: Some("cli/2".into()), ip: Some("198.51.100.7".into()) },
        revoked_at: None,
        generation: 0,
        rotated_at: None,
    }
}

fn token() -> SecretHash {
    Secret::generate(&OsEntropy).hash()
}

/// Token `generation` of family `f` with hash `hash`.
fn tref(f: &RefreshFamily, generation: u64, hash: SecretHash) -> TokenRef {
    TokenRef { family: f.id, generation, hash }
}

/// Rotates `presented` to `successor` through the port.
async fn rotate(
    stores: &Stores,
    presented: TokenRef,
    successor: SecretHash,
    now: Timestamp,
    at: Moment,
) -> Rotation {
    stores.refresh.rotate_refresh(&presented, &successor, now, at).await.unwrap()
}

/// A moment `micros` microseconds into T0.
fn moment(micros: i64) -> Moment {
    Moment::from_micros(Moment::from_timestamp(T0).micros() + micros)
}

/// Families round-trip; rotation is a compare-and-set on (generation,
/// hash) that records the rotation's moment; a consumed generation is
/// reported with the family as it stands and writes nothing.
pub async fn refresh_rotation_consumes_once(stores: Stores) {
    let u = with_user(&stores, "quentin").await;
    let f = family(&u, T0);
    let (t1, t2, t3) = (token(), token(), token());
    stores.refresh.insert_family(&f, &t1).await.unwrap();
    assert_eq!(stores.refresh.find_family(&f.id).await.unwrap(), Some(f.clone()));

    let at = T0.plus(Duration::seconds(10));
    let r = rotate(&stores, tref(&f, 0, t1), t2, at, moment(10_000_001)).await;
    let Rotation::Rotated(after) = r else {
        panic!("first rotation must succeed");
    };
    let expected = RefreshFamily {
        last_used_at: at,
        generation: 1,
        rotated_at: Some(moment(10_000_001)),
        ..f.clone()
    };
    assert_eq!(after, expected, "microseconds survive the round trip");
    let later = at.plus(Duration::seconds(5));
    let again = rotate(&stores, tref(&f, 0, t1), t3, later, moment(15_000_000)).await;
    assert_eq!(
        again,
        Rotation::AlreadyConsumed(after.clone()),
        "a consumed token is reported with the family as it stands"
    );
    assert_eq!(stores.refresh.find_family(&f.id).await.unwrap(), Some(after.clone()), "unwritten");
    let wrong_hash = rotate(&stores, tref(&f, 1, t3), token(), at, moment(0)).await;
    assert_eq!(wrong_hash, Rotation::Unknown, "not the current token");
    let ahead = rotate(&stores, tref(&f, 7, t2), token(), at, moment(0)).await;
    assert_eq!(ahead, Rotation::Unknown, "a generation not reached");
    assert!(matches!(
        rotate(&stores, tref(&f, 1, t2), t3, at, moment(1)).await,
        Rotation::Rotated(RefreshFamily { generation: 2, .. })
    ));
    let ghost = family(&u, T0);
    assert_eq!(
        rotate(&stores, tref(&ghost, 0, t1), token(), at, moment(0)).await,
        Rotation::Unknown
    );
    assert_eq!(stores.refresh.find_legacy_token(&t1).await.unwrap(), None, "nothing legacy");
}

/// 200 concurrent rotations of one token: exactly one wins, the others see
/// it consumed, and only the winner's successor is current.
pub async fn refresh_concurrent_rotation_one_winner(stores: Stores) {
    let u = with_user(&stores, "rupert").await;
    let f = family(&u, T0);
    let first = token();
    stores.refresh.insert_family(&f, &first).await.unwrap();
    let stores = Arc::new(stores);
    let barrier = Arc::new(tokio::sync::Barrier::new(200));
    let racers: Vec<_> = (0..200)
        .map(|i| {
            let (stores, barrier, presented) =
                (Arc::clone(&stores), barrier.clone(), tref(&f, 0, first));
            let successor = token();
            tokio::spawn(async move {
                barrier.wait().await;
                (rotate(&stores, presented, successor, T0, moment(i)).await, successor)
            })
        })
        .collect();
    let (mut winners, mut losers) = (Vec::new(), Vec::new());
    for r in racers {
        match r.await.unwrap() {
            (Rotation::Rotated(_), successor) => winners.push(successor),
            (Rotation::AlreadyConsumed(now), successor) => {
                assert_eq!(now.generation, 1);
                losers.push(successor);
            }
            (Rotation::Unknown, _) => panic!("a known token reported unknown"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one live successor");
    for loser in losers {
        let r = rotate(&stores, tref(&f, 1, loser), token(), T0, moment(20)).await;
        assert_eq!(r, Rotation::Unknown, "a loser's successor was never stored");
    }
    let r = rotate(&stores, tref(&f, 1, winners[0]), token(), T0, moment(20)).await;
    assert!(matches!(r, Rotation::Rotated(_)));
}

/// A family rotated many times still recognises every earlier generation
/// as consumed, from its one record (the SQL backends' row counts are
/// checked in `tests/refresh_rows.rs`).
pub async fn refresh_many_rotations_recognise_every_consumed_generation(stores: Stores) {
    let u = with_user(&stores, "ursula").await;
    let f = family(&u, T0);
    let mut current = token();
    stores.refresh.insert_family(&f, &current).await.unwrap();
    let mut consumed = Vec::new();
    for g in 0..300 {
        let next = token();
        let r = rotate(&stores, tref(&f, g, current), next, T0, moment(g as i64)).await;
        assert!(matches!(r, Rotation::Rotated(_)), "rotation {g}");
        consumed.push((g, current));
        current = next;
    }
    for (g, hash) in consumed.into_iter().step_by(37) {
        let r = rotate(&stores, tref(&f, g, hash), token(), T0, moment(999)).await;
        let Rotation::AlreadyConsumed(now) = r else {
            panic!("generation {g} not recognised as consumed");
        };
        assert_eq!((now.generation, now.rotated_at), (300, Some(moment(299))));
    }
}

/// A second family with an existing id is refused.
pub async fn refresh_collisions_conflict(stores: Stores) {
    let u = with_user(&stores, "sybil").await;
    let f = family(&u, T0);
    stores.refresh.insert_family(&f, &token()).await.unwrap();
    let same_id = stores.refresh.insert_family(&f, &token()).await;
    assert!(matches!(same_id, Err(StoreError::Conflict(_))));
    assert_eq!(stores.refresh.list_user_families(&u.id).await.unwrap(), vec![f]);
}

/// Revocation is one-way and keeps its first time; per-user revocation
/// spares the kept family and other users; revocations move the revision.
pub async fn refresh_revocation(stores: Stores) {
    let u = with_user(&stores, "trent").await;
    let v = with_user(&stores, "victor").await;
    let (a, b, c, theirs) = (family(&u, T0), family(&u, T0), family(&u, T0), family(&v, T0));
    for f in [&a, &b, &c, &theirs] {
        stores.refresh.insert_family(f, &token()).await.unwrap();
    }
    let rev = stores.revision().await.unwrap();
    let t1 = T0.plus(Duration::seconds(1));
    assert!(stores.refresh.revoke_family(&a.id, t1).await.unwrap());
    assert_ne!(stores.revision().await.unwrap(), rev, "revision moves on revoke");
    assert!(!stores.refresh.revoke_family(&a.id, T0.plus(Duration::seconds(9))).await.unwrap());
    let got = stores.refresh.find_family(&a.id).await.unwrap().unwrap();
    assert_eq!(got.revoked_at, Some(t1));
    assert!(!got.is_live_at(t1));
    let ids = stores.refresh.revoke_user_families(&u.id, Some(&b.id), t1).await.unwrap();
    assert_eq!(ids, vec![c.id], "only c: a was already revoked, b is kept");
    assert_eq!(stores.refresh.list_user_families(&u.id).await.unwrap(), vec![b]);
    assert_eq!(stores.refresh.list_user_families(&v.id).await.unwrap(), vec![theirs]);
    assert!(!stores.refresh.revoke_family(&FamilyId::generate(&OsEntropy), t1).await.unwrap());
}

/// Purge removes families past their absolute lifetime, with their tokens.
pub async fn refresh_purge_expired(stores: Stores) {
    let u = with_user(&stores, "walter").await;
    let old = family(&u, T0);
    let young = family(&u, T0.plus(Duration::seconds(500)));
    let (t_old, t_young) = (token(), token());
    stores.refresh.insert_family(&old, &t_old).await.unwrap();
    stores.refresh.insert_family(&young, &t_young).await.unwrap();
    // old expires at T0+1000, young at T0+1500.
    assert_eq!(stores.refresh.purge_families(T0.plus(Duration::seconds(1001))).await.unwrap(), 1);
    assert_eq!(stores.refresh.find_family(&old.id).await.unwrap(), None);
    let r = rotate(&stores, tref(&old, 0, t_old), token(), T0, moment(0)).await;
    assert_eq!(r, Rotation::Unknown);
    assert_eq!(stores.refresh.find_family(&young.id).await.unwrap(), Some(young.clone()));
    let r = rotate(&stores, tref(&young, 0, t_young), token(), T0, moment(0)).await;
    assert!(matches!(r, Rotation::Rotated(_)));
}

/// Clients round-trip (public and confidential); ids are unique.
pub async fn clients_roundtrip_and_conflict(stores: Stores) {
    let public =
        Client { id: "spa".into(), secret_hash: None, scope: String::new(), created_at: T0 };
    let confidential = Client {
        id: "billing".into(),
        secret_hash: Some(token()),
        scope: "invoices:read".into(),
        created_at: T0.plus(Duration::seconds(1)),
    };
    for c in [&public, &confidential] {
        stores.clients.insert_client(c).await.unwrap();
    }
    assert_eq!(stores.clients.find_client("billing").await.unwrap(), Some(confidential.clone()));
    assert_eq!(stores.clients.find_client("nope").await.unwrap(), None);
    let dup = stores.clients.insert_client(&public).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
    assert_eq!(stores.clients.list_clients().await.unwrap(), vec![public, confidential]);
}

/// A stored key for the key-ring rules.
pub fn key(kid: &str, state: KeyState, at: Timestamp) -> StoredKey {
    StoredKey {
        kid: kid.into(),
        alg: "EdDSA".into(),
        state,
        sealed_private: vec![1, 2, 3, kid.len() as u8],
        public_jwk: Some(format!(r#"{{"kid":"{kid}"}}"#)),
        created_at: at,
        activated_at: (state == KeyState::Current).then_some(at),
        retired_at: None,
    }
}

/// The key ring starts once, rotates by compare-and-set, and prunes.
pub async fn keys_initialise_rotate_prune(stores: Stores) {
    let (k1, k2) = (key("k1", KeyState::Current, T0), key("k2", KeyState::Next, T0));
    assert!(stores.keys.insert_initial_keys(&k1, &k2).await.unwrap());
    let (x, y) = (key("x", KeyState::Current, T0), key("y", KeyState::Next, T0));
    assert!(!stores.keys.insert_initial_keys(&x, &y).await.unwrap(), "only once");
    assert_eq!(stores.keys.list_keys().await.unwrap(), vec![k1.clone(), k2.clone()]);

    let t1 = T0.plus(Duration::seconds(100));
    let k3 = key("k3", KeyState::Next, t1);
    let rev = stores.revision().await.unwrap();
    assert!(stores.keys.rotate_keys("k1", &k3, t1).await.unwrap());
    assert_ne!(stores.revision().await.unwrap(), rev, "rotation is seen elsewhere");
    assert!(!stores.keys.rotate_keys("k1", &key("k4", KeyState::Next, t1), t1).await.unwrap());
    let keys = stores.keys.list_keys().await.unwrap();
    let state = |kid: &str| keys.iter().find(|k| k.kid == kid).map(|k| k.state);
    assert_eq!(
        (state("k1"), state("k2"), state("k3"), state("k4")),
        (Some(KeyState::Retired), Some(KeyState::Current), Some(KeyState::Next), None)
    );
    let k2_now = keys.iter().find(|k| k.kid == "k2").unwrap();
    assert_eq!(k2_now.activated_at, Some(t1));
    assert_eq!(stores.keys.delete_retired_keys(t1).await.unwrap(), 0, "retired at t1, not before");
    let after = t1.plus(Duration::seconds(1));
    assert_eq!(stores.keys.delete_retired_keys(after).await.unwrap(), 1);
    assert_eq!(stores.keys.list_keys().await.unwrap().len(), 2);
}

/// Two concurrent rotations from the same current key: exactly one happens.
pub async fn keys_concurrent_rotation_one_winner(stores: Stores) {
    let (k1, k2) = (key("k1", KeyState::Current, T0), key("k2", KeyState::Next, T0));
    stores.keys.insert_initial_keys(&k1, &k2).await.unwrap();
    let stores = Arc::new(stores);
    let racers: Vec<_> = (0..6)
        .map(|i| {
            let stores = Arc::clone(&stores);
            tokio::spawn(async move {
                let next = key(&format!("n{i}"), KeyState::Next, T0);
                stores.keys.rotate_keys("k1", &next, T0).await.unwrap()
            })
        })
        .collect();
    let mut wins = 0;
    for r in racers {
        wins += usize::from(r.await.unwrap());
    }
    assert_eq!(wins, 1);
    let keys = stores.keys.list_keys().await.unwrap();
    assert_eq!(keys.len(), 3);
    assert_eq!(keys.iter().filter(|k| k.state == KeyState::Current).count(), 1);
    assert_eq!(keys.iter().filter(|k| k.state == KeyState::Next).count(), 1);
}

/// Token revocations, revoked families and not-befores load back as stored,
/// within the requested windows; expired token revocations purge.
pub async fn revocations_load_and_purge(stores: Stores) {
    let u = with_user(&stores, "xavier").await;
    let f = family(&u, T0);
    stores.refresh.insert_family(&f, &token()).await.unwrap();
    stores.refresh.revoke_family(&f.id, T0.plus(Duration::seconds(5))).await.unwrap();
    let exp = T0.plus(Duration::seconds(900));
    stores.revocations.revoke_access_token("jti-1", exp).await.unwrap();
    stores.revocations.revoke_access_token("jti-1", T0).await.unwrap(); // keeps the later
    stores.revocations.revoke_access_token("jti-old", T0).await.unwrap();
    let rev = stores.revision().await.unwrap();
    assert!(
        stores
            .revocations
            .raise_tokens_not_before(&u.id, T0.plus(Duration::seconds(7)))
            .await
            .unwrap()
    );
    assert_ne!(stores.revision().await.unwrap(), rev, "not-before is seen elsewhere");
    assert!(stores.revocations.raise_tokens_not_before(&u.id, T0).await.unwrap(), "never lowers");
    let ghost = UserId::generate(&OsEntropy);
    assert!(!stores.revocations.raise_tokens_not_before(&ghost, T0).await.unwrap());

    let ended = SessionId::generate(&OsEntropy);
    let until = T0.plus(Duration::seconds(600));
    let rev = stores.revision().await.unwrap();
    stores.revocations.end_sessions(&[(ended, until)]).await.unwrap();
    assert_ne!(stores.revision().await.unwrap(), rev, "a session end is seen elsewhere");
    stores.revocations.end_sessions(&[(ended, T0)]).await.unwrap(); // keeps the later
    stores.revocations.end_sessions(&[]).await.unwrap();

    let all = RevocationCutoffs {
        tokens_expiring_after: T0,
        families_used_since: T0,
        not_before_since: T0,
        sessions_until_after: T0,
    };
    let set = stores.revocations.load_revocations(&all).await.unwrap();
    assert_eq!(set.tokens, vec![("jti-1".to_owned(), exp)], "jti-old expired at T0");
    assert_eq!(set.families, vec![f.id]);
    assert_eq!(set.not_before, vec![(u.id, T0.plus(Duration::seconds(7)))]);
    assert_eq!(set.sessions, vec![(ended, until)]);
    // Families are kept by their last issuance (`last_used_at`, T0 here),
    // never by when (or by whose clock) they were revoked.
    let narrow = RevocationCutoffs {
        tokens_expiring_after: exp,
        families_used_since: T0.plus(Duration::seconds(1)),
        not_before_since: T0.plus(Duration::seconds(8)),
        sessions_until_after: until,
    };
    let narrow = stores.revocations.load_revocations(&narrow).await.unwrap();
    assert_eq!(narrow, RevocationSet::default());

    assert_eq!(stores.revocations.purge_revocations(&all).await.unwrap(), 1, "jti-old only");
    let set = stores.revocations.load_revocations(&all).await.unwrap();
    assert_eq!((set.tokens.len(), set.sessions.len()), (1, 1));
    let past = RevocationCutoffs { tokens_expiring_after: exp, sessions_until_after: until, ..all };
    assert_eq!(stores.revocations.purge_revocations(&past).await.unwrap(), 2);
}

/// Login counters are compare-and-set: a swap against stale counters fails,
/// and concurrent writers retrying on failure all get counted.
pub async fn attempts_compare_and_set(stores: Stores) {
    let (store, keep) = (&stores.attempts, Duration::seconds(600));
    let a = Attempts { window_start: 1, failures: 1, locked_until: 0, strikes: 0 };
    let b = Attempts { failures: 2, ..a };
    assert_eq!(store.attempts("u:zed").await.unwrap(), None);
    assert!(store.swap_attempts("u:zed", None, &a, keep).await.unwrap());
    assert!(!store.swap_attempts("u:zed", None, &b, keep).await.unwrap(), "stale: absent");
    assert!(!store.swap_attempts("u:zed", Some(&b), &b, keep).await.unwrap(), "stale: value");
    assert!(store.swap_attempts("u:zed", Some(&a), &b, keep).await.unwrap());
    assert_eq!(store.attempts("u:zed").await.unwrap(), Some(b));
    store.clear_attempts("u:zed").await.unwrap();
    assert_eq!(store.attempts("u:zed").await.unwrap(), None);

    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = Arc::clone(&stores.attempts);
            tokio::spawn(async move {
                loop {
                    let cur = store.attempts("a:192.0.2.9").await.unwrap();
                    let mut next = cur.unwrap_or_default();
                    next.failures += 1;
                    if store.swap_attempts("a:192.0.2.9", cur.as_ref(), &next, keep).await.unwrap()
                    {
                        return;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let counted = store.attempts("a:192.0.2.9").await.unwrap().unwrap().failures;
    assert_eq!(counted, 16, "every concurrent failure counted");
}

/// Of concurrent swaps from the same expected counters, exactly one
/// succeeds: the login throttle counts an attempt *before* checking its
/// password on this, so at most the limit is ever admitted, on any number of
/// nodes.
pub async fn attempts_concurrent_swaps_one_winner(stores: Stores) {
    let keep = Duration::seconds(600);
    let start = Arc::new(tokio::sync::Barrier::new(32));
    let tasks: Vec<_> = (0..32_u32)
        .map(|i| {
            let (store, start) = (Arc::clone(&stores.attempts), Arc::clone(&start));
            tokio::spawn(async move {
                let next =
                    Attempts { window_start: 1, failures: i + 1, locked_until: 0, strikes: 0 };
                start.wait().await;
                store.swap_attempts("u:race", None, &next, keep).await.unwrap().then_some(next)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        winners.extend(t.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "exactly one swap from the same counters wins");
    assert_eq!(stores.attempts.attempts("u:race").await.unwrap(), Some(winners[0]));
}

/// Expands to one test per contract rule. `$make` is an async expression
/// yielding fresh, empty [`Stores`].
#[macro_export]
macro_rules! store_contract_suite {
    ($make:expr) => {
        $crate::store_contract_suite!(@tests $make;
            users_roundtrip, users_collisions_conflict, users_updates_never_create,
            sessions_roundtrip, sessions_collisions_conflict,
            sessions_no_resurrection_after_delete, sessions_data_and_touch,
            sessions_purge_expired, sessions_delete_for_user_keeps_one, concurrent_writers,
            revision_moves_on_revocations, refresh_rotation_consumes_once,
            refresh_concurrent_rotation_one_winner,
            refresh_many_rotations_recognise_every_consumed_generation, refresh_collisions_conflict,
            refresh_revocation, refresh_purge_expired, clients_roundtrip_and_conflict,
            keys_initialise_rotate_prune, keys_concurrent_rotation_one_winner,
            revocations_load_and_purge, attempts_compare_and_set,
            attempts_concurrent_swaps_one_winner);
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::contract::$name($make.await).await;
            }
        )*
    };
}
