//! Tessera's domain core.
//!
//! Everything that decides something about security lives here: the password
//! policy and hashing, session expiry, CSRF binding, uniform login failure. The
//! HTTP server and the CLI are thin adapters over [`Tessera`]; store backends
//! only persist what this crate decides (see [`store`]).
//!
//! Time ([`Clock`]) and randomness ([`Entropy`]) are inputs, so tests drive
//! expiry with a [`ManualClock`] instead of sleeping.
#![deny(missing_docs)]

pub mod account;
pub mod change;
pub mod client;
pub mod clock;
pub mod csrf;
pub mod device;
pub mod entropy;
pub mod error;
pub mod hybrid;
mod id;
pub mod login;
pub mod master_key;
pub mod memory;
pub mod password;
pub mod refresh;
pub mod revocation;
pub mod scope;
pub mod secret;
pub mod service;
pub mod session;
pub mod session_cache;
pub mod signing_key;
pub mod store;
pub mod throttle;
pub mod token;
pub mod user;

pub use clock::{Clock, Duration, ManualClock, Moment, SystemClock, Timestamp};
pub use entropy::{Entropy, OsEntropy};
pub use error::Error;
pub use service::{Tessera, TesseraConfig};
