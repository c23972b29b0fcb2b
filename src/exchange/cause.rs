//! Why an upstream attempt failed, and what that means for a retry.
//!
//! The cause, not the error text, decides: whose fault it was (passive health), and
//! whether another server may be tried. Whether any byte of the request reached the
//! upstream is carried beside it ([`super::attempt::Failed::sent`]), since the same
//! cause can come before or after sending.

use std::fmt;

use crate::metrics::RETRY_CAUSES;

/// What went wrong with one upstream attempt.
///
/// Metrics count retries per cause in an array slot, [`Cause::index`], and label them
/// with [`Cause::as_str`] in the order of [`Cause::ALL`]: the enum is the one list, so a
/// count can never land under another cause's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// The connection could not be made (refused, unreachable).
    Refused,
    /// The connection was not made within `timeouts.connect`.
    ConnectTimeout,
    /// The connection was reset while writing the request or reading the response.
    Reset,
    /// The upstream closed the connection without a response.
    Closed,
    /// No response head within `timeouts.upstream_read`.
    Timeout,
    /// A malformed or unexpected response head.
    BadResponse,
    /// The client went away before its body was asked for.
    ClientGone,
    /// The client's request body failed (malformed, too large, stalled).
    Client,
    /// This host ran short of file descriptors, ports or buffers while connecting: no
    /// fault of the server, and another would fare no better.
    Local,
}

// The counters in `metrics` are sized for exactly the causes there are.
const _: () = assert!(Cause::ALL.len() == RETRY_CAUSES);

impl Cause {
    /// Every cause, in declaration order: `ALL[c.index()] == c`.
    pub const ALL: [Cause; 9] = [
        Cause::Refused,
        Cause::ConnectTimeout,
        Cause::Reset,
        Cause::Closed,
        Cause::Timeout,
        Cause::BadResponse,
        Cause::ClientGone,
        Cause::Client,
        Cause::Local,
    ];

    /// Its slot in per-cause counters: its place in [`Cause::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The upstream is to blame: the failure counts against its health.
    pub fn upstream_fault(self) -> bool {
        !matches!(self, Cause::ClientGone | Cause::Client | Cause::Local)
    }

    /// Another server may do better (subject to the idempotency rule). A bad response
    /// is not retried: the origin answered, and another may answer the same.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            Cause::Refused | Cause::ConnectTimeout | Cause::Reset | Cause::Closed | Cause::Timeout
        )
    }

    /// The word in logs, debug headers and the `cause` label of `weir_retries_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Refused => "refused",
            Cause::ConnectTimeout => "connect timeout",
            Cause::Reset => "reset",
            Cause::Closed => "closed",
            Cause::Timeout => "timeout",
            Cause::BadResponse => "bad response",
            Cause::ClientGone => "client gone",
            Cause::Client => "client",
            Cause::Local => "local",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Cause::{self, *};

    /// Each cause's meaning, exhaustively: (upstream's fault, retryable, label). A new
    /// cause fails to compile here until it has a row.
    fn expected(c: Cause) -> (bool, bool, &'static str) {
        match c {
            Refused => (true, true, "refused"),
            ConnectTimeout => (true, true, "connect timeout"),
            Reset => (true, true, "reset"),
            Closed => (true, true, "closed"),
            Timeout => (true, true, "timeout"),
            BadResponse => (true, false, "bad response"),
            ClientGone => (false, false, "client gone"),
            Client => (false, false, "client"),
            Local => (false, false, "local"),
        }
    }

    #[test]
    fn each_cause_says_whose_fault_it_is_and_whether_to_retry() {
        for c in Cause::ALL {
            let (fault, retryable, label) = expected(c);
            assert_eq!(c.upstream_fault(), fault, "{c:?} upstream_fault");
            assert_eq!(c.retryable(), retryable, "{c:?} retryable");
            assert_eq!(c.as_str(), label, "{c:?} as_str");
            assert_eq!(c.to_string(), label, "{c:?} Display");
        }
    }

    /// `ALL` is the counters' index: every cause once, each at its own `index()`, so a
    /// retry is counted under its own label and no other.
    #[test]
    fn all_lists_every_cause_once_at_its_index() {
        for (i, c) in Cause::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i, "{c:?}");
        }
        assert_eq!(Cause::ALL.len(), Local.index() + 1, "a cause after Local");
        let mut labels: Vec<_> = Cause::ALL.iter().map(|c| c.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Cause::ALL.len(), "two causes share a label");
    }

    /// The labels `weir_retries_total` has always carried, in order: dashboards and
    /// alerts name them.
    #[test]
    fn retry_labels_are_unchanged() {
        let labels: Vec<_> = Cause::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            labels,
            [
                "refused",
                "connect timeout",
                "reset",
                "closed",
                "timeout",
                "bad response",
                "client gone",
                "client",
                "local"
            ]
        );
    }
}
