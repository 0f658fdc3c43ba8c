use super::*;
use crate::vocab::HeaderEncoding::*;

const ALL: [HeaderEncoding; 4] = [Percent, Utf8, Base64url, Latin1];

#[test]
fn every_encoding_round_trips() {
    for name in [
        "Élodie Müller",
        "Lefèvre-D’Arc",
        "Łukasz",
        "a+b@example.fr",
        "100% sûr",
        "ASCII only",
    ] {
        for enc in ALL {
            let v = encode(name, enc).unwrap_or_else(|| panic!("{name:?} {enc:?}"));
            assert_eq!(decode(v.as_bytes(), enc).as_deref(), Some(name), "{enc:?}");
            if enc != Utf8 && enc != Latin1 {
                assert!(v.as_bytes().iter().all(u8::is_ascii), "{enc:?}");
            }
        }
    }
}

#[test]
fn encodings_write_the_documented_bytes() {
    let bytes = |v: &str, e| encode(v, e).unwrap().as_bytes().to_vec();
    assert_eq!(bytes("Élodie Müller", Percent), b"%C3%89lodie M%C3%BCller");
    assert_eq!(bytes("a+b@x.fr", Percent), b"a%2Bb@x.fr");
    assert_eq!(bytes("100%", Percent), b"100%25");
    assert_eq!(bytes("Élodie Müller", Utf8), "Élodie Müller".as_bytes());
    assert_eq!(bytes("Łukasz", Base64url), b"xYF1a2Fzeg==");
    // ISO-8859-1 where it can, percent-encoded UTF-8 beyond.
    assert_eq!(bytes("Élodie Müller", Latin1), b"\xC9lodie M\xFCller");
    assert_eq!(bytes("Łukasz", Latin1), b"%C5%81ukasz");
    assert_eq!(bytes("Lefèvre-D’Arc", Latin1), b"Lef\xE8vre-D%E2%80%99Arc");
    assert_eq!(bytes("100%", Latin1), b"100%25");
    // Unpadded base64url decodes too.
    assert_eq!(decode(b"xYF1a2Fzeg", Base64url).as_deref(), Some("Łukasz"));
}

#[test]
fn control_characters_never_become_a_header_value() {
    for enc in ALL {
        for bad in ["a\r\nX-Pivot-Sub: admin", "a\0b", "tab\there", "c1\u{85}x"] {
            assert!(encode(bad, enc).is_none(), "{enc:?} {bad:?}");
        }
    }
}
