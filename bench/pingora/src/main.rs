//! A minimal round-robin HTTP/1.1 load balancer on `pingora`, as an anchor for
//! bench/run.sh. It does the same work as the other proxies there: round-robin over the
//! origins given on the command line, upstream keep-alive (pingora's connection pool,
//! sized by the YAML config's `upstream_keepalive_pool_size`), `X-Forwarded-For` only,
//! no access log.
//!
//!   pingora-lb -c conf.yaml --listen 127.0.0.1:8085 --upstream 127.0.0.1:9001 ...
//!
//! `-c` is pingora's own server config (threads, pool size); the other two are ours.

use async_trait::async_trait;
use pingora::lb::{selection::RoundRobin, LoadBalancer};
use pingora::prelude::*;
use pingora::server::configuration::Opt;
use std::sync::Arc;
use std::time::Duration;

/// The proxy: nothing but the origin set.
struct RoundRobinProxy(Arc<LoadBalancer<RoundRobin>>);

#[async_trait]
impl ProxyHttp for RoundRobinProxy {
    type CTX = ();

    fn new_ctx(&self) -> Self::CTX {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        let origin = self
            .0
            .select(b"", 256)
            .ok_or_else(|| Error::explain(HTTPStatus(502), "no origin"))?;
        let mut peer = HttpPeer::new(origin, false, String::new());
        // the timeouts every proxy in bench/ is given (bench/README.md)
        peer.options.connection_timeout = Some(Duration::from_secs(3));
        peer.options.read_timeout = Some(Duration::from_secs(60));
        peer.options.write_timeout = Some(Duration::from_secs(60));
        peer.options.idle_timeout = Some(Duration::from_secs(60));
        Ok(Box::new(peer))
    }

    /// X-Forwarded-For, as nginx's `$proxy_add_x_forwarded_for` writes it.
    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        _ctx: &mut (),
    ) -> Result<()> {
        let client = match session.client_addr().and_then(|a| a.as_inet()) {
            Some(inet) => inet.ip().to_string(),
            None => return Ok(()),
        };
        let value = match upstream_request.headers.get("x-forwarded-for") {
            Some(prior) => format!("{}, {client}", String::from_utf8_lossy(prior.as_bytes())),
            None => client,
        };
        upstream_request.insert_header("X-Forwarded-For", value)?;
        Ok(())
    }
}

/// Splits our two options (`--listen ADDR`, `--upstream ADDR`, repeatable) from
/// pingora's own command line, which it parses itself.
fn split_args() -> (String, Vec<String>, Vec<String>) {
    let mut listen = String::from("127.0.0.1:6188");
    let mut upstreams = Vec::new();
    let mut rest = vec![std::env::args().next().unwrap_or_default()];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                listen = args
                    .next()
                    .unwrap_or_else(|| usage("--listen needs an address"))
            }
            "--upstream" => upstreams.push(
                args.next()
                    .unwrap_or_else(|| usage("--upstream needs an address")),
            ),
            _ => rest.push(arg),
        }
    }
    (listen, upstreams, rest)
}

/// Says what was wrong with the command line and exits 2.
fn usage(why: &str) -> ! {
    eprintln!("pingora-lb: {why}\nusage: pingora-lb -c CONF.yaml --listen ADDR --upstream ADDR [--upstream ADDR ...]");
    std::process::exit(2)
}

fn main() {
    let (listen, upstreams, rest) = split_args();
    if upstreams.is_empty() {
        usage("give at least one --upstream ADDR");
    }
    let opt = Opt::parse_from_args(rest);
    let mut server = Server::new(Some(opt)).expect("pingora server");
    server.bootstrap();
    let origins = LoadBalancer::try_from_iter(upstreams)
        .unwrap_or_else(|e| usage(&format!("bad --upstream address: {e}")));
    let mut service = http_proxy_service(&server.configuration, RoundRobinProxy(Arc::new(origins)));
    service.add_tcp(&listen);
    server.add_service(service);
    server.run_forever();
}
