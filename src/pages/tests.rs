use super::*;
use crate::config::{Colors, Logo, Rgb};

fn config() -> PagesConfig {
    let mut c = PagesConfig::named("Mairie <test>");
    c.other_login_url = Some("/login-classique".into());
    c
}

fn pages() -> Pages {
    Pages::new(&config(), "/.guichet", true)
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
    Failure::FormTooLarge,
    Failure::FormNotKept,
    Failure::FormGone,
    Failure::FormOtherCitizen,
];

#[test]
fn pages_are_escaped_and_locked_down() {
    let r = pages().failure(
        &Failure::ProviderError("<b>x".into()),
        Lang::Fr,
        Some("r1"),
        None,
    );
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
        let r = pages().failure(&f, Lang::Fr, None, None);
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
    let body = text(&pages().failure(&Failure::Cancelled, Lang::En, None, None));
    assert!(body.contains("you cancelled it"), "{body}");
    assert!(body.contains("href=\"/login-classique\""), "{body}");
    let body = text(&pages().failure(&Failure::LevelTooLow, Lang::Fr, None, None));
    assert!(body.contains("Niveau de sécurité insuffisant"));
    assert!(body.contains("href=\"/login-classique\""));
}

#[test]
fn an_inactive_identity_page_points_to_the_other_login_method() {
    for f in [Failure::IdentityNotActive, Failure::LevelUnavailable] {
        let r = pages().failure(&f, Lang::Fr, None, None);
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let body = text(&r);
        assert!(body.contains("href=\"/login-classique\""), "{body}");
        assert!(body.contains("Se connecter autrement"));
    }
    let body = text(&pages().failure(&Failure::IdentityNotActive, Lang::En, None, None));
    assert!(body.contains("not active"));
}

#[test]
fn throttled_pages_say_when_to_retry() {
    let r = pages().failure(
        &Failure::Throttled { retry_after: 90 },
        Lang::Fr,
        None,
        None,
    );
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.header_value(&header::RETRY_AFTER), Some("90"));
    assert!(text(&r).contains("dans 2 minutes"));
    // The home page is behind the login: a button to it would lead back here.
    assert!(!text(&r).contains("href=\"/\""), "{}", text(&r));
    let open = Pages::new(&config(), "/.guichet", false);
    let r = open.failure(
        &Failure::Throttled { retry_after: 90 },
        Lang::Fr,
        None,
        None,
    );
    assert!(text(&r).contains("href=\"/\""));
    let r = pages().failure(
        &Failure::Throttled { retry_after: 30 },
        Lang::En,
        None,
        None,
    );
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
            let body = text(&pages().failure(f, lang, None, None));
            assert_eq!(body.matches("<h1>").count(), 1, "{f:?}");
            assert!(body.contains(&format!("<html lang=\"{}\">", lang.code())));
            assert!(
                body.contains("<main id=\"contenu\" tabindex=\"-1\">") && body.contains("<header>")
            );
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
    let p = Pages::new(&c, "/.guichet", true);
    let body = text(&p.failure(&Failure::NotFound, Lang::Fr, None, None));
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
    let p = Pages::new(&c, "/.guichet", true);
    let r = p.failure(&Failure::NotFound, Lang::Fr, None, None);
    let body = text(&r);
    assert!(body.contains("background:#8a1c1c"));
    assert!(body.contains("header{background:#1e1e1e;color:#ffffff"));
    // The FranceConnect button keeps its official colours.
    assert!(body.contains("justify-content:center;align-items:flex-start;background:#000091"));
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
    let body = text(&pages().logout_confirm(Lang::En, Some("0123abcd")));
    assert!(body.contains(
        "<form method=\"post\" action=\"/.guichet/logout\"><input type=\"hidden\" name=\"token\" value=\"0123abcd\">"
    ));
    assert!(body.contains("lang=\"en\""));
    let body = text(&pages().leaving(Lang::Fr, "https://fc.example/end?a=1&b=\"2\"", Some("FC")));
    assert!(body.contains(
        "<meta http-equiv=\"refresh\" content=\"0;url=https://fc.example/end?a=1&amp;b=&quot;2&quot;\">"
    ), "{body}");
    assert!(body.contains(">Continuer vers FC</a>"));
    let body = text(&pages().still_logged_in(Lang::Fr, Some("0123abcd")));
    assert!(body.contains("Vous êtes toujours connecté"), "{body}");
    assert!(!body.contains("Vous êtes déconnecté"));
    assert!(body.contains("name=\"token\" value=\"0123abcd\""));
}

fn journey() -> Journey {
    Journey {
        return_to: "/dossiers/42?onglet=pieces&x=1".into(),
        level: Some(crate::vocab::Level::Substantial),
    }
}

fn chooser(lang: Lang, logged_in: bool) -> Reply {
    let entries = [
        ChooserEntry {
            display_name: "FranceConnect",
            flavour: crate::vocab::Flavour::FranceConnectV2,
            href: "/.guichet/login?provider=fc".into(),
        },
        ChooserEntry {
            display_name: "FranceConnect+",
            flavour: crate::vocab::Flavour::FranceConnectPlus,
            href: "/.guichet/login?provider=fcp".into(),
        },
        ChooserEntry {
            display_name: "S'identifier avec MConnect",
            flavour: crate::vocab::Flavour::MConnect,
            href: "/.guichet/login?provider=mc".into(),
        },
    ];
    pages().chooser(lang, &entries, &journey(), logged_in)
}

/// Every page guichet renders, in this language.
fn every_page(lang: Lang) -> Vec<(String, Reply)> {
    let p = pages();
    let mut out: Vec<(String, Reply)> = ALL
        .iter()
        .map(|f| {
            (
                format!("{f:?}"),
                p.failure(f, lang, Some("0123456789abcdef"), Some(&journey())),
            )
        })
        .collect();
    out.push((
        "ProviderError".into(),
        p.failure(
            &Failure::ProviderError("invalid_scope".into()),
            lang,
            None,
            None,
        ),
    ));
    out.push(("chooser".into(), chooser(lang, false)));
    out.push(("step-up chooser".into(), chooser(lang, true)));
    out.push(("logged out".into(), p.logged_out(lang)));
    out.push(("still logged in".into(), p.still_logged_in(lang, Some("t"))));
    out.push(("confirm".into(), p.logout_confirm(lang, Some("t"))));
    out.push((
        "leaving for the provider".into(),
        p.leaving(
            lang,
            "https://fc.example/session/end?a=1&b=2",
            Some("FranceConnect"),
        ),
    ));
    out.push((
        "leaving".into(),
        p.leaving(lang, "https://www.example.fr/", None),
    ));
    out
}

/// The text a reader sees: tags and the style sheet removed.
fn visible_text(html: &str) -> String {
    let html = match (html.find("<style>"), html.find("</style>")) {
        (Some(a), Some(b)) => format!("{}{}", &html[..a], &html[b..]),
        _ => html.to_string(),
    };
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[test]
fn french_typography_on_every_page() {
    for lang in [Lang::Fr, Lang::En] {
        for (name, r) in every_page(lang) {
            let html = text(&r);
            let seen = visible_text(&html);
            // Attributes read aloud (titles, labels) count too.
            let titles: String = html
                .split("title=\"")
                .skip(1)
                .map(|t| t.split('"').next().unwrap_or(""))
                .collect();
            for t in [seen.as_str(), titles.as_str()] {
                assert!(
                    !t.contains('\'') && !t.contains("&#39;"),
                    "{name} ({lang:?}): straight apostrophe in {t}"
                );
                for sign in ["?", "!", ":", ";"] {
                    let bad = match lang {
                        Lang::Fr => format!(" {sign}"),
                        Lang::En => format!("\u{a0}{sign}"),
                    };
                    assert!(!t.contains(&bad), "{name} ({lang:?}): {bad:?} in {t}");
                }
            }
            if lang == Lang::Fr {
                assert!(!seen.contains("\u{202f}:"), "{name}");
            }
        }
    }
    let fr = visible_text(&text(&chooser(Lang::Fr, false)));
    assert!(fr.contains("Qu’est-ce que FranceConnect\u{202f}?"), "{fr}");
    assert!(fr.contains("vous identifier\u{a0}:"), "{fr}");
}

#[test]
fn every_page_has_the_basics() {
    let mut c = config();
    c.accessibility_url = Some("/accessibilite".into());
    c.accessibility_compliance = Some(crate::config::Compliance::Partial);
    c.legal_notice_url = Some("/mentions".into());
    c.personal_data_url = Some("/donnees".into());
    c.help_url = Some("/aide".into());
    let p = Pages::new(&c, "/.guichet", true);
    for lang in [Lang::Fr, Lang::En] {
        let mut all = every_page(lang);
        all.push((
            "footer".into(),
            p.failure(&Failure::NotFound, lang, None, None),
        ));
        for (name, r) in all {
            let body = text(&r);
            assert_eq!(body.matches("<h1>").count(), 1, "{name}");
            assert!(
                body.contains(&format!("<html lang=\"{}\">", lang.code())),
                "{name}"
            );
            // The skip link comes first and leads to the main content.
            let after_body = body.split("<body>").nth(1).unwrap();
            assert!(
                after_body.starts_with("<a class=\"skip\" href=\"#contenu\">"),
                "{name}"
            );
            assert!(
                body.contains("<main id=\"contenu\" tabindex=\"-1\">"),
                "{name}"
            );
            // The other language, marked as such.
            let other = lang.other().code();
            assert!(
                body.contains(&format!("lang=\"{other}\" hreflang=\"{other}\"")),
                "{name}"
            );
            // No request for /favicon.ico.
            assert!(
                body.contains("<link rel=\"icon\" href=\"data:,\">"),
                "{name}"
            );
        }
    }
    let fr = text(&p.failure(&Failure::NotFound, Lang::Fr, None, None));
    for link in [
        "<a href=\"/accessibilite\">Accessibilité\u{a0}: partiellement conforme</a>",
        "<a href=\"/mentions\">Mentions légales</a>",
        "<a href=\"/donnees\">Données personnelles</a>",
        "<a href=\"/aide\">Aide et contact</a>",
    ] {
        assert!(fr.contains(link), "{link}: {fr}");
    }
    let en = text(&p.logged_out(Lang::En));
    assert!(en.contains("Accessibility: partially compliant"), "{en}");
    // No statement URL: the mention, without a link.
    c.accessibility_url = None;
    c.accessibility_compliance = Some(crate::config::Compliance::None);
    let fr = text(&Pages::new(&c, "/.guichet", true).logged_out(Lang::Fr));
    assert!(
        fr.contains("<li>Accessibilité\u{a0}: non conforme</li>"),
        "{fr}"
    );
    // The State's brand only when asked for.
    assert!(!fr.contains("class=\"marque\"") && !fr.contains("Marianne"));
    c.state_branding = true;
    let fr = text(&Pages::new(&c, "/.guichet", true).logged_out(Lang::Fr));
    assert!(fr.contains("<p class=\"marque\">République<br>Française</p>"));
    assert!(
        fr.contains("font-family:Marianne,") && fr.contains("url(/.guichet/assets/marianne.svg)")
    );
}

#[test]
fn the_language_switch_never_replays_an_action() {
    let switch = |r: &Reply| -> String {
        let body = text(r);
        let a = body.split("<a class=\"lang\" href=\"").nth(1).unwrap();
        a.split('"').next().unwrap().replace("&amp;", "&")
    };
    // A failure page (shown on the callback, whose state is spent): /.guichet/error, with
    // the page, its details, the reference and the journey.
    let r = pages().failure(
        &Failure::ProviderError("invalid_scope".into()),
        Lang::Fr,
        Some("0123456789abcdef"),
        Some(&journey()),
    );
    assert_eq!(
        switch(&r),
        "/.guichet/error?page=provider_error&code=invalid_scope&ref=89abcdef\
         &return_to=%2Fdossiers%2F42%3Fonglet%3Dpieces%26x%3D1&level=eidas2&lang=en"
    );
    let r = pages().failure(
        &Failure::Throttled { retry_after: 90 },
        Lang::En,
        None,
        None,
    );
    assert_eq!(switch(&r), "/.guichet/error?page=throttled&wait=90&lang=fr");
    // The logout confirmation: a page that never logs out by itself.
    let r = pages().logout_confirm(Lang::Fr, Some("t"));
    assert_eq!(switch(&r), "/.guichet/logout?confirm=1&lang=en");
    // The logged-out pages: no state.
    assert_eq!(
        switch(&pages().logged_out(Lang::En)),
        "/.guichet/logged-out?lang=fr"
    );
    assert_eq!(
        switch(&pages().still_logged_in(Lang::Fr, None)),
        "/.guichet/logged-out?lang=en"
    );
    // The chooser keeps the journey.
    assert_eq!(
        switch(&chooser(Lang::Fr, true)),
        "/.guichet/login?return_to=%2Fdossiers%2F42%3Fonglet%3Dpieces%26x%3D1&level=eidas2&lang=en"
    );
    for lang in [Lang::Fr, Lang::En] {
        for (name, r) in every_page(lang) {
            let s = switch(&r);
            assert!(
                !s.contains("callback") && !s.contains("state="),
                "{name}: {s}"
            );
            assert!(
                s.ends_with(&format!("lang={}", lang.other().code())),
                "{name}: {s}"
            );
        }
    }
}

#[test]
fn retry_links_carry_the_journey_and_references_are_short() {
    let r = pages().failure(
        &Failure::Cancelled,
        Lang::Fr,
        Some("0123456789abcdef"),
        Some(&journey()),
    );
    let body = text(&r);
    assert!(
        body.contains("<a class=\"btn\" href=\"/.guichet/login?return_to=%2Fdossiers%2F42%3Fonglet%3Dpieces%26x%3D1&amp;level=eidas2\">Se connecter à nouveau</a>"),
        "{body}"
    );
    assert!(body.contains("<code>89abcdef</code>"), "{body}");
    assert!(!body.contains("0123456789abcdef"));
    assert_eq!(short_reference("abc"), "abc");
    assert!(!is_reference("") && !is_reference("123456789") && !is_reference("a b"));
    // Every page can be shown again from its key (the language switch).
    for f in ALL {
        let again = Failure::from_page(f.page_key(), None, Some(90)).unwrap();
        assert_eq!(again.page_key(), f.page_key());
        assert_eq!(again.status(), f.status(), "{f:?}");
        assert_eq!(texts::texts(&again, Lang::Fr), texts::texts(f, Lang::Fr));
    }
    assert_eq!(
        Failure::from_page("provider_error", Some("<b>"), None),
        Some(Failure::ProviderError("b".into()))
    );
    assert_eq!(Failure::from_page("nope", None, None), None);
}

#[test]
fn english_is_complete_and_marked() {
    let en = text(&chooser(Lang::En, true));
    let seen = visible_text(&en);
    for french in [
        "S’identifier",
        "Qu’est-ce",
        "est la solution",
        " ou ",
        "Choisissez",
    ] {
        assert!(!seen.contains(french), "{french}: {seen}");
    }
    assert!(en.contains("<span class=\"fc-login\">Sign in with</span> <span class=\"fc-brand\">FranceConnect</span>"));
    assert!(en.contains("What is FranceConnect+?</a>"));
    assert!(en.contains(">Sign in with MConnect</a>"), "{en}");
    assert!(en.contains("Confirm your identity"));
    // A label the operator wrote is French: marked so on English pages.
    let entries = [ChooserEntry {
        display_name: "Compte MConnect de la Mairie",
        flavour: crate::vocab::Flavour::MConnect,
        href: "/x".into(),
    }];
    let en = text(&pages().chooser(Lang::En, &entries, &journey(), false));
    assert!(
        en.contains("href=\"/x\" lang=\"fr\">Compte MConnect de la Mairie</a>"),
        "{en}"
    );
}
