//! Tests of `[pages]` overrides and `[rate_limit]`.

use super::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::io::Write;

fn base() -> (tempfile::NamedTempFile, String) {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "{}", "ab".repeat(32)).unwrap();
    let text = format!(
        "[server]\npublic_url = \"https://demarches.example.fr\"\n[upstream]\nurl = \"http://127.0.0.1:3000\"\n\
         [[providers]]\nname = \"fc\"\npreset = \"franceconnect-v2-integration\"\nclient_id = \"abc\"\n\
         client_secret = \"file:{}\"\n",
        f.path().display()
    );
    (f, text)
}

fn load(extra: &str) -> Result<Config, ConfigError> {
    let (_f, text) = base();
    Config::from_toml(&format!("{text}{extra}"), Path::new("guichet.toml"))
}

fn key_of(extra: &str) -> String {
    load(extra).expect_err(extra).key
}

#[test]
fn rate_limit_defaults_and_checks() {
    let c = load("").unwrap();
    let r = &c.rate_limit;
    assert!(r.enabled);
    assert_eq!(r.failed_callbacks.block_after, 30);
    assert_eq!(r.block_for, Duration::from_secs(300));
    assert_eq!(
        key_of("[rate_limit]\ndelay = \"11s\"\n"),
        "rate_limit.delay"
    );
    assert_eq!(
        key_of("[rate_limit]\nfailed_callbacks_delay_after = 40\n"),
        "rate_limit.failed_callbacks_delay_after"
    );
    assert_eq!(
        key_of("[rate_limit]\nlogin_starts_block_after = 0\nlogin_starts_delay_after = 0\n"),
        "rate_limit.login_starts_block_after"
    );
    assert_eq!(
        key_of("[rate_limit]\nmax_clients = 0\n"),
        "rate_limit.max_clients"
    );
    assert_eq!(
        key_of("[rate_limit]\nipv6_prefix = 8\n"),
        "rate_limit.ipv6_prefix"
    );
    assert_eq!(
        key_of("[rate_limit]\nwindow = \"soon\"\n"),
        "rate_limit.window"
    );
    assert_eq!(key_of("[rate_limit]\nburst = 3\n"), "rate_limit.burst");
    let c = load("[rate_limit]\nenabled = false\n").unwrap();
    assert!(!c.rate_limit.enabled);
}

#[test]
fn colours_are_hex_and_keep_the_contrast() {
    let c = load("[pages.colors]\nprimary = \"#8A1C1C\"\nheader_background = \"#1e1e1e\"\nheader_text = \"#ffffff\"\n")
        .unwrap();
    assert_eq!(c.pages.colors.primary.css(), "#8a1c1c");
    for bad in ["red", "#fff", "#12345g", "#1234567", "url(x)", "#000091;}"] {
        let e = load(&format!("[pages.colors]\nprimary = \"{bad}\"\n")).unwrap_err();
        assert_eq!(e.key, "pages.colors.primary", "{bad}");
    }
    // Light yellow buttons with white text: unreadable.
    let e = load("[pages.colors]\nprimary = \"#ffd700\"\n").unwrap_err();
    assert_eq!(e.key, "pages.colors.primary");
    assert!(e.message.contains("4.5:1"), "{}", e.message);
    let e = load("[pages.colors]\nheader_background = \"#000091\"\n").unwrap_err();
    assert_eq!(e.key, "pages.colors.header_text");
}

#[test]
fn contrast_is_the_wcag_ratio() {
    let black = Rgb([0, 0, 0]);
    assert!((black.contrast(Rgb::WHITE) - 21.0).abs() < 0.01);
    assert!((Rgb::WHITE.contrast(Rgb::WHITE) - 1.0).abs() < 0.01);
    // Blue France on white: about 14.9.
    assert!(Colors::default().primary.contrast(Rgb::WHITE) > 14.0);
    let p = Rgb([0x80, 0x80, 0x80]);
    assert!(p.darker(25).contrast(Rgb::WHITE) > p.contrast(Rgb::WHITE));
}

#[test]
fn a_logo_is_a_real_image_loaded_once_as_a_data_url() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("logo.svg");
    std::fs::write(&svg, "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"/>").unwrap();
    let c = load(&format!(
        "[pages]\nlogo = \"file:{}\"\nlogo_alt = \"Mairie\"\n",
        svg.display()
    ))
    .unwrap();
    let logo = c.pages.logo.clone().unwrap();
    assert_eq!(logo.mime, "image/svg+xml");
    assert!(logo.data_url.starts_with("data:image/svg+xml;base64,PD94"));
    assert_eq!(c.pages.logo_alt, "Mairie");
    // `guichet check` does not print the image.
    assert!(!c.to_effective_toml().contains("PD94"));

    let png = format!(
        "data:image/png;base64,{}",
        STANDARD.encode(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    );
    let c = load(&format!("[pages]\nlogo = \"{png}\"\n")).unwrap();
    assert_eq!(c.pages.logo.unwrap().mime, "image/png");

    let html = dir.path().join("logo.png");
    std::fs::write(&html, "<html><script>alert(1)</script></html>").unwrap();
    let big = dir.path().join("big.png");
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.resize(65 * 1024, 0);
    std::fs::write(&big, bytes).unwrap();
    for bad in [
        format!("file:{}", html.display()),
        format!("file:{}", big.display()),
        format!("file:{}/missing.png", dir.path().display()),
        "https://cdn.example.com/logo.png".into(),
        "data:image/png,notbase64".into(),
        "data:image/png;base64,!!!".into(),
        format!(
            "data:text/html;base64,{}",
            STANDARD.encode("<script>x</script>")
        ),
    ] {
        assert_eq!(
            key_of(&format!("[pages]\nlogo = \"{bad}\"\n")),
            "pages.logo",
            "{bad}"
        );
    }
}

#[test]
fn texts_are_plain_one_line_and_known() {
    let c = load(
        "[pages.texts.fr]\nfooter = \"Mairie <b>\"\n[pages.texts.en]\nchooser_intro = \"Hello\"\n",
    )
    .unwrap();
    assert_eq!(c.pages.texts.fr.footer.as_deref(), Some("Mairie <b>"));
    assert_eq!(c.pages.texts.en.chooser_intro.as_deref(), Some("Hello"));
    assert_eq!(
        key_of("[pages.texts.fr]\nfooter = \"a\\nb\"\n"),
        "pages.texts.fr.footer"
    );
    assert_eq!(
        key_of(&format!(
            "[pages.texts.en]\nerror_help = \"{}\"\n",
            "x".repeat(1001)
        )),
        "pages.texts.en.error_help"
    );
    assert!(key_of("[pages.texts.fr]\nwelcome = \"x\"\n").starts_with("pages.texts.fr"));
    assert_eq!(
        key_of("[pages.texts.de]\nfooter = \"x\"\n"),
        "pages.texts.de"
    );
    assert_eq!(
        key_of("[pages]\nhelp_url = \"javascript:alert(1)\"\n"),
        "pages.help_url"
    );
}

#[test]
fn footer_links_and_the_accessibility_mention() {
    let c = load("").unwrap();
    assert_eq!(c.pages.accessibility_compliance, None);
    assert!(!c.pages.state_branding);
    // A statement without a stated level is "non conforme" (the honest default).
    let c = load("[pages]\naccessibility_url = \"/accessibilite\"\n").unwrap();
    assert_eq!(c.pages.accessibility_compliance, Some(Compliance::None));
    let c = load(
        "[pages]\naccessibility_url = \"https://www.example.fr/accessibilite\"\n\
         accessibility_compliance = \"partial\"\nlegal_notice_url = \"/mentions-legales\"\n\
         personal_data_url = \"/donnees-personnelles\"\nstate_branding = true\n",
    )
    .unwrap();
    assert_eq!(c.pages.accessibility_compliance, Some(Compliance::Partial));
    assert_eq!(
        c.pages.legal_notice_url.as_deref(),
        Some("/mentions-legales")
    );
    assert!(c.pages.state_branding);
    for (extra, key) in [
        (
            "[pages]\naccessibility_compliance = \"partiellement\"\n",
            "pages.accessibility_compliance",
        ),
        (
            "[pages]\naccessibility_url = \"javascript:alert(1)\"\n",
            "pages.accessibility_url",
        ),
        (
            "[pages]\nlegal_notice_url = \"//evil.example/\"\n",
            "pages.legal_notice_url",
        ),
        (
            "[pages]\npersonal_data_url = \"ftp://x.example/\"\n",
            "pages.personal_data_url",
        ),
    ] {
        assert_eq!(key_of(extra), key, "{extra}");
    }
}
