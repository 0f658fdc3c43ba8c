//! The id_token kept for the logout hint, held by the browser instead of the memory store: a
//! sealed cookie scoped to `/.guichet/logout`, so a live session in memory is its identity and
//! header values only (the id_token was about half of it; a million sessions must fit in a
//! gibibyte, `benches/memory.rs`).
//!
//! The cookie is the id_token sealed with AES-256-GCM (ring) under a key made at start-up and
//! never written anywhere, with the session's store key as associated data: it opens only in
//! this process (the memory store's sessions die with it anyway), only for the session it was
//! made for, and it tells the browser nothing. The Redis store keeps the id_token in its record
//! (another replica must be able to log out), so this is used with the memory store only.
//!
//! Invariants (`tests::*`, and end to end `tests/login_flow.rs::logout_deletes_the_session_then_logs_out_of_the_provider`):
//! - A sealed hint opens only with the key and the session key it was sealed for; a modified,
//!   truncated or foreign value opens to nothing.
//! - The cookie is sent only to the logout path (`Path`), `HttpOnly`, `Secure`,
//!   `SameSite=Lax`, and never reaches the upstream (it is one of guichet's own cookies).

use super::SessionKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

/// Largest cookie value accepted (a sealed id_token of the largest accepted size).
const MAX_SEALED: usize = 24 * 1024;

/// Seals and opens logout hints with a key of this process.
pub struct HintSealer {
    key: LessSafeKey,
}

impl Default for HintSealer {
    fn default() -> Self {
        HintSealer::new()
    }
}

impl HintSealer {
    /// A sealer with a new random key.
    pub fn new() -> HintSealer {
        let bytes = crate::crypto::random_bytes::<32>();
        // 32 bytes is AES-256-GCM's key length: this cannot fail.
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
            .unwrap_or_else(|_| unreachable!("AES-256-GCM takes 32-byte keys"));
        HintSealer {
            key: LessSafeKey::new(unbound),
        }
    }

    /// The cookie value for `id_token`, bound to the session `key`.
    pub fn seal(&self, key: &SessionKey, id_token: &str) -> Option<String> {
        let nonce = crate::crypto::random_bytes::<NONCE_LEN>();
        let mut data = id_token.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&key.0),
                &mut data,
            )
            .ok()?;
        let mut out = Vec::with_capacity(NONCE_LEN + data.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        Some(URL_SAFE_NO_PAD.encode(out))
    }

    /// The id_token sealed in `value` for the session `key`, if it is one.
    pub fn open(&self, key: &SessionKey, value: &str) -> Option<String> {
        if value.len() > MAX_SEALED {
            return None;
        }
        let mut data = URL_SAFE_NO_PAD.decode(value).ok()?;
        if data.len() < NONCE_LEN {
            return None;
        }
        let mut sealed = data.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&data).ok()?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(&key.0), &mut sealed)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_opens_only_for_its_session_and_its_process() {
        let s = HintSealer::new();
        let (a, b) = (SessionKey([1; 32]), SessionKey([2; 32]));
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzIn0.c2ln";
        let sealed = s.seal(&a, token).unwrap();
        assert!(
            !sealed.contains("eyJ"),
            "the token is not readable in the cookie"
        );
        assert_eq!(s.open(&a, &sealed).as_deref(), Some(token));
        assert_eq!(s.open(&b, &sealed), None, "another session");
        assert_eq!(HintSealer::new().open(&a, &sealed), None, "another process");
        // Any change, truncation or garbage opens to nothing.
        let mut bytes = sealed.clone().into_bytes();
        bytes[20] = if bytes[20] == b'A' { b'B' } else { b'A' };
        assert_eq!(s.open(&a, &String::from_utf8(bytes).unwrap()), None);
        assert_eq!(s.open(&a, &sealed[..sealed.len() - 4]), None);
        for junk in ["", "x", "!!!!", &"A".repeat(MAX_SEALED + 1)] {
            assert_eq!(s.open(&a, junk), None, "{junk:.10}");
        }
        // Two seals of the same token differ (random nonce).
        assert_ne!(s.seal(&a, token), Some(sealed));
    }
}
