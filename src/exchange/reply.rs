//! Replies weir writes itself: error replies, and a middleware's local reply.
//!
//! Both are the end of an exchange that did not (or could no longer) relay an upstream
//! response. Whether the connection stays open after one is the session's decision
//! (see `downstream::Session`): only if the request body was read to its end, weir is
//! not shutting down, and the reply was written; otherwise it closes, lingering so a
//! body the client is still sending does not turn into a reset that destroys the reply.

use crate::downstream::{Reply, Session};
use crate::error::{Error, Kind};
use crate::http::hop;
use crate::middleware::Response;

use super::{grpc, End, Exchange, Stage};

/// The error for a request a middleware failed with [`crate::Ctx::fail`].
pub(super) fn middleware_failed() -> Error {
    Error::new(Kind::Internal, "a middleware failed the request")
}

impl<S: Session> Exchange<'_, S> {
    /// Answers an exchange that a phase ended early.
    pub(super) async fn end(&mut self, end: End) {
        match end {
            End::Error(err) => self.fail(err).await,
            End::Local {
                stage,
                responder,
                reply,
            } => self.local_reply((stage, responder), reply).await,
        }
    }

    /// Writes weir's own small error reply for `err` and records it.
    /// A client that is gone gets no reply (and its connection closes).
    async fn fail(&mut self, err: Error) {
        if err.kind == Kind::ClientGone {
            self.o.error = Some(err);
            return;
        }
        if grpc::is_grpc(self.req) {
            return self.fail_grpc(err).await;
        }
        if let Some(text) = err.told.clone() {
            return self.fail_telling(err, &text).await;
        }
        let status = err.status();
        let returns_id = self.e.config.forwarded.request_id;
        let reply = Reply {
            head: self.req.is_head(),
            request_id: self.req.headers.get("x-request-id").filter(|_| returns_id),
            timeout: self.e.config.timeouts.client_body,
        };
        self.o.bytes_out = self.client.reply_error(status, reply).await;
        self.o.status = status;
        self.o.error = Some(err);
    }

    /// Writes the error reply with `text` below its status line, as `text/plain`.
    async fn fail_telling(&mut self, err: Error, text: &str) {
        let status = err.status();
        let res = &mut *self.res;
        res.clear();
        res.status = status;
        let _ = res.headers.add("Content-Type", "text/plain; charset=utf-8");
        self.return_request_id();
        let reason = crate::http::head::reason(status);
        let body = format!("{status} {reason}: {text}\n");
        let sent: &[u8] = if self.req.is_head() {
            b""
        } else {
            body.as_bytes()
        };
        let timeout = self.e.config.timeouts.client_body;
        self.client
            .reply_local(self.res, body.len(), sent, timeout)
            .await;
        self.o.status = status;
        self.o.bytes_out = sent.len() as u64;
        self.o.error = Some(err);
    }

    /// Answers a gRPC call weir failed the way gRPC clients read (see [`grpc`]).
    async fn fail_grpc(&mut self, err: Error) {
        grpc::trailers_only(&err, self.res);
        self.return_request_id();
        let timeout = self.e.config.timeouts.client_body;
        self.client.reply_local(self.res, 0, b"", timeout).await;
        self.o.status = self.res.status;
        self.o.bytes_out = 0;
        self.o.grpc_status = Some(grpc::status(err.kind));
        self.o.error = Some(err);
    }

    /// Sends a middleware's local reply back through the middleware in front of it (a
    /// route's middleware: the route's chain in front of it, then the global chain).
    async fn local_reply(&mut self, from: (Stage, usize), reply: Response) {
        let res = &mut *self.res;
        res.clear();
        res.status = reply.status;
        res.headers = reply.headers;
        hop::strip(&mut res.headers, false);
        self.return_request_id();
        self.run_on_response(Some(from));
        if self.cx.failed() {
            return self.fail(middleware_failed()).await;
        }
        let body: &[u8] = if self.req.is_head() { b"" } else { &reply.body };
        let timeout = self.e.config.timeouts.client_body;
        let length = reply.body.len();
        self.client
            .reply_local(self.res, length, body, timeout)
            .await;
        self.o.status = self.res.status;
        self.o.bytes_out = body.len() as u64;
    }
}
