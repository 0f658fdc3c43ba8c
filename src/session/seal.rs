//! Sealing of what a shared store holds ([`super::redis`]): every record is encrypted and
//! authenticated (AES-256-GCM, *ring*) under a key from the configuration
//! (`[session] seal_keys`), bound to where it is stored, and the names of back-channel index
//! entries are keyed hashes, so a copy of the store gives neither personal data nor a token,
//! and a writer can neither read, forge nor move a record.
//!
//! A sealed value is `01 | key id (4) | nonce (12) | ciphertext | tag (16)`. The key id is a
//! keyed hash of the key (it says which key sealed, never anything about it). The nonce is
//! random: at most 2^32 seals per key keep AES-GCM's bound, far beyond a key's life here.
//! The associated data is a fixed context, then what the caller names (the deployment's public
//! URL, the Redis key and field): a record opens only under the name it was sealed for.
//!
//! Several keys: the first seals and names new index entries, every key opens and is looked
//! up (rotation: put the new key first, keep the old one until what it sealed has expired,
//! the absolute session timeout).
//!
//! Invariants (`tests::*`):
//! - A record opens only with a configured key, unaltered, under the name it was sealed for
//!   (`altered_copied_or_foreign_records_do_not_open`).
//! - Keys never print (`Debug` shows how many there are).
//! - Keys are 32 bytes from the configuration, never generated per process (replicas must
//!   share them).

use crate::config::{self, SealKeyError, Secret};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hmac;
use std::fmt;

const VERSION: u8 = 1;
const KID_LEN: usize = 4;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KID_LEN + NONCE_LEN;
/// Fixed context in every associated data: a record sealed by something else never opens.
const CONTEXT: &[u8] = b"guichet sealed record v1\0";

/// Why a sealed value does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Not a sealed value of this version (truncated, or written by something else).
    #[error("not a sealed record")]
    Malformed,
    /// Sealed with a key that is not configured here.
    #[error("sealed with an unknown key")]
    UnknownKey,
    /// Altered, or stored under another name than the one it was sealed for.
    #[error("altered or moved record")]
    Refused,
}

struct Key {
    id: [u8; KID_LEN],
    aead: LessSafeKey,
    index: hmac::Key,
}

/// The configured keys: the first seals, all open.
pub struct Sealer {
    keys: Vec<Key>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealer({} keys)", self.keys.len())
    }
}

/// A new key for `seal_keys`, base64 (`guichet keygen --alg A256GCM`).
pub fn generate_key() -> String {
    STANDARD.encode(crate::crypto::random_bytes::<32>())
}

fn derive(master: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, master);
    let mut out = [0u8; 32];
    out.copy_from_slice(hmac::sign(&key, label).as_ref());
    out
}

impl Sealer {
    /// The keys of `[session] seal_keys`, in order; checked for format and duplicates
    /// ([`config::seal_keys`], which already checked them at start).
    pub fn new(secrets: &[Secret]) -> Result<Sealer, SealKeyError> {
        config::seal_keys(secrets).map(|keys| Sealer::from_raw(keys.into_iter()))
    }

    fn from_raw(keys: impl Iterator<Item = [u8; 32]>) -> Sealer {
        let keys = keys
            .map(|master| {
                let aead = derive(&master, b"guichet seal: aes-256-gcm");
                let mut id = [0u8; KID_LEN];
                id.copy_from_slice(&derive(&master, b"guichet seal: key id")[..KID_LEN]);
                Key {
                    id,
                    // A 32-byte key is what AES-256-GCM takes: this cannot fail.
                    aead: LessSafeKey::new(
                        UnboundKey::new(&AES_256_GCM, &aead)
                            .unwrap_or_else(|_| unreachable!("32-byte AES-256 key")),
                    ),
                    index: hmac::Key::new(
                        hmac::HMAC_SHA256,
                        &derive(&master, b"guichet seal: index names"),
                    ),
                }
            })
            .collect();
        Sealer { keys }
    }

    /// A sealer with one random key (tests and benchmarks of a single process).
    pub fn ephemeral() -> Sealer {
        Sealer::from_raw(std::iter::once(crate::crypto::random_bytes::<32>()))
    }

    fn aad(name: &[u8]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(CONTEXT.len() + name.len());
        aad.extend_from_slice(CONTEXT);
        aad.extend_from_slice(name);
        aad
    }

    /// Encrypts and authenticates `plain` for the place `name` (with the first key).
    pub fn seal(&self, name: &[u8], plain: &[u8]) -> Vec<u8> {
        let key = &self.keys[0];
        let nonce = crate::crypto::random_bytes::<NONCE_LEN>();
        let mut out = Vec::with_capacity(HEADER_LEN + plain.len() + TAG_LEN);
        out.push(VERSION);
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let mut body = out.split_off(HEADER_LEN);
        // Sealing only fails for inputs larger than GCM allows (64 GiB): not a record.
        key.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(name)),
                &mut body,
            )
            .unwrap_or_else(|_| unreachable!("record larger than AES-GCM allows"));
        out.extend_from_slice(&body);
        out
    }

    /// The plaintext of `sealed` if it was sealed for `name` with a configured key and not
    /// altered since.
    pub fn open(&self, name: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < HEADER_LEN + TAG_LEN || sealed[0] != VERSION {
            return Err(OpenError::Malformed);
        }
        let id = &sealed[1..1 + KID_LEN];
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or(OpenError::UnknownKey)?;
        let nonce = Nonce::try_assume_unique_for_key(&sealed[1 + KID_LEN..HEADER_LEN])
            .map_err(|_| OpenError::Malformed)?;
        let mut body = sealed[HEADER_LEN..].to_vec();
        let plain = key
            .aead
            .open_in_place(nonce, Aad::from(Self::aad(name)), &mut body)
            .map_err(|_| OpenError::Refused)?;
        Ok(plain.to_vec())
    }

    /// The keyed name of `data` under each key, the first key's first: a name that says
    /// nothing of `data` to whoever does not hold a key.
    pub fn names(&self, data: &[u8]) -> Vec<[u8; 32]> {
        self.keys
            .iter()
            .map(|k| {
                let mut out = [0u8; 32];
                out.copy_from_slice(hmac::sign(&k.index, data).as_ref());
                out
            })
            .collect()
    }

    /// The keyed name of `data` under the first key (where new entries go).
    pub fn name(&self, data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(hmac::sign(&self.keys[0].index, data).as_ref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::seal_key;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn secret(v: &str, src: &str) -> Secret {
        Secret::inline(v, src)
    }

    #[test]
    fn keys_are_32_bytes_in_base64_or_hex_and_never_print() {
        let b64 = generate_key();
        assert_eq!(b64.len(), 44);
        let raw = seal_key(&secret(&b64, "env:A")).unwrap();
        let hexed = hex::encode(raw);
        assert_eq!(seal_key(&secret(&hexed, "env:B")).unwrap(), raw);
        let url = URL_SAFE_NO_PAD.encode(raw);
        assert_eq!(seal_key(&secret(&url, "env:C")).unwrap(), raw);
        for bad in [
            "",
            "short",
            &b64[..40],
            &"ab".repeat(31),
            &STANDARD.encode([7u8; 32]),
        ] {
            let e = Sealer::new(&[secret(bad, "file:/k")]).unwrap_err();
            assert!(e.to_string().contains("file:/k"), "{e}");
        }
        let e = Sealer::new(&[secret(&b64, "env:A"), secret(&hexed, "env:B")]).unwrap_err();
        assert_eq!(e, SealKeyError::Duplicate("env:A".into(), "env:B".into()));
        let s = Sealer::new(&[secret(&b64, "env:A")]).unwrap();
        assert_eq!(format!("{s:?}"), "Sealer(1 keys)");
        assert!(!format!("{s:?}").contains(&b64));
    }

    #[test]
    fn altered_copied_or_foreign_records_do_not_open() {
        let s = Sealer::ephemeral();
        let sealed = s.seal(b"prod\0guichet:s:aa\0rec", b"{\"sub\":\"alice\"}");
        assert!(!sealed.windows(5).any(|w| w == b"alice"));
        assert_eq!(
            s.open(b"prod\0guichet:s:aa\0rec", &sealed).unwrap(),
            b"{\"sub\":\"alice\"}"
        );
        // Copied under another key, or another deployment.
        assert_eq!(
            s.open(b"prod\0guichet:s:bb\0rec", &sealed),
            Err(OpenError::Refused)
        );
        assert_eq!(
            s.open(b"staging\0guichet:s:aa\0rec", &sealed),
            Err(OpenError::Refused)
        );
        // Any bit changed, anywhere after the header.
        for i in HEADER_LEN..sealed.len() {
            let mut altered = sealed.clone();
            altered[i] ^= 1;
            assert_eq!(
                s.open(b"prod\0guichet:s:aa\0rec", &altered),
                Err(OpenError::Refused),
                "byte {i}"
            );
        }
        let mut other_nonce = sealed.clone();
        other_nonce[HEADER_LEN - 1] ^= 1;
        assert_eq!(
            s.open(b"prod\0guichet:s:aa\0rec", &other_nonce),
            Err(OpenError::Refused)
        );
        // Truncated, another version, another key.
        assert_eq!(
            s.open(b"prod\0guichet:s:aa\0rec", &sealed[..20]),
            Err(OpenError::Malformed)
        );
        let mut v2 = sealed.clone();
        v2[0] = 2;
        assert_eq!(
            s.open(b"prod\0guichet:s:aa\0rec", &v2),
            Err(OpenError::Malformed)
        );
        assert_eq!(
            Sealer::ephemeral().open(b"prod\0guichet:s:aa\0rec", &sealed),
            Err(OpenError::UnknownKey)
        );
        // Two seals of the same record differ (random nonce).
        assert_ne!(
            sealed,
            s.seal(b"prod\0guichet:s:aa\0rec", b"{\"sub\":\"alice\"}")
        );
    }

    #[test]
    fn rotation_the_first_key_seals_every_key_opens() {
        let (old, new) = (generate_key(), generate_key());
        let before = Sealer::new(&[secret(&old, "env:OLD")]).unwrap();
        let during = Sealer::new(&[secret(&new, "env:NEW"), secret(&old, "env:OLD")]).unwrap();
        let after = Sealer::new(&[secret(&new, "env:NEW")]).unwrap();
        let sealed_before = before.seal(b"n", b"x");
        assert_eq!(during.open(b"n", &sealed_before).unwrap(), b"x");
        let sealed_during = during.seal(b"n", b"y");
        assert_eq!(after.open(b"n", &sealed_during).unwrap(), b"y");
        assert_eq!(
            before.open(b"n", &sealed_during),
            Err(OpenError::UnknownKey)
        );
        // Index names: the new key's first, the old one's still looked up.
        assert_eq!(
            during.names(b"p\0sub\0alice")[1],
            before.name(b"p\0sub\0alice")
        );
        assert_eq!(during.name(b"p\0sub\0alice"), after.name(b"p\0sub\0alice"));
        assert_ne!(before.name(b"p\0sub\0alice"), after.name(b"p\0sub\0alice"));
        assert_ne!(
            before.name(b"p\0sub\0alice"),
            crate::crypto::sha256(b"p\0sub\0alice")
        );
    }
}
