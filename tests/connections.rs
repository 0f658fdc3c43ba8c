//! How client connections live on the main listener: `[server] keepalive_requests` closes an
//! HTTP/1.1 connection after that many requests, with the TCP options (`tcp_keepalive`,
//! `tcp_fastopen`) set on the listener and every accepted connection.

mod common;

use common::{Harness, Setup};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads one HTTP/1.1 response (head, then a `Content-Length` or chunked body) and returns its
/// head, lower-cased. At most 10 s.
async fn read_response(s: &mut TcpStream) -> String {
    let read = async {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut byte).await.expect("read"), 1, "closed mid-head");
            buf.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse::<usize>().expect("content-length"));
        match length {
            Some(n) => {
                let mut body = vec![0u8; n];
                s.read_exact(&mut body).await.expect("body");
            }
            None => {
                assert!(head.contains("transfer-encoding: chunked"), "{head}");
                let mut body = Vec::new();
                while !body.ends_with(b"\r\n0\r\n\r\n") && !body.starts_with(b"0\r\n\r\n") {
                    assert_eq!(s.read(&mut byte).await.expect("read"), 1, "closed mid-body");
                    body.push(byte[0]);
                }
            }
        }
        head
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("a response within 10 s")
}

fn says_close(head: &str) -> bool {
    head.lines().any(|l| l.trim() == "connection: close")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_requests_closes_the_connection_after_the_limit() {
    let h = Harness::with(Setup {
        server_toml: "keepalive_requests = 2\ntcp_keepalive = \"5s\"\ntcp_fastopen = 16\n".into(),
        ..Setup::default()
    })
    .await;
    let addr = h.url.trim_start_matches("http://").to_string();
    let request = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut s = TcpStream::connect(&addr).await.expect("connect");

    // The first request (guichet's own answer) keeps the connection open...
    s.write_all(request("/healthz").as_bytes())
        .await
        .expect("write");
    let first = read_response(&mut s).await;
    assert!(first.starts_with("http/1.1 200"), "{first}");
    assert!(!says_close(&first), "closed after one request: {first}");

    // ...the second (proxied to the application) is the last: announced, then closed.
    s.write_all(request("/public/second").as_bytes())
        .await
        .expect("write");
    let second = read_response(&mut s).await;
    assert!(second.starts_with("http/1.1 200"), "{second}");
    assert!(says_close(&second), "no Connection: close: {second}");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
    assert!(
        matches!(closed, Ok(Ok(0))),
        "the connection stayed open after the 2nd request: {closed:?} {rest:?}"
    );

    // A new connection is served as usual.
    let mut again = TcpStream::connect(&addr).await.expect("connect");
    again
        .write_all(request("/public/again").as_bytes())
        .await
        .expect("write");
    let head = read_response(&mut again).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!says_close(&head), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_limit_a_connection_serves_many_requests() {
    let h = Harness::with(Setup {
        server_toml: "keepalive_requests = 0\ntcp_keepalive = \"0s\"\n".into(),
        ..Setup::default()
    })
    .await;
    let addr = h.url.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    for i in 0..20 {
        let req = format!("GET /public/{i} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let head = read_response(&mut s).await;
        assert!(head.starts_with("http/1.1 200"), "request {i}: {head}");
        assert!(!says_close(&head), "request {i} closed the connection");
    }
}
