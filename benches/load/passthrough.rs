//! The reference a pingora-based gateway cannot beat: a bare pingora pass-through with the
//! same pingora version, build profile, worker threads and upstream pool as guichet, adding
//! two headers per request and doing nothing else (no session, no policy, no metrics).
//! Runs in a child process of the bench (`LOAD_ROLE=passthrough`).

use async_trait::async_trait;
use pingora::http::RequestHeader;
use pingora::prelude::*;
use pingora::proxy::{http_proxy_service, ProxyHttp, Session};
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::RunArgs;

struct PassThrough {
    peer: HttpPeer,
}

#[async_trait]
impl ProxyHttp for PassThrough {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(self.peer.clone()))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream: &mut RequestHeader,
        _ctx: &mut (),
    ) -> Result<()> {
        upstream.insert_header("x-pivot-sub", "bench")?;
        upstream.insert_header("x-request-id", "0123456789abcdef")?;
        Ok(())
    }
}

/// Serves until killed: `listen` -> `upstream` (host:port).
pub fn run(listen: &str, upstream: &str, threads: usize, pool: usize) {
    let conf = ServerConf {
        threads,
        upstream_keepalive_pool_size: pool,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    let mut peer = HttpPeer::new(upstream, false, String::new());
    peer.options.idle_timeout = Some(std::time::Duration::from_secs(90));
    let mut service = http_proxy_service(&server.configuration, PassThrough { peer });
    service.add_tcp(listen);
    server.add_service(service);
    server.run(RunArgs::default());
}
