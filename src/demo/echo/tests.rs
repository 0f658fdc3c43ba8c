use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn raw_request(addr: SocketAddr, req: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(req).await.expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

fn body_json(resp: &str) -> Value {
    let body = resp.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    serde_json::from_str(body).expect("json body")
}

#[tokio::test]
async fn echoes_method_path_query_and_headers() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let echo = serve(l).await.expect("serve");
    let resp = raw_request(
        echo.addr(),
        b"PATCH /a/b%20c?x=1&y=%C3%A9 HTTP/1.1\r\nHost: app\r\nX-Pivot-Given-Name: %C3%89lodie\r\n\
          X-Multi: one\r\nx-multi: two\r\nX-Raw: caf\xc3\xa9\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp
        .to_ascii_lowercase()
        .contains("content-type: application/json"));
    let j = body_json(&resp);
    assert_eq!(j["method"], "PATCH");
    assert_eq!(j["path"], "/a/b%20c");
    assert_eq!(j["query"], "x=1&y=%C3%A9");
    assert_eq!(j["headers"]["x-pivot-given-name"], "%C3%89lodie");
    assert_eq!(j["headers"]["x-multi"], serde_json::json!(["one", "two"]));
    assert_eq!(j["headers"]["x-raw"], "café");
    assert_eq!(j["headers"]["host"], "app");
    assert_eq!(j["body"], "hello");

    let last = echo.last_request().expect("recorded");
    assert_eq!(last.method, "PATCH");
    assert_eq!(last.header("X-RAW"), Some("café".as_bytes()));
    assert_eq!(last.header_all("x-multi"), vec![&b"one"[..], &b"two"[..]]);
    assert_eq!(last.body, b"hello");
    echo.shutdown();
}

#[tokio::test]
async fn non_utf8_header_is_kept_exactly_in_record() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let echo = serve(l).await.expect("serve");
    let resp = raw_request(
        echo.addr(),
        b"GET / HTTP/1.1\r\nHost: app\r\nX-Latin1: caf\xe9\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let j = body_json(&resp);
    assert_eq!(j["headers"]["x-latin1"], "caf\u{fffd}");
    assert_eq!(j["query"], Value::Null);
    let last = echo.last_request().expect("recorded");
    assert_eq!(last.header("x-latin1"), Some(&b"caf\xe9"[..]));
}

#[tokio::test]
async fn keeps_only_the_last_requests() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let echo = serve(l).await.expect("serve");
    for i in 0..(KEEP_REQUESTS + 3) {
        let req = format!("GET /r{i} HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n");
        raw_request(echo.addr(), req.as_bytes()).await;
    }
    let reqs = echo.requests();
    assert_eq!(reqs.len(), KEEP_REQUESTS);
    assert_eq!(reqs[0].path, "/r3");
    assert_eq!(
        reqs.last().map(|r| r.path.as_str()),
        Some(format!("/r{}", KEEP_REQUESTS + 2).as_str())
    );
    echo.clear();
    assert!(echo.requests().is_empty());
}

#[tokio::test]
async fn shutdown_stops_accepting() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let echo = serve(l).await.expect("serve");
    let addr = echo.addr();
    echo.shutdown();
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(refused, "echo still accepting after shutdown");
}

#[test]
fn sleep_is_read_from_the_query_and_capped() {
    assert_eq!(sleep_ms(Some("a=1&sleep_ms=250")), Some(250));
    assert_eq!(sleep_ms(Some("sleep_ms=999999")), Some(MAX_SLEEP_MS));
    assert_eq!(sleep_ms(Some("sleep_ms=soon")), None);
    assert_eq!(sleep_ms(None), None);
}
