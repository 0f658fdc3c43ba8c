//! Websockets through guichet: an authenticated session's `Upgrade: websocket` reaches the
//! application with the session's identity (header hygiene applied, as for any request);
//! without a live session a protected route answers like any request and nothing is
//! upgraded; over TLS too.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use guichet::demo::citizens;
use reqwest::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// The websocket handshake request for `path` on the gateway at `base` (http or https),
/// with extra headers.
fn handshake(
    base: &str,
    path: &str,
    headers: &[(&'static str, &str)],
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let url = format!(
        "{}{path}",
        base.replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1)
    );
    let mut req = url.into_client_request().expect("request");
    for (k, v) in headers {
        req.headers_mut()
            .append(*k, v.parse().expect("header value"));
    }
    req
}

/// Opens a websocket over plain TCP: `Ok(socket)` after a 101, `Err((status, Location))`
/// when guichet answers anything else.
async fn open(
    base: &str,
    path: &str,
    headers: &[(&'static str, &str)],
) -> Result<WebSocketStream<tokio::net::TcpStream>, (u16, Option<String>)> {
    let addr = base.trim_start_matches("http://");
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    upgrade(tcp, handshake(base, path, headers)).await
}

async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    req: tokio_tungstenite::tungstenite::handshake::client::Request,
) -> Result<WebSocketStream<S>, (u16, Option<String>)> {
    match tokio_tungstenite::client_async(req, stream).await {
        Ok((socket, response)) => {
            assert_eq!(response.status().as_u16(), 101);
            Ok(socket)
        }
        Err(WsError::Http(response)) => Err((
            response.status().as_u16(),
            response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .map(String::from),
        )),
        Err(e) => panic!("websocket handshake: {e}"),
    }
}

/// The echo's first message: the JSON description of the handshake it received.
async fn seen_by_the_app<S: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut WebSocketStream<S>,
) -> serde_json::Value {
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
        .await
        .expect("first message within 10 s")
        .expect("a message")
        .expect("no error");
    let text = first.into_text().expect("text");
    serde_json::from_str(&text).expect("echo JSON")
}

/// Sends a text and a binary message and expects them back.
async fn round_trip<S: AsyncRead + AsyncWrite + Unpin>(socket: &mut WebSocketStream<S>) {
    socket
        .send(Message::Text("bonjour Élodie".into()))
        .await
        .expect("send");
    let back = socket.next().await.expect("reply").expect("ok");
    assert_eq!(back.into_text().expect("text").as_str(), "bonjour Élodie");
    socket
        .send(Message::Binary(vec![0u8, 1, 2, 255].into()))
        .await
        .expect("send");
    let back = socket.next().await.expect("reply").expect("ok");
    assert_eq!(back.into_data().as_ref(), &[0u8, 1, 2, 255]);
    socket.close(None).await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authenticated_websocket_reaches_the_app_with_its_identity() {
    let h = Harness::start().await;
    let b = h.browser();
    let landed = b.login(&h, "elodie", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let cookie = landed.session_cookie();
    let spoofs = [
        ("cookie", cookie.as_str()),
        ("x-pivot-sub", "forged"),
        ("X_Pivot_Family_Name", "Forged"),
        ("x-guichet-assertion", "forged.jwt.value"),
        ("x-forwarded-for", "6.6.6.6"),
    ];
    let mut socket = open(&h.url, "/chat/room?x=1", &spoofs)
        .await
        .expect("101 for a live session");
    let seen = seen_by_the_app(&mut socket).await;
    assert_eq!(seen["path"], "/chat/room");
    assert_eq!(seen["query"], "x=1");
    let headers = seen["headers"].as_object().expect("headers");
    assert_eq!(headers["upgrade"], "websocket");
    let elodie = citizens::find("elodie").expect("elodie");
    let sub = elodie.sub(h.stack.mock.client_id());
    assert_eq!(
        headers["x-pivot-sub"].as_str().map(percent_decode),
        Some(sub.clone()),
        "the session's identity, one copy: {headers:?}"
    );
    assert_eq!(headers["x-pivot-family-name"], "M%C3%BCller");
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert!(headers.get("cookie").is_none(), "guichet's cookie removed");
    assert!(
        !seen.to_string().contains("forged") && !seen.to_string().contains("6.6.6.6"),
        "{seen}"
    );
    assert_eq!(seen["assertion"]["verified"], true, "{seen}");
    assert_eq!(seen["assertion"]["claims"]["sub"], sub.as_str());
    round_trip(&mut socket).await;
    h.assert_assertions_verified();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_live_session_a_protected_route_is_never_upgraded() {
    let h = Harness::start().await;
    // No cookie: a browser route redirects to login, an API route answers 401.
    let (status, location) = open(&h.url, "/chat", &[("x-pivot-sub", "forged")])
        .await
        .expect_err("no upgrade without a session");
    assert_eq!(status, 302);
    let location = location.expect("Location");
    assert!(location.contains("/.guichet/login"), "{location}");
    let (status, _) = open(&h.url, "/api/stream", &[])
        .await
        .expect_err("no upgrade without a session");
    assert_eq!(status, 401);
    // A made-up cookie is no session.
    let made_up = format!("guichet={}", "ab".repeat(32));
    let (status, _) = open(&h.url, "/chat", &[("cookie", made_up.as_str())])
        .await
        .expect_err("no upgrade with a made-up cookie");
    assert_eq!(status, 302);

    // A session that logged out is no session either.
    let b = h.browser();
    let landed = b.login(&h, "elodie", "/whoami").await;
    let cookie = landed.session_cookie();
    let mut live = open(&h.url, "/chat", &[("cookie", cookie.as_str())])
        .await
        .expect("upgrade while logged in");
    seen_by_the_app(&mut live).await;
    b.follow(&format!("{}/.guichet/logout", h.url)).await;
    h.stack.echo.clear();
    let (status, _) = open(&h.url, "/chat", &[("cookie", cookie.as_str())])
        .await
        .expect_err("no upgrade after logout");
    assert_eq!(status, 302);
    assert!(
        h.stack.echo.requests().is_empty(),
        "the app never saw the refused handshakes"
    );

    // A public route upgrades without a session, and without any identity.
    let mut public = open(&h.url, "/public/ws", &[("x-pivot-sub", "forged")])
        .await
        .expect("public routes need no session");
    let seen = seen_by_the_app(&mut public).await;
    let headers = seen["headers"].as_object().expect("headers");
    assert!(
        !headers.keys().any(|k| k.starts_with("x-pivot-")),
        "{headers:?}"
    );
    assert!(seen["assertion"].is_null(), "{seen}");
    round_trip(&mut public).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_over_tls_carry_the_identity() {
    let h = Harness::with(Setup {
        tls: true,
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    let landed = b.login(&h, "jean-philippe", "/whoami").await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);
    let cookie = landed.session_cookie();
    assert!(cookie.starts_with("__Host-guichet="), "{cookie}");
    let ca = h.ca_pem().expect("CA");
    // Browsers open websockets over HTTP/1.1 (guichet does not offer them over HTTP/2).
    let tls = common::tls::connect(&h.url, ca, &[b"http/1.1"]).await;
    let req = handshake(&h.url, "/chat", &[("cookie", cookie.as_str())]);
    let mut socket = upgrade(tls, req).await.expect("101 over TLS");
    let seen = seen_by_the_app(&mut socket).await;
    assert_eq!(seen["headers"]["x-forwarded-proto"], "https");
    assert_eq!(seen["assertion"]["verified"], true, "{seen}");
    assert!(seen["headers"]["x-pivot-given-name"].is_string(), "{seen}");
    round_trip(&mut socket).await;

    // Without the cookie, no upgrade over TLS either.
    let tls = common::tls::connect(&h.url, ca, &[b"http/1.1"]).await;
    let (status, _) = upgrade(tls, handshake(&h.url, "/chat", &[]))
        .await
        .expect_err("no upgrade");
    assert_eq!(status, 302);
}

/// Waits at most `limit` for guichet to close the socket (end of stream, an error or a close
/// frame; messages the application sent before are skipped); panics if it stays open.
async fn closed_within<S: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut WebSocketStream<S>,
    limit: std::time::Duration,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    let closed = tokio::time::timeout(limit, async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the websocket is still open after {limit:?}"
    );
    started.elapsed()
}

/// The documented bound (`upgraded::CHECK_EVERY` plus a store round trip) with room for a
/// loaded machine.
const CLOSE_BOUND: std::time::Duration = std::time::Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_closes_when_its_session_logs_out_and_others_stay() {
    let h = Harness::start().await;
    let leaving = h.browser();
    let cookie = leaving
        .login(&h, "elodie", "/whoami")
        .await
        .session_cookie();
    let staying = h.browser();
    let other = staying.login(&h, "ana", "/whoami").await.session_cookie();
    let mut socket = open(&h.url, "/chat", &[("cookie", cookie.as_str())])
        .await
        .expect("101");
    seen_by_the_app(&mut socket).await;
    let mut kept = open(&h.url, "/chat", &[("cookie", other.as_str())])
        .await
        .expect("101");
    seen_by_the_app(&mut kept).await;
    let mut public = open(&h.url, "/public/ws", &[]).await.expect("101");
    seen_by_the_app(&mut public).await;
    // Traffic flows until the logout.
    socket.send(Message::Text("avant".into())).await.unwrap();
    assert_eq!(
        socket
            .next()
            .await
            .unwrap()
            .unwrap()
            .into_text()
            .unwrap()
            .as_str(),
        "avant"
    );
    let landed = leaving.follow(&format!("{}/.guichet/logout", h.url)).await;
    assert!(
        landed
            .hops
            .iter()
            .any(|u| u.contains("/.guichet/logged-out")),
        "{:?}",
        landed.hops
    );
    closed_within(&mut socket, CLOSE_BOUND).await;
    // Another citizen's websocket, and one without a session, carry on.
    round_trip(&mut kept).await;
    round_trip(&mut public).await;
    metric_reaches(
        &h.gateway.metrics_url,
        "guichet_upgraded_closed_total{reason=\"session_ended\"} 1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_closes_when_its_session_expires_even_while_it_talks() {
    let h = Harness::with(Setup {
        extra_toml: "[session]\nidle_timeout = \"3s\"\n".into(),
        ..Setup::default()
    })
    .await;
    let b = h.browser();
    let cookie = b.login(&h, "elodie", "/whoami").await.session_cookie();
    let mut socket = open(&h.url, "/chat", &[("cookie", cookie.as_str())])
        .await
        .expect("101");
    seen_by_the_app(&mut socket).await;
    // Messages on the websocket are not activity: the idle limit runs from the last request.
    let started = std::time::Instant::now();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        loop {
            if socket.send(Message::Text("ping".into())).await.is_err() {
                return;
            }
            match tokio::time::timeout(std::time::Duration::from_millis(500), socket.next()).await {
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return,
                _ => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "still open 15 s after login with a 3 s idle limit"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "closed before it expired"
    );
    metric_reaches(
        &h.gateway.metrics_url,
        "guichet_upgraded_closed_total{reason=\"session_expired\"} 1",
    )
    .await;
}

mod redis_replicas {
    use super::*;
    use common::redis::RedisServer;
    use serde_json::json;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn logout_or_back_channel_logout_on_one_replica_closes_websockets_on_the_other() {
        let redis = RedisServer::start();
        let a = Harness::with(Setup {
            extra_toml: redis.session_toml(""),
            provider_toml: "backchannel_logout = true".into(),
            ..Setup::default()
        })
        .await;
        let b = a.replica("b").await;

        // RP-initiated logout on A; the websocket is open on B.
        let browser = a.browser();
        let cookie = browser
            .login(&a, "elodie", "/whoami")
            .await
            .session_cookie();
        let mut on_b = open(&b.url, "/chat", &[("cookie", cookie.as_str())])
            .await
            .expect("101 on B");
        seen_by_the_app(&mut on_b).await;
        let other = a
            .browser()
            .login(&a, "ana", "/whoami")
            .await
            .session_cookie();
        let mut kept = open(&b.url, "/chat", &[("cookie", other.as_str())])
            .await
            .expect("101 on B");
        seen_by_the_app(&mut kept).await;
        browser.follow(&format!("{}/.guichet/logout", a.url)).await;
        let took = closed_within(&mut on_b, CLOSE_BOUND).await;
        eprintln!("closed on the other replica {took:?} after the logout");
        round_trip(&mut kept).await;

        // Back-channel logout received by A; the websocket is open on B.
        let browser = a.browser();
        let cookie = browser
            .login(&a, "elodie", "/whoami")
            .await
            .session_cookie();
        let mut on_b = open(&b.url, "/chat", &[("cookie", cookie.as_str())])
            .await
            .expect("101 on B");
        seen_by_the_app(&mut on_b).await;
        let mock = &a.stack.mock;
        let now = guichet::session::now();
        let sub = guichet::demo::citizens::find("elodie")
            .expect("elodie")
            .sub(mock.client_id());
        let token = mock.sign_jwt(
            "logout+jwt",
            &json!({
                "iss": mock.issuer(), "aud": mock.client_id(), "iat": now, "exp": now + 120,
                "jti": guichet::crypto::random_hex32(), "sub": sub,
                "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
            }),
        );
        let r = post_form(
            &format!("{}/.guichet/backchannel-logout", a.url),
            &[("logout_token", &token)],
            &[],
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        closed_within(&mut on_b, CLOSE_BOUND).await;
        metric_reaches(
            &b.gateway.metrics_url,
            "guichet_upgraded_closed_total{reason=\"session_ended\"} 2",
        )
        .await;
    }
}

/// pingora issue 946: an application that answers `101` at once could see the tunnel torn
/// down right after it (the first message lost, the connection closed). guichet's upgrade
/// connections work around it (`upstream::peer`); many websockets opened at the same time all
/// get their first message and echo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_websockets_opened_at_once_all_get_their_first_message() {
    let h = Harness::start().await;
    let cookie = h
        .browser()
        .login(&h, "elodie", "/whoami")
        .await
        .session_cookie();
    let mut tasks = Vec::new();
    for t in 0..8 {
        let url = h.url.clone();
        let cookie = cookie.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                let path = if (t + i) % 2 == 0 {
                    "/chat"
                } else {
                    "/public/ws"
                };
                let mut socket = open(&url, path, &[("cookie", cookie.as_str())])
                    .await
                    .unwrap_or_else(|e| panic!("task {t} socket {i}: {e:?}"));
                let first = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
                    .await
                    .unwrap_or_else(|_| panic!("task {t} socket {i}: no first message"));
                assert!(
                    matches!(first, Some(Ok(Message::Text(_)))),
                    "task {t} socket {i} ({path}): {first:?}"
                );
                socket
                    .send(Message::Text(format!("{t}-{i}").into()))
                    .await
                    .unwrap();
                let back = socket.next().await;
                assert!(
                    matches!(&back, Some(Ok(Message::Text(x))) if x.as_str() == format!("{t}-{i}")),
                    "task {t} socket {i}: {back:?}"
                );
            }
        }));
    }
    for task in tasks {
        task.await.expect("every websocket worked");
    }
}

/// Reads the metrics at `metrics_url` until they contain `line` (at most 10 s): the watcher
/// counts a close after it has closed every connection of that check.
async fn metric_reaches(metrics_url: &str, line: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let m = reqwest::get(format!("{metrics_url}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if m.contains(line) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no {line} in {m}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
