//! Small cryptographic helpers: CSPRNG values, hashes (ring), constant-time comparison, PKCE.
//! Everything random comes from the operating system's generator (`rand::rngs::OsRng`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::TryRngCore;
use subtle::ConstantTimeEq;

/// `n` bytes from the operating system's CSPRNG.
///
/// Failing to read the OS generator leaves no safe way to continue (every `state`, `nonce`
/// and session id depends on it), so it aborts the request's task with a panic message that
/// contains no data; pingora turns that into a 500 for that request only.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    rand::rngs::OsRng
        .try_fill_bytes(&mut buf)
        .expect("the operating system's random generator failed");
    buf
}

/// 32 random bytes as 64 lowercase hex characters (`state`, `nonce`; see the provider facts:
/// FranceConnect has demanded long nonces, 64 characters fits every version).
pub fn random_hex32() -> String {
    hex::encode(random_bytes::<32>())
}

/// 32 random bytes, base64url without padding (43 characters): session cookies.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, data).as_ref());
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha256(data))
}

/// Equality in time independent of where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// PKCE (RFC 7636): a 43-character verifier and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = random_token();
    let challenge = pkce_challenge(&verifier);
    (verifier, challenge)
}

pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()))
}

/// Is `s` exactly `len` lowercase hex characters?
pub fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Is `s` a 43-character base64url token (as made by [`random_token`])?
pub fn is_token(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_nonce_are_64_hex_and_distinct() {
        let a = random_hex32();
        let b = random_hex32();
        assert!(is_hex(&a, 64) && is_hex(&b, 64));
        assert_ne!(a, b);
    }

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let (v, c) = pkce_pair();
        assert!(is_token(&v));
        assert_eq!(pkce_challenge(&v), c);
    }

    #[test]
    fn constant_time_eq_checks_length_and_content() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
