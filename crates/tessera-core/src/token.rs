//! Token mode: the key ring, access-token issuance and verification, RFC 7009
//! revocation and RFC 7662 introspection.
//!
//! Access tokens are RFC 9068 JWTs signed with the current key of a ring kept
//! in the store (private parts sealed under the master key) and in memory.
//! Verification is offline (signature and claims, in `tessera-token`) and
//! then checked against the in-memory [`RevocationIndex`], so it needs no
//! store round trip. Both the ring and the index are reloaded whenever the
//! store's revision moves, so a rotation or revocation made by another
//! process (the CLI, another node) is seen within the poll period.

use crate::change::Change;
use std::sync::{Arc, RwLock};

use aws_lc_rs::rand::SystemRandom;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tessera_token::{
    AccessClaims, Algorithm, Audience, KeyRing, RingKey, SigningKey, TokenError, Validation,
    VerifiedAccessToken,
};

use crate::client::{AuthenticatedClient, Client, FIRST_PARTY_CLIENT};
use crate::clock::{Duration, Timestamp};
use crate::entropy;
use crate::error::{Error, Result};
use crate::refresh::{FamilyId, FamilyKind, FamilyRequest, IssuedRefresh, RefreshFamily};
use crate::revocation::RevocationIndex;
use crate::scope;
use crate::service::Tessera;
use crate::session::ClientInfo;
use crate::signing_key::{KeyState, StoredKey};
use crate::user::{User, UserId};

/// Token-mode settings.
#[derive(Clone, Debug)]
pub struct TokenPolicy {
    /// `iss` of every token; also what verification requires.
    pub issuer: String,
    /// `aud` of access tokens; also what verification requires.
    pub audience: String,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Clock leeway for `exp`, `nbf` and `iat` (at most 60 s).
    pub leeway: Duration,
    /// The algorithm of every key in the ring (one family per deployment).
    pub algorithm: Algorithm,
    /// How long a key signs before the next one takes over.
    pub rotation_interval: Duration,
    /// How many verified tokens a node remembers, so that a token presented
    /// again skips its signature check (revocation is still checked every
    /// time); 0 checks every presentation in full.
    pub verified_cache_capacity: u64,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            audience: "http://127.0.0.1:8080".into(),
            access_ttl: Duration::seconds(900),
            leeway: Duration::seconds(30),
            algorithm: Algorithm::EdDSA,
            rotation_interval: Duration::seconds(30 * 86_400),
            verified_cache_capacity: 100_000,
        }
    }
}

impl TokenPolicy {
    /// How long verifiers may cache the JWKS (`Cache-Control: max-age`). The
    /// next key is published a whole rotation interval before it signs, so a
    /// cache lifetime of a quarter of that (at most five minutes) never lets
    /// a verifier meet an unknown `kid` on a valid token.
    pub fn jwks_max_age(&self) -> Duration {
        Duration::seconds((self.rotation_interval.as_secs() / 4).clamp(1, 300))
    }

    /// How long a retired key stays published: until every token it signed
    /// has expired, leeway included.
    pub fn retired_key_lifetime(&self) -> Duration {
        Duration::seconds(self.access_ttl.as_secs() + self.leeway.as_secs())
    }

    fn validation(&self) -> Validation {
        Validation::new(self.issuer.clone(), self.audience.clone())
            .with_leeway_secs(self.leeway.as_secs().min(60))
    }
}

/// A signed access token.
#[derive(Debug, Clone)]
pub struct IssuedAccess {
    /// The compact JWS.
    pub token: String,
    /// Seconds until `exp`.
    pub expires_in: i64,
    /// The scope granted.
    pub scope: String,
}

/// What a login or a refresh hands out.
#[derive(Debug)]
pub struct TokenGrant {
    /// The access token.
    pub access: IssuedAccess,
    /// The refresh token and its family.
    pub refresh: IssuedRefresh,
}

/// A bearer token that passed signature, claim and revocation checks. Only
/// [`Tessera::verify_access_token`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedBearer(Arc<VerifiedAccessToken>);

impl VerifiedBearer {
    /// The token's claims.
    pub fn claims(&self) -> &AccessClaims {
        self.0.claims()
    }

    /// The user the token speaks for; `None` for a client's own token.
    pub fn user_id(&self) -> Option<UserId> {
        self.0.claims().sid.as_ref().and(UserId::parse(&self.0.claims().sub))
    }

    /// The refresh family (`sid`), if any.
    pub fn family_id(&self) -> Option<FamilyId> {
        self.0.claims().sid.as_deref().and_then(FamilyId::parse)
    }

    /// Whether every space-separated scope in `required` was granted.
    pub fn has_scopes(&self, required: &str) -> bool {
        scope::covers(&self.claims().scope, required)
    }
}

/// An RFC 7662 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Introspection {
    /// The token is live.
    Active {
        /// Its claims.
        claims: Box<AccessClaims>,
        /// The user's name, when the subject is a user.
        username: Option<String>,
    },
    /// Unknown, expired, revoked, or not an access token of ours.
    Inactive,
}

/// The in-memory token state: the key ring, the revocation index, and the
/// verified-token cache.
#[derive(Debug)]
pub(crate) struct TokenState {
    ring: RwLock<Arc<KeyRing>>,
    pub(crate) revocations: RevocationIndex,
    /// Tokens whose signature and claims verified, keyed by the whole token:
    /// the same token is presented many times in its life, and the signature
    /// check is the ceiling of bearer verification. Only a token that passed
    /// full verification gets in; its time claims are re-checked on every
    /// hit (never served past `exp`), revocation is checked on every request
    /// regardless, and a key-ring change empties it.
    verified: moka::sync::Cache<String, Arc<VerifiedAccessToken>>,
    /// Whether the last revocation poll reached the store. While it cannot,
    /// revocations made elsewhere may be missing here, so bearer
    /// verification fails closed.
    pub(crate) revocations_current: std::sync::atomic::AtomicBool,
    /// Whether the change feed (if any) is connected and caught up. While it
    /// is not, revocations made elsewhere may be missing here: fail closed.
    pub(crate) feed_current: std::sync::atomic::AtomicBool,
}

impl TokenState {
    fn ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.ring.read().unwrap_or_else(|p| p.into_inner()))
    }

    fn set_ring(&self, ring: KeyRing) {
        *self.ring.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ring);
        self.verified.invalidate_all();
    }

    fn new(ring: KeyRing, policy: &TokenPolicy) -> Self {
        let ttl = std::time::Duration::from_secs(policy.access_ttl.as_secs().max(1).unsigned_abs());
        Self {
            ring: RwLock::new(Arc::new(ring)),
            revocations: RevocationIndex::default(),
            verified: moka::sync::Cache::builder()
                .max_capacity(policy.verified_cache_capacity)
                .time_to_live(ttl + std::time::Duration::from_secs(60))
                .build(),
            revocations_current: std::sync::atomic::AtomicBool::new(true),
            feed_current: std::sync::atomic::AtomicBool::new(true),
        }
    }
}

fn new_kid(entropy: &dyn crate::Entropy) -> String {
    URL_SAFE_NO_PAD.encode(entropy::bytes::<16>(entropy))
}

fn token_error(e: TokenError) -> Error {
    let why = match e {
        TokenError::TooLong => "token too long",
        TokenError::Malformed(_) => "malformed token",
        TokenError::ForbiddenHeader(_) => "forbidden header member",
        TokenError::MissingKid | TokenError::UnknownKey => "unknown key",
        TokenError::AlgorithmMismatch => "algorithm mismatch",
        TokenError::WrongType => "wrong typ",
        TokenError::BadSignature => "bad signature",
        TokenError::Expired => "expired",
        TokenError::NotYetValid => "not yet valid",
        TokenError::IssuedInFuture => "issued in the future",
        TokenError::WrongIssuer => "wrong issuer",
        TokenError::WrongAudience => "wrong audience",
        _ => "invalid token",
    };
    Error::InvalidToken(why)
}

/// The time rules of `verify_at`, for a token that already passed them once.
fn times_hold(c: &AccessClaims, now: i64, leeway: i64) -> bool {
    now < c.exp.saturating_add(leeway)
        && c.nbf.is_none_or(|nbf| now.saturating_add(leeway) >= nbf)
        && c.iat <= now.saturating_add(leeway)
}

impl Tessera {
    /// Loads the key ring from the store, creating the first keys if there
    /// are none, and the revocation index. Called once at start.
    pub(crate) async fn load_token_state(
        stores: &crate::store::Stores,
        master: &crate::master_key::MasterKey,
        policy: &TokenPolicy,
        window: &crate::revocation::RevocationWindow,
        entropy: &dyn crate::Entropy,
        now: Timestamp,
    ) -> Result<TokenState> {
        let mut stored = stores.keys.list_keys().await?;
        if stored.is_empty() {
            let current = Self::new_stored_key(master, policy, entropy, KeyState::Current, now)?;
            let next = Self::new_stored_key(master, policy, entropy, KeyState::Next, now)?;
            stores.keys.insert_initial_keys(&current, &next).await?;
            stored = stores.keys.list_keys().await?;
        }
        let ring = Self::ring_from_stored(master, policy, &stored)?;
        let state = TokenState::new(ring, policy);
        let ticket = state.revocations.begin_reload();
        let set = stores.revocations.load_revocations(&window.cutoffs_at(now)).await?;
        state.revocations.replace(set, ticket);
        Ok(state)
    }

    fn new_stored_key(
        master: &crate::master_key::MasterKey,
        policy: &TokenPolicy,
        entropy: &dyn crate::Entropy,
        state: KeyState,
        now: Timestamp,
    ) -> Result<StoredKey> {
        let kid = new_kid(entropy);
        // Key generation draws from aws-lc's own DRBG (seeded by the OS):
        // RSA generation cannot take another source.
        let key = SigningKey::generate(policy.algorithm, &kid, &SystemRandom::new())
            .map_err(|e| Error::Internal(format!("key generation: {e}")))?;
        let private =
            key.to_pkcs8_der().map_err(|e| Error::Internal(format!("key export: {e}")))?;
        let public_jwk = key
            .public_jwk()
            .map(|j| serde_json::to_string(&j))
            .transpose()
            .map_err(|e| Error::Internal(format!("jwk encoding: {e}")))?;
        Ok(StoredKey {
            sealed_private: master.seal(&kid, &private, entropy)?,
            kid,
            alg: policy.algorithm.jose_name().to_owned(),
            state,
            public_jwk,
            created_at: now,
            activated_at: (state == KeyState::Current).then_some(now),
            retired_at: None,
        })
    }

    fn ring_from_stored(
        master: &crate::master_key::MasterKey,
        policy: &TokenPolicy,
        stored: &[StoredKey],
    ) -> Result<KeyRing> {
        let mut keys = Vec::with_capacity(stored.len());
        for k in stored {
            if k.alg != policy.algorithm.jose_name() {
                return Err(Error::Internal(format!(
                    "the key ring holds {} keys but the configured signing algorithm is {}; \
                     one deployment signs with one algorithm",
                    k.alg,
                    policy.algorithm.jose_name()
                )));
            }
            let der = master.open(&k.kid, &k.sealed_private)?;
            let key = SigningKey::from_pkcs8(policy.algorithm, &k.kid, &der)
                .map_err(|e| Error::Internal(format!("stored key {}: {e}", k.kid)))?;
            keys.push(RingKey::new(
                key,
                k.state,
                k.created_at.unix(),
                k.activated_at.map(Timestamp::unix),
                k.retired_at.map(Timestamp::unix),
            ));
        }
        KeyRing::new(keys).map_err(|e| Error::Internal(format!("stored key ring: {e}")))
    }

    /// Reloads the key ring and the revocation index from the store.
    pub(crate) async fn reload_token_state(&self) -> Result<()> {
        let policy = &self.config.token;
        let now = self.clock.now();
        let ticket = self.tokens.revocations.begin_reload();
        let cutoffs = self.revocation_window().cutoffs_at(now);
        let set = self.stores.revocations.load_revocations(&cutoffs).await?;
        self.tokens.revocations.replace(set, ticket);
        let stored = self.stores.keys.list_keys().await?;
        self.tokens.set_ring(Self::ring_from_stored(&self.master_key, policy, &stored)?);
        Ok(())
    }

    /// Whether this process's revocation state is known complete: the last
    /// poll reached the store and the change feed, if any, is caught up.
    /// While it is not, bearer checks fail closed and readiness is 503.
    pub fn revocations_trusted(&self) -> bool {
        use std::sync::atomic::Ordering::Acquire;
        self.tokens.revocations_current.load(Acquire) && self.tokens.feed_current.load(Acquire)
    }

    /// Records whether the revocation poll reached the store.
    pub(crate) fn set_revocations_current(&self, current: bool) {
        self.tokens.revocations_current.store(current, std::sync::atomic::Ordering::Release);
    }

    /// The current key ring (for the JWKS and `/admin/keys`).
    pub fn key_ring(&self) -> Arc<KeyRing> {
        self.tokens.ring()
    }

    /// Rotates the ring now: next → current, current → retired, a new next.
    /// Returns the new current key id. Tokens already issued stay valid:
    /// their key stays published until they expire.
    pub async fn rotate_keys(&self) -> Result<String> {
        for _ in 0..3 {
            let ring = self.tokens.ring();
            let now = self.clock.now();
            let next = Self::new_stored_key(
                &self.master_key,
                &self.config.token,
                self.entropy.as_ref(),
                KeyState::Next,
                now,
            )?;
            let done = self.stores.keys.rotate_keys(ring.current().kid(), &next, now).await?;
            self.reload_token_state().await?;
            if done {
                self.announce(Change::KeysChanged).await;
                return Ok(self.tokens.ring().current().kid().to_owned());
            }
        }
        Err(Error::Conflict("the key ring changed concurrently; retry".into()))
    }

    /// Rotates when the current key has signed for a whole rotation interval,
    /// and deletes retired keys whose tokens have all expired. For a periodic task.
    pub async fn maintain_keys(&self) -> Result<()> {
        let now = self.clock.now();
        let ring = self.tokens.ring();
        let current = ring.find(ring.current().kid()).and_then(|k| k.activated_at());
        let due = current
            .map(Timestamp::from_unix)
            .is_some_and(|at| now >= at.plus(self.config.token.rotation_interval));
        if due {
            let kid = self.rotate_keys().await?;
            tracing::info!(%kid, "signing key rotated on schedule");
        }
        let cutoff = now.minus(self.config.token.retired_key_lifetime());
        if self.stores.keys.delete_retired_keys(cutoff).await? > 0 {
            self.reload_token_state().await?;
            self.announce(Change::KeysChanged).await;
        }
        // Revocations and revoked families are kept while their credentials
        // could still be accepted somewhere (leeway and clock skew included),
        // not merely until their nominal expiry.
        let cutoffs = self.revocation_window().cutoffs_at(now);
        self.stores.revocations.purge_revocations(&cutoffs).await?;
        self.stores.refresh.purge_families(cutoffs.families_used_since).await?;
        Ok(())
    }

    /// How long each kind of revocation must be kept under this policy.
    pub(crate) fn revocation_window(&self) -> crate::revocation::RevocationWindow {
        crate::revocation::RevocationWindow {
            access_ttl: self.config.token.access_ttl,
            session_ttl: self.config.session.absolute_ttl,
        }
    }

    /// Signs an access token.
    fn issue_access(
        &self,
        sub: String,
        client_id: &str,
        scope: String,
        family: Option<&RefreshFamily>,
    ) -> Result<IssuedAccess> {
        let policy = &self.config.token;
        let now = self.clock.now();
        let exp = now.plus(policy.access_ttl);
        let claims = AccessClaims {
            iss: policy.issuer.clone(),
            sub,
            aud: Audience::One(policy.audience.clone()),
            exp: exp.unix(),
            iat: now.unix(),
            nbf: None,
            jti: URL_SAFE_NO_PAD.encode(entropy::bytes::<16>(self.entropy.as_ref())),
            client_id: client_id.to_owned(),
            scope: scope.clone(),
            sid: family.map(|f| f.id.to_string()),
            auth_time: family.map(|f| f.created_at.unix()),
        };
        let token = tessera_token::sign_at(&self.tokens.ring(), &claims)
            .map_err(|e| Error::Internal(format!("signing: {e}")))?;
        Ok(IssuedAccess { token, expires_in: policy.access_ttl.as_secs(), scope })
    }

    /// A public client by id (`None` means the built-in first-party one).
    /// Confidential clients cannot use password logins: they have no place
    /// to present their secret there.
    async fn public_client(&self, client_id: Option<&str>) -> Result<Client> {
        match self.find_client(client_id.unwrap_or(FIRST_PARTY_CLIENT)).await? {
            Some(c) if !c.is_confidential() => Ok(c),
            Some(_) => Err(Error::InvalidClient("confidential client used a public login")),
            None => Err(Error::InvalidClient("unknown client")),
        }
    }

    /// First-party token login (`/v1/token/login`, and hybrid login with
    /// `kind: Hybrid`): the same uniform failure as session login.
    pub async fn login_for_tokens(
        &self,
        username: &str,
        password: &str,
        client_id: Option<&str>,
        scope: Option<&str>,
        kind: FamilyKind,
        client: ClientInfo,
    ) -> Result<(User, TokenGrant)> {
        let app = self.public_client(client_id).await?;
        // What the request and the client alone decide is answered before
        // the password is checked (400 `invalid_scope`). What depends on the
        // user is answered after it, as a failed login, counted: a distinct
        // answer would tell a guesser that the password was right.
        if let Some(requested) = scope {
            let malformed = |_| Error::InvalidScope("malformed scope".into());
            scope::normalize(requested).map_err(malformed)?;
            if !app.scope.is_empty() {
                scope::narrow(Some(requested), &app.scope)?;
            }
        }
        let (user, scope) = self
            .authenticate_for(username, password, &client, |user| {
                let allowed = if app.scope.is_empty() {
                    user.scope.clone()
                } else {
                    scope::narrow(Some(&app.scope), &user.scope).unwrap_or_default()
                };
                scope::narrow(scope, &allowed)
            })
            .await?;
        let request =
            FamilyRequest { client_id: app.id.clone(), scope: scope.clone(), kind, client };
        let refresh = self.start_family(&user, request).await?;
        let access =
            self.issue_access(user.id.to_string(), &app.id, scope, Some(&refresh.family))?;
        Ok((user, TokenGrant { access, refresh }))
    }

    /// The refresh grant: rotates the refresh token and signs a new access
    /// token whose scope may narrow (never grow) the family's.
    /// `arrived_at` is when the request arrived (see [`Self::rotate_refresh`]).
    pub async fn refresh_tokens(
        &self,
        refresh_token: &str,
        client_id: &str,
        scope: Option<&str>,
        arrived_at: crate::clock::Moment,
    ) -> Result<TokenGrant> {
        let refresh = self.rotate_refresh(refresh_token, client_id, scope, arrived_at).await?;
        let granted = scope::narrow(scope, &refresh.family.scope)?;
        let f = &refresh.family;
        let access = self.issue_access(f.user_id.to_string(), &f.client_id, granted, Some(f))?;
        Ok(TokenGrant { access, refresh })
    }

    /// `client_credentials`: a token whose subject is the client itself.
    pub fn client_credentials(
        &self,
        client: &AuthenticatedClient,
        scope: Option<&str>,
    ) -> Result<IssuedAccess> {
        let c = client.client();
        let granted = scope::narrow(scope, &c.scope)?;
        self.issue_access(c.id.clone(), &c.id, granted, None)
    }

    /// Verifies a bearer access token: signature with the key `kid` names and
    /// its algorithm, claims at `now` (or, for a token seen before, its time
    /// claims again from the verified-token cache), then revocation (`jti`,
    /// `sid`, the user's not-before) on every call. Every failure is
    /// `InvalidToken`.
    pub fn verify_access_token(&self, token: &str) -> Result<VerifiedBearer> {
        if !self.revocations_trusted() {
            let stale = std::io::Error::other("revocations cannot be refreshed from the store");
            return Err(Error::Store(crate::store::StoreError::Unavailable(Box::new(stale))));
        }
        let bearer = VerifiedBearer(self.verify_signed_claims(token)?);
        let c = bearer.claims();
        self.tokens
            .revocations
            .check(
                &c.jti,
                bearer.family_id().as_ref(),
                bearer.user_id().as_ref(),
                Timestamp::from_unix(c.iat),
            )
            .map_err(|_| Error::InvalidToken("revoked"))?;
        Ok(bearer)
    }

    /// The signature and claim checks of
    /// [`verify_access_token`](Self::verify_access_token), without
    /// revocation: for revoking a token, which needs no knowledge of other
    /// revocations and must work (durably) whatever their freshness.
    fn verify_signed_claims(&self, token: &str) -> Result<Arc<VerifiedAccessToken>> {
        let now = self.clock.now().unix();
        let leeway = self.config.token.leeway.as_secs().min(60);
        let caching = self.config.token.verified_cache_capacity > 0;
        let cached = caching
            .then(|| self.tokens.verified.get(token))
            .flatten()
            .filter(|v| times_hold(v.claims(), now, leeway));
        let verified = match cached {
            Some(v) => v,
            None => {
                let ring = self.tokens.ring();
                let validation = self.config.token.validation();
                let v = tessera_token::verify_at(token, ring.as_ref(), &validation, now)
                    .map_err(token_error)?;
                let v = Arc::new(v);
                if caching {
                    self.tokens.verified.insert(token.to_owned(), Arc::clone(&v));
                }
                v
            }
        };
        Ok(verified)
    }

    /// RFC 7009: revokes a refresh token's family or an access token, if it
    /// belongs to `client_id`. Unknown tokens and other clients' tokens are
    /// left alone and still succeed.
    pub async fn revoke_token(
        &self,
        token: &str,
        hint: Option<&str>,
        client_id: &str,
    ) -> Result<()> {
        if hint != Some("access_token") && self.revoke_refresh_token(token, client_id).await? {
            return Ok(());
        }
        // Only the signature and claims decide whether this is one of our
        // tokens: revoking needs no other revocation, and a stale or
        // unreachable revocation feed must never turn into a false 200.
        let Ok(verified) = self.verify_signed_claims(token) else { return Ok(()) };
        let c = verified.claims();
        if c.client_id != client_id {
            return Ok(());
        }
        let exp = Timestamp::from_unix(c.exp);
        self.stores.revocations.revoke_access_token(&c.jti, exp).await?;
        self.announce(Change::TokenRevoked { jti: c.jti.clone(), expires_at: exp }).await;
        Ok(())
    }

    /// Revokes the family of a refresh token of `client_id`; `false` if the
    /// token is not a known refresh token of that client.
    async fn revoke_refresh_token(&self, token: &str, client_id: &str) -> Result<bool> {
        match self.resolve_refresh(token).await?.map(|(_, f)| f) {
            Some(f) if f.client_id == client_id => {
                self.revoke_family(&f.id).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// RFC 7662 introspection of an access token, for an authenticated client.
    pub async fn introspect(
        &self,
        token: &str,
        _caller: &AuthenticatedClient,
    ) -> Result<Introspection> {
        let bearer = match self.verify_access_token(token) {
            Ok(bearer) => bearer,
            // "Inactive" would be a guess: the revocations are not known.
            Err(e @ Error::Store(_)) => return Err(e),
            Err(_) => return Ok(Introspection::Inactive),
        };
        let username = match bearer.user_id() {
            Some(id) => self.stores.users.find_user(&id).await?.map(|u| u.username.to_string()),
            None => None,
        };
        Ok(Introspection::Active { claims: Box::new(bearer.claims().clone()), username })
    }
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
