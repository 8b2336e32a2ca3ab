//! Unit tests of the refresh use cases on the memory store with a manual clock.

use std::sync::Arc;

use super::*;
use crate::OsEntropy;
use crate::clock::ManualClock;
use crate::device::CurrentLogin;
use crate::memory::MemoryStore;
use crate::password::Argon2idHasher;
use crate::service::{TesseraConfig, TesseraParts};
use crate::store::Stores;

const T0: Timestamp = Timestamp::from_unix(1_790_000_000);

async fn setup() -> (Arc<ManualClock>, Tessera, User) {
    let clock = Arc::new(ManualClock::new(T0));
    let t = Tessera::new(TesseraParts {
        stores: Stores::single(Arc::new(MemoryStore::new())),
        clock: clock.clone(),
        entropy: Arc::new(OsEntropy),
        hasher: Arc::new(Argon2idHasher::new(64, 1, 1).unwrap()),
        hash_concurrency: 2,
        master_key: crate::master_key::MasterKey::generate(&OsEntropy),
        config: TesseraConfig {
            refresh: RefreshPolicy {
                family_ttl: Duration::seconds(1000),
                ..RefreshPolicy::default()
            },
            ..TesseraConfig::default()
        },
    })
    .await
    .unwrap();
    let user = t.create_user("alice", "correct horse battery", "read").await.unwrap();
    (clock, t, user)
}

fn request() -> FamilyRequest {
    FamilyRequest {
        client_id: "tessera".into(),
        scope: "read".into(),
        kind: FamilyKind::Token,
        client: ClientInfo::default(),
    }
}

#[tokio::test]
async fn refresh_rotation_kills_presented_and_issues_successor() {
    let (clock, t, user) = setup().await;
    let first = t.start_family(&user, request()).await.unwrap();
    clock.advance(Duration::seconds(10));
    let second =
        t.rotate_refresh(first.secret.expose(), "tessera", None, t.clock().moment()).await.unwrap();
    assert_eq!(second.family.id, first.family.id, "same family, same sid");
    assert_ne!(second.secret.expose(), first.secret.expose());
    assert!(
        t.rotate_refresh(second.secret.expose(), "tessera", None, t.clock().moment()).await.is_ok()
    );
}

/// Issue 12, item 6: a replay 1 s after the rotation committed (inside the
/// old 2 s race window) was refused but left the family alive.
#[tokio::test]
async fn regression_reuse_inside_race_window_goes_unpunished() {
    let (clock, t, user) = setup().await;
    let first = t.start_family(&user, request()).await.unwrap();
    let second = t.rotate_refresh(first.secret.expose(), "tessera", None, t.clock().moment());
    let second = second.await.unwrap();
    clock.advance(Duration::seconds(1));
    let reuse = t.rotate_refresh(first.secret.expose(), "tessera", None, t.clock().moment()).await;
    assert!(matches!(reuse, Err(Error::InvalidGrant("refresh token reuse"))), "{reuse:?}");
    // The legitimate successor dies with its family.
    assert!(matches!(
        t.rotate_refresh(second.secret.expose(), "tessera", None, t.clock().moment()).await,
        Err(Error::InvalidGrant(_))
    ));
    assert!(
        t.stores.refresh.find_family(&first.family.id).await.unwrap().unwrap().revoked_at.is_some()
    );
}

#[tokio::test]
async fn refresh_replay_one_microsecond_past_the_tolerance_is_reuse() {
    let (_, t, user) = setup().await;
    let first = t.start_family(&user, request()).await.unwrap();
    t.rotate_refresh(first.secret.expose(), "tessera", None, t.clock().moment()).await.unwrap();
    let committed = t.stores.refresh.find_family(&first.family.id).await.unwrap().unwrap();
    let tolerance = i64::try_from(t.config.refresh.arrival_tolerance.as_micros()).unwrap();
    let later = Moment::from_micros(committed.rotated_at.unwrap().micros() + tolerance + 1);
    let reuse = t.rotate_refresh(first.secret.expose(), "tessera", None, later).await;
    assert!(matches!(reuse, Err(Error::InvalidGrant("refresh token reuse"))), "{reuse:?}");
}

#[tokio::test]
async fn refresh_request_arrived_before_commit_is_concurrent_and_keeps_family() {
    let (clock, t, user) = setup().await;
    let first = t.start_family(&user, request()).await.unwrap();
    // This request arrives, then stalls while another one rotates the token
    // a second later; it finds the token consumed but arrived first.
    let arrived = t.clock().moment();
    clock.advance(Duration::seconds(1));
    let second = t.rotate_refresh(first.secret.expose(), "tessera", None, t.clock().moment());
    let second = second.await.unwrap();
    let late = t.rotate_refresh(first.secret.expose(), "tessera", None, arrived).await;
    assert!(
        matches!(late, Err(Error::InvalidGrant("refresh token consumed by a concurrent refresh"))),
        "{late:?}"
    );
    assert!(
        t.rotate_refresh(second.secret.expose(), "tessera", None, t.clock().moment()).await.is_ok(),
        "successor lives"
    );
}

#[tokio::test]
async fn refresh_token_two_rotations_old_is_reuse_whenever_it_arrived() {
    let (clock, t, user) = setup().await;
    let first = t.start_family(&user, request()).await.unwrap();
    let arrived = t.clock().moment();
    clock.advance(Duration::seconds(1));
    let second = t.rotate_refresh(first.secret.expose(), "tessera", None, t.clock().moment());
    let second = second.await.unwrap();
    t.rotate_refresh(second.secret.expose(), "tessera", None, t.clock().moment()).await.unwrap();
    // Only the last rotation's moment is kept: that the request came before
    // the rotation that consumed generation 0 cannot be shown, so it is reuse.
    let r = t.rotate_refresh(first.secret.expose(), "tessera", None, arrived).await;
    assert!(matches!(r, Err(Error::InvalidGrant("refresh token reuse"))), "{r:?}");
}

async fn concurrent_refreshes_leave_one_successor(n: usize) {
    let (_, t, user) = setup().await;
    let t = Arc::new(t);
    let first = t.start_family(&user, request()).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (t, s, barrier) =
                (Arc::clone(&t), first.secret.expose().to_owned(), barrier.clone());
            tokio::spawn(async move {
                // Every request has arrived before any rotation is attempted.
                let arrived = t.clock().moment();
                barrier.wait().await;
                t.rotate_refresh(&s, "tessera", None, arrived).await
            })
        })
        .collect();
    let mut live = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(issued) => live.push(issued),
            Err(Error::InvalidGrant("refresh token consumed by a concurrent refresh")) => {}
            Err(e) => panic!("a concurrent refresh was not taken for one: {e:?}"),
        }
    }
    assert_eq!(live.len(), 1);
    let family = t.stores.refresh.find_family(&first.family.id).await.unwrap().unwrap();
    assert_eq!((family.revoked_at, family.generation), (None, 1), "nothing revoked");
    assert!(
        t.rotate_refresh(live[0].secret.expose(), "tessera", None, t.clock().moment())
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_ten_concurrent_leave_one_live_successor() {
    concurrent_refreshes_leave_one_successor(10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_two_hundred_concurrent_leave_one_live_successor() {
    concurrent_refreshes_leave_one_successor(200).await;
}

#[tokio::test]
async fn refresh_forged_token_of_a_known_family_is_unknown_and_harmless() {
    let (_, t, user) = setup().await;
    let first = t.start_family(&user, request()).await.unwrap();
    t.rotate_refresh(first.secret.expose(), "tessera", None, t.clock().moment()).await.unwrap();
    // Someone who knows the sid (and even the database) but not the master
    // key writes the family's generation 0: no reuse, no revocation.
    let other_key = crate::master_key::MasterKey::generate(&OsEntropy);
    let (forged, _) = refresh_token::mint(&other_key, &first.family.id, 0, &OsEntropy);
    let r = t.rotate_refresh(forged.expose(), "tessera", None, t.clock().moment()).await;
    assert!(matches!(r, Err(Error::InvalidGrant("unknown refresh token"))), "{r:?}");
    let family = t.stores.refresh.find_family(&first.family.id).await.unwrap().unwrap();
    assert_eq!(family.revoked_at, None);
}

#[tokio::test]
async fn refresh_other_client_refused_and_token_not_consumed() {
    let (_, t, user) = setup().await;
    let first = t.start_family(&user, request()).await.unwrap();
    assert!(matches!(
        t.rotate_refresh(first.secret.expose(), "other-app", None, t.clock().moment()).await,
        Err(Error::InvalidGrant("refresh token of another client"))
    ));
    assert!(
        t.rotate_refresh(first.secret.expose(), "tessera", None, t.clock().moment()).await.is_ok()
    );
}

#[tokio::test]
async fn refresh_family_absolute_lifetime_ends_rotation() {
    let (clock, t, user) = setup().await;
    let mut current = t.start_family(&user, request()).await.unwrap();
    for _ in 0..9 {
        clock.advance(Duration::seconds(100));
        current = t
            .rotate_refresh(current.secret.expose(), "tessera", None, t.clock().moment())
            .await
            .unwrap();
    }
    clock.advance(Duration::seconds(100));
    assert!(matches!(
        t.rotate_refresh(current.secret.expose(), "tessera", None, t.clock().moment()).await,
        Err(Error::InvalidGrant("refresh family revoked or expired"))
    ));
}

#[tokio::test]
async fn refresh_disabled_user_and_revoked_family_refused() {
    let (_, t, user) = setup().await;
    let a = t.start_family(&user, request()).await.unwrap();
    let b = t.start_family(&user, request()).await.unwrap();
    t.revoke_family(&a.family.id).await.unwrap();
    assert!(
        t.rotate_refresh(a.secret.expose(), "tessera", None, t.clock().moment()).await.is_err()
    );
    t.set_user_disabled("alice", true).await.unwrap();
    assert!(
        t.rotate_refresh(b.secret.expose(), "tessera", None, t.clock().moment()).await.is_err()
    );
}

#[tokio::test]
async fn refresh_garbage_tokens_are_invalid_grant() {
    let (_, t, _) = setup().await;
    for junk in ["", "x", &"A".repeat(43), &"é".repeat(43), &"a".repeat(10_000)] {
        assert!(matches!(
            t.rotate_refresh(junk, "tessera", None, t.clock().moment()).await,
            Err(Error::InvalidGrant(_))
        ));
    }
}

#[tokio::test]
async fn refresh_password_change_revokes_every_family() {
    let (_, t, user) = setup().await;
    let a = t.start_family(&user, request()).await.unwrap();
    t.change_password(&user, "correct horse battery", "another fine password", CurrentLogin::None)
        .await
        .unwrap();
    assert!(
        t.rotate_refresh(a.secret.expose(), "tessera", None, t.clock().moment()).await.is_err()
    );
}
