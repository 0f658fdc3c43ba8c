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
