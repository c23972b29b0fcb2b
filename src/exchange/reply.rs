//! Replies weir writes itself: error replies, and a middleware's local reply.
//!
//! Both are the end of an exchange that did not (or could no longer) relay an upstream
//! response. After one, the connection stays open only if the exchange allowed it, weir
//! is not shutting down, and the reply was written; otherwise it closes, lingering so a
//! body the client is still sending does not turn into a reset that destroys the reply.

use crate::downstream::TextReply;
use crate::error::{Error, Kind};
use crate::http::hop;
use crate::middleware::Response;

use super::{End, Exchange, Next, Stage};

/// The error for a request a middleware failed with [`crate::Ctx::fail`].
pub(super) fn middleware_failed() -> Error {
    Error::new(Kind::Internal, "a middleware failed the request")
}

/// What follows a reply weir wrote itself.
fn after_reply(sent: bool, keep: bool) -> Next {
    match (sent, keep) {
        (true, true) => Next::KeepAlive,
        (true, false) => Next::CloseAfterError,
        (false, _) => Next::Close,
    }
}

impl Exchange<'_> {
    /// Answers an exchange that a phase ended early.
    pub(super) async fn end(&mut self, end: End) {
        match end {
            End::Error { err, keep } => self.fail(err, keep).await,
            End::Local {
                stage,
                responder,
                reply,
                keep,
            } => self.local_reply((stage, responder), reply, keep).await,
        }
    }

    /// Writes weir's own small error reply for `err` and records it.
    async fn fail(&mut self, err: Error, keep: bool) {
        let keep = keep && !self.e.stop.is_fired();
        if err.kind == Kind::ClientGone {
            self.o.next = Next::Close;
            self.o.error = Some(err);
            return;
        }
        let status = err.status();
        let returns_id = self.e.config.forwarded.request_id;
        let reply = TextReply {
            head: self.req.is_head(),
            keep,
            request_id: self.req.headers.get("x-request-id").filter(|_| returns_id),
            timeout: self.e.config.timeouts.client_body,
        };
        let (sent, bytes) = self.client.write_error(status, reply).await;
        self.o.status = status;
        self.o.bytes_out = bytes;
        self.o.error = Some(err);
        self.o.next = after_reply(sent, keep);
    }

    /// Sends a middleware's local reply back through the middleware in front of it (a
    /// route's middleware: the route's chain in front of it, then the global chain).
    async fn local_reply(&mut self, from: (Stage, usize), reply: Response, keep: bool) {
        let res = &mut *self.res;
        res.clear();
        res.status = reply.status;
        res.headers = reply.headers;
        hop::strip(&mut res.headers, false);
        self.return_request_id();
        self.run_on_response(Some(from));
        if self.cx.failed() {
            return self.fail(middleware_failed(), keep).await;
        }
        let keep = keep && !self.e.stop.is_fired();
        let body: &[u8] = if self.req.is_head() { b"" } else { &reply.body };
        let timeout = self.e.config.timeouts.client_body;
        let sent = self
            .client
            .write_local(self.res, reply.body.len(), body, keep, timeout)
            .await;
        self.o.status = self.res.status;
        self.o.bytes_out = body.len() as u64;
        self.o.next = after_reply(sent, keep);
    }
}
