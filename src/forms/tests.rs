use super::*;
use http::HeaderValue;

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_static(v));
    }
    h
}

fn text(f: &Field) -> (&str, &str) {
    match &f.value {
        Value::Text(t) => (f.name.as_str(), t.as_str()),
        Value::File { .. } => panic!("{} is a file", f.name),
    }
}

const SITE: &str = "https://demarches.example.fr";

#[test]
fn only_same_origin_posts_are_kept() {
    let ok = |h: &[(&'static str, &'static str)]| same_origin(&headers(h), SITE);
    assert_eq!(ok(&[("sec-fetch-site", "same-origin")]), Ok(()));
    assert_eq!(
        ok(&[("sec-fetch-site", "same-origin"), ("origin", SITE)]),
        Ok(())
    );
    // A page with `Referrer-Policy: no-referrer` sends `Origin: null`; fetch metadata says.
    assert_eq!(
        ok(&[("sec-fetch-site", "same-origin"), ("origin", "null")]),
        Ok(())
    );
    // Browsers without fetch metadata: the Origin alone.
    assert_eq!(ok(&[("origin", SITE)]), Ok(()));
    for (h, why) in [
        (
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://evil.example"),
            ][..],
            "cross_site",
        ),
        (&[("sec-fetch-site", "same-site")][..], "cross_site"),
        (&[("sec-fetch-site", "none")][..], "cross_site"),
        (
            &[
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://evil.example"),
            ][..],
            "foreign_origin",
        ),
        (&[("origin", "https://evil.example")][..], "foreign_origin"),
        (&[("origin", "null")][..], "foreign_origin"),
        (
            &[("origin", "https://demarches.example.fr.evil.example")][..],
            "foreign_origin",
        ),
        (
            &[("origin", "http://demarches.example.fr")][..],
            "foreign_origin",
        ),
        (&[][..], "no_origin"),
    ] {
        assert_eq!(ok(h), Err(why), "{h:?}");
    }
}

#[test]
fn content_types_kept_are_the_two_form_encodings() {
    assert_eq!(
        Encoding::of("application/x-www-form-urlencoded").map(|e| e.0),
        Some(Encoding::Urlencoded)
    );
    assert_eq!(
        Encoding::of("Application/X-WWW-Form-Urlencoded; charset=UTF-8").map(|e| e.0),
        Some(Encoding::Urlencoded)
    );
    assert_eq!(
        Encoding::of("multipart/form-data; boundary=----WebKitFormBoundaryx7Y"),
        Some((
            Encoding::Multipart,
            Some("----WebKitFormBoundaryx7Y".to_string())
        ))
    );
    assert_eq!(
        Encoding::of("multipart/form-data; boundary=\"a b\"").map(|e| e.0),
        None
    );
    for other in [
        "multipart/form-data",
        "text/plain",
        "application/json",
        "multipart/mixed; boundary=x",
        "",
    ] {
        assert_eq!(Encoding::of(other), None, "{other}");
    }
}

#[test]
fn urlencoded_fields_keep_their_order_and_bytes() {
    let body =
        b"csrf=abc&nom=%C3%89lodie+Dupont&nom=second&vide=&flag&commentaire=l1%0D%0Al2+%26+%3Cb%3E";
    let (enc, fields) = parse("application/x-www-form-urlencoded", body).unwrap();
    assert_eq!(enc, Encoding::Urlencoded);
    let got: Vec<(&str, &str)> = fields.iter().map(text).collect();
    assert_eq!(
        got,
        [
            ("csrf", "abc"),
            ("nom", "Élodie Dupont"),
            ("nom", "second"),
            ("vide", ""),
            ("flag", ""),
            ("commentaire", "l1\r\nl2 & <b>"),
        ]
    );
    // Encoded again the way browsers do, the body comes back byte for byte.
    let again = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(got.iter().filter(|(n, _)| *n != "flag"))
        .finish();
    assert_eq!(
        again,
        "csrf=abc&nom=%C3%89lodie+Dupont&nom=second&vide=&commentaire=l1%0D%0Al2+%26+%3Cb%3E"
    );
}

#[test]
fn what_cannot_be_replayed_exactly_is_refused() {
    let ct = "application/x-www-form-urlencoded";
    // A page in ISO-8859-1 sends Latin-1 bytes: not UTF-8, not kept.
    assert_eq!(parse(ct, b"nom=%C9lodie"), Err(FormError::NotUtf8));
    assert_eq!(parse(ct, b"a=%00"), Err(FormError::Nul));
    let many = vec!["a=1"; MAX_FIELDS + 1].join("&");
    assert_eq!(parse(ct, many.as_bytes()), Err(FormError::TooManyFields));
    let mp = "multipart/form-data; boundary=XyZ";
    for bad in [
        &b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n"[..],
        b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n",
        b"--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n",
        b"--XyZ\r\nContent-Disposition: form-data; name=\"a\\\"b\"\r\n\r\n1\r\n--XyZ--\r\n",
        b"--XyZ\r\nContent-Disposition: form-data; name*=UTF-8''a\r\n\r\n1\r\n--XyZ--\r\n",
        b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Transfer-Encoding: base64\r\n\r\nMQ==\r\n--XyZ--\r\n",
        b"--XyZ\r\nContent-Disposition: form-data\r\n\r\n1\r\n--XyZ--\r\n",
        b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"; name=\"b\"\r\n\r\n1\r\n--XyZ--\r\n",
    ] {
        assert!(
            matches!(parse(mp, bad), Err(FormError::Malformed(_))),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(
        parse(
            mp,
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\xff\r\n--XyZ--\r\n"
        ),
        Err(FormError::NotUtf8)
    );
    assert!(parse("text/plain", b"a=1").is_err());
}

#[test]
fn multipart_text_and_file_parts() {
    let body = b"------WebKitFormBoundaryAb\r\n\
Content-Disposition: form-data; name=\"csrf\"\r\n\r\n\
t0k\r\n\
------WebKitFormBoundaryAb\r\n\
Content-Disposition: form-data; name=\"commentaire\"\r\n\r\n\
ligne 1\r\nligne 2 \xc3\xa9\r\n\
------WebKitFormBoundaryAb\r\n\
Content-Disposition: form-data; name=\"piece\"; filename=\"re%22\xc3\xa7u.pdf\"\r\n\
Content-Type: application/pdf\r\n\r\n\
%PDF\x00\x01\xff\r\n\
------WebKitFormBoundaryAb\r\n\
Content-Disposition: form-data; name=\"vide\"; filename=\"\"\r\n\
Content-Type: application/octet-stream\r\n\r\n\
\r\n\
------WebKitFormBoundaryAb--\r\n";
    let (enc, fields) = parse(
        "multipart/form-data; boundary=----WebKitFormBoundaryAb",
        body,
    )
    .unwrap();
    assert_eq!(enc, Encoding::Multipart);
    assert_eq!(fields.len(), 4);
    assert_eq!(text(&fields[0]), ("csrf", "t0k"));
    assert_eq!(text(&fields[1]), ("commentaire", "ligne 1\r\nligne 2 é"));
    match &fields[2].value {
        Value::File {
            filename,
            content_type,
            data,
        } => {
            // Kept as the browser wrote it: written back, the browser sends the same bytes.
            assert_eq!(filename, "re%22çu.pdf");
            assert_eq!(content_type, "application/pdf");
            assert_eq!(STANDARD.decode(data).unwrap(), b"%PDF\x00\x01\xff");
        }
        Value::Text(_) => panic!("not a file"),
    }
    assert_eq!(
        fields[3].value,
        Value::File {
            filename: String::new(),
            content_type: "application/octet-stream".into(),
            data: String::new(),
        }
    );
    let form = KeptForm {
        action: "/x".into(),
        encoding: enc,
        fields,
        author: None,
    };
    assert!(form.has_file_contents());
    // Debug names no value.
    let debug = format!("{form:?}");
    assert!(!debug.contains("t0k") && !debug.contains("ligne") && !debug.contains("pdf"));
    assert!(form.weight() > body.len() / 2);
}

#[test]
fn the_author_mark_names_one_citizen_and_nobody_else() {
    let m = author::mark(SITE, "fc", "sub-elodie");
    assert!(author::well_formed(&m));
    assert!(author::matches(&m, SITE, "fc", "sub-elodie"));
    assert!(!author::matches(&m, SITE, "fc", "sub-jean"));
    assert!(!author::matches(&m, SITE, "fc-plus", "sub-elodie"));
    assert!(!author::matches(
        &m,
        "https://autre.example.fr",
        "fc",
        "sub-elodie"
    ));
    // Salted: two marks of one citizen differ, and neither holds the sub.
    let again = author::mark(SITE, "fc", "sub-elodie");
    assert_ne!(m, again);
    assert!(author::matches(&again, SITE, "fc", "sub-elodie"));
    // The provider/sub boundary is not ambiguous.
    let ab = author::mark(SITE, "a", "bc");
    assert!(!author::matches(&ab, SITE, "ab", "c"));
    for junk in ["", "x", &"A".repeat(43), "é"] {
        assert!(!author::matches(junk, SITE, "fc", "sub-elodie"), "{junk}");
    }
}
