use super::*;
use crate::config::{Colors, Logo, Rgb};

fn config() -> PagesConfig {
    let mut c = PagesConfig::named("Mairie <test>");
    c.other_login_url = Some("/login-classique".into());
    c
}

fn pages() -> Pages {
    Pages::new(&config(), "/.guichet")
}

fn text(r: &Reply) -> String {
    String::from_utf8(r.body.to_vec()).unwrap()
}

const ALL: &[Failure] = &[
    Failure::InvalidRequest("x"),
    Failure::PathRefused,
    Failure::NotFound,
    Failure::UnknownProvider,
    Failure::LoginExpired,
    Failure::StateMismatch,
    Failure::Cancelled,
    Failure::LoginRequired("login_required"),
    Failure::ProviderDown("server_error"),
    Failure::ProviderUnavailable,
    Failure::Verification(String::new()),
    Failure::LevelTooLow,
    Failure::InvalidIdentity(String::new()),
    Failure::IdentityNotActive,
    Failure::LevelUnavailable,
    Failure::IdentityTooLarge,
    Failure::AssertionUnavailable,
    Failure::StoreUnavailable,
    Failure::UpstreamUnavailable,
    Failure::UpstreamUnresolved,
    Failure::Misdirected,
    Failure::EvidenceUnavailable,
    Failure::Throttled { retry_after: 90 },
    Failure::HeadersTooLarge,
];

#[test]
fn pages_are_escaped_and_locked_down() {
    let r = pages().failure(&Failure::ProviderError("<b>x".into()), Lang::Fr, Some("r1"));
    let body = text(&r);
    assert!(body.contains("lang=\"fr\""));
    assert!(body.contains("Mairie &lt;test&gt;"));
    assert!(body.contains("&lt;b&gt;x"));
    assert!(!body.contains("<b>x"));
    assert!(body.contains("<code>r1</code>"));
    let csp = r.header_value(&header::CONTENT_SECURITY_POLICY).unwrap();
    for part in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "img-src 'self' data:;",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe") && !csp.contains("script"), "{csp}");
    assert_eq!(r.header_value(&header::X_FRAME_OPTIONS), Some("DENY"));
    assert_eq!(
        r.header_value(&header::X_CONTENT_TYPE_OPTIONS),
        Some("nosniff")
    );
    assert_eq!(
        r.header_value(&header::REFERRER_POLICY),
        Some("no-referrer")
    );
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    // The only style is the one the policy allows by hash.
    let css = body
        .split("<style>")
        .nth(1)
        .unwrap()
        .split("</style>")
        .next()
        .unwrap();
    let hash = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        crate::crypto::sha256(css.as_bytes()),
    );
    assert!(csp.contains(&format!("'sha256-{hash}'")));
    assert_eq!(body.matches("<style>").count(), 1);
    assert!(!body.contains("style=\"") && !body.contains("<script"));
}

#[test]
fn provider_errors_get_plain_words_and_a_way_forward() {
    let cases = [
        ("access_denied", "Connexion annulée", StatusCode::FORBIDDEN),
        (
            "login_required",
            "Identification nécessaire",
            StatusCode::FORBIDDEN,
        ),
        (
            "consent_required",
            "Identification nécessaire",
            StatusCode::FORBIDDEN,
        ),
        (
            "server_error",
            "Service de connexion indisponible",
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            "temporarily_unavailable",
            "Service de connexion indisponible",
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            "invalid_scope",
            "Erreur du fournisseur",
            StatusCode::BAD_GATEWAY,
        ),
    ];
    for (code, title, status) in cases {
        let f = from_provider_error(code);
        let r = pages().failure(&f, Lang::Fr, None);
        assert_eq!(r.status, status, "{code}");
        let body = text(&r);
        assert!(
            body.contains(&format!("<h1>{}", escape(title))),
            "{code}: {body}"
        );
        assert!(
            body.contains("href=\"/.guichet/login\""),
            "{code}: no retry"
        );
    }
    let body = text(&pages().failure(&Failure::Cancelled, Lang::En, None));
    assert!(body.contains("you cancelled it"), "{body}");
    assert!(body.contains("href=\"/login-classique\""), "{body}");
    let body = text(&pages().failure(&Failure::LevelTooLow, Lang::Fr, None));
    assert!(body.contains("Niveau de sécurité insuffisant"));
    assert!(body.contains("href=\"/login-classique\""));
}

#[test]
fn an_inactive_identity_page_points_to_the_other_login_method() {
    for f in [Failure::IdentityNotActive, Failure::LevelUnavailable] {
        let r = pages().failure(&f, Lang::Fr, None);
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let body = text(&r);
        assert!(body.contains("href=\"/login-classique\""), "{body}");
        assert!(body.contains("Se connecter autrement"));
    }
    let body = text(&pages().failure(&Failure::IdentityNotActive, Lang::En, None));
    assert!(body.contains("not active"));
}

#[test]
fn throttled_pages_say_when_to_retry() {
    let r = pages().failure(&Failure::Throttled { retry_after: 90 }, Lang::Fr, None);
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.header_value(&header::RETRY_AFTER), Some("90"));
    assert!(text(&r).contains("dans 2 minutes"));
    let r = pages().failure(&Failure::Throttled { retry_after: 30 }, Lang::En, None);
    assert!(text(&r).contains("in one minute"));
}

#[test]
fn every_failure_has_both_languages_and_no_500() {
    for f in ALL {
        assert_ne!(f.status(), StatusCode::INTERNAL_SERVER_ERROR, "{f:?}");
        assert_ne!(
            texts::texts(f, Lang::Fr).0,
            texts::texts(f, Lang::En).0,
            "{f:?}"
        );
        for lang in [Lang::Fr, Lang::En] {
            let body = text(&pages().failure(f, lang, None));
            assert_eq!(body.matches("<h1>").count(), 1, "{f:?}");
            assert!(body.contains(&format!("<html lang=\"{}\">", lang.code())));
            assert!(body.contains("<main id=\"contenu\">") && body.contains("<header>"));
        }
    }
}

#[test]
fn overrides_are_escaped() {
    let mut c = config();
    c.help_url = Some("/aide?a=1&b=\"2\"".into());
    c.texts.fr.footer = Some("Mairie de Test <script>alert(1)</script>".into());
    c.texts.fr.error_help = Some("Appelez le 01 23 45 67 89 & demandez \"Paul\"".into());
    c.texts.fr.logged_out_title = Some("Au revoir <b>".into());
    c.logo_alt = "Logo \"Mairie\"".into();
    c.logo = Some(Logo {
        mime: "image/png",
        data_url: "data:image/png;base64,iVBORw0KGgo=".into(),
    });
    let p = Pages::new(&c, "/.guichet");
    let body = text(&p.failure(&Failure::NotFound, Lang::Fr, None));
    assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!body.contains("<script"));
    assert!(body.contains("01 23 45 67 89 &amp; demandez &quot;Paul&quot;"));
    assert!(body.contains("href=\"/aide?a=1&amp;b=&quot;2&quot;\">Aide et contact</a>"));
    assert!(body.contains(
        "<img src=\"data:image/png;base64,iVBORw0KGgo=\" alt=\"Logo &quot;Mairie&quot;\">"
    ));
    let body = text(&p.logged_out(Lang::Fr));
    assert!(body.contains("<h1>Au revoir &lt;b&gt;</h1>"));
    // English keeps guichet's own words when only French was overridden.
    let body = text(&p.logged_out(Lang::En));
    assert!(body.contains("<h1>You are logged out</h1>"));
    assert!(!body.contains("Mairie de Test"));
}

#[test]
fn overrides_keep_the_policy_strict() {
    let mut c = config();
    c.colors = Colors {
        primary: Rgb([0x8a, 0x1c, 0x1c]),
        header_background: Rgb([0x1e, 0x1e, 0x1e]),
        header_text: Rgb::WHITE,
    };
    let default_csp = pages().csp.to_str().unwrap().to_string();
    let p = Pages::new(&c, "/.guichet");
    let r = p.failure(&Failure::NotFound, Lang::Fr, None);
    let body = text(&r);
    assert!(body.contains("background:#8a1c1c"));
    assert!(body.contains("header{background:#1e1e1e;color:#ffffff"));
    // The FranceConnect button keeps its official colours.
    assert!(body.contains(
        ".fc{display:inline-flex;flex-direction:column;justify-content:center;background:#000091"
    ));
    let csp = r.header_value(&header::CONTENT_SECURITY_POLICY).unwrap();
    // Another style sheet, another hash; the same strict policy otherwise.
    assert_ne!(csp, default_csp);
    let strip = |s: &str| s.split("style-src").next().unwrap().to_string();
    assert_eq!(strip(csp), strip(&default_csp));
    assert!(csp.contains("img-src 'self' data:;"));
}

#[test]
fn logged_out_and_confirm_pages_in_both_languages() {
    let body = text(&pages().logged_out(Lang::Fr));
    assert!(body.contains("Vous êtes déconnecté") && body.contains("href=\"/.guichet/login\""));
    let body = text(&pages().logout_confirm(Lang::En));
    assert!(body.contains("<form method=\"post\" action=\"/.guichet/logout\">"));
    assert!(body.contains("lang=\"en\""));
}
