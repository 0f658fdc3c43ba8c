use super::*;
use crate::demo::certs::{CertPair, TestCa};

fn ca(dir: &Path) -> TestCa {
    TestCa::new(dir, "ca").expect("openssl")
}

#[test]
fn a_chain_and_its_key_load_and_identify_the_leaf() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pair = ca(dir.path()).issue("server").expect("issue");
    let loaded = load(&pair.cert, &pair.key).expect("loads");
    assert_eq!(loaded.key.cert.len(), 2, "leaf and CA");
    assert_eq!(loaded.fingerprint().len(), 64);
    assert!(!format!("{loaded:?}").contains("PRIVATE"));
}

#[test]
fn a_key_that_does_not_match_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = ca(dir.path());
    let a = ca.issue("a").expect("issue");
    let b = ca.issue("b").expect("issue");
    let e = load(&a.cert, &b.key).unwrap_err();
    assert!(matches!(e, TlsError::KeyMismatch { .. }), "{e}");
    assert_eq!(e.which(), Which::Key);
}

#[test]
fn missing_empty_or_swapped_files_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pair = ca(dir.path()).issue("server").expect("issue");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").expect("write");
    let missing = dir.path().join("missing.pem");

    let e = load(&missing, &pair.key).unwrap_err();
    assert_eq!(e.which(), Which::Cert);
    assert!(e.to_string().contains("missing.pem"), "{e}");

    let e = load(&empty, &pair.key).unwrap_err();
    assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");

    let e = load(&pair.cert, &empty).unwrap_err();
    assert!(matches!(e, TlsError::NoKey { .. }), "{e}");

    // The two files swapped: no certificate in the first, no key in the second.
    let e = load(&pair.key, &pair.cert).unwrap_err();
    assert_eq!(e.which(), Which::Cert, "{e}");
}

#[test]
fn garbage_in_a_certificate_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pair = ca(dir.path()).issue("server").expect("issue");
    let bad = dir.path().join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let e = load(&bad, &pair.key).unwrap_err();
    assert_eq!(e.which(), Which::Cert, "{e}");
}

#[test]
fn errors_never_print_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pair = ca(dir.path()).issue("server").expect("issue");
    let key_text = std::fs::read_to_string(&pair.key).expect("key");
    let body: String = key_text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    // A key file whose base64 is corrupted in the middle.
    let corrupt = key_text.replacen(&body[10..20], "!!!!!!!!!!", 1);
    let bad_key = dir.path().join("corrupt.key");
    std::fs::write(&bad_key, &corrupt).expect("write");
    let other = ca(dir.path()).issue("other").expect("issue");
    let cert = ReloadingCert::open(&pair.cert, &pair.key).expect("open");
    for e in [
        load(&pair.cert, &bad_key).unwrap_err(),
        load(&pair.cert, &other.key).unwrap_err(),
        load(&pair.key, &pair.key).unwrap_err(),
    ] {
        let shown = format!("{e} {e:?}");
        for line in key_text
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        {
            assert!(!shown.contains(&line[..16]), "{shown}");
        }
    }
    let shown = format!("{cert:?}");
    assert!(!shown.contains(&body[..16]), "{shown}");
}

#[test]
fn a_failed_reload_keeps_the_current_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = ca(dir.path());
    let first = ca.issue("first").expect("issue");
    let second = ca.issue("second").expect("issue");
    let live = CertPair {
        cert: dir.path().join("live.pem"),
        key: dir.path().join("live.key"),
    };
    std::fs::copy(&first.cert, &live.cert).expect("copy");
    std::fs::copy(&first.key, &live.key).expect("copy");
    let cert = ReloadingCert::open(&live.cert, &live.key).expect("open");
    let original = cert.fingerprint();
    assert_eq!(cert.reload().expect("reload"), Reload::Unchanged);

    // Half-way through a replacement: new certificate, old key.
    std::fs::copy(&second.cert, &live.cert).expect("copy");
    assert!(matches!(cert.reload(), Err(TlsError::KeyMismatch { .. })));
    assert_eq!(cert.fingerprint(), original);
    // A key file that vanished.
    std::fs::remove_file(&live.key).expect("rm");
    assert!(cert.reload().is_err());
    assert_eq!(cert.fingerprint(), original);

    // Both in place: replaced.
    std::fs::copy(&second.key, &live.key).expect("copy");
    let replaced = cert.reload().expect("reload");
    let new = cert.fingerprint();
    assert_ne!(new, original);
    assert_eq!(replaced, Reload::Replaced(new.clone()));
    assert_eq!(
        load(&second.cert, &second.key).expect("load").fingerprint(),
        new
    );
}
