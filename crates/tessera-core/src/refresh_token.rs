//! The refresh token's wire form: which family and generation it is, sealed
//! with a MAC so that only this deployment can mint one.
//!
//! A token is base64url (no padding) of
//! `version (1) ‖ family id (16) ‖ generation (8, big-endian) ‖ nonce (16) ‖ tag (16)`,
//! where the tag is HMAC-SHA-256 over everything before it, truncated to 128
//! bits, under a key derived from the master key. Because a token names its
//! generation and cannot be forged, the store keeps only the *current*
//! token's hash per family: any earlier generation that verifies was issued
//! here and has been consumed, so its presentation is recognised without a
//! row per consumed token. Without the MAC, anyone who learnt a family id
//! (the `sid` claim) could write "generation 0" tokens and get the family
//! revoked; with it, a leaked database alone mints and revokes nothing. The
//! nonce keeps the current token unguessable to someone holding only the
//! master key (the store keeps the SHA-256 of the whole token).
//!
//! Tokens issued before this form (43 characters, a bare 256-bit secret) are
//! [`Presented::Legacy`]: the store maps the one that was current at the
//! upgrade to its family as generation 0.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

use super::FamilyId;
use crate::entropy::{self, Entropy};
use crate::master_key::MasterKey;
use crate::secret::{self, Secret, SecretHash};

/// The label of the MAC key derived from the master key.
const KEY_LABEL: &str = "tessera/refresh-token/v1";
const VERSION: u8 = 1;
const BODY_LEN: usize = 1 + 16 + 8 + 16;
const TAG_LEN: usize = 16;
const RAW_LEN: usize = BODY_LEN + TAG_LEN;
/// Length of an encoded token (base64url of 57 bytes, no padding).
const ENCODED_LEN: usize = 76;

/// A refresh token as presented, once its form is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presented {
    /// A token of this form whose MAC verified.
    Sealed(TokenRef),
    /// A pre-upgrade token: its hash, to be looked up in the store.
    Legacy(SecretHash),
    /// Anything else (wrong length or alphabet, another key, an altered byte).
    Invalid,
}

/// Which token of which family: what a rotation compares and sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRef {
    /// The family it belongs to.
    pub family: FamilyId,
    /// 0 for the login's token, one more for each rotation.
    pub generation: u64,
    /// SHA-256 of the whole token, the family's `current` when it is live.
    pub hash: SecretHash,
}

/// The MAC key (derived per call: one HMAC, cheaper than a rotation's write).
fn mac_key(master: &MasterKey) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, &master.derive(KEY_LABEL))
}

/// The 16 bytes of a family id (its text form is a hyphenated UUID).
fn family_bytes(family: &FamilyId) -> [u8; 16] {
    uuid::Uuid::try_parse(&family.to_string()).map_or([0; 16], |u| u.into_bytes())
}

/// Mints the token of `generation` in `family`.
pub(crate) fn mint(
    master: &MasterKey,
    family: &FamilyId,
    generation: u64,
    entropy: &dyn Entropy,
) -> (Secret, TokenRef) {
    let mut raw = [0u8; RAW_LEN];
    raw[0] = VERSION;
    raw[1..17].copy_from_slice(&family_bytes(family));
    raw[17..25].copy_from_slice(&generation.to_be_bytes());
    raw[25..BODY_LEN].copy_from_slice(&entropy::bytes::<16>(entropy));
    let tag = hmac::sign(&mac_key(master), &raw[..BODY_LEN]);
    raw[BODY_LEN..].copy_from_slice(&tag.as_ref()[..TAG_LEN]);
    let secret = Secret::from_presented(&URL_SAFE_NO_PAD.encode(raw));
    let hash = secret.hash();
    (secret, TokenRef { family: *family, generation, hash })
}

/// Reads a presented token. Never touches a store: junk and forgeries stop here.
pub(crate) fn parse(master: &MasterKey, presented: &str) -> Presented {
    if presented.len() == secret::ENCODED_LEN {
        let legacy = Secret::from_presented(presented);
        return if legacy.is_well_formed() {
            Presented::Legacy(legacy.hash())
        } else {
            Presented::Invalid
        };
    }
    if presented.len() != ENCODED_LEN {
        return Presented::Invalid;
    }
    let Ok(raw) = URL_SAFE_NO_PAD.decode(presented) else { return Presented::Invalid };
    let Ok(raw) = <[u8; RAW_LEN]>::try_from(raw.as_slice()) else { return Presented::Invalid };
    let tag = hmac::sign(&mac_key(master), &raw[..BODY_LEN]);
    // Constant time: a byte-wise early exit would let a forger learn the tag.
    let tag_ok: bool = tag.as_ref()[..TAG_LEN].ct_eq(&raw[BODY_LEN..]).into();
    if !tag_ok || raw[0] != VERSION {
        return Presented::Invalid;
    }
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&raw[1..17]);
    let mut generation = [0u8; 8];
    generation.copy_from_slice(&raw[17..25]);
    // The MAC held, so these bytes are a family id this deployment wrote.
    let Some(family) = FamilyId::parse(&uuid::Uuid::from_bytes(uuid).hyphenated().to_string())
    else {
        return Presented::Invalid;
    };
    Presented::Sealed(TokenRef {
        family,
        generation: u64::from_be_bytes(generation),
        hash: Secret::from_presented(presented).hash(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsEntropy;

    #[test]
    fn refresh_token_roundtrips_family_and_generation() {
        let key = MasterKey::generate(&OsEntropy);
        let family = FamilyId::generate(&OsEntropy);
        let (secret, r) = mint(&key, &family, 41, &OsEntropy);
        assert_eq!(secret.expose().len(), ENCODED_LEN);
        assert_eq!(parse(&key, secret.expose()), Presented::Sealed(r));
        assert_eq!(r.generation, 41);
        assert_eq!(r.family, family);
    }

    #[test]
    fn refresh_token_forged_or_altered_is_invalid() {
        let key = MasterKey::generate(&OsEntropy);
        let (secret, _) = mint(&key, &FamilyId::generate(&OsEntropy), 3, &OsEntropy);
        let other = MasterKey::generate(&OsEntropy);
        assert_eq!(parse(&other, secret.expose()), Presented::Invalid, "another deployment's");
        let mut raw = URL_SAFE_NO_PAD.decode(secret.expose()).unwrap();
        raw[20] ^= 1; // the generation
        assert_eq!(parse(&key, &URL_SAFE_NO_PAD.encode(raw)), Presented::Invalid);
        for junk in ["", "x", &"é".repeat(38), &"A".repeat(ENCODED_LEN), &"a".repeat(10_000)] {
            assert_eq!(parse(&key, junk), Presented::Invalid, "{junk:.10}");
        }
    }

    #[test]
    fn refresh_token_legacy_form_is_recognised_by_hash() {
        let key = MasterKey::generate(&OsEntropy);
        let old = Secret::generate(&OsEntropy);
        assert_eq!(parse(&key, old.expose()), Presented::Legacy(old.hash()));
        assert_eq!(parse(&key, &"!".repeat(43)), Presented::Invalid);
    }
}
