//! RP-initiated logout and the return from the provider: only the cookie's own session ends,
//! nobody else's site can log a citizen out without a click, no destination comes from the
//! request, and the logged-out page only trusts a `state` guichet issued, once.

mod common;

use common::*;
use reqwest::StatusCode;

async fn whoami_status(h: &Harness, cookie: &str) -> StatusCode {
    get_with_cookie(&format!("{}/whoami", h.url), cookie)
        .await
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_logout_asks_for_confirmation() {
    let h = Harness::start().await;
    let b = h.browser();
    let cookie = b.login(&h, "elodie", "/").await.session_cookie();
    let logout = format!("{}/.guichet/logout", h.url);
    // A link or an auto-submitted form on another site, a prefetch: a page, nothing else.
    let attempts = [
        b.client.get(&logout).header("sec-fetch-site", "cross-site"),
        b.client.get(&logout).header("sec-fetch-site", "same-site"),
        b.client
            .get(&logout)
            .header("sec-fetch-site", "same-origin")
            .header("sec-purpose", "prefetch"),
        b.client
            .post(&logout)
            .header("origin", "https://evil.example")
            .body(""),
        b.client
            .post(&logout)
            .header("sec-fetch-site", "cross-site")
            .header("origin", "https://evil.example")
            .body(""),
    ];
    for attempt in attempts {
        let r = attempt.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get("set-cookie").is_none());
        assert!(r.headers().get("location").is_none());
        let page = r.text().await.unwrap();
        assert!(
            page.contains("<form method=\"post\" action=\"/.guichet/logout\">"),
            "{page}"
        );
        assert!(page.contains("Me déconnecter"));
        assert_eq!(whoami_status(&h, &cookie).await, StatusCode::OK);
    }
    // Methods other than GET and POST do nothing.
    let r = b.client.put(&logout).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(whoami_status(&h, &cookie).await, StatusCode::OK);
    // The confirmation button: a POST from this origin logs out.
    let r = b
        .client
        .post(&logout)
        .header("sec-fetch-site", "same-origin")
        .header("origin", &h.url)
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(location(&r).starts_with(&h.stack.mock.issuer()));
    assert_eq!(whoami_status(&h, &cookie).await, StatusCode::FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_get_links_from_the_application_log_out() {
    let h = Harness::start().await;
    let b = h.browser();
    let cookie = b.login(&h, "ana", "/").await.session_cookie();
    let r = b
        .client
        .get(format!("{}/.guichet/logout", h.url))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(whoami_status(&h, &cookie).await, StatusCode::FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_only_the_session_of_its_cookie() {
    let h = Harness::start().await;
    let (b1, b2) = (h.browser(), h.browser());
    let c1 = b1.login(&h, "elodie", "/").await.session_cookie();
    let c2 = b2.login(&h, "elodie", "/").await.session_cookie();
    // A logout without a cookie, or with a cookie guichet never issued, ends nothing.
    for cookie in ["", "guichet=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let r = get_with_cookie(&format!("{}/.guichet/logout", h.url), cookie).await;
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(location(&r), "/.guichet/logged-out");
    }
    assert_eq!(whoami_status(&h, &c1).await, StatusCode::OK);
    let r = b1.get(&format!("{}/.guichet/logout", h.url)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(whoami_status(&h, &c1).await, StatusCode::FOUND);
    assert_eq!(whoami_status(&h, &c2).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_is_never_an_open_redirect() {
    let h = Harness::start().await;
    let b = h.browser();
    b.login(&h, "angela", "/").await;
    let evil = "https://evil.example/";
    let r = b
        .get(&format!(
            "{}/.guichet/logout?post_logout_redirect_uri={evil}&return_to={evil}&redirect_uri={evil}&id_token_hint=x",
            h.url
        ))
        .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let to_provider = location(&r);
    assert!(to_provider.starts_with(&format!("{}/session/end?", h.stack.mock.issuer())));
    let q = query(&to_provider);
    assert_eq!(
        q["post_logout_redirect_uri"],
        format!("{}/.guichet/logged-out", h.url)
    );
    assert_ne!(q["id_token_hint"], "x");
    let landed = b.follow(&to_provider).await;
    assert!(
        landed.hops.iter().all(|u| !u.contains("evil.example")),
        "{:?}",
        landed.hops
    );
    assert!(landed
        .url
        .starts_with(&format!("{}/.guichet/logged-out", h.url)));
    // Without a session, and on the logged-out page, no parameter chooses a destination.
    let r = b
        .get(&format!("{}/.guichet/logout?return_to={evil}", h.url))
        .await;
    assert_eq!(location(&r), "/.guichet/logged-out");
    let r = b
        .get(&format!(
            "{}/.guichet/logged-out?post_logout_redirect_uri={evil}&return_to={evil}",
            h.url
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("location").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logged_out_checks_the_state_once() {
    // Keys right after the generated `[pages]` section land in it.
    let h = Harness::with(Setup {
        extra_toml: "logged_out_url = \"/au-revoir\"\n".into(),
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    b.login(&h, "elodie", "/").await;
    let r = b.get(&format!("{}/.guichet/logout", h.url)).await;
    let r = b.get(&location(&r)).await;
    assert_eq!(r.status(), StatusCode::FOUND, "provider logout");
    let back = location(&r);
    assert!(back.starts_with(&format!("{}/.guichet/logged-out?state=", h.url)));
    // The state guichet issued: the configured page.
    let r = b.get(&back).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(location(&r), "/au-revoir");
    // The same state again, an unknown state, or none (FranceConnect v1 drops it sometimes):
    // guichet's own neutral page.
    let unknown = format!(
        "{}/.guichet/logged-out?state={}",
        h.url,
        guichet::crypto::random_hex32()
    );
    let none = format!("{}/.guichet/logged-out", h.url);
    for url in [&back, &unknown, &none] {
        let r = b.get(url).await;
        assert_eq!(r.status(), StatusCode::OK, "{url}");
        assert!(r.headers().get("location").is_none());
        assert!(r.text().await.unwrap().contains("Vous êtes déconnecté"));
    }
    // The logged-out page never ends a session (anyone can link to it).
    let other = h.browser();
    let cookie = other.login(&h, "ana", "/").await.session_cookie();
    let r = other.get(&none).await;
    assert!(r.headers().get("set-cookie").is_none());
    assert_eq!(whoami_status(&h, &cookie).await, StatusCode::OK);
}

/// With the memory store the id_token for `id_token_hint` is not kept in memory: the browser
/// holds it, sealed, in a cookie sent only to the logout path. A browser without it (lost, or
/// another session's) is logged out locally, never sent to the provider with a wrong hint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logout_hint_lives_in_a_cookie_scoped_to_the_logout_path() {
    let h = Harness::start().await;
    let b = h.browser();
    let landed = b.login(&h, "elodie", "/").await;
    let hint = landed
        .set_cookies
        .iter()
        .find(|c| c.starts_with("guichet-logout="))
        .expect("the logout hint cookie");
    for attr in [
        "Path=/.guichet/logout;",
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
    ] {
        assert!(hint.contains(attr), "{hint}");
    }
    assert!(!hint.contains("eyJ"), "the id_token is sealed: {hint}");
    // Without it: the session ends here, and the browser lands on guichet's own page.
    let cookie = landed.session_cookie();
    let r = get_with_cookie(&format!("{}/.guichet/logout", h.url), &cookie).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(location(&r), "/.guichet/logged-out");
    assert_eq!(whoami_status(&h, &cookie).await, StatusCode::FOUND);
    // The browser that has it goes to the provider with the token the provider issued
    // (the mock refuses any other hint).
    let other = h.browser();
    other.login(&h, "angela", "/").await;
    let landed = other.follow(&format!("{}/.guichet/logout", h.url)).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    assert!(
        landed.hops.iter().any(|u| u.contains("/session/end")),
        "{:?}",
        landed.hops
    );
    assert!(landed.url.contains("/.guichet/logged-out"));
}
