//! OAuth clients: the built-in first-party public client and registered ones.
//!
//! A confidential client authenticates with HTTP Basic (RFC 6749 §2.3.1). Its
//! secret is a 256-bit random value shown once at registration; stores keep
//! only its SHA-256, compared in constant time.

use std::fmt;

use async_trait::async_trait;
use subtle::ConstantTimeEq;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::secret::{Secret, SecretHash};
use crate::service::Tessera;
use crate::store::StoreError;

/// The id of the built-in public client used by first-party logins that name none.
pub const FIRST_PARTY_CLIENT: &str = "tessera";

/// A registered client.
#[derive(Clone, PartialEq, Eq)]
pub struct Client {
    /// Client id (1-64 of `A-Z a-z 0-9 . _ -`).
    pub id: String,
    /// SHA-256 of the secret; `None` for a public client.
    pub secret_hash: Option<SecretHash>,
    /// Space-separated scopes the client may be granted; empty means no limit
    /// beyond the user's own scopes (public clients) or nothing (confidential
    /// clients in `client_credentials`).
    pub scope: String,
    /// Registration time.
    pub created_at: Timestamp,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("confidential", &self.is_confidential())
            .field("scope", &self.scope)
            .finish()
    }
}

impl Client {
    /// The built-in first-party public client.
    pub fn first_party() -> Self {
        Self {
            id: FIRST_PARTY_CLIENT.to_owned(),
            secret_hash: None,
            scope: String::new(),
            created_at: Timestamp::from_unix(0),
        }
    }

    /// Whether the client has a secret.
    pub fn is_confidential(&self) -> bool {
        self.secret_hash.is_some()
    }
}

/// Proof that a request authenticated as a confidential client.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient(Client);

impl AuthenticatedClient {
    /// The client.
    pub fn client(&self) -> &Client {
        &self.0
    }
}

/// Persistence of registered clients.
#[async_trait]
pub trait ClientStore: Send + Sync + fmt::Debug {
    /// Inserts `client`. `Conflict` if the id exists.
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError>;
    /// The client with `id`, or `None`.
    async fn find_client(&self, id: &str) -> Result<Option<Client>, StoreError>;
    /// Every client, oldest first.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
}

fn valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Tessera {
    /// Registers a client. Returns it and, for a confidential one, its
    /// secret, which is not stored and cannot be shown again.
    pub async fn register_client(
        &self,
        id: &str,
        confidential: bool,
        scope: &str,
    ) -> Result<(Client, Option<Secret>)> {
        if !valid_client_id(id) || id == FIRST_PARTY_CLIENT {
            return Err(Error::InvalidRequest(
                "client id must be 1 to 64 of A-Z a-z 0-9 . _ - and not the built-in one".into(),
            ));
        }
        let secret = confidential.then(|| Secret::generate(self.entropy.as_ref()));
        let client = Client {
            id: id.to_owned(),
            secret_hash: secret.as_ref().map(Secret::hash),
            scope: crate::scope::normalize(scope)?,
            created_at: self.clock.now(),
        };
        match self.stores.clients.insert_client(&client).await {
            Ok(()) => Ok((client, secret)),
            Err(StoreError::Conflict(_)) => Err(Error::Conflict("client id is taken".into())),
            Err(e) => Err(e.into()),
        }
    }

    /// The client named `id` (the built-in one included), or `None`.
    pub async fn find_client(&self, id: &str) -> Result<Option<Client>> {
        if id == FIRST_PARTY_CLIENT {
            return Ok(Some(Client::first_party()));
        }
        if !valid_client_id(id) {
            return Ok(None);
        }
        Ok(self.stores.clients.find_client(id).await?)
    }

    /// Authenticates a confidential client by id and secret. Every failure is
    /// the same `InvalidClient`.
    pub async fn authenticate_client(&self, id: &str, secret: &str) -> Result<AuthenticatedClient> {
        let client = self.find_client(id).await?;
        let presented = Secret::from_presented(secret).hash();
        let Some(client) = client else {
            return Err(Error::InvalidClient("unknown client"));
        };
        let Some(stored) = client.secret_hash else {
            return Err(Error::InvalidClient("public client presented a secret"));
        };
        // Constant-time over the digests (timing).
        if bool::from(stored.0.ct_eq(&presented.0)) {
            Ok(AuthenticatedClient(client))
        } else {
            Err(Error::InvalidClient("wrong client secret"))
        }
    }

    /// Every registered client.
    pub async fn list_clients(&self) -> Result<Vec<Client>> {
        Ok(self.stores.clients.list_clients().await?)
    }
}
