//! [`Tessera`]: the use cases, wired to their stores, clock, entropy and hash pool.
//!
//! The HTTP server and the CLI both hold one of these and call its methods;
//! neither decides anything about security itself. The methods live in the
//! module of the noun they act on (`account`, `login`, `session`).

use std::sync::Arc;

use crate::clock::Clock;
use crate::entropy::Entropy;
use crate::error::Result;
use crate::master_key::MasterKey;
use crate::password::{HashPool, HashQueuePolicy, PasswordHash, PasswordHasher, PasswordPolicy};
use crate::refresh::RefreshPolicy;
use crate::session::SessionPolicy;
use crate::session_cache::SessionCache;
use crate::store::Stores;
use crate::throttle::{LoginThrottle, ThrottlePolicy};
use crate::token::{TokenPolicy, TokenState};

/// Whether anyone may create an account with `POST /v1/users`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Registration {
    /// Self-registration is open (the default).
    #[default]
    Open,
    /// Only operators (the CLI) create accounts.
    Closed,
}

/// The policies the core enforces.
#[derive(Clone, Debug, Default)]
pub struct TesseraConfig {
    /// New-password rules.
    pub password: PasswordPolicy,
    /// Session lifetimes and data bound.
    pub session: SessionPolicy,
    /// Self-registration.
    pub registration: Registration,
    /// Refresh-token families.
    pub refresh: RefreshPolicy,
    /// Access tokens and keys.
    pub token: TokenPolicy,
    /// Login throttling.
    pub throttle: ThrottlePolicy,
    /// Bounds of the password hash queue.
    pub hash_queue: HashQueuePolicy,
    /// The cap on logins per user.
    pub devices: crate::device::DevicePolicy,
}

/// The core service.
#[derive(Debug)]
pub struct Tessera {
    pub(crate) stores: Stores,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) entropy: Arc<dyn Entropy>,
    pub(crate) hashes: HashPool,
    /// Verified against when the username is unknown, so that an unknown user
    /// costs the same Argon2 work as a wrong password (enumeration by timing).
    pub(crate) dummy_hash: PasswordHash,
    pub(crate) config: TesseraConfig,
    /// Verified sessions, so the common check skips the store.
    pub(crate) session_cache: SessionCache,
    /// Seals signing keys at rest.
    pub(crate) master_key: MasterKey,
    /// The key ring and the revocation index.
    pub(crate) tokens: TokenState,
    /// Key of the hybrid-mode CSRF tokens (derived from the master key, so
    /// every node sharing the store computes the same tokens).
    pub(crate) hybrid_csrf_key: [u8; 32],
    /// Failed-login counters.
    pub(crate) throttle: LoginThrottle,
    /// Usernames by id (they never change), for identity headers.
    pub(crate) usernames: moka::sync::Cache<crate::user::UserId, std::sync::Arc<str>>,
    /// One revision poll (and its reload) at a time: a poll that returns has
    /// seen every change made before it began, even when another poll
    /// observed the revision first.
    pub(crate) poll: tokio::sync::Mutex<()>,
}

/// Everything [`Tessera::new`] needs.
#[derive(Debug)]
pub struct TesseraParts {
    /// The stores.
    pub stores: Stores,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// The randomness source.
    pub entropy: Arc<dyn Entropy>,
    /// The password hasher.
    pub hasher: Arc<dyn PasswordHasher>,
    /// How many passwords may be hashed at once (the hash pool's threads).
    pub hash_concurrency: usize,
    /// Policies.
    pub config: TesseraConfig,
    /// Seals signing keys at rest.
    pub master_key: MasterKey,
}

impl Tessera {
    /// Assembles the service: hashes one random password for the dummy hash,
    /// loads (or creates) the key ring and loads the revocations.
    pub async fn new(parts: TesseraParts) -> Result<Self> {
        let hashes = HashPool::new(parts.hasher, parts.hash_concurrency, parts.config.hash_queue);
        let dummy = crate::secret::Secret::generate(parts.entropy.as_ref());
        let dummy_hash = hashes.hash(dummy.expose().to_owned(), parts.entropy.as_ref()).await?;
        let tokens = Self::load_token_state(
            &parts.stores,
            &parts.master_key,
            &parts.config.token,
            &crate::revocation::RevocationWindow {
                access_ttl: parts.config.token.access_ttl,
                session_ttl: parts.config.session.absolute_ttl,
            },
            parts.entropy.as_ref(),
            parts.clock.now(),
        )
        .await?;
        Ok(Self {
            stores: parts.stores,
            clock: parts.clock,
            entropy: parts.entropy,
            hashes,
            dummy_hash,
            throttle: LoginThrottle::new(parts.config.throttle),
            config: parts.config,
            session_cache: SessionCache::default(),
            hybrid_csrf_key: parts.master_key.derive("tessera/hybrid-csrf/v1"),
            master_key: parts.master_key,
            tokens,
            usernames: moka::sync::Cache::new(100_000),
            poll: tokio::sync::Mutex::new(()),
        })
    }

    /// The policies in force.
    pub fn config(&self) -> &TesseraConfig {
        &self.config
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Succeeds when every store answers (readiness). A failure drops the
    /// caches and marks revocations stale at once, as a failed revocation
    /// poll does: the store is down, so checks must go to it and fail closed.
    pub async fn check_ready(&self) -> Result<()> {
        if let Err(e) = self.stores.ping().await {
            self.session_cache.invalidate_all();
            self.session_cache.forget_revision();
            self.set_revocations_current(false);
            return Err(e.into());
        }
        if !self.revocations_trusted() {
            let stale = std::io::Error::other("revocations are not known to be current");
            return Err(crate::store::StoreError::Unavailable(Box::new(stale)).into());
        }
        Ok(())
    }
}
