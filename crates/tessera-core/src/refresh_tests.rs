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
                race_window: Duration::seconds(2),
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
    let second = t.rotate_refresh(first.secret.expose(), "tessera", None).await.unwrap();
    assert_eq!(second.family.id, first.family.id, "same family, same sid");
    assert_ne!(second.secret.expose(), first.secret.expose());
    assert!(t.rotate_refresh(second.secret.expose(), "tessera", None).await.is_ok());
}

#[tokio::test]
async fn refresh_reuse_after_race_window_revokes_family() {
    let (clock, t, user) = setup().await;
    let first = t.start_family(&user, request()).await.unwrap();
    let second = t.rotate_refresh(first.secret.expose(), "tessera", None).await.unwrap();
    clock.advance(Duration::seconds(3));
    let reuse = t.rotate_refresh(first.secret.expose(), "tessera", None).await;
    assert!(matches!(reuse, Err(Error::InvalidGrant("refresh token reuse"))));
    // The legitimate successor dies with its family.
    assert!(matches!(
        t.rotate_refresh(second.secret.expose(), "tessera", None).await,
        Err(Error::InvalidGrant(_))
    ));
}

#[tokio::test]
async fn refresh_concurrent_retry_within_window_keeps_family() {
    let (clock, t, user) = setup().await;
    let first = t.start_family(&user, request()).await.unwrap();
    let second = t.rotate_refresh(first.secret.expose(), "tessera", None).await.unwrap();
    clock.advance(Duration::seconds(2));
    assert!(t.rotate_refresh(first.secret.expose(), "tessera", None).await.is_err());
    assert!(
        t.rotate_refresh(second.secret.expose(), "tessera", None).await.is_ok(),
        "successor lives"
    );
}

#[tokio::test]
async fn refresh_ten_concurrent_leave_one_live_successor() {
    let (_, t, user) = setup().await;
    let t = Arc::new(t);
    let first = t.start_family(&user, request()).await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (t, s) = (Arc::clone(&t), first.secret.expose().to_owned());
            tokio::spawn(async move { t.rotate_refresh(&s, "tessera", None).await })
        })
        .collect();
    let mut live = Vec::new();
    for task in tasks {
        if let Ok(issued) = task.await.unwrap() {
            live.push(issued);
        }
    }
    assert_eq!(live.len(), 1);
    assert!(t.rotate_refresh(live[0].secret.expose(), "tessera", None).await.is_ok());
}

#[tokio::test]
async fn refresh_other_client_refused_and_token_not_consumed() {
    let (_, t, user) = setup().await;
    let first = t.start_family(&user, request()).await.unwrap();
    assert!(matches!(
        t.rotate_refresh(first.secret.expose(), "other-app", None).await,
        Err(Error::InvalidGrant("refresh token of another client"))
    ));
    assert!(t.rotate_refresh(first.secret.expose(), "tessera", None).await.is_ok());
}

#[tokio::test]
async fn refresh_family_absolute_lifetime_ends_rotation() {
    let (clock, t, user) = setup().await;
    let mut current = t.start_family(&user, request()).await.unwrap();
    for _ in 0..9 {
        clock.advance(Duration::seconds(100));
        current = t.rotate_refresh(current.secret.expose(), "tessera", None).await.unwrap();
    }
    clock.advance(Duration::seconds(100));
    assert!(matches!(
        t.rotate_refresh(current.secret.expose(), "tessera", None).await,
        Err(Error::InvalidGrant("refresh family revoked or expired"))
    ));
}

#[tokio::test]
async fn refresh_disabled_user_and_revoked_family_refused() {
    let (_, t, user) = setup().await;
    let a = t.start_family(&user, request()).await.unwrap();
    let b = t.start_family(&user, request()).await.unwrap();
    t.revoke_family(&a.family.id).await.unwrap();
    assert!(t.rotate_refresh(a.secret.expose(), "tessera", None).await.is_err());
    t.set_user_disabled("alice", true).await.unwrap();
    assert!(t.rotate_refresh(b.secret.expose(), "tessera", None).await.is_err());
}

#[tokio::test]
async fn refresh_garbage_tokens_are_invalid_grant() {
    let (_, t, _) = setup().await;
    for junk in ["", "x", &"A".repeat(43), &"é".repeat(43), &"a".repeat(10_000)] {
        assert!(matches!(
            t.rotate_refresh(junk, "tessera", None).await,
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
    assert!(t.rotate_refresh(a.secret.expose(), "tessera", None).await.is_err());
}
