//! A stream the client resets (RST_STREAM) stops its exchange at once, so the upstream
//! request it started is cancelled (its connection closed, never pooled) instead of
//! running to its end for no one: the other half of the rapid-reset defence
//! (CVE-2023-44487), whose first half counts the resets (`guard`).
//!
//! h2 tells of a reset through `SendResponse::poll_reset`, on the handle the exchange
//! answers with, so [`Answer`] shares that handle between the session (which answers)
//! and [`reset`] (which [`super::stream_task`] races against the exchange). Once the
//! response head is sent, `body::send` watches the stream's `SendStream` instead.

use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::SendStream;

/// The handle a stream is answered with, shared with [`reset`].
#[derive(Clone)]
pub(super) struct Answer(Arc<Mutex<Inner>>);

struct Inner {
    respond: SendResponse<Bytes>,
    /// The response head went out: h2 no longer reports resets here.
    sent: bool,
}

impl Answer {
    pub fn new(respond: SendResponse<Bytes>) -> Self {
        Answer(Arc::new(Mutex::new(Inner {
            respond,
            sent: false,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn send_response(
        &self,
        head: http::Response<()>,
        end: bool,
    ) -> Result<SendStream<Bytes>, h2::Error> {
        let mut inner = self.lock();
        inner.sent = true;
        inner.respond.send_response(head, end)
    }

    pub fn send_informational(&self, head: http::Response<()>) -> Result<(), h2::Error> {
        self.lock().respond.send_informational(head)
    }
}

/// Resolves when the client resets the stream (or the connection goes) before the
/// response head is sent; never after.
pub(super) async fn reset(answer: &Answer) {
    poll_fn(|cx| {
        let mut inner = answer.lock();
        match inner.sent {
            true => Poll::Pending,
            false => inner.respond.poll_reset(cx).map(|_| ()),
        }
    })
    .await
}
