//! The certificate of the main listener: loaded from two PEM files (chain, private key),
//! checked, and replaceable while guichet runs.
//!
//! [`ReloadingCert`] is the rustls certificate resolver pingora's TLS listener asks at every
//! handshake. [`ReloadingCert::reload`] reads both files again; new contents that load replace
//! the certificate for the next handshakes, connections already open keep theirs (nothing is
//! dropped). What triggers a reload (SIGHUP, a periodic check) lives in
//! [`crate::listeners`].
//!
//! Invariants:
//! - A certificate is served only if its chain parses and the private key matches the first
//!   certificate (`tests::a_key_that_does_not_match_is_refused`).
//! - A reload that fails (missing file, garbage, key and certificate out of step while the
//!   files are being replaced) changes nothing: the previous certificate stays
//!   (`tests::a_failed_reload_keeps_the_current_certificate`).
//! - No message or `Debug` output contains the contents of either file; errors name the
//!   file and what is wrong (`tests::errors_never_print_the_key`).

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest PEM file read (a chain with a few intermediates is a few KiB).
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Which of the two files a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Cert,
    Key,
}

impl Which {
    /// The configuration key naming this file.
    pub fn key(self) -> &'static str {
        match self {
            Which::Cert => "server.tls.cert_file",
            Which::Key => "server.tls.key_file",
        }
    }
}

/// Why a certificate or key could not be used. Messages name the file, never its contents.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {reason}")]
    Read {
        which: Which,
        path: String,
        reason: String,
    },
    #[error("{path} is larger than {MAX_PEM_BYTES} bytes")]
    TooLarge { which: Which, path: String },
    #[error("{path}: no PEM certificate (-----BEGIN CERTIFICATE-----) found")]
    NoCertificate { path: String },
    #[error("{path}: a PEM section is malformed")]
    BadPem { which: Which, path: String },
    #[error("{path}: no PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC) found")]
    NoKey { path: String },
    #[error("{path}: the private key cannot be used: {reason}")]
    BadKey { path: String, reason: String },
    #[error("{path}: the first certificate cannot be used: {reason}")]
    BadCertificate { path: String, reason: String },
    #[error("the private key in {key} does not belong to the first certificate in {cert}")]
    KeyMismatch { cert: String, key: String },
}

impl TlsError {
    /// The file the problem is about, as a configuration key.
    pub fn which(&self) -> Which {
        match self {
            TlsError::Read { which, .. }
            | TlsError::TooLarge { which, .. }
            | TlsError::BadPem { which, .. } => *which,
            TlsError::NoCertificate { .. } | TlsError::BadCertificate { .. } => Which::Cert,
            TlsError::NoKey { .. } | TlsError::BadKey { .. } | TlsError::KeyMismatch { .. } => {
                Which::Key
            }
        }
    }
}

/// A certificate and key that load and match, with what identifies them.
pub struct Loaded {
    key: Arc<CertifiedKey>,
    /// SHA-256 of both files' bytes: a reload with the same bytes changes nothing.
    digest: [u8; 32],
    /// SHA-256 of the end-entity certificate (DER), hex: what the logs show.
    fingerprint: String,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("fingerprint", &self.fingerprint)
            .field("chain_len", &self.key.cert.len())
            .finish_non_exhaustive()
    }
}

impl Loaded {
    /// SHA-256 of the end-entity certificate, hex.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

fn read_bounded(path: &Path, which: Which) -> Result<Vec<u8>, TlsError> {
    let shown = path.display().to_string();
    let read_err = |e: std::io::Error| TlsError::Read {
        which,
        path: shown.clone(),
        reason: e.kind().to_string(),
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(TlsError::TooLarge { which, path: shown });
    }
    Ok(bytes)
}

/// Reads and checks a certificate chain and its private key.
pub fn load(cert_path: &Path, key_path: &Path) -> Result<Loaded, TlsError> {
    let cert_pem = read_bounded(cert_path, Which::Cert)?;
    let key_pem = read_bounded(key_path, Which::Key)?;
    let mut digest = Sha256::new();
    digest.update((cert_pem.len() as u64).to_be_bytes());
    digest.update(&cert_pem);
    digest.update(&key_pem);
    let digest: [u8; 32] = digest.finalize().into();
    from_pem(&cert_pem, &key_pem, cert_path, key_path, digest)
}

fn from_pem(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_path: &Path,
    key_path: &Path,
    digest: [u8; 32],
) -> Result<Loaded, TlsError> {
    let cert_shown = cert_path.display().to_string();
    let key_shown = key_path.display().to_string();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::BadPem {
            which: Which::Cert,
            path: cert_shown.clone(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: cert_shown });
    }
    // The pem error is not shown: it could quote a line of the key file.
    let key = match PrivateKeyDer::from_pem_slice(key_pem) {
        Ok(k) => k,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            return Err(TlsError::NoKey { path: key_shown })
        }
        Err(_) => {
            return Err(TlsError::BadPem {
                which: Which::Key,
                path: key_shown,
            })
        }
    };
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::BadKey {
            path: key_shown.clone(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(TlsError::KeyMismatch {
                cert: cert_shown,
                key: key_shown,
            })
        }
        // The key type does not tell its public key: nothing to compare.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(e) => {
            return Err(TlsError::BadCertificate {
                path: cert_shown,
                reason: e.to_string(),
            })
        }
    }
    let fingerprint = certified
        .end_entity_cert()
        .map(|c| hex::encode(Sha256::digest(c.as_ref())))
        .unwrap_or_default();
    Ok(Loaded {
        key: Arc::new(certified),
        digest,
        fingerprint,
    })
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// Both files hold what is already served.
    Unchanged,
    /// New contents now serve new handshakes; the fingerprint of the new certificate.
    Replaced(String),
}

/// The listener's certificate resolver: always the last certificate that loaded.
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: ArcSwap<Loaded>,
    /// Serializes reloads (a SIGHUP during a periodic check).
    reloading: std::sync::Mutex<()>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("current", &self.current.load())
            .finish_non_exhaustive()
    }
}

impl ReloadingCert {
    /// Loads both files; fails like [`load`].
    pub fn open(cert_path: &Path, key_path: &Path) -> Result<ReloadingCert, TlsError> {
        let loaded = load(cert_path, key_path)?;
        Ok(ReloadingCert {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: ArcSwap::from_pointee(loaded),
            reloading: std::sync::Mutex::new(()),
        })
    }

    /// SHA-256 of the certificate served now, hex.
    pub fn fingerprint(&self) -> String {
        self.current.load().fingerprint.clone()
    }

    /// Reads both files again. New contents that load replace the certificate for the next
    /// handshakes; on any error the current certificate stays and the error is returned.
    pub fn reload(&self) -> Result<Reload, TlsError> {
        let _one = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let loaded = load(&self.cert_path, &self.key_path)?;
        if loaded.digest == self.current.load().digest {
            return Ok(Reload::Unchanged);
        }
        let fingerprint = loaded.fingerprint.clone();
        self.current.store(Arc::new(loaded));
        Ok(Reload::Replaced(fingerprint))
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load().key.clone())
    }
}

#[cfg(test)]
mod tests;
