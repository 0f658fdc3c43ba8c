//! pingora's side of the upstream: an [`HttpPeer`] per request, built from an address that
//! was already resolved (pingora's `HttpPeer::new` would resolve a name itself and panic when
//! it does not resolve), and, for an upgrade request, a connection of its own
//! ([`ClosableConnect`]) that its [`crate::upgraded::Switch`] closes when the session ends.
//! (A tunnel torn down right after a fast `101`, pingora issue 946, is fixed in the vendored
//! pingora-proxy: `vendor/pingora-proxy/PATCHED.md`,
//! `tests/websocket.rs::many_websockets_opened_at_once_all_get_their_first_message`.)

use crate::config::UpstreamConfig;
use crate::upgraded::Switch;
use async_trait::async_trait;
use pingora::connectors::L4Connect;
use pingora::protocols::l4::socket::SocketAddr as PeerAddr;
use pingora::protocols::l4::stream::Stream;
use pingora::protocols::l4::virt::{VirtualSockOpt, VirtualSocket, VirtualSocketStream};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// What every peer shares (from `[upstream]`).
#[derive(Debug, Clone)]
pub struct Peers {
    tls: bool,
    sni: String,
    connect_timeout: Duration,
    read_timeout: Duration,
    write_timeout: Duration,
    idle_timeout: Duration,
    verify_tls: bool,
}

/// Pool groups of upgrade connections: one per request, so that a connection closable by one
/// session's switch is never pooled for another request.
static CLOSABLE_GROUP: AtomicU64 = AtomicU64::new(1);

impl Peers {
    pub fn new(up: &UpstreamConfig) -> Peers {
        Peers {
            tls: up.tls,
            sni: up.sni.clone(),
            connect_timeout: up.connect_timeout,
            read_timeout: up.read_timeout,
            write_timeout: up.write_timeout,
            idle_timeout: up.idle_timeout,
            verify_tls: up.verify_tls,
        }
    }

    /// The peer at `addr`; with a `switch` (upgrade requests), its connection is a fresh one
    /// that the switch closes.
    pub fn peer(&self, addr: SocketAddr, switch: Option<&Arc<Switch>>) -> HttpPeer {
        // An address, not a name: pingora resolves nothing and cannot panic here.
        let mut peer = HttpPeer::new(addr, self.tls, self.sni.clone());
        let o = &mut peer.options;
        o.connection_timeout = Some(self.connect_timeout);
        o.read_timeout = Some(self.read_timeout);
        o.write_timeout = Some(self.write_timeout);
        o.idle_timeout = Some(self.idle_timeout);
        o.verify_cert = self.verify_tls;
        o.verify_hostname = self.verify_tls;
        if let Some(switch) = switch {
            o.custom_l4 = Some(Arc::new(ClosableConnect {
                switch: switch.clone(),
                timeout: self.connect_timeout,
            }));
            peer.group_key = CLOSABLE_GROUP.fetch_add(1, Ordering::Relaxed);
        }
        peer
    }
}

/// Opens a TCP connection that the switch closes.
#[derive(Debug)]
struct ClosableConnect {
    switch: Arc<Switch>,
    timeout: Duration,
}

#[async_trait]
impl L4Connect for ClosableConnect {
    async fn connect(&self, addr: &PeerAddr) -> Result<Stream> {
        let PeerAddr::Inet(addr) = addr else {
            return Error::e_explain(ErrorType::ConnectError, "not an IP address");
        };
        let tcp = match tokio::time::timeout(self.timeout, TcpStream::connect(addr)).await {
            Err(_) => {
                return Error::e_explain(
                    ErrorType::ConnectTimedout,
                    format!("timeout {:?} connecting to {addr}", self.timeout),
                )
            }
            Ok(Err(e)) => {
                let kind = match e.kind() {
                    io::ErrorKind::ConnectionRefused => ErrorType::ConnectRefused,
                    _ => ErrorType::ConnectError,
                };
                return Error::e_because(kind, format!("connecting to {addr}"), e);
            }
            Ok(Ok(tcp)) => tcp,
        };
        let socket = ClosableSocket::new(tcp, self.switch.clone());
        Ok(Stream::from(VirtualSocketStream::new(Box::new(socket))))
    }
}

/// A TCP stream that reads end-of-file and refuses writes once its switch is thrown.
#[derive(Debug)]
pub struct ClosableSocket {
    tcp: TcpStream,
    switch: Arc<Switch>,
}

impl ClosableSocket {
    pub fn new(tcp: TcpStream, switch: Arc<Switch>) -> ClosableSocket {
        ClosableSocket { tcp, switch }
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "closed: the session ended")
}

impl AsyncRead for ClosableSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.switch.thrown_for_reader(cx.waker()) {
            // End of file.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClosableSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.switch.thrown_for_writer(cx.waker()) {
            return Poll::Ready(Err(closed()));
        }
        Pin::new(&mut this.tcp).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.switch.thrown_for_writer(cx.waker()) {
            return Poll::Ready(Err(closed()));
        }
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

impl VirtualSocket for ClosableSocket {
    fn set_socket_option(&self, opt: VirtualSockOpt) -> io::Result<()> {
        match opt {
            VirtualSockOpt::NoDelay => self.tcp.set_nodelay(true),
            // Upgraded connections to the application: no keepalive probes (as other peers).
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_thrown_switch_ends_reads_and_writes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"hello").await.unwrap();
            // Then silence: the client's read waits until the switch is thrown.
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        });
        let switch = Switch::new();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut socket = ClosableSocket::new(tcp, switch.clone());
        let mut buf = [0u8; 5];
        socket.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        let thrower = {
            let switch = switch.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                switch.throw();
            })
        };
        let mut more = [0u8; 8];
        let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut more))
            .await
            .expect("the pending read ends when the switch is thrown")
            .unwrap();
        assert_eq!(n, 0, "end of file");
        assert!(socket.write_all(b"x").await.is_err());
        assert_eq!(socket.read(&mut more).await.unwrap(), 0, "and stays closed");
        thrower.await.unwrap();
        drop(socket);
        server.await.unwrap();
    }

    #[test]
    fn peers_are_built_from_addresses_and_closable_ones_never_share_a_pool() {
        let peers = Peers {
            tls: false,
            sni: "app".into(),
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(2),
            write_timeout: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(4),
            verify_tls: true,
        };
        let addr: SocketAddr = "10.0.0.1:3000".parse().unwrap();
        let plain = peers.peer(addr, None);
        assert_eq!(plain.options.read_timeout, Some(Duration::from_secs(2)));
        assert!(plain.options.custom_l4.is_none());
        let a = peers.peer(addr, Some(&Switch::new()));
        let b = peers.peer(addr, Some(&Switch::new()));
        assert!(a.options.custom_l4.is_some());
        use pingora::upstreams::peer::Peer;
        assert_eq!(plain.reuse_hash(), peers.peer(addr, None).reuse_hash());
        assert_ne!(a.reuse_hash(), plain.reuse_hash());
        assert_ne!(a.reuse_hash(), b.reuse_hash());
    }
}
