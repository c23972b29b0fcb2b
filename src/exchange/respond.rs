//! The way back: the response head through the chain, then the body (or the upgrade
//! tunnel) to the client.

use std::io::Write;

use crate::error::{Error, Kind};
use crate::http::body::{CopyError, ReadError};
use crate::http::framing::{self, Body};
use crate::http::hop;
use crate::http::splice;
use crate::http::Protocol;

use crate::downstream::Session;

use super::forward::Picked;
use super::{deadline, grpc, reply, End, Exchange, Intent};

/// What the upstream's response head says about its body and its connection.
pub(super) struct ResponseIntent {
    pub body: Body,
    /// The upstream connection may go back to the pool once the body is read.
    pub reuse_upstream: bool,
}

/// Classifies a failed response-body relay (the head is already on its way).
fn response_copy_error(err: CopyError) -> Error {
    match err {
        CopyError::Read(ReadError::TimedOut) => {
            Error::new(Kind::GatewayTimeout, "upstream body timed out")
        }
        CopyError::Read(ReadError::Io(err)) => {
            Error::io(Kind::BadGateway, "upstream body read failed", err)
        }
        CopyError::Read(_) => Error::new(Kind::BadGateway, "upstream body truncated or malformed"),
        CopyError::TooLarge => Error::new(Kind::Internal, "response limit"),
        CopyError::Write(err) => Error::io(Kind::ClientGone, "client write failed", err),
    }
}

impl<S: Session> Exchange<'_, S> {
    /// `X-Weir-Upstream` and `X-Weir-Reason` when `debug_headers` is on: which server
    /// answered, why the balancer chose it, and any retry before it.
    pub(super) fn add_debug_headers(&mut self, picked: &Picked<'_, '_>) {
        let group = picked.group;
        if !group.config.debug_headers {
            return;
        }
        self.bytes.clear();
        if let Some(reason) = &self.cx.reason {
            let _ = write!(self.bytes, "{reason}");
        }
        if let Some((addr, cause)) = self.cx.retried {
            let _ = write!(self.bytes, "; retry after {cause} from {addr}");
        }
        let headers = &mut self.res.headers;
        let _ = headers.set(
            "X-Weir-Upstream",
            group.upstreams.addr(picked.idx).to_string(),
        );
        let _ = headers.set("X-Weir-Reason", &self.bytes[..]);
        if let Some(route) = self.cx.route {
            let _ = headers.set("X-Weir-Route", &self.e.routes.list[route].name);
        }
        let _ = headers.set("X-Weir-Upstream-Group", group.name());
    }

    /// Reads the response head's framing, strips its hop-by-hop fields, and runs the
    /// chain's `on_response`, back to front.
    pub(super) fn on_response(&mut self, intent: &Intent) -> Result<ResponseIntent, End> {
        let res = &mut *self.res;
        let body = framing::response(intent.head, res).map_err(End::error)?;
        // HEAD and 304 keep their Content-Length: it describes the resource, not this
        // message.
        let keep_length = body == Body::Empty && (intent.head || res.status == 304);
        let said = hop::strip(&mut res.headers, keep_length);
        let upstream_keeps = if res.protocol.is_http10() {
            said.keep_alive
        } else {
            !said.close
        };
        self.run_on_response(None);
        if self.cx.failed() {
            // Nothing was sent yet; the upstream connection, its body unread, is dropped.
            return Err(End::error(reply::middleware_failed()));
        }
        Ok(ResponseIntent {
            body,
            reuse_upstream: body != Body::UntilClose && upstream_keeps,
        })
    }

    /// Streams the response to the client; the upstream connection goes back to the
    /// pool only if the exchange was clean. Whether the client connection stays open is
    /// the session's decision.
    ///
    /// A gRPC call whose deadline (`until`) expires mid-body ends as [`deadline`] says.
    pub(super) async fn body_back(
        &mut self,
        said: ResponseIntent,
        mut picked: Picked<'_, '_>,
        until: Option<std::time::Instant>,
    ) {
        let (group, idx) = (picked.group, picked.idx);
        let peer = picked.conn();
        let t = &self.e.config.timeouts;
        self.o.status = self.res.status;
        self.o.grpc_status = grpc::status_in(self.res.headers.get("grpc-status"));
        let trailers =
            self.req.protocol == Protocol::Http2 && !matches!(said.body, Body::Length(_));
        let body = splice::Gate::new(peer.body(said.body, t.upstream_read), self.e.config.splice);
        let body = deadline::Expiring::new(body, until, trailers);
        let mut body = grpc::Watch::new(body);
        let relayed = self
            .client
            .respond(self.res, said.body, &mut body, t.client_body)
            .await;
        self.o.grpc_status = body.status.or(self.o.grpc_status);
        if body.inner().expired {
            // The upstream request is dropped with `peer`: reset, or its connection closed.
            self.o.error = Some(deadline::exceeded());
            self.o.grpc_status = Some(grpc::status(Kind::GatewayTimeout));
            return;
        }
        if let Some(sent) = peer.streamed() {
            self.o.bytes_in = sent;
        }
        if let Some(err) = peer.upload_failed() {
            // The request body failed while the answer came back (full duplex).
            self.o.error = Some(super::attempt::request_copy_error(err).err);
            return;
        }
        match relayed {
            Ok(bytes) => {
                self.o.bytes_out = bytes;
                if said.reuse_upstream {
                    if let Some(peer) = picked.peer.take() {
                        peer.give_back(group, idx);
                    }
                }
            }
            // The head may be out already: the only honest signal left is a close.
            Err(err) => self.o.error = Some(response_copy_error(err)),
        }
    }

    /// Completes a WebSocket upgrade: the origin must have answered 101 with
    /// `Upgrade: websocket` and a `Sec-WebSocket-Accept`, else 502. Then bytes flow both
    /// ways until one side closes or the tunnel idles out.
    pub(super) async fn upgrade(&mut self, mut picked: Picked<'_, '_>) -> Result<(), End> {
        let peer = picked.conn();
        let res = &mut *self.res;
        if !res.headers.contains("sec-websocket-accept")
            || !res.headers.has_token("upgrade", "websocket")
        {
            let err = Error::new(Kind::BadGateway, "101 without a WebSocket handshake");
            return Err(End::error(err));
        }
        hop::strip(&mut res.headers, false);
        let _ = res.headers.add("Connection", "Upgrade");
        let _ = res.headers.add("Upgrade", "websocket");
        self.run_on_response(None);
        self.o.status = 101;
        let t = &self.e.config.timeouts;
        let Some(upstream) = peer.tunnel() else {
            let err = Error::new(Kind::BadGateway, "101 from an HTTP/2 upstream");
            return Err(End::error(err));
        };
        let tunnelled = self
            .client
            .upgrade(self.res, upstream, t.client_body, t.tunnel)
            .await;
        if let Some(bytes) = tunnelled {
            self.o.bytes_out = bytes;
        }
        Ok(())
    }
}
