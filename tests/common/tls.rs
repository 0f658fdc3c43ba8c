//! Raw TLS connections to guichet (tokio-rustls, trusting the test CA): to see which
//! certificate a handshake got, to keep one connection open across a certificate reload,
//! and to carry websockets over TLS.

use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// A client configuration trusting `ca_pem`, offering these ALPN protocols.
pub fn client_config(ca_pem: &[u8], alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.expect("CA PEM")).expect("CA");
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Opens a TLS connection to `https://127.0.0.1:PORT` (server name `localhost`).
pub async fn connect(base_url: &str, ca_pem: &[u8], alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    let addr = base_url.trim_start_matches("https://");
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    TlsConnector::from(client_config(ca_pem, alpn))
        .connect(name, tcp)
        .await
        .expect("TLS handshake")
}

/// SHA-256 (hex) of the certificate the server presented on this connection.
pub fn peer_fingerprint(stream: &TlsStream<TcpStream>) -> String {
    let (_, conn) = stream.get_ref();
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("peer certificate");
    hex::encode(Sha256::digest(leaf.as_ref()))
}

/// SHA-256 (hex) of the first certificate in a PEM file.
pub fn file_fingerprint(path: &std::path::Path) -> String {
    use rustls::pki_types::pem::PemObject;
    let cert = rustls::pki_types::CertificateDer::from_pem_file(path).expect("certificate");
    hex::encode(Sha256::digest(cert.as_ref()))
}

/// The ALPN protocol the server chose.
pub fn alpn(stream: &TlsStream<TcpStream>) -> Option<Vec<u8>> {
    stream.get_ref().1.alpn_protocol().map(|p| p.to_vec())
}

/// Sends `GET path` over HTTP/1.1 keep-alive on `stream` and reads one response (by its
/// `Content-Length`); returns the status and the body.
pub async fn http1_get(stream: &mut TlsStream<TcpStream>, path: &str) -> (u16, String) {
    let (status, _, body) = http1_exchange(stream, path).await;
    (status, body)
}

/// [`http1_get`] on any stream (plain TCP too); returns the status, the head and the body.
pub async fn http1_exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    path: &str,
) -> (u16, String, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    stream.write_all(req.as_bytes()).await.expect("write");
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    let status = head
                        .split(' ')
                        .nth(1)
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(0);
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]);
                    return (status, head, body.to_string());
                }
            }
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(
                n > 0,
                "connection closed: {}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("response within 10 s")
}
