//! Select a server, send the request, and retry on another server when the cause of a
//! failure allows it.
//!
//! A failure is retried when its [`Cause`] is retryable, the upstream was to blame, a
//! try is left (`retries`, by default one per other server), and replaying is safe:
//! nothing was sent, or the request is idempotent and has no body (RFC 9110 §9.2.2).

use std::io::Write;

use crate::downstream::Session;
use crate::error::{Error, Kind};
use crate::http::replay::Kept;
use crate::upstream::group::Group;
use crate::upstream::peer::Peer;
use crate::upstream::{self, state::InFlight};

use super::attempt::{self, Failed};
use super::{reply, End, Exchange, Intent};

/// The server that answered, and the connection its response is on: the exchange's
/// slot, which the attempt that answered filled (a `Peer` is lent, not moved: see
/// `attempt::open`).
pub(crate) struct Picked<'a, 'p> {
    pub peer: &'p mut Option<Peer>,
    pub group: &'a Group,
    pub idx: usize,
    /// Counts the request against the server (least-conn, p2c) until the body is done.
    _in_flight: InFlight<'a>,
}

impl Picked<'_, '_> {
    /// The connection the response is on: the attempt that answered left it in the
    /// slot, and nothing takes it before the response is relayed.
    pub fn conn(&mut self) -> &mut Peer {
        self.peer.as_mut().expect("the answering attempt's peer")
    }
}

pub(super) fn idempotent(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
    )
}

impl<'a, S: Session> Exchange<'a, S> {
    /// Picks a server with the chain's `select_upstream`, within the untried ones.
    fn select(&mut self, group: &Group) -> Result<usize, End> {
        // The route's middleware may pick first; the global chain ends in the balancer.
        let route = self.route_chain.filter(|c| !c.is_empty());
        let mut picked =
            route.and_then(|c| c.select_upstream(&mut self.cx, self.req, &group.upstreams));
        if picked.is_none() && !self.cx.failed() {
            picked = self
                .e
                .chain
                .select_upstream(&mut self.cx, self.req, &group.upstreams);
        }
        if self.cx.failed() {
            return Err(End::error(reply::middleware_failed()));
        }
        let Some(idx) = picked else {
            return Err(End::error(none_picked(group)));
        };
        self.cx.upstream = Some(idx);
        if self.e.stats.on {
            group.stats.picked(idx, self.cx.reason.as_ref());
        }
        upstream::mark_tried(&mut self.cx.tried, idx);
        self.o.upstream = Some(group.upstreams.addr(idx));
        Ok(idx)
    }

    /// Records a response head from server `idx` to the attempt that began at `began`:
    /// its timing, and passive health (a 5xx counts as a failure with `fail_on_5xx`).
    fn answered(&mut self, group: &Group, idx: usize, began: std::time::Instant) {
        let took = began.elapsed();
        self.o.upstream_time = Some(took);
        if self.e.stats.on {
            group.stats.responded(idx, self.res.status, took);
        }
        if self.res.status >= 500 && group.config.passive.fail_on_5xx {
            group.record_failure(idx);
        } else {
            group.record_success(idx, began);
        }
    }

    /// Forwards the request until a server answers with a response head, or no retry
    /// is left; the answering server's connection is left in `peer`.
    pub(super) async fn forward<'p>(
        &mut self,
        intent: &Intent,
        group: &'a Group,
        peer: &'p mut Option<Peer>,
    ) -> Result<Picked<'a, 'p>, End> {
        let retries = group.retries();
        let may_replay = idempotent(&self.req.method) && intent.body.is_empty();
        let host_from_upstream = !self.req.headers.contains("host");
        // The body bytes sent, for a request the upstream did not process (kept
        // across servers: see `http::replay`).
        let bound = self.e.config.limits.retry_buffer_bytes;
        let mut kept = Kept::new(bound, intent.body);
        let mut tries = 0;
        loop {
            let idx = self.select(group)?;
            if host_from_upstream {
                self.host_from(group.upstreams.addr(idx));
            }
            let tried = self.try_server(intent, group, idx, &mut kept, &mut *peer);
            let failed = match tried.await {
                Ok(_in_flight) => {
                    return Ok(Picked {
                        peer,
                        group,
                        idx,
                        _in_flight,
                    })
                }
                Err(failed) => failed,
            };
            self.count_failure(group, idx, &failed);
            if !should_retry(&failed, may_replay, tries < retries) {
                return Err(End::error(failed.err));
            }
            tries += 1;
            self.note_retry(group.upstreams.addr(idx), &failed);
        }
    }

    /// A request without `Host` (HTTP/1.0) gets the server's address for one.
    fn host_from(&mut self, addr: std::net::SocketAddr) {
        self.bytes.clear();
        let _ = write!(self.bytes, "{addr}");
        let _ = self.req.headers.set("Host", &self.bytes[..]);
    }

    /// One attempt on server `idx`, counted in flight against it while it runs (and,
    /// if it answers, while its response body is relayed: the count is returned). The
    /// server's connection is left in `peer` if it answers.
    async fn try_server(
        &mut self,
        intent: &Intent,
        group: &'a Group,
        idx: usize,
        kept: &mut Kept,
        peer: &mut Option<Peer>,
    ) -> Result<InFlight<'a>, Failed> {
        let in_flight = group.upstreams.state(idx).start();
        let began = std::time::Instant::now();
        let request = attempt::Request {
            head: self.req,
            body: intent.body,
            websocket: intent.websocket,
        };
        let to = (idx, &request);
        let (e, client, bytes, res) = (self.e, &mut *self.client, &mut *self.bytes, &mut *self.res);
        let sent = attempt::attempt(e, group, client, to, kept, (bytes, res), peer).await?;
        self.o.bytes_in = sent;
        self.answered(group, idx, began);
        Ok(in_flight)
    }

    /// Counts a failed attempt against its server (passive health, per-server counts)
    /// and as a connect error when it is one.
    fn count_failure(&self, group: &Group, idx: usize, f: &Failed) {
        if f.cause.upstream_fault() {
            group.record_failure(idx);
        }
        if self.e.stats.on {
            count_failure(self.e, group, idx, f);
        }
    }

    /// Records the retry after a failure from `addr` (debug headers, metrics).
    fn note_retry(&mut self, addr: std::net::SocketAddr, failed: &Failed) {
        let e = self.e;
        if e.stats.on {
            e.stats.metrics.retry(failed.cause.index());
        }
        self.cx.retried = Some((addr, failed.cause.as_str()));
    }
}

/// Why no server was picked: a group whose names have never resolved says so in the
/// reply's body, and which name and the lookup's result in the error log only (DNS
/// names and nameserver addresses are the operator's business, not any client's, as
/// nginx and HAProxy keep them); otherwise none was eligible.
fn none_picked(group: &Group) -> Error {
    match crate::discovery::unresolved(group) {
        Some(why) => Error::io(
            Kind::NoUpstream,
            "no upstream: the group's names have not resolved yet",
            std::io::Error::other(why),
        )
        .telling(format!(
            "upstream group \"{}\" has no server address yet: its names have not resolved",
            group.name()
        )),
        None => Error::new(Kind::NoUpstream, "no upstream selected"),
    }
}

/// Whether a failed attempt goes to another server.
fn should_retry(f: &Failed, may_replay: bool, tries_left: bool) -> bool {
    let replay_ok = !f.sent || may_replay;
    f.cause.upstream_fault() && f.cause.retryable() && replay_ok && tries_left
}

/// Counts a failed attempt against its server, and as a connect error when it is one.
fn count_failure(e: &crate::engine::Engine, group: &Group, idx: usize, f: &Failed) {
    use super::cause::Cause;
    if f.cause.upstream_fault() {
        group.stats.failed(idx);
    }
    if matches!(
        f.cause,
        Cause::Refused | Cause::ConnectTimeout | Cause::Local
    ) {
        let n = &e.stats.metrics.connect_errors;
        n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::cause::Cause;

    fn failed(cause: Cause, sent: bool) -> Failed {
        Failed {
            err: Error::new(Kind::BadGateway, "test"),
            cause,
            sent,
        }
    }

    #[test]
    fn retries_follow_the_cause_the_replay_rule_and_the_tries_left() {
        // Nothing sent: any retryable upstream fault goes to another server.
        for cause in [
            Cause::Refused,
            Cause::ConnectTimeout,
            Cause::Reset,
            Cause::Closed,
        ] {
            assert!(should_retry(&failed(cause, false), false, true), "{cause}");
        }
        // Sent: only a request that may be replayed.
        assert!(!should_retry(&failed(Cause::Reset, true), false, true));
        assert!(should_retry(&failed(Cause::Timeout, true), true, true));
        // No try left.
        assert!(!should_retry(&failed(Cause::Refused, false), true, false));
        // Not retryable, or no fault of the upstream's.
        for cause in [
            Cause::BadResponse,
            Cause::Client,
            Cause::ClientGone,
            Cause::Local,
        ] {
            assert!(!should_retry(&failed(cause, false), true, true), "{cause}");
        }
    }

    #[test]
    fn only_idempotent_methods_replay() {
        for m in ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"] {
            assert!(idempotent(m), "{m}");
        }
        for m in ["POST", "PATCH", "CONNECT", "get"] {
            assert!(!idempotent(m), "{m}");
        }
    }
}

#[cfg(test)]
/// Every cause against every answer of the replay rule and the tries left, written out.
mod retry_table {
    use super::super::cause::Cause;
    use super::*;

    fn failed(cause: Cause, sent: bool) -> Failed {
        let err = Error::new(Kind::BadGateway, "test");
        Failed { err, cause, sent }
    }

    #[test]
    fn a_failure_is_retried_only_when_cause_replay_and_tries_allow() {
        for cause in Cause::ALL {
            for method in ["GET", "POST"] {
                for body in [false, true] {
                    for sent in [false, true] {
                        for tries_left in [false, true] {
                            let may_replay = idempotent(method) && !body;
                            let got = should_retry(&failed(cause, sent), may_replay, tries_left);
                            // Written out, not derived from `Cause`'s own methods.
                            let cause_ok = matches!(
                                cause,
                                Cause::Refused
                                    | Cause::ConnectTimeout
                                    | Cause::Reset
                                    | Cause::Closed
                                    | Cause::Timeout
                            );
                            let want = cause_ok && (!sent || may_replay) && tries_left;
                            let case = format!("{cause:?} {method} body={body} sent={sent} tries_left={tries_left}");
                            assert_eq!(got, want, "{case}");
                        }
                    }
                }
            }
        }
    }

    /// The cases people ask about, spelled out.
    #[test]
    fn a_sent_post_is_never_replayed_and_an_unsent_one_is() {
        assert!(!should_retry(&failed(Cause::Reset, true), false, true));
        assert!(should_retry(&failed(Cause::Refused, false), false, true));
        assert!(should_retry(&failed(Cause::Closed, true), true, true));
        assert!(!should_retry(
            &failed(Cause::BadResponse, false),
            true,
            true
        ));
        assert!(!should_retry(&failed(Cause::Local, false), true, true));
        assert!(!should_retry(&failed(Cause::Refused, false), true, false));
    }
}
