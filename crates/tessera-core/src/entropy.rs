//! Randomness as an input: the [`Entropy`] port.
//!
//! Secrets (session cookies, CSRF tokens, salts) are drawn through this port so
//! that the production source is visibly the OS CSPRNG and nothing else.

use std::fmt;

use rand::RngCore;

/// A source of cryptographically secure random bytes.
pub trait Entropy: Send + Sync + fmt::Debug {
    /// Fills `buf` with random bytes. Panics only if the OS cannot provide
    /// randomness, in which case no secret may be issued at all.
    fn fill(&self, buf: &mut [u8]);
}

/// The operating system's CSPRNG (`getrandom(2)` on Linux).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        rand::rngs::OsRng.fill_bytes(buf);
    }
}

/// Convenience: `N` random bytes from `entropy`.
pub fn bytes<const N: usize>(entropy: &dyn Entropy) -> [u8; N] {
    let mut b = [0u8; N];
    entropy.fill(&mut b);
    b
}
